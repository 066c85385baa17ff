"""The expert-retrieval explorer (paperlib.viz.era): compute, render and the ipywidgets wiring."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from paperlib.viz.era import check_record, era_compute, era_explorer, era_render, pca_2d
from tests.widget_support import check_in_place_updates

N, R, M, K, V = 40, 10, 5, 8, 25


def _record(beta=True, seed=0):
    rng = np.random.default_rng(seed)
    ds = (4, 3)
    queries = [rng.normal(size=(N, R, d, K)) for d in ds]
    keys = [rng.normal(size=(d, M, K)) for d in ds]
    scores = [np.einsum("nrpk,pmk->nrpm", q, k) for q, k in zip(queries, keys)]
    return {
        "modules": ["gcn 1x1", "tcn 5x1"], "scores": scores, "queries": queries, "keys": keys,
        "usage": [rng.integers(0, 100, size=(d, M)).astype(float) for d in ds],
        "beta": [rng.uniform(0.05, 0.15, size=(d, M)) for d in ds] if beta else None,
        "labels": rng.integers(0, 6, N), "class_names": [f"c{i}" for i in range(6)],
        "ratios": np.round(np.arange(1, R + 1) / R, 1), "poses": rng.normal(size=(N, R, 2, V, 3)),
    }


def test_compute_retrieval_is_argmax_of_scores():
    rec = _record()
    data = era_compute(rec, sample=7, ratio=0.3, module=1, bank=2)
    assert data["ratio_index"] == 2 and data["ratio"] == pytest.approx(0.3)
    for m in range(2):
        np.testing.assert_array_equal(data["scores"][m], rec["scores"][m][7, 2])
        np.testing.assert_array_equal(data["retrieved"][m], rec["scores"][m][7, 2].argmax(-1))
    assert data["timeline"].shape == (3, R)
    np.testing.assert_array_equal(data["timeline"][:, 2], data["retrieved"][1])
    np.testing.assert_array_equal(data["bank_scores"], rec["scores"][1][7, :, 2])
    assert data["expert"] == data["retrieved"][1][2]


def test_compute_members_and_thumbnails():
    rec = _record()
    data = era_compute(rec, sample=3, ratio=1.0, module=0, bank=1, max_thumbs=4)
    chosen = rec["scores"][0][:, -1, 1].argmax(-1)
    np.testing.assert_array_equal(data["members"], np.flatnonzero(chosen == data["expert"]))
    assert 3 in data["members"] and data["thumbs_idx"][0] == 3  # the sample itself comes first
    assert len(data["thumbs_idx"]) == min(4, len(data["members"]))
    np.testing.assert_array_equal(data["thumbs"], rec["poses"][data["thumbs_idx"], -1])
    assert data["member_class_counts"].sum() == len(data["members"])
    # another expert of the same bank: all its members retrieve it, and the sample is not among them
    other = (data["expert"] + 1) % M
    d2 = era_compute(rec, sample=3, ratio=1.0, module=0, bank=1, expert=other)
    assert d2["expert"] == other and 3 not in d2["members"]
    assert (chosen[d2["members"]] == other).all()
    np.testing.assert_array_equal(d2["usage"], rec["usage"][0][1])
    np.testing.assert_array_equal(d2["beta"], rec["beta"][0][1])


def test_compute_projection_and_clamping():
    rec = _record(beta=False)
    data = era_compute(rec, sample=0, ratio=0.5, module=1, bank=99)
    assert data["bank"] == 2  # clamped to the module's 3 banks
    assert data["beta"] is None
    Q = rec["queries"][1][:, 4, 2]
    mu, U = pca_2d(Q)
    np.testing.assert_allclose(data["proj"], (Q - mu) @ U)
    np.testing.assert_allclose(U.T @ U, np.eye(2), atol=1e-12)
    # the first direction carries at least as much variance as any other unit direction we try
    var1 = np.var((Q - mu) @ U[:, 0])
    rng = np.random.default_rng(1)
    for _ in range(20):
        v = rng.normal(size=K)
        v /= np.linalg.norm(v)
        assert np.var((Q - mu) @ v) <= var1 + 1e-9
    assert data["key_proj"].shape == (M, 2)
    assert np.abs(data["key_proj"]).max() == pytest.approx(np.abs(data["proj"]).max())


def test_render_shows_the_computed_arrays():
    rec = _record()
    data = era_compute(rec, sample=5, ratio=0.2, module=0, bank=0, max_thumbs=3)
    fig = era_render(data)
    # 2 score maps + timeline + projection + score curves + usage (+ beta twin) + thumbnails
    # + usage entropy + the counterfactual placeholder (no counterfactual in this record)
    assert len(fig.axes) == 2 + 1 + 1 + 1 + 1 + 1 + len(data["thumbs_idx"]) + 2
    ent = [p.get_height() for p in fig.axes[-2].patches]
    np.testing.assert_allclose(ent, data["usage_entropy"])
    img = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(img, data["scores"][0].T)
    bars = [p.get_height() for p in fig.axes[5].patches]
    np.testing.assert_allclose(bars, data["usage"] / data["usage"].sum())
    plt.close(fig)


def test_explorer_wiring_updates_on_control_changes():
    rec = _record()
    ex = era_explorer(rec, sample=1, ratio=0.2)
    assert ex.updates == 1 and ex.data["sample"] == 1 and ex.data["ratio"] == pytest.approx(0.2)
    ex.controls["sample"].value = 9
    assert ex.updates == 2 and ex.data["sample"] == 9
    np.testing.assert_array_equal(ex.data["scores"][0], rec["scores"][0][9, 1])
    ex.controls["ratio"].value = 0.8
    assert ex.data["ratio_index"] == 7
    ex.controls["module"].value = 1
    ex.controls["bank"].value = 2
    assert ex.data["module"] == 1 and ex.data["bank"] == 2
    ex.controls["expert"].value = 4
    assert ex.data["expert"] == 4 and (rec["scores"][1][ex.data["members"], 7, 2].argmax(-1) == 4).all()
    assert ex.updates == 6
    assert ex.figure is not None and len(ex.figure.axes) >= 7


def test_record_validation():
    rec = _record()
    assert check_record(rec) == (N, R, M)
    bad = dict(rec, usage=[rec["usage"][0]])
    with pytest.raises(ValueError, match="usage"):
        check_record(bad)
    bad = dict(rec, labels=rec["labels"][:-1])
    with pytest.raises(ValueError, match="labels"):
        check_record(bad)
    bad = dict(rec)
    bad.pop("keys")
    with pytest.raises(ValueError, match="missing"):
        check_record(bad)
    with pytest.raises(ValueError, match="sample"):
        era_compute(rec, sample=N)


def _cf_record(seed=0):
    rec = _record(seed=seed)
    rng = np.random.default_rng(seed + 1)
    C = 6
    samples = np.array([3, 7, 11])
    rec["counterfactual"] = {"samples": samples,
                             "logits": [rng.normal(size=(3, R, np.shape(s)[2], M, C)) for s in rec["scores"]],
                             "factual": rng.normal(size=(3, R, C))}
    return rec


def test_counterfactual_view_is_the_softmax_of_the_recorded_logits():
    from paperlib.viz.era import counterfactual_view, usage_entropy

    rec = _cf_record()
    data = era_compute(rec, sample=7, ratio=0.3, module=0, bank=2)
    cf = data["counterfactual"]
    z = rec["counterfactual"]["logits"][0][1, 2]                                  # sample 7 is row 1; ratio index 2
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    lab = int(rec["labels"][7])
    np.testing.assert_allclose(cf["true_prob"], p[..., lab])
    np.testing.assert_array_equal(cf["pred"], z.argmax(-1))
    np.testing.assert_allclose(cf["bank_prob"], p[2])
    fp = int(rec["counterfactual"]["factual"][1, 2].argmax())
    assert cf["factual_pred"] == fp
    np.testing.assert_array_equal(cf["changes"], (z.argmax(-1) != fp).sum(1))
    assert era_compute(rec, sample=8)["counterfactual"] is None                   # not recorded
    assert counterfactual_view(_record(), 7, 2, 0, 2) is None
    np.testing.assert_allclose(usage_entropy(np.array([[1, 1, 0, 0], [4, 0, 0, 0], [0, 0, 0, 0]])), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(data["usage_entropy"], usage_entropy(rec["usage"][0]))


def test_counterfactual_rendered_and_checked():
    rec = _cf_record()
    fig = era_render(era_compute(rec, sample=11, ratio=0.5, module=1, bank=1))
    titles = " ".join(ax.get_title() for ax in fig.axes)
    assert "if bank p had retrieved expert i" in titles and "usage entropy" in titles
    plt.close(fig)
    fig = era_render(era_compute(rec, sample=0))
    assert any("no counterfactual" in t.get_text() for ax in fig.axes for t in ax.texts)
    plt.close(fig)
    bad = _cf_record()
    bad["counterfactual"]["logits"] = bad["counterfactual"]["logits"][:1]
    with pytest.raises(ValueError):
        check_record(bad)


@pytest.mark.parametrize("make", [_record, _cf_record], ids=["no counterfactual", "counterfactual"])
def test_in_place_updates_draw_what_a_fresh_render_draws(make):
    """Explorer passes the previous figure (``render(data, fig=...)``): after control changes that move
    every part of the view (a module with another number of banks, an expert with fewer retrieving samples
    than thumbnails, samples with and without a recorded counterfactual), the reused figure must be pixel
    for pixel a fresh render of the same data."""
    rec = make()
    # an expert of bank 2 of module 1 at ratio 0.8 that fewer than 6 test samples retrieve (hidden thumbnails)
    counts = np.bincount(rec["scores"][1][:, 7, 2].argmax(-1), minlength=M)
    few = int(np.argmin(counts))
    assert counts[few] < 6
    ex = era_explorer(rec, sample=7, ratio=0.2)
    first = ex.figure
    assert ex._reuses                                             # the render takes fig=: updates in place
    changes = [("ratio", 0.5), ("bank", 3), ("module", 1), ("sample", 11), ("ratio", 0.8), ("bank", 2),
               ("expert", few), ("sample", 3), ("expert", -1), ("module", 0), ("sample", 12), ("bank", 0)]

    def hidden_thumbnails(i, data):
        if i == 6:
            assert len(data["thumbs_idx"]) == counts[few] < 6

    checked = check_in_place_updates(ex, changes, era_render, at=(2, 6, 7, len(changes) - 1),
                                     on_check=hidden_thumbnails)
    assert checked == 4 and ex.updates == 1 + len(changes)
    # what the last view shows (the artists are animated: read their data, not a plain draw)
    d = ex.data
    assert d["module"] == 0 and d["bank"] == 0 and d["sample"] == 12
    np.testing.assert_allclose(first.axes[0].images[0].get_array(), d["scores"][0].T)
    assert first.axes[2].images[0].get_array().shape == (4, R)    # the timeline of module 0's 4 banks
    assert first._suptitle.get_text().startswith("sample #12 (c")
    assert d["thumb_titles"][0] == first.axes[7].get_title()
    plt.close("all")


def test_render_reuses_only_a_figure_of_the_same_shapes():
    rec = _record()
    d = era_compute(rec, sample=5, ratio=0.2, module=0, bank=0)
    fig = era_render(d)
    d2 = era_compute(rec, sample=9, ratio=0.7, module=1, bank=2, expert=1)
    assert era_render(d2, fig=fig) is fig                          # another view of the same record
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), d2["scores"][1].T)
    np.testing.assert_array_equal(fig.axes[2].images[0].get_array(), d2["timeline"])
    assert fig._suptitle.get_text().startswith("sample #9")
    # other shapes: more thumbnails, no beta, other banks, counterfactuals: a new layout
    more = era_render(era_compute(rec, sample=5, max_thumbs=4), fig=fig)
    assert more is not fig and len(more.axes) == len(fig.axes) - 2
    no_beta = era_render(era_compute(_record(beta=False), sample=5), fig=fig)
    assert no_beta is not fig and len(no_beta.axes) == len(fig.axes) - 1
    wide = dict(rec, scores=[rec["scores"][0], rec["scores"][0]], queries=[rec["queries"][0]] * 2,
                keys=[rec["keys"][0]] * 2, usage=[rec["usage"][0]] * 2, beta=[rec["beta"][0]] * 2)
    other = era_render(era_compute(wide, sample=5), fig=fig)
    assert other is not fig
    cf = era_render(era_compute(_cf_record(), sample=5), fig=fig)
    assert cf is not fig and "if bank p had retrieved expert i" in " ".join(a.get_title() for a in cf.axes)
    plt.close("all")
    with pytest.raises(ValueError, match="25"):
        era_render(dict(d, thumbs=np.zeros((3, 2, 17, 3))))


def test_explorer_prepares_the_record_once():
    from paperlib.viz.era import era_prepare, pose_half_size

    rec = _record()
    prep = era_prepare(rec)
    a = era_compute(rec, sample=4, ratio=0.6, module=1, bank=1, prepared=prep)
    b = era_compute(rec, sample=4, ratio=0.6, module=1, bank=1)
    for k in ("proj", "key_proj", "members", "thumbs_idx", "thumbs", "usage", "usage_entropy", "timeline"):
        np.testing.assert_array_equal(a[k], b[k])
    assert (1, 5, 1) in prep["pca"] and a["thumb_half"] == b["thumb_half"] == pose_half_size(rec["poses"])
    # the thumbnails' box holds the widest pose: half its projected extent plus the pad
    poses = np.zeros((2, 1, 2, V, 3))
    poses[0, 0, 0, :, 0] = np.linspace(-1, 1, V)                      # 2 m wide
    poses[1, 0, 1, :, 1] = np.linspace(0, 0.5, V)                     # 0.5 m tall (second body only)
    hx, hy = pose_half_size(poses, pad=0.0)
    assert hx == pytest.approx(1.0) and hy == pytest.approx(0.25 * np.cos(np.deg2rad(10)))
    assert pose_half_size(np.zeros((3, 2, V, 3))) == (1.0, 1.0)
    with pytest.raises(ValueError, match="missing"):
        era_explorer({k: v for k, v in rec.items() if k != "keys"})


# --- the latent cue group: is retrieval aligned with it? ---------------------------------------------------------

GROUP_NAMES = ["acting arm", "other arm", "acting leg", "trunk"]


def _with_groups(rec, seed=0, names=GROUP_NAMES):
    """``rec`` with a cue group per sample (every group present) and the groups' names."""
    n = len(rec["labels"])
    groups = np.random.default_rng(seed + 7).permutation(np.arange(n) % len(names))
    return dict(rec, groups=groups, group_names=list(names))


