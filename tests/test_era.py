"""Tests of the ERA module and experiment (paperlib.papers.era; Foo et al., ECCV 2022, Eqs. 1-12, Sec. 3.4)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from paperlib.papers.era import ERAConv, era_modules, expert_similarity, similarity_loss, straight_through_gumbel
from paperlib.nn.graph import SkeletonGCN
from paperlib.skeleton import NTU25
from paperlib.data import synthetic

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


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("impl", ["gather", "grouped", "matmul"])
@pytest.mark.parametrize("dim,k,s,p,shape", CASES)
def test_vectorised_equals_naive_per_sample_reference(dim, k, s, p, shape, impl, groups):
    layer = _layer(dim, k, s, p, impl, expert_groups=groups)
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
        yb = conv(x[b:b + 1], w[b][layer.order], layer.bias, layer.stride, layer.padding)
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
    layer = _layer(2, (5, 1), 1, (2, 0), query_norm=False)   # BatchNorm would use batch statistics in training
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
    d, M, K, n_in, n_out, k = 4, 5, layer.K, 6, 20, 3
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
    with pytest.raises(ValueError):
        ERAConv(3, 8, retrieval="gumbel")


def test_normalised_similarity_is_scale_free_and_raw_is_not():
    layer = _layer(2, (3, 1), 1, (1, 0))
    e = layer.experts.detach()
    scale = torch.linspace(0.5, 3.0, layer.M, dtype=e.dtype).view(1, -1, 1, 1, 1)
    assert torch.allclose(expert_similarity(e * scale), expert_similarity(e))
    assert expert_similarity(e * 2, normalize=False) > 3.9 * expert_similarity(e, normalize=False)
    with pytest.raises(ValueError):
        expert_similarity(e, reduction="max")


# --- the fixes of issue 13: masked pooling, key scaling, spread expert channels, counterfactuals ---

from paperlib.papers import era as E  # noqa: E402


def test_masked_pool_is_the_plain_mean_on_full_sequences_and_ignores_future_frames():
    layer = _layer(2, (5, 1), 1, (2, 0)).eval()     # query_norm on running statistics: samples independent
    x = torch.randn(4, 6, 16, 25, dtype=torch.float64)
    layer.context = {"lengths": torch.full((4,), 32), "frames": 32, "present": torch.ones(4, dtype=torch.bool)}
    assert torch.allclose(layer.pool(x), x.mean(dim=(2, 3)), atol=1e-12)      # full sequence: the plain mean
    L = torch.tensor([32, 7, 1, 20])                                            # input frames observed
    layer.context = {"lengths": L, "frames": 32, "present": torch.ones(4, dtype=torch.bool)}
    n = torch.ceil(L / 2).long()                                                # frames of this 16-frame map
    ref = torch.stack([x[b, :, :n[b]].mean(dim=(1, 2)) for b in range(4)])
    assert torch.allclose(layer.pool(x), ref, atol=1e-12)
    y = x.clone()
    y[:, :, 12:] = 1e3                                                          # frames sample 1 has not observed
    assert torch.allclose(layer.queries(y)[1], layer.queries(x)[1], atol=1e-9)
    assert not torch.allclose(layer.pool(y)[0], layer.pool(x)[0])               # sample 0 sees them


def test_observation_context_lengths_and_presence():
    x = torch.zeros(3, 3, 10, 25, 2)
    x[0, :, :10, :, 0] = 1.0
    x[1, :, :4, :, 0] = 1.0
    x[1, :, :2, :, 1] = 1.0            # second body present, shorter
    x[2, :, 3:6, :, 0] = 1.0           # a sequence whose first frames are zero still counts to frame 6
    ctx = E.observation_context(x)
    assert ctx["frames"] == 10
    assert ctx["lengths"].tolist() == [10, 10, 4, 4, 6, 6]
    assert ctx["present"].tolist() == [True, False, True, True, True, False]


def test_scores_are_scaled_by_sqrt_k():
    layer = _layer(1, 3, 1, 1, key_dim=9)
    q = torch.randn(5, layer.d, 9, dtype=torch.float64)
    assert torch.allclose(layer.scores(q), torch.einsum("bpk,pmk->bpm", q, layer.keys) / 3.0)
    layer.key_scale = False
    assert torch.allclose(layer.scores(q), torch.einsum("bpk,pmk->bpm", q, layer.keys))


def test_expert_channels_spread_over_groups():
    torch.manual_seed(0)
    layer = ERAConv(32, 96, 1, dim=2, expert_groups=3)
    assert layer.d == 19
    groups = (layer.expert_index // 32).tolist()
    assert sorted(groups) == [0] * 7 + [1] * 6 + [2] * 6
    assert sorted(layer.expert_index.tolist() + layer.nonexpert_index.tolist()) == list(range(96))
    x = torch.randn(3, 32, 4, 25)
    layer.eval()
    y = layer(x)
    r = F.one_hot(layer.scores(layer.queries(x)).argmax(-1), layer.M).float()
    w = torch.einsum("bpm,pmc...->bpc...", r, layer.experts)                       # [B, d, N_in, 1, 1]
    for p in (0, 10, 18):                                                          # expert channel p sits at expert_index[p]
        c = int(layer.expert_index[p])
        assert torch.allclose(y[:, c], torch.stack([F.conv2d(x[b:b + 1], w[b, p:p + 1], layer.bias[c:c + 1])[0, 0]
                                                    for b in range(3)]), atol=1e-5)
    with pytest.raises(ValueError):
        ERAConv(32, 96, 1, dim=2, expert_groups=5)


def test_forced_retrieval_gives_the_counterfactual_output():
    layer = _layer(2, (3, 1), 1, (1, 0)).eval()
    x = torch.randn(6, 6, 8, 25, dtype=torch.float64)
    s = layer.scores(layer.queries(x))
    r = F.one_hot(s.argmax(-1), layer.M).double()
    alt = (s.argmax(-1)[:, 1] + 1) % layer.M                                        # another expert in bank 1
    r_alt = r.clone()
    r_alt[:, 1] = F.one_hot(alt, layer.M).double()
    bank = torch.tensor([1, 1, 1, -1, 1, 1])
    layer.force = (bank, alt)
    y = layer(x)
    layer.force = None
    ref = layer.naive_forward(x, torch.where((bank >= 0).view(-1, 1, 1), r_alt, r))
    assert torch.allclose(y, ref, atol=1e-10)
    assert not torch.allclose(y[0], layer(x)[0])


def test_build_model_paired_initialisation_and_spread():
    base = E.build_model("baseline", channels=(8, 16, 16), seed=3)
    era = E.build_model("era", channels=(8, 16, 16), seed=3)
    mods = dict(E.era_modules(era))
    assert len(mods) == 2
    g = mods["blocks.2.gcn.conv"]
    assert g.expert_groups == 3 and sorted(set((g.expert_index // 16).tolist())) == [0, 1, 2]
    w = base.state_dict()["blocks.2.gcn.conv.weight"]
    assert torch.equal(g.nonexpert.detach(), w[g.nonexpert_index])
    assert torch.equal(era.state_dict()["fc.weight"], base.state_dict()["fc.weight"])
    assert E.conv_filters(era) - E.conv_filters(base) == sum(m.experts.numel() - m.d * m.experts[0, 0].numel()
                                                             for m in mods.values())
    x = torch.randn(2, 3, 12, 25, 2)
    assert era(x).shape == (2, 17)
    assert mods["blocks.2.tcn.conv"].context["lengths"].shape == (4,)


def test_observed_views_never_use_frames_after_the_prefix():
    from paperlib.data import synthetic
    from paperlib.data.sequences import observed_length

    data = synthetic.generate(num_samples=60, seed=1)
    idx = np.arange(60)
    v = E.ObservedViews(data, idx, frames=16, policy="pad")
    for j, r in enumerate(v.ratios):
        x = v.x(j)
        live = x.abs().amax(dim=(1, 3, 4)) > 0                                     # [N, T]
        last = 16 - torch.flip(live, [1]).long().argmax(1)
        L = observed_length(data.valid_frames, r)
        assert ((last - 1) * 4 < torch.from_numpy(L)).all()                        # kept frame k*4 < L
    rows, ri = torch.tensor([0, 5, 9]), torch.tensor([0, 4, 9])
    assert torch.equal(v.batch(rows, ri)[1], v.x(4)[5])
    w = E.ObservedViews(data, idx, frames=16, policy="resample")
    assert w.batch(rows, ri).shape == (3, 3, 16, 25, 2)
    # the resampled prefix at r = 0.1 does not change when the future changes
    data2 = synthetic.generate(num_samples=60, seed=1)
    L = observed_length(data2.valid_frames, 0.1)
    for n in range(60):
        data2.joints[n, :, L[n]:] += 0.5 * (data2.joints[n, :, L[n]:] != 0)
    w2 = E.ObservedViews(data2, idx, frames=16, policy="resample")
    assert torch.allclose(w2.x(0), w.x(0)) and not torch.allclose(w2.x(9), w.x(9))


import numpy as np  # noqa: E402


def test_usage_stats_exclude_absent_bodies():
    usage = {"a": torch.tensor([[5.0, 0.0, 1.0]]), "b": torch.tensor([[1.0, 1.0, 1.0]])}
    idx = np.zeros((4, 2, 1), dtype=int)
    idx[:, 1, 0] = [0, 0, 1, 2]
    present = np.ones((4, 2, 2), dtype=bool)
    present[3, :, 0] = False                                                       # sample 3's first body absent
    rec = {"a": {"index": idx, "present": present}, "b": {"index": idx, "present": present}}
    st = E.usage_stats(usage, rec, ratio_index=1)
    assert st["unused_frac"] == pytest.approx(1 / 6)
    assert st["max_share"] == pytest.approx(2 / 3)                                 # sample 3 (expert 2) left out
    assert st["banks_over_90"] == 0.0


def _toy_meta(train_mode):
    torch.manual_seed(0)
    toy = torch.nn.Sequential(ERAConv(4, 10, 3, 1, 1, dim=1, key_dim=3), torch.nn.Flatten(),
                              torch.nn.Linear(10 * 12, 3)).double()
    toy.train(train_mode)
    g = torch.Generator().manual_seed(1)
    xt, yt = torch.randn(16, 4, 12, generator=g, dtype=torch.float64), torch.randint(0, 3, (16,), generator=g)
    xv, yv = torch.randn(16, 4, 12, generator=g, dtype=torch.float64), torch.randint(0, 3, (16,), generator=g)
    owners = E.expert_owners(toy)
    named = list(toy.named_parameters())
    alpha, scale = 0.1, 0.7

    def val_loss(beta):
        torch.manual_seed(5)                                       # the same Gumbel draws every call
        loss_tr = F.cross_entropy(toy(xt), yt)
        grads = torch.autograd.grad(loss_tr, [p for _, p in named], allow_unused=True)
        grads = [torch.zeros_like(p) if gg is None else gg for (_, p), gg in zip(named, grads)]
        virtual = E.virtual_parameters(named, grads, beta, owners, alpha, scale)
        return F.cross_entropy(torch.func.functional_call(toy, virtual, (xv,)), yv), grads, virtual

    b0 = 0.1 + 0.05 * torch.rand(toy[0].d, toy[0].M, dtype=torch.float64, generator=g)
    b = b0.clone().requires_grad_()
    L, grads, virtual = val_loss({"0": b})
    (auto,) = torch.autograd.grad(L, b)
    E_hat = {n: virtual[n].detach().requires_grad_() for n in owners}
    torch.manual_seed(5)
    _ = F.cross_entropy(toy(xt), yt)                               # consume the training pass's draws
    L2 = F.cross_entropy(torch.func.functional_call(toy, {**virtual, **E_hat}, (xv,)), yv)
    dE = dict(zip(E_hat, torch.autograd.grad(L2, list(E_hat.values()), allow_unused=True)))
    g_of = dict(zip([n for n, _ in named], grads))
    share = {n: -scale * ((torch.zeros_like(E_hat[n]) if dE[n] is None else dE[n]) * g_of[n]).flatten(2).sum(-1)
             for n in owners}
    eps, fd = 1e-6, torch.zeros_like(b0)
    for p in range(b0.shape[0]):
        for i in range(b0.shape[1]):
            e = torch.zeros_like(b0)
            e[p, i] = eps
            fd[p, i] = (val_loss({"0": b0 + e})[0] - val_loss({"0": b0 - e})[0]).item() / (2 * eps)
    return auto, share, fd


@pytest.mark.parametrize("train_mode", [False, True])
def test_elro_meta_gradient_chain_rule_and_finite_differences(train_mode):
    """dL_val/dbeta = -scale <dL_val/dE_hat, g>, summed over an expert's kernel and key.

    Evaluation mode: the keys do not enter the loss (argmax), their share is zero, and the
    meta-gradient equals central finite differences. Training mode: the keys get the
    straight-through Gumbel gradient, so their share of the meta-gradient is non-zero and autograd
    must still equal the chain rule including it; the loss's value depends on the keys only through
    the argmax (piecewise constant), so finite differences see the kernels' share alone."""
    auto, share, fd = _toy_meta(train_mode)
    chain = sum(share.values())
    assert torch.allclose(auto, chain, atol=1e-12)
    keys = share["0.keys"].abs().sum()
    if train_mode:
        assert keys > 1e-9 and not torch.allclose(auto, share["0.experts"], atol=1e-12)
        assert torch.allclose(share["0.experts"], fd, rtol=1e-5, atol=1e-9)
    else:
        assert keys == 0
        assert torch.allclose(auto, fd, rtol=1e-5, atol=1e-9)


