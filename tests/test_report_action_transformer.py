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