def _group_record(n=400, aligned=True, seed=0):
    """A record of ``n`` samples whose retrieval follows the cue group (``aligned``: the argmax over experts
    is the group, at every ratio and bank) or is random."""
    rng = np.random.default_rng(seed)
    ds = (3, 2)
    groups = np.arange(n) % 4
    rng.shuffle(groups)
    scores = [rng.normal(size=(n, R, d, M)) for d in ds]
    if aligned:
        for s in scores:
            s[np.arange(n), :, :, groups] += 10.0                    # expert g wins for the samples of group g
    return {
        "modules": ["gcn", "tcn"], "scores": scores, "queries": [rng.normal(size=(n, R, d, K)) for d in ds],
        "keys": [rng.normal(size=(d, M, K)) for d in ds], "usage": [np.ones((d, M)) for d in ds], "beta": None,
        "labels": rng.integers(0, 6, n), "class_names": [f"c{i}" for i in range(6)],
        "ratios": np.round(np.arange(1, R + 1) / R, 1), "poses": np.zeros((n, R, 1, V, 3)),
        "groups": groups, "group_names": list(GROUP_NAMES),
    }


def test_group_alignment_reaches_the_group_entropy_when_retrieval_is_the_group():
    from paperlib.viz.era import group_alignment

    rec = _group_record(aligned=True)
    al = group_alignment(rec)
    share = np.bincount(rec["groups"]) / len(rec["groups"])
    h = float(-(share * np.log2(share)).sum())
    assert al["h_group"] == pytest.approx(h) and h == pytest.approx(2.0)
    assert al["group_names"] == GROUP_NAMES
    for m, s in enumerate(rec["scores"]):
        d = s.shape[2]
        assert al["mi"][m].shape == al["mi_shuffled"][m].shape == (R, d)
        assert al["table"][m].shape == (R, d, 4, M)
        np.testing.assert_allclose(al["mi"][m], h, rtol=1e-12)
        assert (al["mi_shuffled"][m] < 0.1).all()                    # the permuted groups: (almost) nothing
        np.testing.assert_array_equal(al["table"][m].sum((-2, -1)), len(rec["groups"]))
        # the table: group g retrieves expert g (a diagonal), expert 4 never
        t = al["table"][m][3, 1]
        np.testing.assert_array_equal(t[:, :4], np.diag(np.bincount(rec["groups"])))
        assert (t[:, 4] == 0).all()


