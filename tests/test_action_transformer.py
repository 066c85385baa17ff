"""Video Action Transformer (paperlib.papers.action_transformer): Tx unit vs a per-cell reference,
memory layout, location embedding, query preprocessing, heads, training, frame-AP wiring, experiment."""
from __future__ import annotations

import math

from pathlib import Path

import numpy as np
import pytest
import torch

from paperlib.papers import action_transformer as AT
from paperlib.repro.grid import check_result
from paperlib.train import count_parameters


def _mem(B=2, N=12, dm=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, N, dm, generator=g, dtype=torch.float64)


def test_tx_unit_fast_and_recording_paths_equal_the_per_cell_reference():
    torch.manual_seed(0)
    unit = AT.TxUnit(6, 10, D=8, dropout=0.3).double().eval()
    q = torch.randn(2, 3, 6, dtype=torch.float64)
    mem = _mem()
    fast = unit(q, mem)
    rec = []
    slow = unit(q, mem, record=rec)
    assert fast.shape == (2, 3, 8) and rec[0]["attn"].shape == (2, 3, 12) and rec[0]["keys"].shape == (2, 12, 8)
    for b in range(2):
        for r in range(3):
            ref = AT.tx_unit_reference(unit, q[b, r], mem[b])
            assert torch.allclose(fast[b, r], ref, atol=1e-10)
            assert torch.allclose(slow[b, r], ref, atol=1e-10)
    # the reference tells apart the literal FFN(Q) of the printed equation and an unscaled softmax
    Q = unit.q(q[1, 2])
    K, V = unit.k(mem[1]), unit.v(mem[1])
    A = torch.softmax(K @ Q / math.sqrt(8), 0) @ V
    Q1 = unit.ln1(Q + A)
    assert not torch.allclose(unit.ln2(Q1 + unit.ffn(Q)), fast[1, 2], atol=1e-4)        # FFN(Q) instead of FFN(Q')
    A_unscaled = torch.softmax(K @ Q, 0) @ V
    Q1u = unit.ln1(Q + A_unscaled)
    assert not torch.allclose(unit.ln2(Q1u + unit.ffn(Q1u)), fast[1, 2], atol=1e-4)    # no 1/sqrt(D)
    # the attention over one clip's memory does not read another clip's
    mem2 = mem.clone()
    mem2[0] += 1.0
    assert torch.allclose(unit(q, mem2)[1], fast[1]) and not torch.allclose(unit(q, mem2)[0], fast[0])


def test_memory_keeps_cells_and_the_view_bug_does_not():
    x = torch.randn(2, 5, 3, 4, 6)
    mem = AT.as_memory(x)
    assert mem.shape == (2, 3 * 4 * 6, 5)
    b, t, h, w = 1, 2, 3, 5
    n = (t * 4 + h) * 6 + w
    assert torch.equal(mem[b, n], x[b, :, t, h, w])
    wrong = x.view(5, -1).t()                         # the unofficial code's reshape
    assert not torch.equal(wrong[b * 72 + n], x[b, :, t, h, w])


def test_location_embedding_halves_and_cell_values():
    torch.manual_seed(0)
    loc = AT.LocationEmbedding(4)
    T, H, W = 3, 4, 5                                  # H != W: a swapped axis would show
    e = loc(T, H, W)
    assert e.shape == (8, T, H, W)
    c = AT.LocationEmbedding.coords
    assert torch.allclose(c(4), torch.tensor([-0.375, -0.125, 0.125, 0.375]))   # relative to the centre
    for t, h, w in [(0, 0, 0), (2, 3, 1), (1, 0, 4)]:
        want_hw = loc.hw(torch.tensor([c(H)[h], c(W)[w]]))
        want_t = loc.t(c(T)[t:t + 1])
        assert torch.allclose(e[:4, t, h, w], want_hw, atol=1e-6)
        assert torch.allclose(e[4:, t, h, w], want_t, atol=1e-6)
    # each half varies along its own axes (a constant or unwired input would not)
    assert (e[:4, 0, 0, 0] - e[:4, 0, 0, -1]).abs().max() > 1e-4
    assert (e[:4, 0, 0, 0] - e[:4, 0, -1, 0]).abs().max() > 1e-4
    assert (e[4:, 0, 0, 0] - e[4:, -1, 0, 0]).abs().max() > 1e-4


