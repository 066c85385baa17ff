"""Tests of the memory-bank browser (paperlib.viz.memory_bank): compute/render on a small
recorded array set, and the ipywidgets wiring driven by setting control values."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from paperlib.skeleton import H36M17, NTU25  # noqa: E402
from paperlib.viz.gallery import memory_bank_record  # noqa: E402
from paperlib.viz.memory_bank import bank_compute, bank_render, memory_bank_browser  # noqa: E402
from tests.widget_support import check_in_place_updates  # noqa: E402

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


def test_in_place_updates_draw_what_a_fresh_render_draws(record):
    """Explorer passes the previous figure (``render(data, fig=...)``): after control changes that move
    every part of the view (the bank's size, a class with fewer items than ``max_items``, the query
    frames, the colour scale), the reused figure must be pixel for pixel a fresh render of the same data."""
    import matplotlib.pyplot as plt

    ex = memory_bank_browser(record, NTU25)
    first = ex.figure
    assert ex._reuses                                             # the render takes fig=: updates in place
    changes = [("step", 3), ("bank", "wrong"), ("memory", "long"), ("action", 1), ("item_frame", 3),
               ("temperature", 0.3), ("sequence", 1), ("action", 0), ("memory", "short"), ("step", 6)]
    check_in_place_updates(ex, changes, lambda d: bank_render(d, NTU25),
                           at=(3, 7, len(changes) - 1))          # 4 items, then 2 of max_items=6, then 3
    assert ex.updates == 1 + len(changes)
    # what the last view shows: the hidden item panels are blank, the titles are this view's
    titles = [ax.get_title() for ax in first.axes[:6]]
    assert titles[:3] == ["item 2  n=30", "item 1  n=20", "item 0  n=10"] and titles[3:] == ["", "", ""]
    assert any(ax.get_title() == "predicted, step 6" for ax in first.axes)
    plt.close("all")


def test_render_reuses_only_a_figure_of_the_same_shapes(record):
    import matplotlib.pyplot as plt

    d = bank_compute(record, 1, "short", 0, 2, "predicted", max_items=4)
    fig = bank_render(d)
    assert bank_render(bank_compute(record, 0, "long", 1, 5, "wrong", max_items=4), fig=fig) is fig
    heat = bank_compute(record, 0, "long", 1, 5, "wrong")["heat"]
    np.testing.assert_allclose(fig.axes[4].images[0].get_array(), heat)  # 4 item panels, then the heatmap
    other = bank_render(bank_compute(record, 1, "short", 0, 2, "predicted", max_items=5), fig=fig)
    assert other is not fig and len(other.axes) == 5 + 1 + 1 + 5  # max_items changed: a new layout
    no_query = dict(record, obs_joints=None)
    d = bank_compute(no_query, 1, "short", 0, 2, "predicted", max_items=5, limits=d["limits"])
    assert d["query_poses"] is None
    third = bank_render(d, fig=other)
    assert third is not other and "query: not recorded" in [ax.get_title() for ax in third.axes]
    with pytest.raises(ValueError, match="25"):
        bank_render(d, skeleton=H36M17)                           # 25 NTU joints drawn with a 17-joint skeleton
    plt.close("all")
