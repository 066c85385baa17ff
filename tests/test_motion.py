"""Tests of paperlib.papers.motion (notebook 05): bank construction, query-read, the predictor,
losses, baselines and evaluation helpers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from paperlib.papers import motion as M


def _blobs(sizes, d=6, spread=0.05, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (len(sizes), d))
    X = np.concatenate([c + spread * rng.normal(size=(n, d)) for c, n in zip(centres, sizes)])
    lab = np.repeat(np.arange(len(sizes)), sizes)
    return X, lab


def test_cluster_exemplars_one_per_blob_and_small_cluster_discard():
    # 3 blobs of 150, 148 and 2 points (2 / 300 < 1%): the tiny cluster must be discarded
    X, lab = _blobs([150, 148, 2])
    ex, sizes, info = M.cluster_exemplars(X, min_fraction=0.01, preference=-20.0)
    assert info["clusters"] == 3 and info["discarded"] == 1
    assert sizes.tolist() == [150, 148]  # largest first
    assert sorted(lab[ex].tolist()) == [0, 1]  # one exemplar inside each big blob
    # with no discard the tiny cluster is kept
    ex0, sizes0, _ = M.cluster_exemplars(X, min_fraction=0.0, preference=-20.0)
    assert sorted(sizes0.tolist()) == [2, 148, 150]
    # exemplars are actual rows of X (affinity propagation picks data points)
    assert ex.dtype.kind == "i" and ex.max() < len(X)


def test_cluster_exemplars_uses_l1_not_l2():
    # two candidate centres: the L1 medoid and the L2 medoid of this set differ
    X = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 1.0], [2.0, 0.0], [0.0, 2.0]])
    ex, sizes, _ = M.cluster_exemplars(X, min_fraction=0.0, preference=-100.0)
    D1 = np.abs(X[:, None] - X[None]).sum(-1).sum(1)
    assert len(ex) == 1 and ex[0] in np.flatnonzero(D1 == D1.min())


def test_cluster_exemplars_rejects_bad_input():
    with pytest.raises(ValueError):
        M.cluster_exemplars(np.zeros(5))


def test_snippets_and_build_bank_shapes():
    rng = np.random.default_rng(0)
    S, T, V = 6, 40, 4
    theta = rng.normal(size=(S, T, V, 3)).astype(np.float32)
    labels = np.array([0, 0, 0, 1, 1, 1])
    lengths = np.array([40, 40, 30, 40, 40, 40])
    si, st = M.snippets(theta, lengths, delta_t=8, step=3)
    assert ((st + 3 * 7) < lengths[si]).all() and len(si) == 5 * (40 - 21) + (30 - 21)
    bank = M.build_bank(theta, lengths, labels, 2, delta_t=8, K=3, max_samples=60)
    assert bank.short.shape[0] == 2 and bank.short.shape[2:] == (8, V * 3)
    assert bank.long.shape[0] == 2 and bank.short_mask.dtype == torch.bool
    for b in range(2):
        n = int(bank.short_mask[b].sum())
        assert n == len(bank.short_sizes[b]) >= 1
        # items are real snippets of the right class, long ones sampled every K frames
        s, t0 = bank.long_source[b][0]
        assert labels[s] == b
        snip = theta[s, t0 + 3 * np.arange(8)].reshape(8, -1)
        assert np.allclose(bank.long[b, 0].numpy(), M.remove_heading(snip), atol=1e-5)  # canonical heading
        assert np.allclose(bank.long[b, 0, :, 3:].numpy(), snip[:, 3:])  # only the root orientation turns
        assert np.allclose(M.heading(bank.long[b, 0, 0, :3].numpy()), 0.0, atol=1e-5)
        assert not bank.short[b, n:].any()
    agn = M.build_bank(theta, lengths, labels, 2, max_samples=60, action_specific=False)
    assert agn.short.shape[0] == 1
    assert torch.equal(agn.bank_index(torch.tensor([0, 1])), torch.tensor([0, 0]))
    with pytest.raises(ValueError):
        M.build_bank(theta, lengths, labels, 2, delta_t=7)


def test_query_read_shapes_softmax_and_naive_loop():
    torch.manual_seed(0)
    B, N, Ck, Cv = 5, 7, 4, 3
    q, K, V = torch.randn(B, Ck), torch.randn(B, N, Ck), torch.randn(B, N, Cv)
    mask = torch.ones(B, N, dtype=torch.bool)
    mask[1, 4:] = False
    mask[3, 1:] = False
    o, a, lg = M.query_read(q, K, V, mask)
    assert torch.isinf(lg[~mask]).all()
    assert o.shape == (B, Cv) and a.shape == (B, N)
    assert torch.allclose(a.sum(-1), torch.ones(B))
    assert (a[~mask] == 0).all()
    assert torch.allclose(a[3, 0], torch.tensor(1.0)) and torch.allclose(o[3], V[3, 0])
    o2, a2 = M.query_read_naive(q, K, V, mask)
    assert torch.allclose(o, o2, atol=1e-6) and torch.allclose(a, a2, atol=1e-6)
    # per-time-step queries equal the per-sample read at every step
    qt = torch.randn(B, 6, Ck)
    ot, at, _ = M.query_read(qt, K, V, mask)
    assert ot.shape == (B, 6, Cv) and at.shape == (B, 6, N)
    for p in range(6):
        assert torch.allclose(ot[:, p], M.query_read_naive(qt[:, p], K, V, mask)[0], atol=1e-6)
    with pytest.raises(ValueError):
        M.query_read(q, K, V[:, :3])
    # the temperature scales the 1/sqrt(C_k)-scaled logits: large tau saturates, tau -> 0 is uniform
    o3, a3, _ = M.query_read(q, K, V, mask, torch.tensor(0.5))
    assert torch.allclose(a3, M.query_read_naive(q, K, V, mask, 0.5)[1], atol=1e-6)
    _, a_hot, _ = M.query_read(q, K, V, mask, torch.tensor(1e4))
    _, a_flat, _ = M.query_read(q, K, V, mask, torch.tensor(1e-6))
    H_hot, H_u = M.read_entropy(a_hot, mask)
    H_flat, _ = M.read_entropy(a_flat, mask)
    assert H_hot < 0.05 and abs(H_flat - H_u) < 1e-4 and np.isclose(H_u, np.log(mask.sum(-1).double()).mean())


def _tiny_bank(V=4, I=3, dt=4):
    rng = np.random.default_rng(1)
    theta = rng.normal(size=(6, 30, V, 3)).astype(np.float32)
    return M.build_bank(theta, np.full(6, 30), np.array([0, 0, 1, 1, 2, 2]), I, delta_t=dt, K=2, max_samples=40)


@pytest.mark.parametrize("pred_bank,dec_bank", [(False, False), (True, False), (True, True)])
def test_predictor_shapes_and_causality(pred_bank, dec_bank):
    torch.manual_seed(0)
    V, dt, B, t_obs, P = 4, 4, 3, 6, 5
    bank = _tiny_bank(V, dt=dt)
    model = M.MotionPredictor(3 * V, 2, 3, latent=(16, 8, 8), c_k=8, c_v=8, delta_t=dt, pred_bank=pred_bank,
                              dec_bank=dec_bank).eval()
    th, be, ca = torch.randn(B, t_obs, 3 * V), torch.randn(B, t_obs, 2), torch.randn(B, t_obs, 3)
    lab = torch.tensor([0, 2, 1])
    out = model(th, be, ca, lab, bank, horizon=P)
    assert out["theta"].shape == (B, t_obs + P - 1, 3 * V) and out["beta"].shape == (B, t_obs + P - 1, 2)
    assert out["cam"].shape == (B, t_obs + P - 1, 3) and out["z_theta"].shape == (B, t_obs + P - 1, 16)
    if pred_bank:
        n = bank.short.shape[1]
        assert out["attn_short"].shape == (B, P, n)
        assert torch.allclose(out["attn_short"].sum(-1), torch.ones(B, P))
        # sample 1 reads bank 2: no weight on that bank's padding
        assert (out["attn_long"][1][:, ~bank.long_mask[2]] == 0).all()
    else:
        assert out["attn_short"] is None
    # the batch is processed independently (no leakage across samples in eval mode)
    out1 = model(th[1:2], be[1:2], ca[1:2], lab[1:2], bank, horizon=P)
    assert torch.allclose(out1["theta"], out["theta"][1:2], atol=1e-5)


def test_bank_changes_prediction_and_gradients_reach_bank_projections():
    torch.manual_seed(0)
    V, dt = 4, 4
    bank = _tiny_bank(V, dt=dt)
    model = M.MotionPredictor(3 * V, 2, 3, latent=(16, 8, 8), c_k=8, c_v=8, delta_t=dt)
    nn_init = torch.nn.init
    for w in (model.lstm_theta.out.weight, model.dec_theta.net[0].weight, model.lstm_theta.cell.weight_ih):
        nn_init.normal_(w, std=0.1)  # the read columns start at zero; switch them on
    th, be, ca = torch.randn(2, 6, 3 * V), torch.randn(2, 6, 2), torch.randn(2, 6, 3)
    model.eval()
    a = model(th, be, ca, torch.tensor([0, 0]), bank, horizon=4)["theta"]
    b = model(th, be, ca, torch.tensor([1, 1]), bank, horizon=4)["theta"]
    assert not torch.allclose(a, b)  # a different class's bank gives a different prediction
    model.train()
    out = model(th, be, ca, torch.tensor([0, 1]), bank, horizon=4)
    out["theta"].pow(2).sum().backward()
    for name in ("W_k", "W_v", "W_q", "W_k_dec", "W_v_dec", "W_q_dec"):
        g = getattr(model, name)["short"].weight.grad
        assert g is not None and g.abs().sum() > 0, name


def test_losses_signs_and_zeros():
    torch.manual_seed(0)
    logits = torch.randn(4, 5)
    assert M.action_kl(logits, logits).abs() < 1e-6
    other = torch.randn(4, 5)
    kl = M.action_kl(other, logits)
    assert kl > 0
    # KL(C || C_hat): the true distribution is the reference
    p, q = torch.softmax(logits, -1), torch.softmax(other, -1)
    assert torch.allclose(kl, (p * (p.log() - q.log())).sum(-1).mean(), atol=1e-6)
    # the gradient pushes the predicted distribution towards the true one
    o = other.clone().requires_grad_(True)
    M.action_kl(o, logits).backward()
    with torch.no_grad():
        assert M.action_kl(o - 0.1 * o.grad, logits) < kl
    # prior: zero inside the limits and with a constant zero shape, positive outside
    lo, hi = -torch.ones(6), torch.ones(6)
    th = 0.5 * torch.ones(2, 3, 6)
    assert M.prior_loss(th, torch.zeros(2, 3, 4), lo, hi) == 0
    assert M.prior_loss(th * 4, torch.zeros(2, 3, 4), lo, hi) > 0
    assert M.prior_loss(th, torch.randn(2, 3, 4), lo, hi) > 0


def test_prediction_losses_zero_at_truth_positive_otherwise():
    B, T, V = 2, 5, 4
    tgt = {"theta": torch.randn(B, T, 3 * V), "beta": torch.randn(B, T, 2), "cam": torch.randn(B, T, 3)}
    jf = lambda th, be: th.reshape(B, T, V, 3) * (1 + be[..., :1, None])  # noqa: E731
    pf = lambda X, c: X[..., :2] * c[..., None, :1] + c[..., None, 1:]  # noqa: E731
    tgt["joints"] = jf(tgt["theta"], tgt["beta"])
    tgt["joints2d"] = pf(tgt["joints"], tgt["cam"])
    tgt["visibility"] = torch.ones(B, T, V)
    lat = (torch.randn(B, T, 3), torch.randn(B, T, 2), torch.randn(B, T, 2))
    out = dict(tgt, z_theta=lat[0], z_beta=lat[1], z_cam=lat[2])
    L = M.prediction_losses(out, tgt, lat, jf, pf)
    assert all(float(L[k]) < 1e-10 for k in ("parameter", "latent", "joint"))
    out2 = dict(out, theta=tgt["theta"] + 0.1)
    L2 = M.prediction_losses(out2, tgt, lat, jf, pf)
    assert L2["parameter"] > 0 and L2["joint"] > 0
    # invisible joints do not count in the 2D term
    out3 = dict(out)
    tgt3 = dict(tgt, joints2d=tgt["joints2d"] + 1.0, visibility=torch.zeros(B, T, V))
    assert float(M.prediction_losses(out3, tgt3, lat, jf, pf)["joint"]) < 1e-10


def test_baselines():
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(3, 5, 4, 3))
    c = M.constant_baseline(obs, 7)
    assert c.shape == (3, 7, 4, 3) and np.allclose(c[:, 6], obs[:, -1])
    tr_obs, tr_fut = rng.normal(size=(10, 5, 4, 3)), rng.normal(size=(10, 7, 4, 3))
    pred, idx = M.nearest_neighbour_baseline(tr_obs, tr_fut, tr_obs[[4, 2]] + 1e-3)
    assert idx.tolist() == [4, 2] and np.allclose(pred, tr_fut[[4, 2]])


def test_bank_variants_start_as_the_baseline():
    # zero-initialised read columns: with the same seed a bank variant predicts exactly what the
    # baseline predicts until training moves those weights (the comparison isolates the read)
    V, dt = 4, 4
    bank = _tiny_bank(V, dt=dt)
    th, be, ca = torch.randn(2, 6, 3 * V), torch.randn(2, 6, 2), torch.randn(2, 6, 3)
    outs = []
    for pb, db in ((False, False), (True, False), (True, True)):
        torch.manual_seed(3)
        m = M.MotionPredictor(3 * V, 2, 3, latent=(16, 8, 8), c_k=8, c_v=8, delta_t=dt, K=2, pred_bank=pb,
                              dec_bank=db).eval()
        torch.nn.init.normal_(m.lstm_theta.out.weight, std=0.1)
        outs.append(m(th, be, ca, torch.tensor([0, 1]), bank, horizon=4)["theta"])
    assert torch.allclose(outs[0], outs[1]) and torch.allclose(outs[0], outs[2])
    assert outs[0].abs().sum() > 0


def test_long_decoding_query_spans_the_long_items():
    # the long decoding read at frame t depends on the latents t, t-K, ..., not on t-1
    torch.manual_seed(0)
    V, dt, K = 4, 4, 2
    bank = _tiny_bank(V, dt=dt)
    m = M.MotionPredictor(3 * V, 2, 3, latent=(16, 8, 8), c_k=8, c_v=8, delta_t=dt, K=K).eval()
    kv = m.bank_keys(bank, torch.tensor([0]))
    z = torch.randn(1, 12, 16)
    _, a = m.decode_theta(z, kv, return_attn=True)
    z2 = z.clone()
    z2[:, 10] += 5.0  # frame 10 is off the stride-2 grid of frame 11, on that of frame 10 and 12
    _, a2 = m.decode_theta(z2, kv, return_attn=True)
    assert torch.allclose(a["long"][0, 11], a2["long"][0, 11])
    assert not torch.allclose(a["long"][0, 10], a2["long"][0, 10])
    assert not torch.allclose(a["short"][0, 11], a2["short"][0, 11])


def test_remove_heading_and_exemplar_lookup():
    from paperlib.kinematics import matrix_to_axis_angle, rotation_about_y

    psi = torch.tensor([0.4, -1.1], dtype=torch.float64)
    aa = matrix_to_axis_angle(rotation_about_y(psi)).numpy()
    assert np.allclose(M.heading(aa), psi.numpy())
    th = np.zeros((2, 3, 6))
    th[:, :, 0:3] = aa[:, None]
    assert np.allclose(M.heading(M.remove_heading(th)[:, :, 0:3]), 0.0, atol=1e-6)
    # a test window that is a turned, shifted copy of a training window gets that window's future
    rng = np.random.default_rng(0)
    tr_obs, tr_fut = rng.normal(size=(5, 6, 4, 3)), rng.normal(size=(5, 3, 4, 3))
    R = rotation_about_y(torch.tensor(0.7, dtype=torch.float64)).numpy()
    q_obs = tr_obs[[3]] @ R.T + 0.2
    q_fut = tr_fut[[3]] @ R.T + 0.2
    root_tr = np.zeros((5, 3))
    root_te = matrix_to_axis_angle(torch.as_tensor(R)).numpy()[None]
    pred, idx = M.exemplar_lookup(tr_obs, tr_fut, np.zeros(5, int), root_tr, q_obs, np.zeros(1, int), root_te,
                                  recent=4)
    assert idx.tolist() == [3] and np.allclose(pred, q_fut, atol=1e-9)
    _, idx_o = M.exemplar_lookup(tr_obs, tr_fut, np.zeros(5, int), root_tr, q_obs, np.zeros(1, int), root_te,
                                 recent=4, oracle_future=q_fut)
    assert idx_o.tolist() == [3]


def test_pa_mpjpe_and_dtw_per_frame():
    rng = np.random.default_rng(0)
    true = rng.normal(size=(2, 6, 5, 3))
    # a similarity transform of the truth has zero PA-MPJPE
    R = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    R *= np.sign(np.linalg.det(R))
    e = M.pa_mpjpe_per_frame(2.0 * true @ R.T + 1.0, true)
    assert e.shape == (2, 6) and e.max() < 1e-6
    # a prediction that lags by one frame is forgiven by DTW, not without it
    lag = np.concatenate([true[:, :1], true[:, :-1]], 1)
    plain = M.pa_mpjpe_per_frame(lag, true)
    dtw = M.dtw_pa_mpjpe(lag, true, horizons=(1, 3, 6))
    assert dtw.shape == (2, 3) and dtw[:, 0].max() < 1e-6
    # the first h frames: the path pairs true frame j with predicted frame j + 1 (cost 0) except
    # the last true frame, which only predicted frame h - 1 (= true frame h - 2) can match
    for k, h in enumerate((3, 6)):
        assert np.allclose(dtw[:, k + 1], plain[:, h - 1] / h)
    assert (dtw[:, 2] < plain[:, :6].mean(1)).all()


def test_degrade_labels():
    probs = np.array([[0.9, 0.1, 0.0], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.5, 0.1, 0.4]])
    true = np.array([0, 0, 1, 2, 2])  # the classifier gets 4 / 5 right (sample 4 is wrong)
    assert (M.degrade_labels(probs, true, 0.8) == probs.argmax(1)).all()
    lab = M.degrade_labels(probs, true, 0.6)
    assert (lab == true).mean() == pytest.approx(0.6)
    assert lab[1] == 1  # the least confident correct one (0.6) got its most likely wrong class
    lab2 = M.degrade_labels(probs, true, 0.4)
    assert (lab2 == true).mean() == pytest.approx(0.4) and lab2[2] == 0  # then the 0.7s, in order


def test_run_experiment_passes_anchor_to_every_model(monkeypatch):
    # ``anchor`` is a public parameter of the experiment: it reaches the stage-1 model and the trained
    # variants (stage 1 and stage 2 are stubbed out; stage 2 stops the run once it has seen a model)
    seen = []

    class Stop(Exception):
        pass

    def stage1(model, *args, **kwargs):
        seen.append(("stage1", model.anchor))
        return [1.0]

    def stage2(model, *args, **kwargs):
        seen.append(("stage2", model.anchor))
        raise Stop

    monkeypatch.setattr(M, "train_stage1", stage1)
    monkeypatch.setattr(M, "train_stage2", stage2)
    tiny = dict(frames=60, epochs_classifier=1, bank_samples=30, latent=(8, 4, 4), c_kv=8,
                variants=("+ decoding with bank",), table6=())
    for kwargs, expected in (({}, True), ({"anchor": False}, False), ({"anchor": True}, True)):
        seen.clear()
        with pytest.raises(Stop):
            M.run_experiment(**kwargs, **tiny)
        assert seen == [("stage1", expected), ("stage2", expected)], (kwargs, seen)


def test_crosses_boundary():
    cyc = np.array([[0, 0, 0, 0], [0, 0, 1, 1], [2, 3, 3, 3]])
    assert M.crosses_boundary(cyc, 2).tolist() == [False, True, False]
    assert M.crosses_boundary(cyc, 1).tolist() == [False, True, True]
    with pytest.raises(ValueError, match="t_obs"):
        M.crosses_boundary(cyc, 4)


def test_item_tags_and_retrieval_accuracy():
    bank = _tiny_bank()
    labels = np.array([0, 0, 1, 1, 2, 2])
    variants = np.tile(np.arange(30) // 10, (6, 1))             # sub-process 0, 1, 2 along every sequence
    act, sub = M.item_tags(bank, "short", labels, variants)
    for b in range(3):
        src = bank.short_source[b]
        n = len(src)
        assert (act[b, :n].numpy() == labels[src[:, 0]]).all() and (act[b, n:] == -1).all()
        assert (sub[b, :n].numpy() == (src[:, 1] + bank.delta_t - 1) // 10).all()
    _, lsub = M.item_tags(bank, "long", labels, variants)
    assert (lsub[0, :len(bank.long_source[0])].numpy() == (bank.long_source[0][:, 1] + 2 * 3) // 10).all()
    mask = bank.short_mask
    rows = torch.tensor([0, 1])
    y = torch.tensor([0, 1])
    s_true = torch.stack([sub[0, :1].repeat(2), sub[1, :1].repeat(2)])   # (N=2, H=2): item 0's sub-process
    onehot = torch.zeros(2, 2, mask.shape[1])
    onehot[:, :, 0] = 1.0                                      # a read that puts all its weight on item 0
    r = M.retrieval_accuracy(onehot, rows, (act, sub), mask, y, s_true)
    assert r["hit"] == pytest.approx(1.0) and r["action"] == pytest.approx(1.0)
    assert r["hit_uniform"] < 1.0 and r["action_uniform"] == pytest.approx(1.0)
    wrong = M.retrieval_accuracy(onehot, rows, (act, sub), mask, torch.tensor([2, 2]), s_true)
    assert wrong["hit"] == 0.0 and wrong["action"] == 0.0     # the true action's items are in another row
    with pytest.raises(ValueError, match="do not match"):
        M.retrieval_accuracy(onehot[:1], rows, (act, sub), mask, y, s_true)


def test_train_stage2_patience_stops_after_epochs_without_improvement(monkeypatch):
    calls = []
    vals = iter([5.0, 4.0, 4.5, 4.6, 3.0, 2.0])

    def fake_predict(model, w, labels, *a, **k):
        calls.append(1)
        return torch.zeros_like(w["joints"][:, 2:]) + next(vals)

    monkeypatch.setattr(M, "predict_future", fake_predict)
    net = M.MotionPredictor(12, 2, 3, latent=(8, 4, 4), c_k=4, c_v=4, delta_t=4, K=2, pred_bank=False, dec_bank=False)
    W = {k: {"theta": torch.zeros(4, 5, 12), "beta": torch.zeros(4, 5, 2), "cam": torch.zeros(4, 5, 3),
             "joints": torch.zeros(4, 5, 4, 3), "joints2d": torch.zeros(4, 5, 4, 2), "visibility": torch.ones(4, 5, 4),
             "labels": torch.zeros(4, dtype=torch.long)} for k in ("train", "val")}
    joints = lambda th, be: th.reshape(*th.shape[:-1], 4, 3)  # noqa: E731
    proj = lambda X, cam: X[..., :2]  # noqa: E731
    lo, hi = -torch.ones(12), torch.ones(12)
    h = M.train_stage2(net, W, None, 2, 3, epochs=6, lr=1e-3, seed=0, joints_fn=joints, project_fn=proj,
                       theta_lo=lo, theta_hi=hi, patience=2)
    assert len(h["val"]) == 4 and h["best_epoch"] == 1           # 5, 4, 4.5, 4.6: two epochs without a better one
    with pytest.raises(ValueError, match="patience"):
        M.train_stage2(net, W, None, 2, 3, 6, 1e-3, 0, joints, proj, lo, hi, patience=0)