def test_query_preprocessing_shapes_and_roi_reads_the_box():
    torch.manual_seed(0)
    Tp, Hp, Wp = 4, 16, 16
    feat = torch.randn(2, 96, Tp, Hp, Wp)
    rois = torch.tensor([[[4.0, 8.0, 20.0, 40.0], [30.0, 2.0, 50.0, 30.0], [0.0, 0.0, 8.0, 8.0]]] * 2)
    r = AT.person_rois(feat, rois)
    assert r.shape == (6, 96, 7, 7)
    assert AT.LowResQPr(96, 128)(r).shape == (6, 128) and AT.HighResQPr(96, 128)(r).shape == (6, 128)
    # a map whose value is the x pixel of the cell centre (4 k + 2): the RoI reads the box's x range
    xmap = (torch.arange(Wp) * AT.STRIDE + 2.0)[None, None, None, None].expand(1, 1, Tp, Hp, Wp)
    rx = AT.person_rois(xmap, rois[:1, :2])
    lo = torch.tensor([4.0, 30.0])
    hi = torch.tensor([20.0, 50.0])
    assert (rx.amin((1, 2, 3)) >= lo - 0.01).all() and (rx.amax((1, 2, 3)) <= hi + 0.01).all()
    assert (rx[0, 0, :, -1] > rx[0, 0, :, 0]).all()         # x grows left to right, not down
    # Sec. 3.4: RoIAlign to 14x14, then the max over each 2x2 block (not the average)
    from paperlib.nn.spatial import roi_align
    bi = torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])[:, None]
    r14 = roi_align(feat[:, :, Tp // 2], torch.cat([bi, rois.reshape(-1, 4)], 1), 14, 1 / AT.STRIDE,
                    sampling_ratio=AT.ROI_SAMPLING)
    assert torch.allclose(r, r14.reshape(6, 96, 7, 2, 7, 2).amax((3, 5)))
    # the centre frame is the one read: changing another frame leaves the query's RoI unchanged
    f2 = feat.clone()
    f2[:, :, 0] += 5.0
    assert torch.allclose(AT.person_rois(f2, rois), r)


def test_heads_shapes_and_tube_shortcut_equals_full_forward():
    torch.manual_seed(0)
    feat = torch.randn(2, 64, 4, 16, 16)
    rois = torch.tensor([[[4.0, 8.0, 20.0, 40.0], [30.0, 2.0, 50.0, 30.0]]] * 2)
    for v in ("i3d", "lowres", "highres"):
        h = AT.make_head(v, 11, seed=0).eval()
        lg, bx = h(feat, rois)
        assert lg.shape == (2, 2, 12) and bx.shape == (2, 2, 4)
        tube = AT.precompute_tubes(feat, rois)
        lg2, bx2 = h(feat, rois, tube=tube.flatten(0, 1))
        assert torch.allclose(lg, lg2, atol=1e-5) and torch.allclose(bx, bx2, atol=1e-5)
    # the Tx head's query RoI feature is RoIAlign of the centre frame of the location-padded map
    h = AT.make_head("highres", 11, seed=0).eval()
    seen = []
    h.qpr.register_forward_hook(lambda mod, inp, out: seen.append(inp[0]))
    h(feat, rois)
    e = h.loc(4, 16, 16)
    padded = torch.cat([feat, e[None].expand(2, -1, -1, -1, -1)], 1)
    assert torch.allclose(seen[0], AT.person_rois(padded, rois), atol=1e-5)
    # the same seed gives the same initialisation (paired variants)
    a, b = AT.make_head("highres", 11, seed=3), AT.make_head("highres", 11, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_capacity_matched_controls():
    n_i3d = count_parameters(AT.make_head("i3d", 11))
    n_tx = count_parameters(AT.make_head("highres", 11))
    assert n_tx > 10 * n_i3d                                    # the unmatched comparison the issue names
    assert abs(count_parameters(AT.make_head("i3d_wide", 11)) - n_tx) < 0.05 * n_tx
    assert abs(count_parameters(AT.make_head("highres_small", 11)) - n_i3d) < 0.25 * n_i3d


def test_attention_shares_of_a_uniform_head_equal_the_uniform_baseline():
    torch.manual_seed(0)
    head = AT.make_head("highres", 3).eval()
    for layer in head.layers:
        for unit in layer:
            torch.nn.init.zeros_(unit.q.weight)
            torch.nn.init.zeros_(unit.q.bias)          # Q = 0: every cell gets the same weight
    ds = AT.KeyframeSet(np.zeros((2, 8, 64, 64, 3), np.uint8),
                        np.array([[[4, 4, 20, 40], [30, 10, 50, 50], [0, 0, 8, 8]]] * 2, np.float32),
                        np.array([[True, True, False], [True, True, True]]), np.zeros((2, 3, 3), np.uint8),
                        ["a", "b"], np.zeros(2), ("x", "y", "z"))
    s = AT.attention_shares(head, torch.randn(2, 64, 4, 16, 16), ds)
    assert s["attn_n"] == 5
    assert s["attn_other"] == pytest.approx(s["attn_other_uniform"], abs=1e-6)
    assert s["attn_own"] == pytest.approx(s["attn_own_uniform"], abs=1e-6)
    assert 0 < s["attn_own_uniform"] < s["attn_other_uniform"] < 1
    # a map that ignores the query: entropy 1 (uniform over the N cells), no query dependence
    assert s["attn_entropy"] == pytest.approx(1.0, abs=1e-6) and s["attn_query_tv"] == pytest.approx(0.0, abs=1e-7)
    # a learned head's maps differ between two people's queries over the same memory
    t = AT.attention_shares(AT.make_head("highres", 3, seed=1).eval(), torch.randn(2, 64, 4, 16, 16), ds)
    assert t["attn_query_tv"] > 1e-3 and t["attn_entropy"] < 1.0


def test_attention_controls_uniform_none_and_oracle():
    torch.manual_seed(0)
    q, mem = torch.randn(2, 3, 6, dtype=torch.float64), _mem()
    learned = AT.TxUnit(6, 10, D=8).double().eval()
    units = {}
    for mode in ("uniform", "none", "oracle"):
        units[mode] = AT.TxUnit(6, 10, D=8, attention=mode).double().eval()
        units[mode].load_state_dict(learned.state_dict())          # the same parameters: only the map differs
    # uniform: Eq. 2 with A = mean of V over the cells
    Q, V = learned.q(q), learned.v(mem)
    Q1 = learned.ln1(Q + V.mean(1, keepdim=True))
    assert torch.allclose(units["uniform"](q, mem), learned.ln2(Q1 + learned.ffn(Q1)), atol=1e-10)
    # no memory: A = 0, and the output does not change with the memory
    Q0 = learned.ln1(Q)
    assert torch.allclose(units["none"](q, mem), learned.ln2(Q0 + learned.ffn(Q0)), atol=1e-10)
    assert torch.allclose(units["none"](q, mem + 1.0), units["none"](q, mem))
    # oracle: uniform over the masked cells; a row without a marked cell attends everywhere
    mask = torch.zeros(2, 3, 12, dtype=torch.bool)
    mask[0, 0, [2, 5]] = True
    rec = []
    units["oracle"](q, mem, record=rec, mask=mask)
    a = rec[0]["attn"]
    assert torch.allclose(a[0, 0, [2, 5]], torch.full((2,), 0.5, dtype=a.dtype)) and a[0, 0].sum() == pytest.approx(1)
    assert torch.allclose(a[1, 2], torch.full((12,), 1 / 12, dtype=a.dtype))
    with pytest.raises(ValueError, match="oracle attention needs a mask"):
        units["oracle"](q, mem)
    with pytest.raises(ValueError, match="attention must be one of"):
        AT.TxUnit(6, 10, attention="random")
    # the head passes the mode and the mask to every unit
    head = AT.TxHead(3, attention="oracle", D=16).eval()
    assert all(u.attention == "oracle" for layer in head.layers for u in layer)
    # the controls of the grid: the same head and parameter count as Tx HighRes, only the map differs
    for v, mode in (("highres_uniform", "uniform"), ("highres_nomem", "none")):
        h = AT.make_head(v, 3, seed=0)
        assert all(u.attention == mode for layer in h.layers for u in layer)
        assert count_parameters(h) == count_parameters(AT.make_head("highres", 3, seed=0))


def test_partner_mask_marks_the_other_peoples_cells():
    boxes = torch.tensor([[[0.0, 0.0, 16.0, 16.0], [32.0, 32.0, 64.0, 64.0], [0.0, 0.0, 1.0, 1.0]]])
    present = torch.tensor([[True, True, False]])
    rois = torch.tensor([[[0.0, 0.0, 16.0, 16.0], [33.0, 33.0, 63.0, 63.0], [20.0, 0.0, 30.0, 10.0]]])
    m = AT.partner_mask(rois, boxes, present, (2, 8, 8), 64).reshape(1, 3, 2, 8, 8)
    # RoI 0 covers person 0: its partner is person 1 (cells 4-7 x 4-7, centres 36-60 px), the same at both steps
    want1 = torch.zeros(8, 8, dtype=torch.bool)
    want1[4:, 4:] = True
    want0 = torch.zeros(8, 8, dtype=torch.bool)
    want0[:2, :2] = True
    assert torch.equal(m[0, 0, 0], want1) and torch.equal(m[0, 0, 1], want1)
    assert torch.equal(m[0, 1, 0], want0)                      # RoI 1 covers person 1: its partner is person 0
    assert torch.equal(m[0, 2, 0], want0 | want1)             # a RoI on nobody: every present person is other
    with pytest.raises(ValueError, match="clips"):
        AT.partner_mask(rois, boxes.repeat(2, 1, 1), present, (2, 8, 8), 64)


def test_train_head_stops_early_with_patience():
    feats, rois, _ = _toy_rois()
    scores = iter([0.1, 0.5, 0.4, 0.3, 0.9, 0.2])
    _, _, info = AT.train_head("i3d", AT.make_head("i3d", 3), feats, rois, epochs=6, seed=0, bs=6,
                               val=lambda h, t: next(scores), patience=2)
    assert info["epochs_run"] == 4 and info["epoch_best"] == 2 and info["val"] == [0.1, 0.5, 0.4, 0.3]
    with pytest.raises(ValueError, match="patience"):
        AT.train_head("i3d", AT.make_head("i3d", 3), feats, rois, epochs=2, seed=0, bs=6, patience=2)


def test_attention_record_layout_matches_the_viewer_and_the_shares():
    from paperlib.viz.attention import attention_compute

    torch.manual_seed(0)
    head = AT.make_head("highres", 3).eval()
    ds = AT.KeyframeSet(np.zeros((3, 8, 64, 64, 3), np.uint8),
                        np.array([[[4, 4, 20, 40], [30, 10, 50, 50], [0, 0, 8, 8]]] * 3, np.float32),
                        np.array([[True, True, False]] * 3), np.zeros((3, 3, 3), np.uint8),
                        ["a", "b", "c"], np.zeros(3), ("x", "y", "z"))
    feats = torch.randn(3, 64, 4, 16, 16)
    rec = AT.attention_record(head, feats, ds, n_clips=2, targets=np.array([[1, 0, -1]] * 3))
    assert rec["attn"].shape == (2, 3, 2, 3, 4, 8, 8) and rec["keys"].shape == (2, 3, 2, 4, 8, 8, 128)
    assert np.allclose(rec["attn"].sum((-3, -2, -1)), 1, atol=1e-5)
    # the head average of the last layer is what attention_shares scores: person 0 of clip 1 by hand
    rows = []
    head(feats[1:2], torch.as_tensor(ds.boxes[1:2]), record=rows)
    by_hand = torch.stack([r["attn"] for r in rows[-2:]]).mean(0)[0, 0].reshape(4, 8, 8)
    d = attention_compute(rec, clip=1, person=0, layer=-1, head="mean")
    assert np.allclose(d["attn"], by_hand.numpy(), atol=1e-6)
    assert d["target"] == 1 and rec["probs"].shape == (2, 3, 3)
    with pytest.raises(TypeError):
        AT.attention_record(AT.make_head("i3d", 3), feats, ds)


def _toy_rois(N=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(N, 64, 2, 8, 8, generator=g)
    xy = torch.rand(N, 2, 2, generator=g) * 16
    boxes = torch.cat([xy, xy + 12], -1)
    present = torch.ones(N, 2, dtype=torch.bool)
    labels = (feats[:, :2, 1, 4, 4].reshape(N, 2, 1) > 0).float().expand(-1, -1, 3).clone()   # learnable
    ds = AT.KeyframeSet(np.zeros((N, 4, 32, 32, 3), np.uint8), boxes.numpy(), present.numpy(),
                        labels.numpy().astype(np.uint8), [f"v{i}" for i in range(N)], np.zeros(N), ("a", "b", "c"))
    return feats, AT._train_rois(feats, torch.zeros(N, 0, 4), torch.zeros(N, 0, dtype=torch.bool), ds), ds


def test_training_lowers_the_loss_and_selects_the_validation_epoch():
    feats, rois, _ = _toy_rois()
    for v in ("i3d", "highres"):
        head = AT.make_head(v, 3, seed=0)
        _, _, info = AT.train_head(v, head, feats, rois, epochs=6, seed=0, lr=3e-3, bs=6)
        assert info["loss"].shape == (6, 2) and info["loss"][-1].sum() < 0.8 * info["loss"][0].sum()
    # selection: the returned head is the one of the best validation epoch, not the last
    scores, states = iter([0.1, 0.7, 0.3, 0.2]), []

    def val(head, trunk):
        states.append({k: t.clone() for k, t in head.state_dict().items()})
        return next(scores)

    head, _, info = AT.train_head("i3d", AT.make_head("i3d", 3), feats, rois, epochs=4, seed=0, val=val, bs=6)
    assert info["epoch_best"] == 2 and info["val"] == [0.1, 0.7, 0.3, 0.2]
    assert all(torch.equal(head.state_dict()[k], states[1][k]) for k in states[1])
    assert not all(torch.equal(head.state_dict()[k], states[3][k]) for k in states[3])


def test_frame_map_cap_and_gating_are_wired():
    # one keyframe, one person with class 0; 60 boxes x 1 class: the true box ranks last
    C = 1
    ds = AT.KeyframeSet(np.zeros((1, 2, 64, 64, 3), np.uint8), np.array([[[10, 10, 30, 50]]], np.float32),
                        np.array([[True]]), np.ones((1, 1, C), np.uint8), ["v"], np.zeros(1), ("a",))
    boxes = np.tile(np.array([40, 40, 60, 60], np.float32), (1, 60, 1))
    boxes[0, -1] = [10, 10, 30, 50]
    scores = np.linspace(0.9, 0.3, 60, dtype=np.float32)[None, :, None]
    valid = np.ones((1, 60), bool)
    assert AT.frame_map(ds, boxes, valid, scores, max_per_keyframe=None)["mAP"] == pytest.approx(1 / 60)
    assert AT.frame_map(ds, boxes, valid, scores)["mAP"] == 0.0                 # the official top-50 cap drops it
    person = np.full((1, 60), 0.1, np.float32)
    person[0, -1] = 1.0                                                          # the detector is sure of the true box
    assert AT.frame_map(ds, boxes, valid, scores, person_scores=person)["mAP"] == pytest.approx(1.0)


def test_run_experiment_tiny_returns_the_documented_keys():
    with pytest.raises(ValueError, match="unknown variants"):
        AT.run_experiment(variants=("nope",))
    with pytest.raises(ValueError, match="needs"):
        AT.run_experiment(variants=("i3d", "tx+i3d"))
    out = AT.run_experiment(seed=0, num_train=20, num_test=6, frames=4, size=32, epochs_trunk=1, epochs_head=2,
                            variants=("i3d", "highres", "tx+i3d"), context_probe=False, attention_clips=3,
                            symmetric_exchange=True, cue_scale=2.0, return_models=True)
    check_result(out)
    m, per = out["metrics"], out["per_item"]
    assert {"data", "rpn", "time", "i3d", "highres", "tx+i3d"} <= set(m)
    assert m["data"]["n_val"] == 3 and m["data"]["n_train"] == 17 and m["data"]["cue/head_diameter"] > 0
    for v in ("i3d", "highres"):
        for k in ("mAP_gt", "mAP_rpn", "loc@0.5", "loc@0.75", "context_mAP_gt", "params", "mflops", "epoch_best",
                  "val_mAP_best", "loss_first", "loss_last", "train_s", "ap_gt/hold", "ap_gt/take"):
            assert k in m[v], (v, k)
        assert 1 <= m[v]["epoch_best"] <= 2
        assert len(per[v]["nll"]) == int(m["data"]["test_people"]) == len(per[v]["label_ap"])
    assert {"attn_other", "attn_other_uniform", "attn_own", "attn_own_uniform"} <= set(m["highres"])
    assert set(m["tx+i3d"]) == {"mAP_rpn", "loc@0.5", "loc@0.75"}
    assert m["tx+i3d"]["loc@0.5"] == m["i3d"]["loc@0.5"]            # the I3D head localises for Tx + I3D
    assert m["highres"]["mflops_kv"] > m["highres"]["mflops"]
    # paired: the same data and trunk for every variant
    assert out["outputs"]["i3d"]["feats"] is out["outputs"]["highres"]["feats"]


def test_run_experiment_attention_controls_and_patience():
    out = AT.run_experiment(seed=0, num_train=20, num_test=6, frames=4, size=32, epochs_trunk=1, epochs_head=3,
                            variants=("highres", "highres_uniform", "highres_nomem", "highres_oracle"),
                            context_probe=False, attention_clips=3, head_patience=1, return_models=True)
    check_result(out)
    m = out["metrics"]
    for v in ("highres", "highres_uniform", "highres_nomem", "highres_oracle"):
        assert 1 <= m[v]["epochs_run"] <= 3 and m[v]["epoch_best"] <= m[v]["epochs_run"]
        assert m[v]["params"] == m["highres"]["params"]
    # the uniform control's shares are the uniform map's; the no-memory control has no map to measure
    assert m["highres_uniform"]["attn_other"] == pytest.approx(m["highres_uniform"]["attn_other_uniform"], abs=1e-6)
    assert m["highres_uniform"]["attn_query_tv"] == pytest.approx(0.0, abs=1e-7)
    assert "attn_other" not in m["highres_nomem"]
    # the oracle attends only to cells centred inside the other people's boxes: nearly all its weight lies there
    # (region_shares weighs a cell by its overlap with a box, so cells at a box's edge count in part)
    o = m["highres_oracle"]
    assert o["attn_other"] > 0.8 and o["attn_other"] > 2 * o["attn_other_uniform"]
    # by class: the same means over the people carrying each label; their people-weighted mean is the overall one
    te, feats = out["data"].test, out["outputs"]["highres_oracle"]["feats"]
    bc = AT.attention_shares(out["models"]["highres_oracle"], feats, te, n_clips=3, by_class=True)
    assert {k: bc[k] for k in o if k.startswith("attn_")} == pytest.approx({k: o[k] for k in o if k.startswith("attn_")})
    lab = te.labels[:3][te.present[:3] & (te.present[:3].sum(1, keepdims=True) >= 2)]
    for k, name in enumerate(te.class_names):
        c = AT.short(name)
        assert (f"attn_n/{c}" in bc) == bool(lab[:, k].any()) and bc.get(f"attn_n/{c}", 0) == lab[:, k].sum()
        if f"attn_other/{c}" in bc:
            assert bc[f"attn_other/{c}"] > bc[f"attn_other_uniform/{c}"]            # the oracle, in every class
    with pytest.raises(ValueError, match="mask"):
        head = out["models"]["highres_oracle"]
        AT.run_head(head, out["outputs"]["highres_oracle"]["feats"][:1], torch.zeros(1, 1, 4) + 8, 32)


def test_end_to_end_variant_trains_a_copy_of_the_trunk_and_gating_runs():
    out = AT.run_experiment(seed=1, num_train=20, num_test=6, frames=4, size=32, epochs_trunk=1, epochs_head=2,
                            variants=("i3d", "highres_e2e"), context_probe=False, attention_clips=0,
                            gate_person=True, return_models=True)
    check_result(out)
    head, trunk = out["models"]["highres_e2e"]
    stage1 = out["stage1"].trunk
    moved = [not torch.equal(a, b) for a, b in zip(trunk.parameters(), stage1.parameters())]
    assert any(moved)                                             # the trunk was trained ...
    assert out["outputs"]["i3d"]["feats"] is out["feats"]["test"]  # ... on a copy: the frozen variants keep stage 1's
    assert not torch.allclose(out["outputs"]["highres_e2e"]["feats"], out["feats"]["test"])
    assert 0.0 <= out["metrics"]["highres_e2e"]["mAP_rpn"] <= 1.0


def test_ava_branch_reads_exported_splits(tmp_path):
    # the released layout (export_ava): ava_{train,val}_v2.2.csv, the 60-class label map name, the
    # excluded-timestamps CSVs, frame folders starting at 900 s
    from paperlib.data.ava import export_ava
    from paperlib.data.video import make_multi_person_clips
    for split, n, s in (("train", 12, 0), ("val", 4, 1)):
        clips = make_multi_person_clips(n, frames=4, size=32, seed=s)
        export_ava(clips, tmp_path, split=split)
    with pytest.raises(FileNotFoundError, match="ava_train_v2.1.csv"), pytest.warns(UserWarning, match="below the paper"):
        AT.run_experiment(dataset="ava", data_root=tmp_path, ava_version="v2.1", frames=4, size=32)
    with pytest.warns(UserWarning, match="4 frames instead of 64.*32 x 32 px instead of 400"):
        out = AT.run_experiment(dataset="ava", data_root=tmp_path, ava_fps=clips.fps, frames=4, size=32,
                                epochs_trunk=1, epochs_head=1, variants=("i3d",), attention_clips=0, return_models=True)
    te = out.pop("data").test
    for k in ("models", "stage1", "feats", "outputs", "proposals", "train_info"):
        out.pop(k)
    check_result(out)
    P = te.present.shape[1]
    assert P == clips.present.sum(1).max()                       # every annotated person, no max_people cap
    assert np.array_equal(te.labels, clips.labels[:, :P]) and np.allclose(te.boxes, clips.boxes[:, clips.keyframe, :P], atol=0.02)
    m = out["metrics"]["data"]
    assert (m["n_train"], m["n_val"], m["n_test"]) == (10, 2, 4) and "context" not in out["metrics"]


def test_clip_scale_note_names_each_shortfall_against_the_paper():
    assert AT.clip_scale_note(64, 400, 25.0) is None and AT.clip_scale_note(96, 448, 30.0) is None
    note = AT.clip_scale_note(16, 224, 4.0)                                 # the documented command's clip
    assert "16 frames instead of 64" in note and "224 x 224 px instead of 400 x 400" in note and "(4.0 s" in note
    assert "px" not in AT.clip_scale_note(32, 400, 8.0) and "frames instead" not in AT.clip_scale_note(64, 200, 8.0)


def test_ffn_input_knob_reaches_the_units_and_changes_the_output():
    # TxUnit: "query" is the printed FFN(Q), "updated" (default) the FFN(Q') of the reference
    torch.manual_seed(0)
    unit = AT.TxUnit(6, 10, D=8).double().eval()
    torch.manual_seed(0)
    literal = AT.TxUnit(6, 10, D=8, ffn_input="query").double().eval()
    assert all(torch.equal(a, b) for a, b in zip(unit.parameters(), literal.parameters()))
    q, mem = torch.randn(2, 3, 6, dtype=torch.float64), _mem()
    Q = unit.q(q)
    Q1 = unit.ln1(Q + torch.softmax(Q @ unit.k(mem).transpose(1, 2) / math.sqrt(8), -1) @ unit.v(mem))
    assert torch.allclose(literal(q, mem), unit.ln2(Q1 + unit.ffn(Q)), atol=1e-10)
    assert torch.allclose(unit(q, mem), unit.ln2(Q1 + unit.ffn(Q1)), atol=1e-10)
    assert not torch.allclose(literal(q, mem), unit(q, mem), atol=1e-4)
    with pytest.raises(ValueError, match="ffn_input"):
        AT.TxUnit(6, 10, ffn_input="Q")
    # the head passes it to every unit; same seed, same parameters, another output
    feat = torch.randn(2, 64, 4, 16, 16)
    rois = torch.tensor([[[4.0, 8.0, 20.0, 40.0], [30.0, 2.0, 50.0, 30.0]]] * 2)
    base, abl = AT.make_head("highres", 11, seed=0).eval(), AT.make_head("highres", 11, seed=0, ffn_input="query").eval()
    assert {u.ffn_input for layer in abl.layers for u in layer} == {"query"}
    assert {u.ffn_input for layer in base.layers for u in layer} == {"updated"}
    assert all(torch.equal(a, b) for a, b in zip(base.parameters(), abl.parameters()))
    with torch.no_grad():
        assert not torch.allclose(base(feat, rois)[0], abl(feat, rois)[0], atol=1e-4)


def test_location_embedding_knob_zeroes_the_embedding_and_changes_the_output():
    feat = torch.randn(2, 64, 4, 16, 16)
    rois = torch.tensor([[[4.0, 8.0, 20.0, 40.0], [30.0, 2.0, 50.0, 30.0]]] * 2)
    base = AT.make_head("highres", 11, seed=0).eval()
    abl = AT.make_head("highres", 11, seed=0, location_embedding=False).eval()
    assert isinstance(abl.loc, AT.NoLocationEmbedding) and not isinstance(base.loc, AT.NoLocationEmbedding)
    assert all(torch.equal(a, b) for a, b in zip(base.parameters(), abl.parameters()))   # paired initialisation
    with torch.no_grad():
        assert torch.equal(abl.loc(4, 16, 16), torch.zeros(32, 4, 16, 16))
        mem_b, mem_a = base.memory(feat), abl.memory(feat)
        assert torch.equal(mem_a[..., :64], mem_b[..., :64])
        assert torch.equal(mem_a[..., 64:], torch.zeros_like(mem_a[..., 64:]))
        assert mem_b[..., 64:].abs().max() > 1e-3
        assert not torch.allclose(base(feat, rois)[0], abl(feat, rois)[0], atol=1e-4)
        # without a position, a unit cannot tell where a cell is: shifting the map (by whole pooled cells)
        # leaves its output unchanged; with the embedding it does not
        shifted = torch.roll(feat, 2 * AT.MEM_POOL, dims=-1)
        q = torch.randn(2, 2, 128)
        ua, ub = abl.layers[0][0], base.layers[0][0]
        torch.testing.assert_close(ua(q, abl.memory(feat)), ua(q, abl.memory(shifted)))
        assert not torch.allclose(ub(q, base.memory(feat)), ub(q, base.memory(shifted)), atol=1e-4)


def test_run_experiment_passes_the_tx_head_knobs():
    out = AT.run_experiment(seed=0, num_train=20, num_test=6, frames=4, size=32, epochs_trunk=1, epochs_head=1,
                            variants=("highres", "highres_small"), context_probe=False, attention_clips=0,
                            return_models=True, ffn_input="query", location_embedding=False, tx_heads=1, tx_layers=2)
    for v in ("highres", "highres_small"):
        head = out["models"][v]
        assert isinstance(head.loc, AT.NoLocationEmbedding)
        assert [len(layer) for layer in head.layers] == [1, 1]
        assert {u.ffn_input for layer in head.layers for u in layer} == {"query"}
    assert out["metrics"]["highres"]["params"] == count_parameters(
        AT.TxHead(11, heads=1, layers=2, ffn_input="query", location_embedding=False))


def test_ava_split_filters_unknown_actions_drops_excluded_keyframes_and_counts_extra_people(tmp_path):
    # the official protocol (paperlib.data.ava): rows outside the label map are filtered and counted,
    # excluded keyframes are dropped and counted, and people beyond max_people are counted as lost
    from paperlib.data.ava import export_ava, read_ava_csv, read_label_map, write_label_map
    from paperlib.data.errors import SkipReport
    from paperlib.data.video import make_multi_person_clips
    clips = make_multi_person_clips(6, frames=4, size=32, seed=0)
    paths = export_ava(clips, tmp_path, split="train")
    lm = read_label_map(paths["label_map"])
    ann = read_ava_csv(paths["csv"], label_map=lm)
    dropped = int(np.bincount(ann.action_ids).argmax())              # the most frequent action
    write_label_map(paths["label_map"], {i: lm.names[i] for i in lm.class_ids if i != dropped})
    j = int(np.flatnonzero(ann.action_ids != dropped)[0])             # a keyframe with a kept row
    vid, ts = ann.video_ids[j], float(ann.timestamps[j])
    Path(paths["excluded"]).write_text(f"{vid},{int(ts):04d}\n")
    at_excluded = sum(1 for v, t, a in zip(ann.video_ids, ann.timestamps, ann.action_ids)
                      if v == vid and int(t) == int(ts) and a != dropped)
    rep = SkipReport(source="AVA train")
    ks = AT.load_ava_split(tmp_path, "train", 4, 32, 1, clips.fps, report=rep)
    filtered = {r: n for r, n in rep.filtered.items()}
    assert sum(n for r, n in filtered.items() if "excluded" not in r) == int((ann.action_ids == dropped).sum()), filtered
    assert filtered["ground-truth rows at excluded timestamps"] == at_excluded >= 1, filtered
    assert len(ks.class_names) == len(lm.class_ids) - 1
    assert sum(rep.counts.values()) > 0, "max_people = 1: the other people of a keyframe must be counted"
    with pytest.warns(UserWarning, match="people beyond max_people"):
        AT.load_ava_split(tmp_path, "train", 4, 32, 1, clips.fps)


def test_ava_split_keeps_the_aspect_ratio(tmp_path):
    # a 2:1 movie: letterboxed into the square input, boxes mapped with the frames
    from paperlib.data.ava import export_ava
    from paperlib.data.video import make_multi_person_clips
    clips = make_multi_person_clips(3, frames=4, size=(32, 64), seed=0)
    export_ava(clips, tmp_path, split="val")
    ks = AT.load_ava_split(tmp_path, "val", 4, 32, None, clips.fps)
    assert ks.frames.shape[2:4] == (32, 32)
    assert ks.frames[:, :, :6].max() < 20 and ks.frames[:, :, -6:].max() < 20   # black bars above and below
    W, H = clips.camera.width, clips.camera.height
    kb = clips.boxes[:, clips.keyframe] / [W, H, W, H]                            # normalised in the movie
    want = (kb * [1, 0.5, 1, 0.5] + [0, 0.25, 0, 0.25]) * 32
    P = ks.present.shape[1]
    np.testing.assert_allclose(ks.boxes[ks.present], want[:, :P][clips.present[:, :P]], atol=0.05)