def test_run_experiment_smoke():
    res = E.run_experiment(seed=0, num_samples=120, num_frames=8, epochs=1, batch_size=32,
                           variants=("baseline", "era"), probe=False)
    m = res["metrics"]
    assert set(m) == {"baseline", "era", "chance"}
    for v in ("baseline", "era"):
        assert set(f"acc@{r}" for r in (0.1, 0.5, 1.0)) <= set(m[v]) and 0 <= m[v]["auc"] <= 1
        assert len(res["per_item"][v]["correct@0.2"]) == len(res["per_item"]["baseline"]["auc"])
    assert {"unused_frac", "max_share@0.2", "spearman_usage_beta"} <= set(m["era"])


def test_counterfactual_logits_and_explorer_record():
    from paperlib.data import synthetic
    from paperlib.viz.era import check_record

    data = synthetic.generate(num_samples=40, seed=2)
    views = E.ObservedViews(data, np.arange(40), frames=8)
    model = E.build_model("era", channels=(8, 16, 16), seed=1)
    hist = E.train_variant(model, views, epochs=1, batch_size=16, elro=True)
    ev = E.evaluate(model, views, record=True)
    x = views.x(9)[:4]
    name = "blocks.2.tcn.conv"
    cf = E.counterfactual_logits(model, x, name)                                   # [4, d, M, C]
    m = model.get_submodule(name)
    assert cf.shape == (4, m.d, m.M, 17) and m.force is None
    fact = model(x).detach().numpy()
    chosen = ev["record"][name]["index"][:4, 9]                                     # [4, d] first body
    for n in range(4):
        for p in range(m.d):
            np.testing.assert_allclose(cf[n, p, chosen[n, p]], fact[n], atol=1e-5)  # the retrieved one = factual
    assert np.abs(cf - fact[:, None, None]).max() > 1e-4                            # some alternative changes it
    rec = E.explorer_record(model, views, ev, hist, data.class_names, cf_samples=[0, 3])
    N, R, M = check_record(rec)
    assert (N, R, M) == (40, 10, 5) and rec["beta"] is not None
    np.testing.assert_allclose(rec["counterfactual"]["logits"][1][:, 9], cf[[0, 3]], atol=1e-5)


