"""UPS (paperlib.papers.ups): routing (Eqs. 1-2, warm-up, fixed routes, update counts), paired seeds,
the interference knob, the vocabulary and a tiny end-to-end run. Fast: random text embeddings."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from paperlib.papers import ups as U
from paperlib.repro.grid import check_result

TINY = dict(num_samples=170, num_frames=8, pose_windows=1)


@pytest.fixture(scope="module")
def views():
    return U.make_views(0, **TINY)


@pytest.fixture(scope="module")
def vocab(views):
    return U.build_vocab(views.names3d, views.names2d, 16, embedding="random")


@pytest.fixture(scope="module")
def train(views, vocab):
    return {t: U.task_tensors(views.train, t, vocab) for t in U.TASKS}


@pytest.fixture(scope="module")
def tiny_run():
    # default routing settings (warm-up 25%, H = 2, q = 256) on a tiny run
    return U.run_experiment(seed=0, steps=12, n_bins=16, embedding="random", variants=("joint_h2", "fixed_h2", "mlp"),
                            **TINY)


# --- the interference knob ---------------------------------------------------------------------
@pytest.mark.parametrize("C", [2, 5, 17])
def test_permute_labels_fraction(C):
    assert np.array_equal(U.permute_labels(C, 0.0, seed=3), np.arange(C))
    full = U.permute_labels(C, 1.0, seed=3)
    assert sorted(full.tolist()) == list(range(C)) and (full != np.arange(C)).all()   # every class moves
    half = U.permute_labels(C, 0.5, seed=3)
    assert sorted(half.tolist()) == list(range(C))
    assert (half != np.arange(C)).sum() == max(int(round(0.5 * C)), 2)
    with pytest.raises(ValueError):
        U.permute_labels(C, 1.5)


def test_label_permute_changes_only_the_2d_labels(views):
    v1 = U.make_views(0, label_permute=1.0, **TINY)
    assert (v1.perm != np.arange(len(v1.perm))).all()
    assert torch.equal(v1.train["ar2d"][1], torch.from_numpy(v1.perm)[views.train["ar2d"][1]])
    assert torch.equal(v1.test["ar2d"][1], torch.from_numpy(v1.perm)[views.test["ar2d"][1]])
    for s in ("train", "test"):
        assert (v1.__dict__[s]["ar2d"][1] != views.__dict__[s]["ar2d"][1]).all()
        assert torch.equal(v1.__dict__[s]["ar2d"][0], views.__dict__[s]["ar2d"][0])
        for t in ("ar3d", "pose3d"):
            for a, b in zip(v1.__dict__[s][t], views.__dict__[s][t]):
                assert torch.equal(a, b)
    # p = 0: the 2D labels are the 3D ones (same sequences)
    assert torch.equal(views.train["ar2d"][1], views.train["ar3d"][1])


# --- paired seeds ------------------------------------------------------------------------------
def test_paired_data_and_batches(views, train):
    again = U.make_views(0, **TINY)
    for s in ("train", "test"):
        for t in ("ar3d", "ar2d", "pose3d"):
            for a, b in zip(again.__dict__[s][t], views.__dict__[s][t]):
                assert torch.equal(a, b)
    # a task's batches are the same whether it is trained alone or rotated with the others
    joint = [(x, y) for x, y, k in U.TaskRotation(train, U.TASKS, 3, 8, seed=5) if U.TASKS[k] == "ar2d"]
    alone = [(x, y) for x, y, k in U.TaskRotation(train, ("ar2d",), 3, 8, seed=5)]
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(joint, alone))
    other = [y for _, y, _ in U.TaskRotation(train, ("ar2d",), 3, 8, seed=6)]
    assert not all(torch.equal(a[1], b) for a, b in zip(alone, other))


def test_paired_initialisation_across_H(vocab):
    state = torch.random.get_rng_state()
    m1, m2, m4 = (U.UPS(vocab.omega, H=H, seed=0) for H in (1, 2, 4))
    assert torch.equal(state, torch.random.get_rng_state())          # building a model draws no global numbers
    for m in (m2, m4):
        for part in ("tokenizer", "decoder"):
            for (n, a), (_, b) in zip(getattr(m1, part).state_dict().items(), getattr(m, part).state_dict().items()):
                assert torch.equal(a, b), (part, n)
        for l in range(2):
            for a, b in zip(m1.layers[l][0].parameters(), m.layers[l][0].parameters()):
                assert torch.equal(a, b)
        assert torch.equal(m1.Bemb[:, 0], m.Bemb[:, 0]) and torch.equal(m1.tau, m.tau)
    assert not torch.equal(m2.layers[0][0].tem.qkv.weight, m2.layers[0][1].tem.qkv.weight)
    assert not torch.equal(U.UPS(vocab.omega, H=1, seed=1).decoder.W.weight, m1.decoder.W.weight)


# --- Eqs. 1-2 ----------------------------------------------------------------------------------
def test_route_scores_and_select_blocks():
    g = torch.Generator().manual_seed(0)
    B, tau = torch.randn(2, 3, 8, generator=g), torch.randn(4, 8, generator=g)
    loop = torch.tensor([[[float(B[l, h] @ tau[m]) for h in range(3)] for l in range(2)] for m in range(4)])
    assert torch.allclose(U.route_scores(B, tau), loop, atol=1e-5)
    s = torch.tensor([1.0, 0.0, -0.5])
    hard = U.select_blocks(s.expand(20000, 3), "hard", generator=torch.Generator().manual_seed(1))
    assert ((hard == 0) | (hard == 1)).all() and torch.equal(hard.sum(-1), torch.ones(20000))
    assert (hard.mean(0) - s.softmax(-1)).abs().max() < 0.02          # Gumbel-max samples follow softmax(s)
    assert torch.allclose(U.select_blocks(s, "soft"), s.softmax(-1))
    assert torch.equal(U.select_blocks(s, "argmax"), torch.tensor([1.0, 0.0, 0.0]))
    s2 = s.clone().requires_grad_(True)
    w = torch.tensor([0.3, -1.0, 2.0])
    (U.select_blocks(s2, "hard", 0.5, torch.Generator().manual_seed(2)) * w).sum().backward()
    u = torch.rand(3, generator=torch.Generator().manual_seed(2)).clamp(1e-10, 1 - 1e-7)
    s3 = s.clone().requires_grad_(True)
    (((s3 - torch.log(-torch.log(u))) / 0.5).softmax(-1) * w).sum().backward()
    assert torch.allclose(s2.grad, s3.grad)                            # straight-through: the soft sample's gradient
    with pytest.raises(ValueError):
        U.select_blocks(s, "gumbel")


# --- routing in training ------------------------------------------------------------------------
def test_warmup_soft_then_hard_and_update_counts(vocab, train):
    model = U.UPS(vocab.omega, H=2, seed=0)
    steps = 4
    h = U.train_ups(model, train, U.TASKS, steps, batch_size=8, warmup_frac=0.5, seed=0)
    total, warm = steps * len(U.TASKS), h["warmup_iters"]
    assert warm == total // 2
    r = h["route"]                                                     # (iterations, L, H)
    assert (r[:warm] > 0).all() and (r[:warm] < 1).all()               # soft: every block gets a share
    assert np.allclose(r.sum(-1), 1, atol=1e-6)
    assert set(np.unique(np.round(r[warm:], 6))) <= {0.0, 1.0}          # then one block per layer
    # a block counts an update when its weight was non-zero: all of them while soft, one after
    assert (h["updates"].sum(-1) == model.H * warm + (total - warm)).all()
    sel = h["selected"]
    assert (sel.sum(-1) == steps).all()                                # per task and layer: its iterations
    assert np.array_equal(h["updates"] - warm, sel[:, :, :].sum(0) - np.array(
        [[np.sum(r[:warm, l].argmax(-1) == b) for b in range(2)] for l in range(2)]))
    assert model.routing == "hard"


def test_fixed_routes_are_honoured(vocab, train):
    route = [[k, k] for k in range(4)]                                 # task m -> block m in both layers
    model = U.UPS(vocab.omega, H=4, fixed_route=route, seed=0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    h = U.train_ups(model, train, ("pose3d", "ar3d"), 2, batch_size=8, warmup_frac=0.5, seed=0)
    assert h["warmup_iters"] == 0
    assert np.array_equal(model.inference_routes(), np.array(route))
    for it, k in enumerate(h["task"]):
        assert np.array_equal(h["route"][it].argmax(-1), [k, k]) and h["route"][it].max() == 1
    assert h["updates"].tolist() == [[2, 0, 0, 2], [2, 0, 0, 2]]
    for n, p in model.named_parameters():                             # blocks of untrained tasks never move
        if n.startswith(("layers.0.1.", "layers.0.2.", "layers.1.1.", "layers.1.2.")):
            assert torch.equal(p, before[n]), n
    assert not torch.equal(model.layers[0][3].tem.qkv.weight, before["layers.0.3.tem.qkv.weight"])
    with pytest.raises(ValueError):
        U.UPS(vocab.omega, H=2, fixed_route=[[0, 2]] * 4)


def test_routing_embedding_is_separate_from_the_start_token(vocab, train):
    model = U.UPS(vocab.omega, H=1, seed=0).train()
    x, y = train["ar3d"][0][:4], train["ar3d"][1][:4]
    U.sequence_nll(model(x, 3, y), y).backward()
    assert model.tau.grad is None or float(model.tau.grad.abs().max()) == 0.0   # H = 1: nothing to route
    assert float(model.decoder.start.weight.grad[3].abs().max()) > 0
    assert float(model.decoder.start.weight.grad[0].abs().max()) == 0.0
    m2 = U.UPS(vocab.omega, H=2, seed=0).train()
    m2.routing = "soft"
    U.sequence_nll(m2(x, 3, y), y).backward()
    assert float(m2.tau.grad[3].abs().max()) > 0 and float(m2.Bemb.grad.abs().max()) > 0


# --- vocabulary --------------------------------------------------------------------------------
def test_vocabulary_quantisation_and_tokens(views, vocab):
    y = views.test["pose3d"][1]
    b = vocab.quantise(y)
    assert torch.equal(vocab.quantise(vocab.dequantise(b)), b)
    inside = (y >= vocab.lo) & (y <= vocab.hi)
    assert ((vocab.dequantise(b) - y).abs() <= vocab.step / 2 + 1e-6)[inside].all()
    tok = vocab.target_tokens("pose3d", y[:3])
    assert tok.shape == (3, 49) and (tok[:, -1] == vocab.eot["pe"]).all()
    pred, ok = vocab.parse_pose(tok)
    assert ok.all() and torch.allclose(pred, vocab.dequantise(b[:3]))
    for t in U.TASKS:
        g = vocab.grammar[t]
        tgt = vocab.target_tokens(t, views.test[t][1][:5] if t != "ep3d" else views.test["ar3d"][1][:5])
        assert g[torch.arange(tgt.shape[1]), tgt].all()                # every target is grammatical


# --- end to end --------------------------------------------------------------------------------
def test_tiny_run_routes_differ_and_result_schema(tiny_run):
    check_result(tiny_run)
    m = tiny_run["metrics"]
    assert set(m) >= {"joint_h2", "fixed_h2", "mlp", "reference", "data"}
    r = m["joint_h2"]
    routes = np.array([[r[f"route_{t}_l{l}"] for l in range(2)] for t in U.TASKS])
    assert r["distinct_routes"] == len({tuple(x) for x in routes.tolist()}) >= 2   # routes differ between tasks
    assert r["warmup_iters"] == round(0.25 * 12 * 4)
    assert r["updates_l0_b0"] + r["updates_l0_b1"] == 2 * r["warmup_iters"] + (48 - r["warmup_iters"])
    for t in U.TASKS:                                                  # each task's 12 iterations, per layer
        assert all(sum(r[f"selected_{t}_l{l}_b{h}"] for h in range(2)) == 12 for l in range(2))
    assert "p_route_ar3d_l0" in r and "p_route_ar3d_l0" not in m["fixed_h2"]
    f = m["fixed_h2"]
    assert [[f[f"route_{t}_l{l}"] for l in range(2)] for t in U.TASKS] == [list(U.FIG4_ROUTE[t]) for t in U.TASKS]
    n_test = m["data"]["n_test"]
    for v in ("joint_h2", "fixed_h2"):
        assert len(tiny_run["per_item"][v]["ar3d_correct"]) == n_test
        assert np.isclose(np.mean(tiny_run["per_item"][v]["ar3d_correct"]), m[v]["ar3d_top1"])
    assert np.isclose(np.mean(tiny_run["per_item"]["mlp"]["pose_mpjpe_mm"]), m["mlp"]["pose_mpjpe_mm"], rtol=1e-4)
    ref = m["reference"]
    assert ref["floor_mpjpe_mm"] < ref["mean_pose_mpjpe_mm"]


def test_unselected_blocks_without_graph_give_the_same_gradients(vocab, train):
    # hard routing: an unselected block has weight 0, so computing it without a graph changes no gradient
    x, y = train["ar2d"][0][:6], train["ar2d"][1][:6]
    grads = []
    for lazy in (True, False):
        model = U.UPS(vocab.omega, H=2, seed=0).train()
        model.lazy_unselected = lazy
        U.sequence_nll(model(x, 1, y), y).backward()
        grads.append({n: p.grad for n, p in model.named_parameters()})
    lazy, full = grads
    assert float(lazy["tau"].abs().max()) > 0 and float(lazy["Bemb"].abs().max()) > 0
    for n, g in full.items():
        if lazy[n] is None:                                   # unselected blocks: no gradient at all
            assert g is None or float(g.abs().max()) == 0.0, n
        else:
            assert torch.allclose(lazy[n], g, atol=1e-7, rtol=1e-5), n
    assert any(g is None for g in lazy.values())


# --- knobs of the explorations: each reaches the model ---------------------------------------
def test_route_init_std_sets_the_scale_of_the_routing_embeddings(vocab):
    q = 256
    default, unit = U.UPS(vocab.omega, H=2, seed=0), U.UPS(vocab.omega, H=2, seed=0, route_init_std=1.0)
    raw_tau = torch.randn(len(U.TASKS), q, generator=torch.Generator().manual_seed(U._seed(0, "tau")))
    assert torch.equal(default.tau.data, raw_tau * q ** -0.25)          # default: std q^-1/4, bit for bit
    assert torch.equal(unit.tau.data, raw_tau) and default.route_init_std == q ** -0.25
    assert torch.allclose(unit.Bemb.data, default.Bemb.data * q ** 0.25)
    s_def, s_unit = (U.route_scores(m.Bemb, m.tau).detach() for m in (default, unit))
    assert torch.allclose(s_unit, s_def * q ** 0.5, rtol=1e-4, atol=1e-4)   # scores scale with std^2
    for a, b in zip(default.decoder.parameters(), unit.decoder.parameters()):
        assert torch.equal(a, b)                                      # nothing else moves
    with pytest.raises(ValueError):
        U.UPS(vocab.omega, H=2, route_init_std=0.0)


def test_pose_expectation_by_hand(vocab):
    B, S, n0 = 1, 3 * U.NJ + 1, vocab.bin0
    tokens = torch.full((B, S), -1)
    tokens[0, :3 * U.NJ] = n0[torch.arange(3 * U.NJ) % 3] + 5              # every slot: bin 5 of its axis
    probs, ids = torch.zeros(B, S, 3), torch.full((B, S, 3), -1)
    probs[0, 0], ids[0, 0] = torch.tensor([0.6, 0.2, 0.1]), torch.tensor([n0[0] + 2, n0[0] + 4, n0[1] + 9])
    probs[0, 1], ids[0, 1] = torch.tensor([0.5, 0.3, 0.2]), torch.tensor([0, n0[0] + 1, vocab.eot["pe"]])
    pred = U.pose_expectation(tokens, probs, ids, vocab)
    assert pred.shape == (1, U.NJ, 3)
    # slot 0 (x): bins 2 and 4 renormalised, the y bin ignored; slot 1 (y): no y bin among the top 3 -> bin 5
    torch.testing.assert_close(pred[0, 0, 0], vocab.lo[0] + (0.75 * 2 + 0.25 * 4) * vocab.step[0])
    torch.testing.assert_close(pred[0, 0, 1], vocab.lo[1] + 5 * vocab.step[1])
    torch.testing.assert_close(pred[0, 1:], vocab.dequantise(torch.full((U.NJ - 1, 3), 5)))


def test_pose_readout_reaches_evaluate(views, vocab):
    model = U.UPS(vocab.omega, H=2, seed=0)
    arg, _ = U.evaluate(model, views.test, "pose3d", vocab, True)
    top1, _ = U.evaluate(model, views.test, "pose3d", vocab, True, pose_readout="expectation", readout_topk=1)
    assert top1 == arg                                                # greedy + top-1 expectation = argmax
    exp5, _ = U.evaluate(model, views.test, "pose3d", vocab, True, pose_readout="expectation", readout_topk=5)
    assert exp5["mpjpe_mm"] != arg["mpjpe_mm"] and exp5["well_formed"] == arg["well_formed"]
    seen = []
    zero = lambda tok, p, i, v: seen.append((tok.shape, p.shape, i.shape)) or torch.zeros(len(tok), U.NJ, 3)
    r, items = U.evaluate(model, views.test, "pose3d", vocab, pose_readout=zero, readout_topk=4)
    n = len(views.test["pose3d"][1])
    assert seen == [((n, vocab.max_len), (n, vocab.max_len, 4), (n, vocab.max_len, 4))]
    y = views.test["pose3d"][1]
    assert np.isclose(r["mpjpe_mm"], 1000 * float(y.norm(dim=-1).sum(-1).mean()) / (U.NJ + 1), rtol=1e-5)
    with pytest.raises(ValueError):
        U.evaluate(model, views.test, "pose3d", vocab, pose_readout="mean")


def test_run_experiment_passes_both_knobs(monkeypatch):
    built, calls, real_ups = [], [], U.UPS

    def spy(*a, **k):
        m = real_ups(*a, **k)
        built.append(m.Bemb.detach().clone())
        return m

    monkeypatch.setattr(U, "UPS", spy)
    zero = lambda tok, p, i, v: calls.append(p.shape[-1]) or torch.zeros(len(tok), U.NJ, 3)
    out = U.run_experiment(seed=0, steps=1, n_bins=16, embedding="random", variants=("joint_h2",),
                           route_init_std=1.0, pose_readout=zero, readout_topk=3, **TINY)
    assert len(built) == 1 and 0.9 < float(built[0].std()) < 1.1        # std 1, not 256^-1/4 = 0.25
    assert calls == [3]                                               # the read-out scored the pose task
    views = U.make_views(0, **TINY)
    y = views.test["pose3d"][1]
    assert np.isclose(out["metrics"]["joint_h2"]["pose_mpjpe_mm"],
                      1000 * float(y.norm(dim=-1).sum(-1).mean()) / (U.NJ + 1), rtol=1e-5)


def test_shuffled_route_ids_control_and_budget_matched_separate_models(vocab, train, monkeypatch):
    # the router of the control reads a fresh permutation of the task ids every iteration, and none afterwards
    model = U.UPS(vocab.omega, H=2, seed=0)
    seen = []
    real_routes = U.UPS.routes

    def spy(self, task):
        seen.append(None if self.route_ids is None else tuple(self.route_ids.tolist()))
        return real_routes(self, task)

    monkeypatch.setattr(U.UPS, "routes", spy)
    U.train_ups(model, train, U.TASKS, steps=3, batch_size=8, warmup_frac=0.0, seed=0, permute_route_ids=True)
    assert model.route_ids is None and None not in seen and len(set(seen)) > 1
    assert all(sorted(p) == list(range(len(U.TASKS))) for p in seen)
    monkeypatch.setattr(U.UPS, "routes", real_routes)
    out = U.run_experiment(seed=0, steps=2, n_bins=16, embedding="random",
                           variants=("separate", "separate_matched", "joint_h2_shuffled_ids"), **TINY)
    m = out["metrics"]
    assert m["separate"]["updates_per_model"] == 2 and m["separate_matched"]["updates_per_model"] == 2 * len(U.TASKS)
    assert m["joint_h2_shuffled_ids"]["updates_per_model"] == 2 * len(U.TASKS)
    assert m["joint_h2_shuffled_ids"]["shared_ar2d_ar3d"] in (0.0, 0.5, 1.0)
    # the routing gap: the final p_(1) - p_(2) of the router's softmax, mean over tasks and layers
    assert 0.0 <= m["joint_h2_shuffled_ids"]["route_gap"] <= 1.0


def test_route_gap_is_the_mean_top_two_difference(vocab):
    model = U.UPS(vocab.omega, H=2, seed=0)
    with torch.no_grad():
        model.Bemb.zero_()                      # every task's scores equal: a coin flip, gap 0
    assert U._route_metrics(model, None)["route_gap"] == 0.0
    with torch.no_grad():
        model.Bemb.normal_(0, 5.0)
        p = U.route_scores(model.Bemb, model.tau).softmax(-1).numpy()
    want = float(np.abs(p[..., 0] - p[..., 1]).mean())   # H = 2: the gap is |p_1 - p_2|
    assert np.isclose(U._route_metrics(model, None)["route_gap"], want, atol=1e-6)