def test_group_alignment_is_sklearns_estimate_and_near_its_floor_for_random_retrieval():
    import math

    from sklearn.metrics import mutual_info_score

    from paperlib.viz.era import group_alignment

    rec = _group_record(aligned=False)
    al = group_alignment(rec)
    g = rec["groups"]
    rng = np.random.default_rng(0)
    perms = [rng.permutation(len(g)) for _ in range(20)]
    for m, s in enumerate(rec["scores"]):
        e = s.argmax(-1)                                              # [N, R, d]
        for r in (0, 4, R - 1):
            for p in range(e.shape[2]):
                a = e[:, r, p]
                assert al["mi"][m][r, p] == pytest.approx(mutual_info_score(g, a) / math.log(2), abs=1e-12)
                null = np.mean([mutual_info_score(g[q], a) for q in perms]) / math.log(2)
                assert al["mi_shuffled"][m][r, p] == pytest.approx(null, abs=1e-12)
                table = np.zeros((4, M), int)
                np.add.at(table, (g, a), 1)
                np.testing.assert_array_equal(al["table"][m][r, p], table)
    # random retrieval: the estimate is its (positive, finite-sample) floor, far below H(g) = 2 bits
    mi, null = np.concatenate([x.ravel() for x in al["mi"]]), np.concatenate([x.ravel() for x in al["mi_shuffled"]])
    assert 0 < null.mean() < 0.1 and abs(mi.mean() - null.mean()) < 0.02 and mi.max() < 0.15


