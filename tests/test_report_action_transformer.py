"""paperlib.report.action_transformer: the claims and the closing note of notebook 04, built from the
committed grid's points the way the notebook loads them."""
import re

import pytest

from paperlib import repro
from paperlib.report import action_transformer as ATR

STEM = "04_video_action_transformer"
# the paper's columns of the notebook's Tables 1-3 (AVA v2.1 val, %), as its cells display them
PAPER1 = {"i3d": 23.4, "lowres": 29.1, "highres": 27.6}
PAPER2 = {"i3d": 92.9, "lowres": 77.5, "highres": 87.7}
PAPER3 = {"i3d": 20.5, "highres": 24.4, "tx+i3d": 24.9}
S0 = 2.0


@pytest.fixture(scope="module")
def built():
    grid, points = repro.load_grid(STEM), repro.load_points(STEM)
    rows = ATR.claims(points, S0)
    fam = ATR.family(rows, ATR.paper_effects(PAPER1, PAPER2, PAPER3, S0))
    return grid, points, rows, fam


def test_family_has_the_four_named_primary_claims_with_the_papers_effects(built):
    _, _, rows, fam = built
    prim = [r for r in fam if r["primary"]]
    assert [r["name"] for r in prim] == list(ATR.primary_names(S0).values())
    assert len(fam) == len(rows) == 26
    assert [None if r["paper"] is None else round(r["paper"], 4) for r in prim] == [0.042, None, 0.052, 0.039]
    assert all(r["verdict"] in ("reproduces", "reversed", "within noise", "underpowered") for r in prim)
    assert all(r["verdict"] is None for r in fam if not r["primary"])


def test_closing_note_states_every_primary_verdict_and_leaves_no_placeholders(built):
    grid, points, rows, fam = built
    note = ATR.closing_note(grid, points, rows, fam, S0)
    for r in fam:
        if r["primary"]:
            assert f"**{r['verdict']}, MDE {100 * r['mde']:.1f}**" in note, r["name"]
    assert repro.family_text(fam) in note
    assert f"{len(points)} points" in note
    text = note + ATR.reading(grid, points, rows, fam, S0)
    assert "{" not in text and "}" not in text
    assert not re.search(r"\bnan\b", text, re.I)


def test_reading_follows_the_computed_decisions(built):
    grid, points, rows, fam = built
    D = {r["name"]: r for r in fam}
    p1 = D[ATR.primary_names(S0)["P1"]]
    text = ATR.reading(grid, points, rows, fam, S0)
    assert f"is {p1['verdict']} at cue 2" in text or p1["verdict"] == "reproduces"
    assert f"{grid['fixed']['epochs_trunk']} epochs" in text


def test_family_rejects_a_primary_claim_that_is_not_a_claim(built):
    _, _, rows, _ = built
    with pytest.raises(ValueError, match="not among the claims"):
        ATR.family(rows, {"9 no such claim": 0.01})
    with pytest.raises(ValueError, match="not one of the grid's cue sizes"):
        ATR.claims(built[1], 7.0)


# ------------------------------------------------------------------------------------------------
# Grid 04b (the regime where another person's box is needed): the notebook's primary family
# ------------------------------------------------------------------------------------------------
GRID_B = {"fixed": {"epochs_head": 60, "head_patience": 12, "exchange_rate": 0.6, "conversation_rate": 1.0},
          "seeds": [0, 1, 2, 3, 4]}


def fake_points_b(oracle_gain=0.08, learned_gain=0.0, share_gain=0.0, seed=0):
    """Five seeds of grid 04b's metrics with the stated mean effects (context-class mAP fractions) and noise."""
    import numpy as np
    rng = np.random.default_rng(seed)
    pts = []
    for s in range(5):
        base = 0.40 + 0.02 * rng.normal()
        ctx = {"i3d": base - 0.03, "i3d_wide": base + 0.01, "highres_uniform": base,
               "highres": base + learned_gain + 0.005 * rng.normal(), "highres_nomem": base - 0.01,
               "highres_oracle": base + oracle_gain + 0.005 * rng.normal()}
        m = {}
        for v, c in ctx.items():
            m[v] = {"context_mAP_gt": c, "mAP_gt": c + 0.05, "params": 6e5, "epoch_best": 60 if v == "i3d" else 20 + s,
                    "epochs_run": 60 if v == "i3d" else 32 + s}
            if v not in ("i3d", "i3d_wide", "highres_nomem"):
                u = 0.15 + 0.01 * rng.normal()
                own = 0.07
                a = {"highres": u + share_gain + 0.003 * rng.normal(), "highres_uniform": u, "highres_oracle": 0.95}[v]
                m[v].update(attn_other=a, attn_other_uniform=u, attn_own=own + 0.001 * s, attn_own_uniform=own,
                            attn_entropy=1.0 if v == "highres_uniform" else 0.8, attn_query_tv=0.0 if v == "highres_uniform" else 0.3)
        pts.append({"seed": s, "knobs": {"cue_scale": 3.0}, "metrics": m, "cpu_s": 1500.0})
    return pts


