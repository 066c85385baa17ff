"""Tests of the UPS explorers (paperlib.viz.ups): compute/render on small recorded arrays, and
the ipywidgets wiring driven by setting control values."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from paperlib.skeleton import H36M17  # noqa: E402
from paperlib.viz import gallery  # noqa: E402
from paperlib.viz.ups import (decoding_compute, decoding_explorer, decoding_render,  # noqa: E402
                              routing_compute, routing_explorer, routing_render)
from tests.widget_support import assert_same_pixels  # noqa: E402

S, M, L, H = 5, 3, 2, 2


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture()
def routing_record():
    probs = np.zeros((S, M, L, H))
    for s in range(S):
        a = 0.5 + 0.1 * s  # task 0 drifts towards block 1, task 1 towards block 0, task 2 stays at 0.5/0.5
        probs[s, 0, :, 1], probs[s, 1, :, 1], probs[s, 2, :, 1] = a, 1 - a, 0.5
    probs[..., 0] = 1 - probs[..., 1]
    probs[:, 2, 1] = [0.1, 0.9]  # task 2 picks block 1 in layer 1
    return {"task_names": ["pose", "ar2d", "ar3d"], "steps": np.arange(S) * 10, "probs": probs}


def test_routing_compute_probabilities_choice_and_sharing(routing_record):
    d = routing_compute(routing_record, step=4, view="routes")
    assert d["probs"].shape == (M, L, H) and d["iteration"] == 40 and d["index"] == 4
    assert np.allclose(d["probs"][0, 0], [0.1, 0.9])
    assert d["choice"][:, 0].tolist() == [1, 0, 0] and d["choice"][:, 1].tolist() == [1, 0, 1]
    # p(same block) = sum_h p_ih p_jh; at step 4 task 0 is (0.1, 0.9), task 1 (0.9, 0.1)
    assert np.isclose(d["share"][0, 0, 1], 0.1 * 0.9 + 0.9 * 0.1)
    assert np.isclose(d["share"][0, 0, 0], 0.01 + 0.81)
    assert np.allclose(d["share"], d["share"].transpose(0, 2, 1))
    assert d["same_block"][1, 0, 2] and not d["same_block"][1, 0, 1] and d["same_block"][0, 1, 2]
    assert d["history"].shape == (S, M, L, H) and d["iters"].tolist() == [0, 10, 20, 30, 40]


def test_routing_compute_clamps_and_validates(routing_record):
    d = routing_compute(routing_record, step=99, view="sharing")
    assert d["index"] == S - 1
    d = routing_compute(routing_record, step=-3)
    assert d["index"] == 0 and d["history"].shape[0] == 1
    with pytest.raises(ValueError):
        routing_compute(routing_record, 0, view="graph")
    with pytest.raises(ValueError):
        routing_compute({**routing_record, "probs": np.zeros((S, M, L))}, 0)


def test_routing_render_both_views(routing_record):
    fig = routing_render(routing_compute(routing_record, 2, "routes"))
    heat = [a for a in fig.axes if a.images]
    assert len(heat) == L and np.allclose(heat[0].images[0].get_array(), routing_record["probs"][2][:, 0, :])
    lines = [a for a in fig.axes if a.lines and not a.images]
    assert len(lines) == L and len(lines[0].lines) == M + 1  # one curve per task + the step marker
    assert np.allclose(lines[0].lines[0].get_ydata(), routing_record["probs"][:3, 0, 0, 1])
    fig = routing_render(routing_compute(routing_record, 2, "sharing"))
    assert len(fig.axes) == L and fig.axes[0].images[0].get_array().shape == (M, M)


def test_routing_widget_wiring(routing_record):
    ex = routing_explorer(routing_record)
    assert ex.updates == 1 and ex.data["index"] == S - 1 and ex.data["view"] == "routes"
    ex.controls["step"].value = 1
    assert ex.updates == 2 and ex.data["iteration"] == 10 and ex.data["history"].shape[0] == 2
    ex.controls["view"].value = "sharing"
    assert ex.data["view"] == "sharing" and len(ex.figure.axes) == L


# ------------------------------------------------------------------------ decoding step-through
J = H36M17.num_joints


@pytest.fixture()
def decoding_record():
    return gallery.decoding_record()  # the widget gallery's recorded arrays


def test_decoding_compute_classification(decoding_record):
    d = decoding_compute(decoding_record, "ar3d", sample=1, step=0)
    assert d["token"] == 1 and d["target_token"] == 0 and d["num_steps"] == 2
    assert d["topk_text"] == ["wave", "punch", "EOT_AR"] and np.allclose(d["topk_probs"], [0.6, 0.3, 0.1])
    assert d["sequence"] == ["wave"] and d["correct"].tolist() == [False] and d["target_text"] == "punch"
    d = decoding_compute(decoding_record, "ar3d", sample=0, step=7)  # clamped to the last step
    assert d["step"] == 1 and d["sequence"] == ["punch", "EOT_AR"] and d["correct"].all()
    assert "pred_joints" not in d
    with pytest.raises(ValueError):
        decoding_compute(decoding_record, "ep3d", 0, 0)


def test_decoding_compute_assembles_the_pose(decoding_record):
    rec = decoding_record["tasks"]["pose3d"]
    d = decoding_compute(decoding_record, "pose3d", sample=0, step=4)  # 5 tokens: joint 1 complete, joint 2 x,y
    assert np.allclose(d["pred_joints"][0], 0) and np.allclose(d["pred_joints"][1], rec["coords"][0, :3])
    assert np.allclose(d["pred_joints"][2, :2], rec["coords"][0, 3:5]) and np.isnan(d["pred_joints"][2, 2])
    assert d["joints_done"].tolist() == [True, True] + [False] * (J - 2)
    assert np.allclose(d["gt_joints"], rec["gt"][0])
    d = decoding_compute(decoding_record, "pose3d", sample=0, step=10 ** 6)
    assert d["joints_done"].all() and d["sequence"][-1] == "EOT_PE"
    # sample 1 stopped early (an end-of-task token at step 5): steps are clamped to what it generated
    d = decoding_compute(decoding_record, "pose3d", sample=1, step=40)
    assert d["num_steps"] == 6 and d["step"] == 5 and d["token"] == 9


def _bones_drawn(ax3d) -> dict:
    """``{gid: bones drawn}`` of the bone lines of a 3D axis: one line per skeleton, a bone the segment
    between two NaN separators, drawn when both its ends are finite."""
    out = {}
    for line in ax3d.lines:
        if (line.get_gid() or "").startswith("bones"):
            pts = np.stack(line.get_data_3d(), 1).reshape(-1, 3, 3)[:, :2]      # (bones, 2 ends, xyz)
            out[line.get_gid()] = int(np.isfinite(pts).all((1, 2)).sum())
    return out


def test_decoding_render(decoding_record):
    fig = decoding_render(decoding_compute(decoding_record, "pose3d", 0, 7))
    bars = fig.axes[0].patches
    assert len(bars) == 3 and np.isclose(bars[0].get_width(), 0.5)
    assert bars[0].get_facecolor()[:3] == matplotlib.colors.to_rgb("#d62728")  # the generated token
    ax3d = [a for a in fig.axes if a.name == "3d"]
    assert len(ax3d) == 1
    gt_bones = len(H36M17.bones)
    # the ground truth has every bone; 8 tokens complete joints 1 and 2 (bones 1-0 and 2-1)
    assert _bones_drawn(ax3d[0]) == {"bones: ground truth": gt_bones, "bones: decoded so far": 2}
    assert ax3d[0].get_title() == f"3 of {J} joints"
    fig = decoding_render(decoding_compute(decoding_record, "ar3d", 0, 1))
    assert not [a for a in fig.axes if a.name == "3d"] and len(fig.axes[0].patches) == 3


def test_decoding_widget_wiring(decoding_record):
    ex = decoding_explorer(decoding_record)
    assert ex.updates == 1 and ex.data["task"] == "ar3d" and ex.controls["step"].max == 1
    ex.controls["sample"].value = 1
    assert ex.data["title"] == "punch #1"
    ex.controls["task"].value = "pose3d"
    assert ex.data["task"] == "pose3d" and ex.controls["step"].max == 3 * (J - 1)
    ex.controls["step"].value = 2
    assert ex.data["step"] == 2 and int(ex.data["joints_done"].sum()) == 2
    ex.controls["sample"].value = 0
    ex.controls["step"].value = 3 * (J - 1)
    assert ex.data["joints_done"].all()
    ex.controls["task"].value = "ar3d"
    assert ex.controls["step"].max == 1 and ex.data["step"] <= 1


# ------------------------------------------------------------------ the training view and helpers
@pytest.fixture()
def training_record(routing_record):
    # 8 iterations rotating tasks 0, 1, 2; the first 2 soft (every block weighted), then one-hot
    N = 8
    task = np.arange(N) % M
    route = np.zeros((N, L, H))
    route[:2] = [0.6, 0.4]
    for i in range(2, N):
        route[i, 0, task[i] % H] = 1.0       # layer 0: task 0 -> block 0, task 1 -> block 1, task 2 -> block 0
        route[i, 1, 1] = 1.0                 # layer 1: everyone through block 1
    return {**routing_record, "steps": np.array([0, 2, 4, 6, 7]), "iter_task": task, "iter_route": route,
            "warmup_iters": 2}


def test_routing_training_view_counts_and_gap(training_record):
    d = routing_compute(training_record, step=4, view="training")
    assert d["iteration"] == 7 and d["sampled"].shape == (8, L) and d["warmup_iters"] == 2
    # updates: every block in the 2 soft iterations, then only the selected one
    assert d["updates"][0].tolist() == [2 + 4, 2 + 2] and d["updates"][1].tolist() == [2, 8]
    assert d["selected"].sum() == 8 * L and d["selected"][:, 1, 1].sum() == 6
    assert d["selected"][1, 0].tolist() == [1, 2]      # task 1: iteration 1 (soft, argmax 0), 4 and 7 (block 1)
    # the gap p(1st) - p(2nd): at step 4 task 0 is (0.1, 0.9) in layer 0
    assert d["gap"].shape == (5, M, L) and np.isclose(d["gap"][4, 0, 0], 0.8) and np.isclose(d["gap"][0, 2, 0], 0.0)
    early = routing_compute(training_record, step=1, view="training")   # iteration 2: 3 iterations seen
    assert early["updates"][0].tolist() == [3, 2] and len(early["sampled"]) == 3
    with pytest.raises(ValueError):
        routing_compute({k: v for k, v in training_record.items() if k != "iter_route"}, 0, "training")


def test_routing_training_render_and_wiring(training_record, routing_record):
    fig = routing_render(routing_compute(training_record, 4, "training"))
    assert len(fig.axes) == 3 * L
    bars = [p for p in fig.axes[L].patches]                  # row 2, layer 0: M tasks x H blocks
    assert len(bars) == M * H and np.isclose(sum(b.get_height() for b in bars), 8)
    assert np.allclose(fig.axes[2 * L].lines[0].get_ydata(), routing_compute(training_record, 4)["gap"][:, 0, 0])
    ex = routing_explorer(training_record, view="training")
    assert ex.data["view"] == "training" and "training" in ex.controls["view"].options
    ex.controls["step"].value = 1
    assert ex.data["iteration"] == 2 and len(ex.data["sampled"]) == 3
    assert "training" not in routing_explorer(routing_record).controls["view"].options
    with pytest.raises(ValueError):
        routing_explorer(routing_record, view="training")


def test_routing_record_from_a_history():
    from paperlib.viz.ups import routing_record

    probs = np.random.default_rng(0).dirichlet([1, 1], size=(7, M, L))
    hist = {"probs": probs, "probs_iter": np.arange(7), "task": np.arange(7) % M, "route": np.ones((7, L, H)) / H,
            "warmup_iters": 3}
    rec = routing_record(hist, ["a", "b", "c"], every=3)
    assert rec["steps"].tolist() == [0, 3, 6] and np.allclose(rec["probs"], probs[[0, 3, 6]])
    assert rec["iter_route"].shape == (7, L, H) and rec["warmup_iters"] == 3 and rec["task_names"] == ["a", "b", "c"]
    with pytest.raises(ValueError):
        routing_record({**hist, "probs_iter": np.arange(5)}, ["a", "b", "c"])
    # a control router's final gap rides along and is drawn, fixed, in every gap panel of the training view
    ctl = routing_record(hist, ["a", "b", "c"], every=3, control_gap=0.42)
    assert ctl["control_gap"] == 0.42 and "control_gap" not in rec
    d = routing_compute(ctl, 2, "training")
    fig = routing_render(d)
    gaps = fig.axes[2 * L:]
    assert d["control_gap"] == 0.42 and all(any(np.allclose(ln.get_ydata(), 0.42) and not ln.get_animated()
                                                 for ln in ax.lines) for ax in gaps)
    plain = routing_render(routing_compute(rec, 2, "training"))
    assert not any(np.allclose(ln.get_ydata(), 0.42) for ax in plain.axes[2 * L:] for ln in ax.lines
                   if len(ln.get_ydata()) == 2)


def test_architecture_figure_names_the_boxes():
    from paperlib.viz.ups import architecture_figure

    fig = architecture_figure(H=3, L=2)
    text = " ".join(t.get_text() for t in fig.axes[0].texts)
    for name in ("joint tokenizer", "router", "Eqs. 1-2", "Gumbel-softmax", "decoder", "Ω_VOB", "logits h W Ωᵀ"):
        assert name in text, name
    assert sum("SEM-TEM" in t.get_text() for t in fig.axes[0].texts) == 3 * 2
    with pytest.raises(ValueError):
        architecture_figure(H=0)


# ------------------------------------------------------------- in-place updates (Explorer passes fig=)
def test_routing_in_place_updates_draw_what_a_fresh_render_draws(training_record):
    """Every control change updates the figure of its view in place (one figure per view, all built with the
    explorer); after each, the figure is pixel for pixel a fresh render of the same data."""
    ex = routing_explorer(training_record, view="training")
    assert ex._reuses                                              # the render takes fig=: updates in place
    figs = {"training": ex.figure}
    changes = [("step", 1), ("view", "routes"), ("step", 3), ("step", 0), ("view", "sharing"), ("step", 4),
               ("view", "training"), ("step", 2), ("view", "routes"), ("step", 4)]
    for name, value in changes:
        ex.controls[name].value = value
        view = ex.data["view"]
        assert ex.figure is figs.setdefault(view, ex.figure)       # the view's figure, its artists updated
        fresh = routing_render(ex.data)
        assert fresh is not ex.figure and len(fresh.axes) == len(ex.figure.axes)
        assert_same_pixels(ex.figure, fresh, f"{view} at snapshot {ex.data['index']}")
        plt.close(fresh)
    assert ex.updates == 1 + len(changes) and len(figs) == 3
    # what the last view (routes, snapshot 4) holds: the probabilities, the framed choice, the history so far
    heat = [a for a in ex.figure.axes if a.images]
    np.testing.assert_allclose(heat[1].images[0].get_array(), training_record["probs"][4][:, 1, :])
    assert [t.get_text() for t in heat[0].texts[:2]] == ["0.10", "0.90"]
    assert heat[0].patches[0].get_xy() == (0.5, -0.5)             # task 0 selects block 1 in layer 0
    hist = [a for a in ex.figure.axes if a.lines and not a.images][0]
    np.testing.assert_allclose(hist.lines[0].get_ydata(), training_record["probs"][:, 0, 0, 1])
    assert "iteration 7" in " ".join(t.get_text() for t in ex.figure.texts)


def test_routing_render_reuses_only_a_figure_of_the_same_shapes(training_record, routing_record):
    fig = routing_render(routing_compute(training_record, 1, "routes"))
    assert routing_render(routing_compute(training_record, 3, "routes"), fig=fig) is fig
    sharing = routing_render(routing_compute(training_record, 3, "sharing"), fig=fig)
    assert sharing is not fig and len(sharing.axes) == L
    assert routing_render(routing_compute(training_record, 0, "routes"), fig=sharing) is fig   # the family's
    training = routing_render(routing_compute(training_record, 4, "training"), fig=sharing)
    assert training is not fig and len(training.axes) == 3 * L
    assert routing_render(routing_compute(training_record, 2, "training"), fig=fig) is training
    # another record (other iterations: another time axis; other task names): a new figure
    other = routing_render(routing_compute(routing_record, 2, "routes"), fig=fig)
    assert other is not fig
    renamed = {**routing_record, "task_names": ["a", "b", "c"]}
    assert routing_render(routing_compute(renamed, 2, "routes"), fig=other) is not other
    # the explorer's precomputed tables give the same data as the record alone
    from paperlib.viz.ups import _routing_tables

    tables = _routing_tables(training_record)
    for s in range(S):
        a, b = routing_compute(training_record, s, "training"), routing_compute(training_record, s, "training", tables)
        for key in ("probs", "gap", "history", "sampled", "updates", "selected"):
            np.testing.assert_array_equal(a[key], b[key])


def test_decoding_in_place_updates_draw_what_a_fresh_render_draws(decoding_record):
    """The pose and the recognition layouts each keep one figure (both built with the explorer), updated in
    place; after each control change the figure is pixel for pixel a fresh render of the same data."""
    ex = decoding_explorer(decoding_record)
    assert ex._reuses
    figs = {"ar3d": ex.figure}
    changes = [("step", 1), ("sample", 1), ("task", "pose3d"), ("step", 10), ("sample", 0), ("step", 3 * (J - 1)),
               ("step", 4), ("task", "ar3d"), ("sample", 0), ("task", "pose3d"), ("sample", 1), ("step", 4)]
    for name, value in changes:
        ex.controls[name].value = value
        assert ex.figure is figs.setdefault(ex.data["task"], ex.figure)
        fresh = decoding_render(ex.data)
        assert fresh is not ex.figure and len(fresh.axes) == len(ex.figure.axes)
        what = f"{ex.data['task']} sample {ex.values()['sample']} step {ex.data['step']}"
        assert_same_pixels(ex.figure, fresh, what)
        plt.close(fresh)
    assert len(figs) == 2 and figs["ar3d"] is not figs["pose3d"]
    # the last view: step 4 of sample 1 of pose3d (5 coordinates: joint 1, then x and y of joint 2)
    d = ex.data
    assert d["step"] == 4 and [t.get_text() for t in ex.figure.axes[1].texts[:2]] == ["pose #1", "target now: y0"]
    ax3d = [a for a in ex.figure.axes if a.name == "3d"][0]
    assert ax3d.get_title() == f"2 of {J} joints"
    assert _bones_drawn(ax3d) == {"bones: ground truth": len(H36M17.bones), "bones: decoded so far": 1}
    bars = ex.figure.axes[0].patches
    assert np.allclose([b.get_width() for b in bars], [0.5, 0.3, 0.2])


def test_decoding_task_change_is_one_update_and_layouts_rebuild(decoding_record):
    ex = decoding_explorer(decoding_record, task="pose3d", step=3 * (J - 1))
    n = ex.updates
    ex.controls["task"].value = "ar3d"                            # the step slider's max clamps 48 to 1: no 2nd update
    assert ex.updates == n + 1 and ex.controls["step"].value == 1 and ex.data["step"] == 1
    fig = ex.figure
    d = decoding_compute(decoding_record, "ar3d", 0, 0)
    assert decoding_render(d, fig=fig) is fig
    # another top-k size or another 3D box: another layout, a new figure
    d2 = {**d, "topk_ids": d["topk_ids"][:2], "topk_probs": d["topk_probs"][:2], "topk_text": d["topk_text"][:2]}
    assert decoding_render(d2, fig=fig) is not fig
    p = decoding_compute(decoding_record, "pose3d", 0, 4)
    pose_fig = decoding_render(p, fig=fig)
    assert pose_fig is not fig and decoding_render(p, fig=fig) is pose_fig
    assert decoding_render({**p, "pose_limit": p["pose_limit"] + 1}, fig=pose_fig) is not pose_fig
    assert np.isclose(p["pose_limit"], np.abs(decoding_record["tasks"]["pose3d"]["gt"]).max() + 0.1)
    with pytest.raises(ValueError, match="17"):
        decoding_render({**p, "pred_joints": p["pred_joints"][:5], "gt_joints": p["gt_joints"][:5]})