def test_group_alignment_prepared_once_and_only_with_several_groups(monkeypatch):
    import paperlib.viz.era as era

    calls = []
    real = era.group_alignment
    monkeypatch.setattr(era, "group_alignment", lambda rec: calls.append(1) or real(rec))
    rec = _with_groups(_record())
    ex = era_explorer(rec, sample=1, ratio=0.2)
    for name, value in (("sample", 5), ("ratio", 0.6), ("module", 1), ("bank", 2), ("expert", 3)):
        ex.controls[name].value = value
    assert len(calls) == 1 and ex.updates == 6
    d = ex.data
    al = real(rec)
    np.testing.assert_array_equal(d["alignment"]["table"], al["table"][1][5, 2])
    assert d["alignment"]["mi"] == al["mi"][1][5, 2] and d["alignment"]["mi_shuffled"] == al["mi_shuffled"][1][5, 2]
    assert d["group"] == rec["groups"][5] and d["group_name"] == GROUP_NAMES[rec["groups"][5]]
    # no groups, or a single one (real data: all zeros): no alignment
    assert era.era_prepare(_record())["alignment"] is None
    one = dict(rec, groups=np.zeros(N, int))
    assert era.era_prepare(one)["alignment"] is None and era_compute(one, sample=3)["group"] is None
    assert len(calls) == 1
    plt.close("all")


