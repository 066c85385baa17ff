"""Tests of the Action Transformer attention viewer (paperlib.viz.attention): compute/render on small
recorded arrays, and the ipywidgets wiring driven by setting control values."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from paperlib.viz.attention import (attention_compute, attention_render, attention_viewer, pca_rgb,  # noqa: E402
                                    upsample_nearest)
from tests.widget_support import check_in_place_updates  # noqa: E402

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
    ex.controls["clip"].value = 1                             # person 1 is clamped to clip 1's only person
    assert "clip 1, person 0" in ex.data["title"] and ex.updates == 6   # one update, not one more for the clamp
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
    n = ex.updates
    ex.controls["clip"].value = 1
    assert ex.controls["person"].max == 0 and ex.controls["person"].value == 0
    assert "clip 1, person 0" in ex.data["title"]
    assert ex.updates == n + 1                                 # the clamp of the person slider: no update of its own
    assert ex.values() == {"clip": 1, "person": 0, "layer": 1, "head": "mean", "frame": T // 2}
    ex.controls["clip"].value = 0
    assert ex.controls["person"].max == 1 and ex.updates == n + 2
    assert "shares" in ex.data and ex.data["shares"]["n_other"] == 1
    ex.controls["person"].value = 1                             # the person slider still updates the view
    assert ex.updates == n + 3 and "clip 0, person 1" in ex.data["title"]


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


def _moving_record(record):
    """The fixture with a box per person and watched people (clip 0: 0 watches 1, 1 watches 0; clip 1: nobody)."""
    rec = dict(record)
    boxes = np.array(record["boxes"], dtype=np.float64)
    boxes[:, 0] = [1.0, 1.0, 7.0, 9.0]
    boxes[:, 1] = [8.0, 6.0, 15.0, 15.0]
    rec["boxes"] = boxes
    rec["targets"] = np.array([[1, 0, -1], [-1, -1, -1]])
    return rec


def test_in_place_updates_draw_what_a_fresh_render_draws(record):
    """Explorer passes the previous figure (``render(data, fig=...)``): after control changes that move every
    part of the view (the frame, the map, the boxes, the watched box shown and hidden, the titles of one and two
    lines, the key colours, the bars and stars), the reused figure must be pixel for pixel a fresh render of
    the same data."""
    import matplotlib.pyplot as plt

    rec = _moving_record(record)
    ex = attention_viewer(rec)
    first = ex.figure
    assert ex._reuses                                             # the render takes fig=: updates in place
    changes = [("frame", 0), ("head", 1), ("person", 1), ("layer", 0), ("clip", 1), ("head", "mean"),
               ("frame", 3), ("clip", 0), ("person", 1), ("head", 0), ("person", 0)]
    checked = check_in_place_updates(ex, changes, attention_render, at=(2, 4, 7, len(changes) - 1))
    assert checked == 4 and ex.updates == 1 + len(changes)
    # what the last view shows (the artists are animated: read their data, not a plain draw)
    d = ex.data
    assert d["title"].startswith("clip 0, person 0, layer 1/2, head 0, frame 3") and d["target"] == 1
    ax0, ax1, ax2 = first.axes
    np.testing.assert_array_equal(ax0.images[0].get_array(), rec["frames"][0, 3])
    np.testing.assert_allclose(ax0.images[1].get_array(), d["overlay"])
    np.testing.assert_allclose(ax1.images[0].get_array(), d["key_rgb"])
    own, watched = ax0.patches
    assert own.get_bbox().bounds == (1.0, 1.0, 6.0, 8.0) and watched.get_visible()
    assert watched.get_bbox().bounds == (8.0, 6.0, 7.0, 9.0) and "watched (dashed)" in ax0.get_title()
    assert np.allclose([b.get_width() for b in ax2.patches], rec["probs"][0, 0])
    stars = ax2.collections[0].get_offsets()
    assert np.array_equal(stars[:, 1], np.flatnonzero(rec["labels"][0, 0])) and np.all(stars[:, 0] == 1.02)
    assert d["title"] in [t.get_text() for t in first.findobj(lambda a: hasattr(a, "get_text"))]
    # a person who watches nobody: the dashed box is hidden again, in place
    ex.controls["clip"].value = 1
    assert ex.figure is first and not watched.get_visible() and "watched" not in ax0.get_title()
    plt.close("all")


def test_render_reuses_only_a_figure_of_the_same_shapes(record):
    import matplotlib.pyplot as plt

    d = attention_compute(record, clip=0, person=0, layer=0, head=0, frame=1)
    fig = attention_render(d)
    d2 = attention_compute(record, clip=1, person=0, layer=1, head="mean", frame=3)
    assert attention_render(d2, fig=fig) is fig                   # another view of the same record
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), d2["image"])
    assert fig.axes[1].get_title().startswith("keys of t'=1 (head 0)")
    assert np.allclose([b.get_width() for b in fig.axes[2].patches], record["probs"][1, 0])
    # other shapes: other class names, another frame size, another map size: a new layout
    names = dict(record, class_names=["a", "b", "c", "d"])
    other = attention_render(attention_compute(names, clip=0), fig=fig)
    assert other is not fig and [t.get_text() for t in other.axes[2].get_yticklabels()] == ["a", "b", "c", "d"]
    big = dict(record, frames=np.zeros((N, T, 32, 24, 3), np.uint8))
    third = attention_render(attention_compute(big, clip=0), fig=other)
    assert third is not other and third.axes[0].images[1].get_array().shape == (32, 24)
    fewer = dict(record, attn=record["attn"][..., :2], keys=record["keys"][:, :, :, :, :, :2])
    assert attention_render(attention_compute(fewer, clip=0), fig=third) is not third
    with pytest.raises(ValueError, match="overlay"):
        attention_render(dict(d, overlay=np.zeros((4, 4))))
    with pytest.raises(ValueError, match="classes"):
        attention_render(dict(d, probs=np.zeros(C + 1)))
    plt.close("all")


def test_prepared_record_gives_the_same_views(record):
    from paperlib.viz.attention import attention_prepare

    rec = _moving_record(record)
    prep = attention_prepare(rec)
    for kw in (dict(clip=0, person=1, layer=0, head=1, frame=2), dict(clip=1, person=0, head="mean", frame=0)):
        a, b = attention_compute(rec, **kw, prepared=prep), attention_compute(rec, **kw)
        assert a.keys() == b.keys() and a["title"] == b["title"] and a["shares"] == b["shares"]
        for k in ("image", "attn", "attn_frame", "overlay", "box", "key_rgb", "probs", "true", "is_context"):
            np.testing.assert_array_equal(a[k], b[k])
        assert a["target"] == b["target"] and a["target_share"] == b["target_share"]
    assert set(prep["key_rgb"]) == {(0, 0, 1), (1, 1, 0)}       # the keys' PCA colours, once per (clip, layer, head)
    again = attention_compute(rec, clip=0, person=0, layer=0, head=1, frame=0, prepared=prep)
    assert len(prep["key_rgb"]) == 2
    again["key_rgb"][:] = 0                                      # the view holds a copy, not the cache
    assert prep["key_rgb"][(0, 0, 1)].max() > 0
    with pytest.raises(ValueError, match="disagree"):
        attention_prepare(dict(record, keys=record["keys"][:, :, :, :1]))
    with pytest.raises(ValueError, match="expected attn"):
        attention_viewer(dict(record, attn=record["attn"][0]))


def test_context_figure_draws_every_head_and_the_paired_seeds():
    from paperlib.report import action_transformer as ATR
    from paperlib.viz.attention import context_figure
    from tests.test_report_action_transformer import fake_points_b

    pts = fake_points_b(0.08, 0.04, 0.05)
    fig = context_figure(pts, ATR.CONTEXT_VARIANTS)
    a, b, c = fig.axes[:3]
    assert [t.get_text().replace("\n", " ") for t in a.get_xticklabels()] == [
        v.replace(", ", ", ").replace("\n", " ") for v in ATR.CONTEXT_VARIANTS.values()]
    assert len(a.lines) >= len(pts)                          # one grey line per seed joins its heads
    # (b): the uniform map, then the three heads with a map; the oracle's dots sit at its share
    assert len(b.get_xticklabels()) == 4
    oracle = b.collections[-1].get_offsets()[:, 1]
    assert list(oracle) == pytest.approx([p["metrics"]["highres_oracle"]["attn_other"] for p in pts])
    assert len(c.collections) == 6                            # entropy and query dependence of three heads
    import matplotlib.pyplot as plt
    plt.close(fig)
