"""The claims, regime table and closing note of notebook 03 (paperlib.report.glimpse): on a synthetic grid whose
effects are known, then on the committed grid."""
import numpy as np
import pytest

from paperlib import repro
from paperlib.report import glimpse as GR

# the paper's accuracies of the notebook's Table 3 and 4 analogues (its PAPER3 / PAPER4 cells)
PAPER3 = {"global": "— (ours: concatenated c_t)", "global_avg": 85.5, "sum": 85.8, "gc": 86.6}
PAPER4 = {"gc_random": 80.3, "gc": 86.6}
S0 = 5.1


def synthetic(track_gain=3.0, spec_gain=0.05):
    """5 seeds x points 1|2 x object_scale 3.9/5.1/6.3: GC 10 points above random and global everywhere, a
    tracking gain of ``track_gain`` px and a specialisation gain of ``spec_gain`` nats, seed noise 1%."""
    rng = np.random.default_rng(0)
    pts = []
    for n in (1, 2):
        for s in (3.9, 5.1, 6.3):
            for seed in range(5):
                e = lambda: float(rng.normal(0, 0.01))                              # noqa: E731
                base = 0.5 + 0.05 * s / 5
                m = {"data": {"object_px": 3.3 * s, "chance": 1 / 3 if n == 1 else 0.25}}
                for v, a in (("global", base), ("global_avg", base - 0.05), ("sum", base + 0.02), ("gc", base + 0.1),
                             ("gc_random", base), ("gc_oracle", base + 0.2)):
                    m[v] = {"acc": a + e()}
                for v, sp, tr in (("gc", 0.02 + spec_gain, 8.0), ("gc_random", 0.02, 11.0), ("gc_oracle", 0.3, 4.0)):
                    m[v].update(spec_t3=sp + e(), track_px=tr + e(), cover_px=tr - 2 + e(), box_px=20 + e(),
                                patch_step_px=1.7 + e())
                    m[v]["track_px_shuffled"] = tr + (track_gain if v == "gc" else 3.0) + e()
                    if n == 2:
                        m[v].update(split=0.6 + e(), split_shuffled=0.5 + e())
                pts.append({"knobs": {"points": n, "object_scale": s}, "seed": seed, "metrics": m, "cpu_s": 170.0})
    return pts


def test_family_four_primary_claims_in_the_two_point_regime():
    pts = synthetic()
    fam = repro.decide(GR.claims(pts, S0, paper3=PAPER3, paper4=PAPER4))
    names = GR.claim_names(pts, S0)
    prim = {r["name"]: r for r in fam if r["primary"]}
    assert set(prim) == {names[k] for k in ("P1", "P2", "P3", "P4")}
    assert all("two points" in k for k in prim)
    assert prim[names["P1"]]["paper"] == pytest.approx(0.063) and prim[names["P2"]]["paper"] == pytest.approx(0.011)
    assert prim[names["P1"]]["diff"] == pytest.approx(0.1, abs=0.02)
    assert prim[names["P4"]]["diff"] == pytest.approx(3.0, abs=0.05)
    assert all(r["verdict"] == "reproduces" for r in prim.values())
    assert len(fam) == 4 + 2 * 5 + 5 and all(r["n"] == 5 for r in fam)
    cover = next(r for r in fam if r["name"] == names["cover"])
    assert cover["direction"] == -1 and cover["raw"] == "below 0"            # GC's glimpses nearer: lower is better


def test_closing_note_states_each_verdict_and_says_ensemble_when_nothing_tracks():
    for gain, ensemble in ((3.0, False), (0.0, True)):
        pts = synthetic(track_gain=gain, spec_gain=0.05 if gain else 0.0)
        fam = repro.decide(GR.claims(pts, S0, paper3=PAPER3, paper4=PAPER4))
        note = GR.closing_note(pts, {"seeds": [0, 1, 2, 3, 4]}, fam, S0, paper3=PAPER3, paper4=PAPER4)
        assert note.startswith("### What reproduces and what does not")
        for r in fam:
            if r["primary"]:
                assert f"**{r['verdict']}, MDE {r['scale'] * r['mde']:.1f}**" in note, r["name"]
        assert repro.family_text(fam) in note and "85 min CPU" in note
        assert ("act as an ensemble" in note) == ensemble
        assert "{" not in note and "}" not in note and "nan" not in note.lower()


def test_tables_and_errors():
    pts = synthetic()
    t = GR.regime_table(pts)
    assert len(t.rows) == 6 and t.rows[0][0].startswith("one point") and t.rows[0][1] == "33%"
    rows = {r["variant"]: r for r in GR.mechanism_rows(pts, 2, S0)}
    assert rows["gc_oracle"]["track_px"][0] == pytest.approx(4.0, abs=0.02) and "split" in rows["gc"]
    assert "split" not in GR.mechanism_rows(pts, 1, S0)[0]
    fam = repro.decide(GR.claims(pts, S0, paper3=PAPER3, paper4=PAPER4))
    with pytest.raises(KeyError, match="missing"):
        GR.closing_note(pts, {"seeds": [0]}, fam[1:], S0, paper3=PAPER3, paper4=PAPER4)
    with pytest.raises(ValueError, match="not an object_scale"):
        GR.claim_names(pts, 4.0)
    with pytest.raises(ValueError, match="points 1 and 2"):
        GR.sizes([p for p in pts if p["knobs"]["points"] == 1])
    with pytest.raises(ValueError, match="no points"):
        GR.mechanism_rows(pts, 2, 9.9)


def test_the_committed_grid_gives_a_complete_note():
    grid, points = repro.load_grid("03_glimpse_clouds"), repro.load_points("03_glimpse_clouds")
    fam = repro.decide(GR.claims(points, S0, paper3=PAPER3, paper4=PAPER4))
    assert sum(r["primary"] for r in fam) == 4 and all(r["n"] == len(grid["seeds"]) for r in fam)
    note = GR.closing_note(points, grid, fam, S0, paper3=PAPER3, paper4=PAPER4)
    assert "nan" not in note.lower() and "{" not in note
