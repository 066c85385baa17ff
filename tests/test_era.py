"""Tests of the ERA convolution (paperlib.nn.era; Foo et al., ECCV 2022, Eqs. 1-5, 7 and Sec. 3.4)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from paperlib.nn.era import ERAConv, era_modules, expert_similarity, similarity_loss, straight_through_gumbel
from paperlib.nn.graph import SkeletonGCN
from paperlib.skeleton import NTU25

CASES = [  # dim, kernel, stride, padding, input shape (B, N_in, *spatial)
    (1, 5, 1, 2, (7, 6, 16)),
    (1, 3, 2, 1, (7, 6, 15)),
    (2, (5, 1), (2, 1), (2, 0), (7, 6, 12, 25)),
    (2, 1, 1, 0, (7, 6, 12, 25)),  # a 1 x 1 convolution inside a graph unit
    (3, 3, 1, 1, (5, 6, 4, 5, 6)),
    (3, (3, 1, 2), (2, 1, 1), (1, 0, 1), (5, 6, 7, 5, 6)),
]


def _layer(dim, k, s, p, impl="matmul", out=20, **kw):
    torch.manual_seed(0)
    return ERAConv(6, out, k, s, p, dim=dim, impl=impl, **kw).double()


@pytest.mark.parametrize("impl", ["gather", "grouped", "matmul"])
@pytest.mark.parametrize("dim,k,s,p,shape", CASES)
def test_vectorised_equals_naive_per_sample_reference(dim, k, s, p, shape, impl):
    layer = _layer(dim, k, s, p, impl)
    x = torch.randn(*shape, dtype=torch.float64)
    layer.eval()
    y = layer(x)
    ref = layer.naive_forward(x)
    assert y.shape == ref.shape
    assert y.shape[1] == 20 and layer.d == 4
    assert torch.allclose(y, ref, atol=1e-10)
    # and a plain convolution with the per-sample assembled kernel (Eqs. 4-5)
    q = layer.queries(x)
    r = F.one_hot(layer.scores(q).argmax(-1), layer.M).double()
    w = layer.assemble(r)
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[dim]
    for b in (0, shape[0] - 1):
        yb = conv(x[b:b + 1], w[b], layer.bias, layer.stride, layer.padding)
        assert torch.allclose(y[b:b + 1], yb, atol=1e-10)


@pytest.mark.parametrize("dim,k,s,p,shape", CASES)
def test_gradients_match_naive_in_training_mode(dim, k, s, p, shape):
    """Both vectorised implementations and the naive loop give the same gradients for the same
    (straight-through) retrieval weights, for every parameter including keys and queries."""
    x = torch.randn(*shape, dtype=torch.float64)
    grads = []
    for impl in ("gather", "grouped", "matmul", "naive"):
        layer = _layer(dim, k, s, p, "gather" if impl == "naive" else impl)
        layer.train()
        torch.manual_seed(1)  # the same Gumbel noise for every implementation
        r = layer.retrieve(layer.scores(layer.queries(x)))
        y = layer.naive_forward(x, r) if impl == "naive" else layer.apply_kernels(x, r)
        (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
        grads.append({n: p_.grad.clone() for n, p_ in layer.named_parameters()})
    for g in grads[1:]:
        for n in g:
            assert torch.allclose(grads[0][n], g[n], atol=1e-9), n
    assert grads[0]["keys"].abs().sum() > 0 and grads[0]["query.weight"].abs().sum() > 0


def test_straight_through_forward_is_hard_argmax_and_backward_is_gumbel_softmax():
    s = torch.randn(64, 7, 5, generator=torch.Generator().manual_seed(0), requires_grad=True)
    torch.manual_seed(1)
    y = straight_through_gumbel(s, tau=1.0)
    hard = F.one_hot(s.argmax(-1), 5).float()
    assert torch.equal(y, hard)  # exactly, to the last bit
    w = torch.randn(64, 7, 5)
    (g,) = torch.autograd.grad((y * w).sum(), s)
    # the same Gumbel draw through F.gumbel_softmax gives the same gradient
    torch.manual_seed(1)
    s2 = s.detach().clone().requires_grad_()
    soft = F.gumbel_softmax(s2, tau=1.0, hard=False, dim=-1)
    (g2,) = torch.autograd.grad((soft * w).sum(), s2)
    assert torch.allclose(g, g2, atol=1e-6) and g.abs().sum() > 0


def test_layer_forward_in_training_equals_hard_retrieval():
    layer = _layer(2, (5, 1), 1, (2, 0))
    x = torch.randn(6, 6, 10, 25, dtype=torch.float64)
    layer.train()
    y_train = layer(x)
    layer.eval()
    assert torch.allclose(y_train, layer(x), atol=1e-12)


def test_expert_gradient_comes_only_from_retrieving_samples():
    """Eq. 7: the gradient of expert kernel m^p_i is the sum over the samples that retrieved it."""
    layer = _layer(2, (3, 1), 1, (1, 0), record=True)
    layer.train()
    B = 12
    x = torch.randn(B, 6, 8, 25, dtype=torch.float64)
    target = torch.randn(B, 20, 8, 25, dtype=torch.float64)
    torch.manual_seed(3)
    r = layer.retrieve(layer.scores(layer.queries(x)))
    idx = r.detach().argmax(-1)  # [B, d]
    per_sample = []
    for b in range(B):
        layer.zero_grad()
        y = layer.apply_kernels(x[b:b + 1], r[b:b + 1].detach())
        ((y - target[b:b + 1]) ** 2).sum().backward()
        per_sample.append(layer.experts.grad.clone())
    G = torch.stack(per_sample)  # [B, d, M, N_in, k, 1]
    used = F.one_hot(idx, layer.M).bool()  # [B, d, M]
    assert G[~used].abs().max() == 0  # exactly zero from samples that did not retrieve the expert
    assert (G[used].flatten(1).abs().sum(1) > 0).all()
    # batch gradient (through the retrieval's straight-through weights) = sum over retrieving samples
    layer.zero_grad()
    ((layer.apply_kernels(x, r) - target) ** 2).sum().backward()
    assert torch.allclose(layer.experts.grad, G.sum(0), atol=1e-9)


def test_average_mode_is_the_mean_expert_and_param_count():
    layer = _layer(2, (3, 1), 1, (1, 0), mode="average")
    x = torch.randn(4, 6, 8, 25, dtype=torch.float64)
    w = torch.cat([layer.nonexpert, layer.experts.mean(1)], 0)
    assert torch.allclose(layer(x), F.conv2d(x, w, layer.bias, 1, (1, 0)), atol=1e-10)
    d, M, K, n_in, n_out, k = 4, 5, 64, 6, 20, 3
    expected = (n_out - d) * n_in * k + d * M * n_in * k + d * M * K + n_in * d * K + d * K + n_out
    assert sum(p.numel() for p in layer.parameters()) == expected


def test_similarity_loss_sign_pushes_experts_apart():
    layer = _layer(2, (3, 1), 1, (1, 0))
    pairs = [(p, i, j) for p in range(layer.d) for i in range(layer.M) for j in range(layer.M) if i != j]
    raw = sum(((layer.experts[p, i] - layer.experts[p, j]) ** 2).sum() for p, i, j in pairs)
    assert torch.allclose(similarity_loss([layer], normalize=False, reduction="sum"), raw)  # the printed formula
    unit = layer.experts / layer.experts.flatten(2).norm(dim=-1)[..., None, None, None]
    manual = sum(((unit[p, i] - unit[p, j]) ** 2).sum() for p, i, j in pairs) / len(pairs)
    ls = similarity_loss([layer])
    assert torch.allclose(ls, manual)
    assert 0 <= float(ls.detach()) <= 4
    gamma = 0.1
    (-gamma * ls).backward()  # the loss term is L = L_CE - gamma * L_s
    with torch.no_grad():
        layer.experts -= 0.1 * layer.experts.grad
    assert similarity_loss([layer]) > ls.detach()


def test_era_in_skeleton_gcn_through_the_factory():
    calls = []

    def factory(cin, cout, k, s, p):
        calls.append((cin, cout))
        if len(calls) in (8, 9):
            return ERAConv(cin, cout, k, s, p)
        return torch.nn.Conv2d(cin, cout, k, s, p)

    torch.manual_seed(0)
    model = SkeletonGCN(5, NTU25.adjacency(), channels=(8, 16, 16), strides=(1, 2, 1), kernel_size=3,
                        make_conv=factory)
    assert len(calls) == 9 and len(era_modules(model)) == 2
    x = torch.randn(4, 3, 12, 25, 2)
    out = model(x)
    assert out.shape == (4, 5)
    out.sum().backward()
    for _, m in era_modules(model):
        assert m.experts.grad is not None and m.keys.grad is not None


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        ERAConv(3, 8, dim=4)
    with pytest.raises(ValueError):
        ERAConv(3, 8, mode="sum")
    with pytest.raises(ValueError):
        ERAConv(3, 8, 3, dim=2, impl="loop")
    with pytest.raises(ValueError):
        ERAConv(3, 8, (3, 3, 3), dim=2)
    with pytest.raises(ValueError):
        ERAConv(3, 8, 1, dim=2)(torch.randn(2, 3, 5))


def test_normalised_similarity_is_scale_free_and_raw_is_not():
    layer = _layer(2, (3, 1), 1, (1, 0))
    e = layer.experts.detach()
    scale = torch.linspace(0.5, 3.0, layer.M, dtype=e.dtype).view(1, -1, 1, 1, 1)
    assert torch.allclose(expert_similarity(e * scale), expert_similarity(e))
    assert expert_similarity(e * 2, normalize=False) > 3.9 * expert_similarity(e, normalize=False)
    with pytest.raises(ValueError):
        expert_similarity(e, reduction="max")