def test_record_validation_of_the_groups():
    rec = _with_groups(_record())
    assert check_record(rec) == (N, R, M)
    assert check_record({k: v for k, v in rec.items() if k != "group_names"}) == (N, R, M)
    for bad in (dict(rec, groups=rec["groups"][:-1]),                    # not one per sample
                dict(rec, groups=np.where(np.arange(N) == 3, 4, rec["groups"])),   # 4 groups named: 0..3
                dict(rec, groups=np.where(np.arange(N) == 3, -1, rec["groups"])),
                dict(rec, groups=rec["groups"] + 0.5)):
        with pytest.raises(ValueError, match="groups"):
            check_record(bad)
    with pytest.raises(ValueError, match="groups"):
        era_explorer(dict(rec, group_names=GROUP_NAMES[:2]))


def test_render_shows_retrieval_against_the_cue_group():
    rec = _with_groups(_record())
    data = era_compute(rec, sample=5, ratio=0.3, module=1, bank=2)
    fig = era_render(data)
    titles = " ".join(ax.get_title() for ax in fig.axes)
    assert "usage entropy" not in titles                               # the panel is replaced
    ax = next(a for a in fig.axes if a.get_title().startswith("retrieved expert vs cue group"))
    al = data["alignment"]
    assert f"I(expert; group) = {al['mi']:.2f} bits" in ax.get_title()
    assert f"(shuffled {al['mi_shuffled']:.2f}; max H(g) = {al['h_group']:.2f})" in ax.get_title()
    np.testing.assert_array_equal(ax.images[0].get_array(), al["table"])
    assert [t.get_text() for t in ax.get_yticklabels()] == GROUP_NAMES
    frame = ax.patches[0]
    assert frame.get_xy() == (data["retrieved"][1][2] - 0.5, data["group"] - 0.5)
    assert ax.images[0].get_clim() == (0, al["table"].max())
    assert f"cue in the {GROUP_NAMES[rec['groups'][5]]}" in fig._suptitle.get_text()
    assert len(fig.axes) == 2 + 1 + 1 + 1 + 1 + 1 + len(data["thumbs_idx"]) + 2   # as many axes as before
    # the same figure serves the record's other views; a record without groups needs another layout
    assert era_render(era_compute(rec, sample=9, module=0, bank=1), fig=fig) is fig
    old = era_render(era_compute(_record(), sample=9, module=0, bank=1), fig=fig)
    assert old is not fig
    plt.close("all")