def test_gumbel_hard_retrieval_is_the_noisy_argmax_in_training_only():
    layer = _layer(2, 1, 1, 0, out=20, retrieval="gumbel_hard", query_norm=False)
    x = torch.randn(64, 6, 4, 5, dtype=torch.float64)
    s = layer.scores(layer.queries(x))
    layer.train()
    torch.manual_seed(3)
    r = layer.retrieve(s)
    torch.manual_seed(3)
    expected = F.gumbel_softmax(s, tau=layer.tau, hard=True, dim=-1)
    assert torch.equal(r, expected)
    plain = F.one_hot(s.argmax(-1), layer.M).to(s.dtype)
    assert not torch.equal(r, plain)                       # the noise changes some retrievals
    layer.eval()
    assert torch.equal(layer.retrieve(s), plain)           # evaluation: the plain argmax


def test_run_experiment_knobs_reach_every_era_module():
    """query_norm, key_scale and retrieval of run_experiment and build_model reach every ERAConv;
    the defaults are the experiment's (BatchNorm on the pooled input, scaled scores, straight-through)."""
    for m in [m for _, m in era_modules(E.build_model("era", channels=(8, 16, 16)))]:
        assert isinstance(m.query_norm, torch.nn.BatchNorm1d) and m.key_scale is True
        assert m.retrieval == "straight_through"
    res = E.run_experiment(seed=0, num_samples=120, num_frames=8, epochs=1, batch_size=32,
                           variants=("era", "expert_avg"), probe=False, return_models=True,
                           query_norm=False, key_scale=False, retrieval="gumbel_hard")
    for v in ("era", "expert_avg"):
        mods = era_modules(res["runs"][v]["model"])
        assert len(mods) == 2
        for _, m in mods:
            assert m.query_norm is None and m.key_scale is False and m.retrieval == "gumbel_hard"
    m = era_modules(res["runs"]["era"]["model"])[-1][1]
    q = torch.randn(3, m.d, m.K)
    assert torch.allclose(m.scores(q), torch.einsum("bpk,pmk->bpm", q, m.keys))   # no 1/sqrt(K)


