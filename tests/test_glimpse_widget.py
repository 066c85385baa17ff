"""The glimpse-path player (paperlib.viz.glimpse): compute, render and the ipywidgets wiring."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from paperlib.viz.glimpse import check_record, clip_options, glimpse_compute, glimpse_explorer, glimpse_render

N, T, G, C, K, H = 5, 4, 3, 2, 6, 32


def _record(seed=0):
    rng = np.random.default_rng(seed)
    ctr = rng.uniform(8, 24, (N, T, G, 2))
    half = rng.uniform(2, 6, (N, T, G, 2))
    assign = rng.dirichlet(np.ones(G), (N, T, C))
    ts = np.full((T, K), np.nan)                                  # empty slots are NaN (memory still filling)
    for t in range(T):
        entries = np.concatenate([[-1.0] * C, np.repeat(np.arange(t + 1.0), G)])[-K:]
        ts[t, K - len(entries):] = entries
    mem_w = rng.uniform(0, 1, (N, T, C, K))
    mem_w[np.broadcast_to(np.isnan(ts)[None, :, None, :], mem_w.shape)] = np.nan
    return {
        "frames": rng.integers(0, 255, (N, T, H, H, 3), dtype=np.uint8),
        "boxes": np.concatenate([ctr - half, ctr + half], -1),
        "assign": assign,
        "mem_ts": ts,
        "mem_w": mem_w,
        "labels": np.array([0, 1, 2, 1, 0]), "preds": np.array([0, 2, 2, 1, 1]),
        "class_names": ["wave", "drink", "kick"], "clip_ids": np.array([10, 11, 12, 13, 14]),
    }


def test_check_record_shapes_and_errors():
    rec = _record()
    assert check_record(rec) == (N, T, G, C, K)
    bad = dict(rec, assign=rec["assign"][:, :, :, :2])
    with pytest.raises(ValueError, match="assign"):
        check_record(bad)
    with pytest.raises(ValueError, match="missing"):
        check_record({k: v for k, v in rec.items() if k != "mem_w"})
    with pytest.raises(ValueError, match="mem_w"):
        check_record(dict(rec, mem_w=rec["mem_w"][:, :, :, :3]))


def test_clip_options_correct_first_then_incorrect():
    opts = clip_options(_record())
    assert [i for _, i in opts] == [0, 2, 3, 1, 4]
    assert opts[0][0].startswith("✓ #10 wave")
    assert opts[3][0] == "✗ #11 drink -> kick"


def test_compute_frame_boxes_paths_assign_memory():
    rec = _record()
    d = glimpse_compute(rec, clip=3, frame=2)
    np.testing.assert_array_equal(d["image"], rec["frames"][3, 2])
    np.testing.assert_allclose(d["boxes"], rec["boxes"][3, 2])
    b = rec["boxes"][3]
    ctr = np.stack([(b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2], -1)
    assert d["paths"].shape == (G, 3, 2)
    np.testing.assert_allclose(d["paths"][1], ctr[:3, 1])       # glimpse 2's path over frames 0..2
    np.testing.assert_allclose(d["centres"], ctr[2])
    np.testing.assert_allclose(d["assign"], rec["assign"][3, 2])
    np.testing.assert_allclose(d["assign"].sum(1), 1.0)
    np.testing.assert_allclose(d["mem_age"], 2 - rec["mem_ts"][2])
    assert (d["mem_age"][~np.isnan(d["mem_age"])] >= 0).all()
    d0 = glimpse_compute(rec, clip=3, frame=0)                  # t=0: C initial + G new entries, the rest empty
    assert np.isnan(d0["mem_age"]).sum() == K - (C + G) and np.nanmax(d0["mem_age"]) == 1
    np.testing.assert_allclose(d["mem_w"], rec["mem_w"][3, 2])
    assert d["correct"] and "frame 3/4" in d["title"]
    assert glimpse_compute(rec, clip=1, frame=0, paths=False)["paths"] is None
    assert not glimpse_compute(rec, clip=1, frame=0)["correct"]
    with pytest.raises(IndexError):
        glimpse_compute(rec, clip=N, frame=0)
    with pytest.raises(IndexError):
        glimpse_compute(rec, clip=0, frame=T)


def test_render_draws_numbered_boxes_paths_heatmaps():
    rec = _record()
    d = glimpse_compute(rec, clip=0, frame=3)
    fig = glimpse_render(d)
    ax_img, ax_p, ax_age, ax_w = fig.axes
    assert len(ax_img.patches) == G
    assert [t.get_text() for t in ax_img.texts] == [str(g + 1) for g in range(G)]
    assert len(ax_img.lines) == G                                 # one path per glimpse
    np.testing.assert_allclose(ax_img.lines[0].get_xydata(), d["paths"][0])
    np.testing.assert_allclose(ax_p.images[0].get_array(), d["assign"])
    np.testing.assert_allclose(ax_w.images[0].get_array(), d["mem_w"])
    np.testing.assert_allclose([p.get_height() for p in ax_age.patches], d["mem_age"])
    plt.close(fig)
    fig = glimpse_render(glimpse_compute(rec, clip=0, frame=0))   # one point: no path lines
    assert len(fig.axes[0].lines) == 0
    plt.close(fig)


def test_explorer_wiring():
    rec = _record()
    ex = glimpse_explorer(rec)
    assert ex.data["clip"] == 0 and ex.data["frame"] == 0 and ex.updates == 1
    ex.controls["frame"].value = 3
    assert ex.data["frame"] == 3 and ex.updates == 2
    ex.controls["clip"].value = 4                               # an incorrect clip
    assert ex.data["clip"] == 4 and not ex.data["correct"]
    np.testing.assert_allclose(ex.data["assign"], rec["assign"][4, 3])
    ex.controls["paths"].value = False
    assert ex.data["paths"] is None and len(ex.figure.axes[0].lines) == 0
    assert ex.controls["frame"].max == T - 1
    assert [v for _, v in ex.controls["clip"].options] == [0, 2, 3, 1, 4]
    plt.close("all")


# ----------------------------------------------------------------------------------------------
# the toy of Eqs. 9-10 and the architecture figure
# ----------------------------------------------------------------------------------------------
def test_toy_specialisation_emerges_or_collapses():
    from paperlib.viz.glimpse import toy_compute

    sharp = toy_compute(alpha=0.05, noise=0.1)
    assert sharp["tracking"] > 0.9 and sharp["spec"] > 0.3
    assert np.allclose(sharp["p"].sum(-1), 1)
    flat = toy_compute(init="uniform")
    assert flat["spec"] == pytest.approx(0.0, abs=1e-9) and flat["tracking"] <= 1 / 3 + 1e-9
    hot = toy_compute(alpha=3.0)
    assert hot["spec"] < 0.01
    assert toy_compute(decay_sign=-1)["p"].shape == (10, 3, 3)
    with pytest.raises(ValueError):
        toy_compute(init="random")


def test_toy_render_and_wiring():
    from paperlib.viz.glimpse import toy_compute, toy_explorer, toy_render

    d = toy_compute()
    fig = toy_render(d)
    assert len(fig.axes) == 1 + 3
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), d["q"][:, 0, :].T)
    plt.close(fig)
    ex = toy_explorer()
    assert ex.updates == 1 and ex.data["init"] == "diagonal"
    ex.controls["init"].value = "uniform"
    assert ex.data["spec"] == pytest.approx(0.0, abs=1e-9) and ex.updates == 2
    ex.controls["decay_sign"].value = -1
    assert ex.data["decay_sign"] == -1
    ex.controls["alpha"].value = 1.0
    assert ex.data["alpha"] == pytest.approx(1.0)
    plt.close("all")


def test_architecture_figure_names_the_equations():
    from paperlib.viz.glimpse import architecture_figure

    fig = architecture_figure()
    text = " ".join(t.get_text() for t in fig.axes[0].texts)
    for eq in ("Eqs. 1-2", "Eqs. 3-4", "Eq. 5", "Eqs. 6-8", "Eqs. 9-10", "Eqs. 11-12", "Eq. 13"):
        assert eq in text
    plt.close(fig)


def test_workers_positions_and_informative_points():
    rec = _record()
    d = glimpse_compute(rec, clip=1, frame=2)
    assert d["points"] is None and d["workers"].shape == (C, 3, 2)
    ctr = (rec["boxes"][1, :3, :, :2] + rec["boxes"][1, :3, :, 2:]) / 2                   # (3, G, 2)
    np.testing.assert_allclose(d["workers"][1, 2], rec["assign"][1, 2, 1] @ ctr[2])     # sum_g p_{t,c,g} centre
    rec["points"] = np.full((N, T, 2, 2), 16.0)
    rec["points"][1, 2, 1] = np.nan                                                     # an empty hand
    d = glimpse_compute(rec, clip=1, frame=2)
    assert d["points"].shape == (2, 2) and np.isnan(d["points"][1]).all()
    fig = glimpse_render(d)
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert {"w1", "w2"} <= set(labels)
    plt.close(fig)
    rec["points"] = np.zeros((N, T, 2))
    with pytest.raises(ValueError, match="points"):
        check_record(rec)


def test_rendering_in_place_draws_what_a_fresh_render_draws():
    """Explorer passes the previous figure (render(data, fig=...)): the updated figure must be pixel for pixel
    the one a fresh render of the new view gives, for the player (with and without points) and the toy."""
    from paperlib.viz.glimpse import toy_compute, toy_render
    from paperlib.viz.widgets import figure_png

    rec = _record()
    rec_pts = dict(rec, points=np.random.default_rng(1).uniform(4, 28, (N, T, 2, 2)))
    cases = [(lambda **k: glimpse_compute(rec, **k), glimpse_render, dict(clip=0, frame=3), dict(clip=4, frame=1)),
             (lambda **k: glimpse_compute(rec_pts, **k), glimpse_render, dict(clip=1, frame=2),
              dict(clip=2, frame=0, paths=False)),
             (toy_compute, toy_render, dict(alpha=0.1), dict(alpha=1.0, decay_sign=-1, noise=0.5))]
    for compute, render, first, second in cases:
        old = render(compute(**first))
        updated = render(compute(**second), fig=old)
        assert updated is old                                     # reused, not rebuilt
        fresh = render(compute(**second))
        assert figure_png(updated, dpi=50) == figure_png(fresh, dpi=50)
        plt.close("all")


def test_mechanism_figure_draws_each_metric_with_its_interval():
    from paperlib.viz.glimpse import mechanism_figure

    ci = lambda m: (m, m - 0.5, m + 1.0)                                  # noqa: E731
    rows = [{"variant": v, "label": lab, "n": 5, "spec_t3": ci(s), "track_px": ci(t), "track_px_shuffled": ci(t + 3),
             "cover_px": ci(t - 2), "box_px": ci(20.0), "patch_step_px": ci(20 / 12)}
            for v, lab, s, t in (("gc", "Glimpse Clouds", 0.02, 11.0), ("gc_random", "random glimpses", 0.01, 14.0),
                                 ("gc_oracle", "oracle", 0.3, 4.0))]
    fig = mechanism_figure(rows, title="t")
    spec, track, cover, zoom = fig.axes
    assert [p.get_height() for p in spec.patches] == pytest.approx([0.02, 0.01, 0.3])
    assert [p.get_height() for p in track.patches] == pytest.approx([11, 14, 4, 14, 17, 7])   # own, then shuffled
    assert [p.get_height() for p in cover.patches] == pytest.approx([9, 12, 2])
    assert [t.get_text() for t in spec.get_xticklabels()] == ["Glimpse Clouds", "random glimpses", "oracle"]
    err = next(c for c in spec.containers if type(c).__name__ == "ErrorbarContainer")   # the intervals
    seg = err.lines[2][0].get_segments()                                  # one vertical segment per bar
    assert [tuple(np.round(s[:, 1], 3)) for s in seg] == [(-0.48, 1.02), (-0.49, 1.01), (-0.2, 1.3)]
    plt.close(fig)
    with pytest.raises(KeyError):
        mechanism_figure([{k: v for k, v in rows[0].items() if k != "cover_px"}])
    plt.close("all")