def test_record_without_groups_keeps_the_usage_entropy_panel():
    for rec in (_record(), dict(_with_groups(_record()), groups=np.zeros(N, int))):   # none, or a single group
        data = era_compute(rec, sample=5, ratio=0.2, module=0, bank=0)
        assert data["alignment"] is None and data["group"] is None and data["group_name"] is None
        fig = era_render(data)
        titles = " ".join(ax.get_title() for ax in fig.axes)
        assert "training usage entropy per bank" in titles and "cue group" not in titles
        assert "cue in" not in fig._suptitle.get_text()
        np.testing.assert_allclose([p.get_height() for p in fig.axes[-2].patches], data["usage_entropy"])
        plt.close(fig)


@pytest.mark.parametrize("make", [_record, _cf_record], ids=["no counterfactual", "counterfactual"])
def test_in_place_updates_with_cue_groups_draw_what_a_fresh_render_draws(make):
    """As :func:`test_in_place_updates_draw_what_a_fresh_render_draws`, with the cue-group panel: the table,
    the framed cell (other groups, other retrieved experts), the MI in the title and the group in the figure's
    title must be those of a fresh render."""
    rec = _with_groups(make())
    ex = era_explorer(rec, sample=7, ratio=0.2)
    first = ex.figure
    changes = [("ratio", 0.5), ("bank", 3), ("module", 1), ("sample", 11), ("ratio", 0.8), ("bank", 2),
               ("sample", 3), ("expert", 1), ("module", 0), ("sample", 12), ("bank", 0)]
    seen = set()

    def record_cell(i, data):
        seen.add((data["group"], int(data["retrieved"][data["module"]][data["bank"]])))

    checked = check_in_place_updates(ex, changes, era_render, at=(0, 3, 6, 8, len(changes) - 1),
                                     on_check=record_cell)
    assert checked == 5 and len(seen) >= 3                             # the frame moved between checks
    d = ex.data
    ax = next(a for a in first.axes if a.get_title().startswith("retrieved expert vs cue group"))
    np.testing.assert_array_equal(ax.images[0].get_array(), d["alignment"]["table"])
    assert first._suptitle.get_text().startswith(f"sample #12 ({d['class_name']}, cue in the {d['group_name']})")
    plt.close("all")