def test_context_claims_are_the_paired_differences_of_the_points():
    pts = fake_points_b()
    rows = ATR.context_claims(pts)
    P = ATR.CONTEXT_PRIMARY
    assert list(rows)[:4] == list(P.values()) and len(rows) == 4 + len(ATR.CONTEXT_EXPLORATORY)
    by_hand = [p["metrics"]["highres"]["attn_other"] - p["metrics"]["highres"]["attn_other_uniform"] for p in pts]
    assert rows[P["A1"]]["diffs"] == pytest.approx(by_hand)
    a3 = [p["metrics"]["highres_oracle"]["context_mAP_gt"] - p["metrics"]["highres_uniform"]["context_mAP_gt"]
          for p in pts]
    assert rows[P["A3"]]["diffs"] == pytest.approx(a3)
    e5 = rows["E5 attention in the own box > uniform (context regime)"]["diffs"]
    assert e5 == pytest.approx([0.001 * s for s in range(5)])
    with pytest.raises(ValueError, match="no points"):
        ATR.context_claims([])


def test_context_family_is_primary_and_the_headline_claims_become_exploratory(built):
    grid, points, rows, _ = built
    rows_b = ATR.context_claims(fake_points_b())
    paper = {**ATR.paper_effects(PAPER1, PAPER2, PAPER3, S0), **ATR.context_paper_effects(PAPER1)}
    fam = ATR.family({**rows_b, **rows}, paper, primary=ATR.CONTEXT_PRIMARY.values())
    prim = [r["name"] for r in fam if r["primary"]]
    assert prim == list(ATR.CONTEXT_PRIMARY.values())
    D = {r["name"]: r for r in fam}
    assert D[ATR.CONTEXT_PRIMARY["A2"]]["paper"] == pytest.approx(0.042)
    assert D[ATR.primary_names(S0)["P1"]]["paper"] == pytest.approx(0.042) and not D[ATR.primary_names(S0)["P1"]]["primary"]
    note = ATR.closing_note(grid, points, rows, fam, S0) + ATR.reading(grid, points, rows, fam, S0)
    assert "are exploratory here" in note and "{" not in note and not re.search(r"\bnan\b", note, re.I)
    with pytest.raises(ValueError, match="not among the claims"):
        ATR.family(rows, paper, primary=["no such claim"])


@pytest.mark.parametrize("oracle_gain, learned_gain, expect", [
    (0.08, 0.04, r"learned attention recovers (4\d|5\d)% of it"),   # about half of the oracle's gain
    (0.0, 0.0, "leave the learned map nothing to recover"),
    (-0.06, 0.0, "this oracle is no upper bound")])
def test_context_note_follows_the_oracle_and_the_learned_map(built, oracle_gain, learned_gain, expect):
    _, _, rows, _ = built
    pts = fake_points_b(oracle_gain, learned_gain)
    rows_b = ATR.context_claims(pts)
    fam = ATR.family({**rows_b, **rows}, ATR.context_paper_effects(PAPER1), primary=ATR.CONTEXT_PRIMARY.values())
    note = ATR.context_note(GRID_B, pts, rows_b, fam)
    assert re.search(expect, note), note
    e1 = rows_b["E1 uniform attention > no memory, context classes (context regime)"]
    assert f"uniform attention − no memory: {100 * e1['diff']:+.1f}" in note
    assert "does not single out the other people" in note                 # share_gain 0: A1 not shown
    assert ("yet it beats a uniform map" in note) == (learned_gain > 0)
    assert "0 of 30 runs were still improving" not in note and "5 of 30 runs" in note   # the I3D runs hit 60
    assert "and 5 were ended by that cap" in note
    assert "{" not in note
    table = ATR.context_table(pts, GRID_B)
    assert table.count("\n") == 1 + len(ATR.CONTEXT_VARIANTS) and "— (no map)" in table