def test_era_modules_sit_in_the_last_block_for_any_widths():
    # with the documented real-data widths the last block also creates a down-projection and a
    # residual convolution: the modules must still be its graph and temporal convolutions
    for ch in ((16, 32, 32), (64, 128, 256), (8, 8, 8)):
        m = E.build_model("era", channels=ch)
        assert [n for n, _ in E.era_modules(m)] == ["blocks.2.gcn.conv", "blocks.2.tcn.conv"], ch


def test_routed_mode_takes_the_route_in_every_bank_and_needs_one():
    layer = E.ERAConv(6, 10, 1, mode="routed", num_experts=5)
    s = torch.randn(4, layer.d, 5)
    with pytest.raises(ValueError, match="route"):
        layer.retrieve(s)
    layer.route = torch.tensor([0, 3, 3, 1])
    r = layer.retrieve(s)
    assert r.shape == s.shape and torch.equal(r.argmax(-1), layer.route[:, None].expand(4, layer.d))
    assert torch.equal(r.sum(-1), torch.ones(4, layer.d))


def test_group_information_reaches_the_group_entropy_for_an_oracle_and_its_floor_for_noise():
    rng = np.random.default_rng(0)
    g = rng.integers(0, 4, 400)
    present = np.ones((400, 10, 2), bool)
    oracle = {"m": {"index": np.repeat(g[:, None, None], 10, 1).repeat(3, 2), "present": present}}
    noise = {"m": {"index": rng.integers(0, 5, (400, 10, 3)), "present": present}}
    a, b = E.group_information(oracle, g), E.group_information(noise, g)
    assert np.allclose(a["mi"], a["h_group"]) and 1.95 < a["h_group"] <= 2.0
    assert a["mi_shuffled"].max() < 0.1
    # noise: the estimate sits at its own shuffled floor, far below the oracle's
    assert np.abs(b["mi"] - b["mi_shuffled"]).max() < 0.05 and b["mi"].max() < 0.1
    with pytest.raises(ValueError, match="groups"):
        E.group_information(oracle, g[:10])


def test_routed_variants_train_and_evaluate_by_their_route():
    data = synthetic.generate(num_samples=60, seed=0, cue_groups=4)
    idx = np.arange(60)
    views = E.ObservedViews(data, idx, frames=8, policy="resample")
    assert torch.equal(views.groups, torch.from_numpy(data.cue_group))
    assert sorted(views.shuffled_groups.tolist()) == sorted(views.groups.tolist())
    model = E.build_model("oracle", num_classes=len(data.class_names), channels=(8, 8, 8))
    hist = E.train_variant(model, views, epochs=1, batch_size=16, route="groups")
    assert model.route is None
    ev = E.evaluate(model, views, record=True, route="groups")
    for rec in ev["record"].values():
        assert (rec["index"][:, 1] == data.cue_group[:, None]).all()
    assert sum(int(u.sum()) for u in hist["usage"].values()) > 0
    with pytest.raises(ValueError, match="ELRO"):
        E.train_variant(model, views, epochs=1, batch_size=16, route="groups", elro=True)
