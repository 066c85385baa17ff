"""Tests of the memory-bank browser (paperlib.viz.memory_bank): compute/render on a small
recorded array set, and the ipywidgets wiring driven by setting control values."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from paperlib.skeleton import NTU25  # noqa: E402
from paperlib.viz.gallery import memory_bank_record  # noqa: E402
from paperlib.viz.memory_bank import bank_compute, bank_render, memory_bank_browser  # noqa: E402

DT, P, V = 4, 6, NTU25.num_joints


@pytest.fixture()
def record():
    return memory_bank_record()  # the widget gallery's recorded arrays (item (step-1) mod n most attended)


def test_compute_selects_items_attention_and_poses(record):
    d = bank_compute(record, action=1, memory="short", sequence=0, step=3, bank="predicted", max_items=4,
                     item_frame=2)
    # the class's largest clusters first, at the chosen item frame (2 of 4: the value half)
    assert d["item_ids"].tolist() == [4, 3, 2, 1] and d["item_sizes"].tolist() == [50, 40, 30, 20]
    assert d["frame"] == 2 and d["half"] == "value"
    assert np.allclose(d["items"][0], record["items"]["short"][1][4, 2])
    # key and value halves of the top item; the query = the last dt/2 frames before step 3
    assert np.allclose(d["key_poses"], record["items"]["short"][0][2, :2])
    assert np.allclose(d["value_poses"], record["items"]["short"][0][2, 2:])
    hist = np.concatenate([record["obs_joints"][0], record["pred_joints"]["predicted"][0]])
    assert np.allclose(d["query_poses"], hist[5:7])
    # sequence 0 reads the bank of its predicted class (0: 3 items); at step 3 item 2 wins
    assert d["heat"].shape == (P, 3) and d["bank_class"] == "eating"
    assert d["top"][2] == 2
    assert np.allclose(d["top_pose"], record["items"]["short"][0][2, 2])
    assert np.allclose(d["pred_pose"], record["pred_joints"]["predicted"][0, 2])
    assert np.allclose(d["true_pose"], record["true_joints"][0, 2])


def test_temperature_rereads_the_recorded_logits(record):
    base = bank_compute(record, 1, "short", 0, 3, "predicted")
    assert np.allclose(base["heat"], record["attention"]["predicted"]["short"][0])
    hot = bank_compute(record, 1, "short", 0, 3, "predicted", temperature=0.1)
    flat = bank_compute(record, 1, "short", 0, 3, "predicted", temperature=10.0)
    assert hot["entropy"] < base["entropy"] < flat["entropy"] < base["entropy_uniform"]
    assert hot["heat"][2, 2] > 0.99 and np.allclose(hot["heat"].sum(1), 1.0)
    assert hot["top"].tolist() == base["top"].tolist()  # the order of the items does not change


def test_compute_wrong_bank_and_clamping(record):
    d = bank_compute(record, action=0, memory="long", sequence=0, step=99, bank="wrong")
    assert d["step"] == P and d["bank_class"] == "walking" and d["heat"].shape == (P, 4)
    assert np.allclose(d["pred_pose"], record["pred_joints"]["wrong"][0, P - 1])
    with pytest.raises(ValueError):
        bank_compute(record, 0, "medium", 0, 1, "predicted")
    with pytest.raises(ValueError):
        bank_compute(record, 0, "short", 0, 1, "right")


def test_render_draws_items_heatmap_and_poses(record):
    d = bank_compute(record, action=1, memory="short", sequence=1, step=2, bank="predicted", max_items=5)
    fig = bank_render(d)
    axes = fig.axes
    assert len(axes) == 5 + 1 + 1 + 5  # items, heatmap, its colorbar, query, key, value, predicted, true
    heat_ax = [a for a in axes if a.images][0]
    assert np.allclose(heat_ax.images[0].get_array(), d["heat"])
    titles = [a.get_title() for a in axes]
    assert "item 4  n=50" in titles and any(t.startswith("true (walking)") for t in titles)
    assert any(t.endswith("key half") for t in titles) and any(t.endswith("value half") for t in titles)


def test_widget_wiring_updates_on_control_changes(record):
    ex = memory_bank_browser(record, NTU25)
    assert ex.updates == 1 and ex.data["bank_class"] == "eating"
    ex.controls["bank"].value = "wrong"
    assert ex.updates == 2 and ex.data["bank_class"] == "walking"
    ex.controls["step"].value = 4
    assert ex.data["step"] == 4 and ex.data["frame"] == 0
    ex.controls["item_frame"].value = 3
    assert ex.data["frame"] == 3 and ex.data["half"] == "value"
    ex.controls["temperature"].value = 0.1
    assert ex.data["temperature"] == 0.1
    ex.controls["memory"].value = "long"
    assert ex.data["heat"].shape == (P, 4)
    ex.controls["action"].value = 1
    assert ex.data["action"] == "walking" and len(ex.data["items"]) == 4
    ex.controls["sequence"].value = 1
    assert ex.data["title"] == "seq B" and ex.data["true_class"] == "walking"
    assert ex.figure is not None and ex.updates == 8
