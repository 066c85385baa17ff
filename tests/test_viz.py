import json

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest

from paperlib.data.synthetic import generate
from paperlib.report import results_json
from paperlib.viz.player import player_compute, skeleton_player
from paperlib.viz.skeleton import plot_sequence_grid, skeleton_animation, view_project


@pytest.fixture(scope="module")
def seqs():
    d = generate(num_samples=17, seed=0)
    return [d.joints[i] for i in range(3)], [d.class_names[d.labels[i]] for i in range(3)], d


def test_view_project_conventions():
    p = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(view_project(p), [[-1.0, 2.0 * np.cos(np.deg2rad(10)) - 3.0 * np.sin(np.deg2rad(10))]])
    np.testing.assert_allclose(view_project(p, elev=0, azim=90), [[-3.0, 2.0]])


def test_player_wiring_updates_on_control_changes(seqs):
    sequences, titles, d = seqs
    ex = skeleton_player(sequences, titles)
    assert ex.updates == 1 and ex.data["frame"] == 0 and ex.data["title"] == titles[0]
    ex.controls["frame"].value = 10
    assert ex.updates == 2 and ex.data["frame"] == 10
    np.testing.assert_allclose(ex.data["pose"], sequences[0][:, 10])
    ex.controls["clip"].value = 2
    assert ex.data["title"] == titles[2]
    np.testing.assert_allclose(ex.data["pose"], sequences[2][:, 10])
    before = ex.data["xy"].copy()
    ex.controls["azim"].value = 90
    assert not np.allclose(before, ex.data["xy"])
    # the figure shows the current pose: the first body's scatter holds the projected joints
    ax = ex.figure.axes[0]
    offsets = [c.get_offsets() for c in ax.collections]
    assert any(np.allclose(o, ex.data["xy"][0]) for o in offsets)
    # frames past the end clamp to the last valid frame
    ex.controls["frame"].value = 63
    assert ex.data["frame"] == d.valid_frames[2] - 1


def test_player_compute_rejects_mismatch(seqs):
    sequences, titles, _ = seqs
    with pytest.raises(ValueError, match="titles"):
        skeleton_player(sequences, titles[:2])
    data = player_compute(sequences, titles, 1, 5, 0.0)
    assert data["trail_xy"].shape[1] == 6  # frames 0..5: fewer than the 8-frame trail


def test_grid_and_animation(seqs):
    sequences, titles, _ = seqs
    fig = plot_sequence_grid(np.stack(sequences), titles, frames=[0, 10, 20])
    assert len(fig.axes) == 9
    anim = skeleton_animation(sequences[0], stride=4)
    assert len(anim.frames) >= 10 and anim.data[0].type == "scatter3d"


def test_results_json():
    s = results_json("00_x", "synthetic", 12.345, {"gcn": {"auc": 0.123456, "bad": float("nan")}})
    obj = json.loads(s)
    assert obj == {"notebook": "00_x", "dataset": "synthetic", "runtime_s": 12.3,
                   "metrics": {"gcn": {"auc": 0.1235, "bad": None}}}
    with pytest.raises(ValueError):
        results_json("a", "b", 1.0, {"gcn": 0.5})
