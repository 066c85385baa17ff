"""The claims and the closing note of notebook 03, built from its committed grid (paperlib.report.glimpse)."""
import pytest

from paperlib import repro
from paperlib.report import glimpse as GR

# the paper's accuracies of the notebook's Table 3 and 4 analogues (its PAPER3 / PAPER4 cells)
PAPER3 = {"global": "— (ours: concatenated c_t)", "global_avg": 85.5, "sum": 85.8, "gc": 86.6}
PAPER4 = {"gc_random": 80.3, "gc": 86.6}
S0, FLOOR = 4.0, 1e-3


@pytest.fixture(scope="module")
def grid_fam():
    grid = repro.load_grid("03_glimpse_clouds")
    points = repro.load_points("03_glimpse_clouds")
    return grid, points, repro.decide(GR.claims(points, S0, paper3=PAPER3, paper4=PAPER4))


def test_family_has_four_primary_claims_with_the_papers_effects(grid_fam):
    _, points, fam = grid_fam
    prim = {r["name"]: r for r in fam if r["primary"]}
    names = GR.claim_names(points, S0)
    assert set(prim) == {names["1@4"], names["2"], names["4@4"], names["5c"]}
    assert prim[names["1@4"]]["paper"] == pytest.approx(0.011)
    assert prim[names["2"]]["paper"] == pytest.approx(0.008)
    assert prim[names["4@4"]]["paper"] == pytest.approx(0.063)
    assert prim[names["5c"]]["paper"] is None
    assert len(fam) == 13 and all(r["n"] == 5 for r in fam)
    assert all(r["verdict"] in {"reproduces", "reversed", "within noise", "underpowered"} for r in prim.values())


def test_closing_note_states_every_primary_verdict(grid_fam):
    grid, points, fam = grid_fam
    note = GR.closing_note(points, grid, fam, S0, FLOOR, paper3=PAPER3, paper4=PAPER4)
    assert note.startswith("### What reproduces and what does not")
    for r in fam:
        if r["primary"]:
            assert f"**{r['verdict']}, MDE {100 * r['mde']:.1f}**" in note, r["name"]
    assert "exploratory: " in note and repro.family_text(fam) in note
    assert "{" not in note and "}" not in note and "nan" not in note.lower()
    assert GR.specialisation_text(points, S0, FLOOR) in note


def test_closing_note_raises_for_a_missing_claim(grid_fam):
    grid, points, fam = grid_fam
    with pytest.raises(KeyError, match="missing"):
        GR.closing_note(points, grid, fam[1:], S0, FLOOR, paper3=PAPER3, paper4=PAPER4)
    with pytest.raises(ValueError):
        GR.claim_names(points, 5.0)
