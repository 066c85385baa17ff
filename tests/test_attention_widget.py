"""Tests of the Action Transformer attention viewer (paperlib.viz.attention): compute/render on small
recorded arrays, and the ipywidgets wiring driven by setting control values."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from paperlib.viz.attention import (attention_compute, attention_render, attention_viewer, pca_rgb,  # noqa: E402
                                    upsample_nearest)

N, T, H, W, R, L, HD, TP, HP, WP, D, C = 2, 4, 16, 16, 3, 2, 2, 2, 4, 4, 5, 4


@pytest.fixture()
def record():
    rng = np.random.default_rng(0)
    attn = np.zeros((N, L, HD, R, TP, HP, WP))
    # head h of layer l for person r attends to a single cell: (t, y, x) = (h % TP, r, l + h)
    for l in range(L):
        for h in range(HD):
            for r in range(R):
                attn[:, l, h, r, h % TP, r, l + h] = 1.0
    keys = rng.normal(size=(N, L, HD, TP, HP, WP, D))
    valid = np.array([[True, True, False], [True, False, False]])
    return {
        "frames": rng.integers(0, 255, (N, T, H, W, 3), dtype=np.uint8),
        "boxes": np.tile(np.array([2.0, 2.0, 8.0, 12.0]), (N, R, 1)),
        "valid": valid, "attn": attn, "keys": keys,
        "probs": rng.uniform(size=(N, R, C)), "labels": (rng.uniform(size=(N, R, C)) > 0.5).astype(np.uint8),
        "class_names": ["stand", "watch (a person)", "hold (an object)", "walk"],
        "context": ("watch (a person)", "hold (an object)"),
    }


def test_compute_single_head_picks_the_recorded_map(record):
    d = attention_compute(record, clip=0, person=1, layer=1, head=1, frame=3)
    assert d["t_feat"] == 1                                    # frame 3 of 4 -> t' = 3 * 2 // 4 = 1
    assert d["attn"].shape == (TP, HP, WP) and np.isclose(d["attn"].sum(), 1.0)
    assert d["attn"][1, 1, 2] == 1.0                           # (t, y, x) = (1 % 2, person 1, layer 1 + head 1)
    assert d["attn_frame"][1, 2] == 1.0
    # the overlay is the slice upsampled: pixels of cell (1, 2) are 1, everything else 0
    assert d["overlay"].shape == (H, W)
    assert d["overlay"][4:8, 8:12].min() == 1.0 and d["overlay"].sum() == 16
    assert np.array_equal(d["image"], record["frames"][0, 3])
    assert d["is_context"].tolist() == [False, True, True, False]
    assert np.allclose(d["probs"], record["probs"][0, 1])


def test_compute_head_average_and_clamps(record):
    d = attention_compute(record, clip=0, person=0, layer=0, head="mean", frame=0)
    # heads 0 and 1 of layer 0 attend to (0, 0, 0) and (1, 0, 1): each gets half
    assert np.isclose(d["attn"][0, 0, 0], 0.5) and np.isclose(d["attn"][1, 0, 1], 0.5)
    assert np.isclose(d["attn"].sum(), 1.0)
    # clip 1 has one valid person: person 2 is clamped to person 0; out-of-range frame clamped
    d = attention_compute(record, clip=1, person=2, layer=-1, head=0, frame=99)
    assert d["frame"] == T - 1 and "person 0" in d["title"] and "layer 2/2" in d["title"]


def test_pca_rgb_and_upsample():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 6))
    rgb = pca_rgb(x)
    assert rgb.shape == (50, 3) and rgb.min() >= 0 and rgb.max() <= 1
    assert np.allclose(rgb.min(0), 0) and np.allclose(rgb.max(0), 1)
    # the first channel orders the points along the leading principal axis
    xc = x - x.mean(0)
    pc1 = xc @ np.linalg.svd(xc, full_matrices=False)[2][0]
    assert abs(np.corrcoef(rgb[:, 0], pc1)[0, 1]) > 0.999
    # constant input: 0.5 everywhere
    assert np.allclose(pca_rgb(np.ones((4, 3))), 0.5)
    up = upsample_nearest(np.arange(4).reshape(2, 2), (4, 6))
    assert up.tolist() == [[0, 0, 0, 1, 1, 1]] * 2 + [[2, 2, 2, 3, 3, 3]] * 2


def test_render_draws_three_panels(record):
    fig = attention_render(attention_compute(record, clip=0, person=0, layer=0, head=0, frame=1))
    axes = fig.axes
    assert len(axes) == 3
    assert len(axes[0].images) == 2                           # frame + overlay
    assert axes[1].images[0].get_array().shape == (HP, WP, 3)
    bars = axes[2].patches
    assert len(bars) == C and np.allclose([b.get_width() for b in bars], record["probs"][0, 0])
    colours = [b.get_facecolor() for b in bars]
    assert colours[1] == colours[2] != colours[0]              # context classes highlighted


def test_viewer_wiring(record):
    ex = attention_viewer(record)
    assert ex.updates == 1 and ex.data["frame"] == T // 2 and ex.data["title"].endswith("(t'=1)")
    ex.controls["head"].value = 1
    ex.controls["layer"].value = 0                            # the default is the last layer (1)
    ex.controls["person"].value = 1
    assert ex.updates == 4
    assert ex.data["attn"][1, 1, 1] == 1.0                     # (t, y, x) = (1 % 2, person 1, layer 0 + head 1)
    assert ex.data["attn_frame"][1, 1] == 1.0                  # frame T // 2 -> t' = 1
    ex.controls["frame"].value = 0
    assert ex.data["t_feat"] == 0 and ex.data["attn_frame"].sum() == 0
    ex.controls["clip"].value = 1
    assert "clip 1, person 0" in ex.data["title"]
    assert len(ex.figure.axes) == 3


def test_region_shares_against_a_uniform_map_over_the_same_cells():
    from paperlib.viz.attention import region_shares

    # a 4 x 4 map on a 16 x 16 image: cell (i, j) spans pixels [4i, 4i + 4), centre 4i + 2
    attn = np.zeros((2, 4, 4))
    attn[0, 0, 0] = 0.5            # inside the own box (0..8 x 0..8: cells 0-1 x 0-1)
    attn[1, 3, 3] = 0.3            # inside the other person's box (8..16 x 8..16: cells 2-3 x 2-3)
    attn[1, 0, 3] = 0.2            # in nobody's box
    boxes = np.array([[0, 0, 8, 8], [8, 8, 16, 16], [0, 8, 8, 16]], float)
    sh = region_shares(attn, boxes, np.array([True, True, False]), 0, (16, 16))
    assert sh == {"other": pytest.approx(0.3), "other_uniform": 4 / 16, "own": pytest.approx(0.5),
                  "own_uniform": 4 / 16, "n_other": 1}
    # the third person counts once valid: the union of two boxes (8 cells)
    sh = region_shares(attn, boxes, np.array([True, True, True]), 0, (16, 16))
    assert sh["other_uniform"] == 8 / 16 and sh["n_other"] == 2
    # a uniform map gives exactly the uniform shares
    u = region_shares(np.full((2, 4, 4), 1 / 32), boxes, np.array([True, True, True]), 1, (16, 16))
    assert u["other"] == pytest.approx(u["other_uniform"]) and u["own"] == pytest.approx(u["own_uniform"])


def test_person_slider_spans_the_clips_people(record):
    ex = attention_viewer(record)                              # clip 0 has 2 valid people, clip 1 one
    assert ex.controls["person"].max == 1
    ex.controls["person"].value = 1
    ex.controls["clip"].value = 1
    assert ex.controls["person"].max == 0 and ex.controls["person"].value == 0
    assert "clip 1, person 0" in ex.data["title"]
    ex.controls["clip"].value = 0
    assert ex.controls["person"].max == 1
    assert "shares" in ex.data and ex.data["shares"]["n_other"] == 1


def test_watched_person_box_and_its_share(record):
    rec = dict(record)
    boxes = np.array(record["boxes"], dtype=np.float64)
    boxes[0, 0] = [0.0, 0.0, 8.0, 8.0]                          # person 0: top-left quarter
    boxes[0, 1] = [8.0, 8.0, 16.0, 16.0]                        # person 1: bottom-right quarter
    rec["boxes"] = boxes
    rec["targets"] = np.array([[1, -1, 0], [2, -1, -1]])        # clip 0: 0 watches 1; clip 1: 0 "watches" an absent RoI
    attn = np.zeros_like(record["attn"])
    attn[0, :, :, 0, 0, 3, 3] = 1.0                             # person 0 looks at cell (y, x) = (3, 3): inside box 1
    rec["attn"] = attn
    d = attention_compute(rec, clip=0, person=0, layer=0, head="mean")
    assert d["target"] == 1 and np.allclose(d["target_box"], boxes[0, 1])
    assert np.isclose(d["target_share"]["share"], 1.0) and np.isclose(d["target_share"]["uniform"], 0.25)
    assert attention_compute(rec, clip=0, person=1)["target"] is None          # -1: watches nobody
    assert attention_compute(rec, clip=1, person=0)["target"] is None          # RoI 2 is not valid in clip 1
    assert attention_compute(record, clip=0, person=0)["target"] is None       # no targets in the record
    fig = attention_render(d)
    dashed = [p for p in fig.axes[0].patches if p.get_linestyle() in ("--", "dashed")]
    assert len(dashed) == 1 and "watched" in fig.axes[0].get_title()
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_architecture_figure_names_the_pieces():
    from paperlib.viz.attention import architecture_figure
    fig = architecture_figure()
    text = " ".join(t.get_text() for t in fig.axes[0].texts)
    for piece in ("RPN", "RoIAlign", "Tx unit", "I3D head", "location emb", "query Q"):
        assert piece in text
    import matplotlib.pyplot as plt
    plt.close(fig)
