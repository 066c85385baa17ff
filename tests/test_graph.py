import torch
import pytest

from paperlib.nn.graph import GraphConv, SkeletonGCN, TCNGCNBlock, TemporalConv, default_conv
from paperlib.skeleton import NTU25


def naive_graph_conv(layer, x):
    """sum_k W_k x (A_k + B_k), joint by joint, as written in 2s-AGCN Eq. 3 (before BN)."""
    N, C, T, V = x.shape
    K, out = layer.K, layer.out_channels
    W = layer.conv.weight.view(K, out, C)
    b = layer.conv.bias.view(K, out)
    A = layer.A + layer.B
    y = torch.zeros(N, out, T, V, dtype=x.dtype)
    for k in range(K):
        for w in range(V):
            agg = torch.zeros(N, out, T, dtype=x.dtype)
            for v in range(V):
                if A[k, v, w] != 0:
                    agg += A[k, v, w] * (torch.einsum("oc,nct->not", W[k], x[:, :, :, v]) + b[k][None, :, None])
            y[:, :, :, w] += agg
    return y


def test_graph_conv_matches_naive_sum():
    torch.manual_seed(0)
    layer = GraphConv(3, 4, NTU25.adjacency(), residual=False).double()
    with torch.no_grad():
        layer.B.normal_(0, 0.1)
    x = torch.randn(2, 3, 5, 25, dtype=torch.float64)
    layer.bn = torch.nn.Identity()
    out = layer(x)
    ref = torch.relu(naive_graph_conv(layer, x))
    assert torch.allclose(out, ref, atol=1e-10)


def test_adaptive_graph_learns_and_attention_shapes():
    layer = GraphConv(3, 8, NTU25.adjacency(), attention=True)
    x = torch.randn(4, 3, 6, 25)
    y = layer(x)
    assert y.shape == (4, 8, 6, 25)
    y.sum().backward()
    assert layer.B.grad is not None and layer.B.grad.abs().sum() > 0
    assert layer.graph(x).shape == (4, 3, 25, 25)
    with pytest.raises(ValueError, match="joints"):
        layer(torch.randn(1, 3, 6, 24))
    with pytest.raises(ValueError, match="K, V, V"):
        GraphConv(3, 8, torch.zeros(25, 25))


def test_temporal_conv_and_block_shapes():
    x = torch.randn(2, 8, 16, 25)
    assert TemporalConv(8, 16, 9, 2)(x).shape == (2, 16, 8, 25)
    blk = TCNGCNBlock(8, 16, NTU25.adjacency(), stride=2, kernel_size=5)
    assert blk(x).shape == (2, 16, 8, 25)
    same = TCNGCNBlock(8, 8, NTU25.adjacency())
    assert isinstance(same.residual, torch.nn.Identity)


def test_make_conv_factory_is_used_everywhere():
    made = []

    def factory(*args):
        made.append(args)
        return default_conv(*args)

    SkeletonGCN(5, NTU25.adjacency(), channels=(8, 16), strides=(1, 2), make_conv=factory)
    kernels = [a[2] for a in made]
    assert 1 in kernels and (9, 1) in kernels and len(made) >= 5


def test_skeleton_gcn_forward_and_person_pooling():
    torch.manual_seed(0)
    model = SkeletonGCN(7, NTU25.adjacency(), channels=(8, 16), strides=(1, 2), kernel_size=5).eval()
    x = torch.randn(3, 3, 12, 25, 2)
    assert model(x).shape == (3, 7)
    assert model.features(x).shape == (3, 16)
    # bodies are pooled symmetrically: swapping them changes nothing once the data BN is symmetric
    with torch.no_grad():
        model.data_bn.running_mean.zero_()
        model.data_bn.running_var.fill_(1.0)
        model.data_bn.weight.fill_(1.0)
        model.data_bn.bias.zero_()
    assert torch.allclose(model(x), model(x.flip(-1)), atol=1e-5)
