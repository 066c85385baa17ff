"""paperlib.report.motion: notebook 05's tables and its reading, built from the committed grid."""
import re

import pytest

from paperlib import repro
from paperlib.report import motion as mo

STEM = "05_action_guided_motion_prediction"
PAPER = {"baseline": ("Table 2: Baseline", (63.1, 66.5, 68.9, 83.3)),
         "+ decoding with bank": ("Table 2: + Decoding with Bank", (59.6, 61.9, 63.4, 77.1)),
         "+ action constraint (full)": ("Table 2: + Action Constraint", (59.6, 61.7, 62.5, 75.9)),
         "one-hot label (Table 3)": ("Table 3: Action Label", (61.8, 64.9, 66.5, 80.2)),
         "action-agnostic bank": ("Table 4: Action-agnostic Bank", (61.4, 64.6, 66.3, 80.7)),
         "Constant": ("Table 1: Constant", (71.4, 85.9, 101.4, 102.8)),
         "best learned (val)": ("Table 1: Ours", (59.6, 61.7, 62.5, 75.9))}


@pytest.fixture(scope="module")
def points():
    return repro.load_points(STEM)


@pytest.fixture(scope="module")
def fam(points):
    rows, primary = mo.claims(points, PAPER)
    return repro.decide([repro.claim(k, r, primary=k in primary, paper=primary.get(k), units="mm")
                         for k, r in rows.items()])


def test_paper_effect_reads_the_table():
    assert mo.paper_effect(PAPER, "+ decoding with bank", "baseline", 30) == pytest.approx(-6.2)
    assert mo.paper_effect(PAPER, "+ action constraint (full)", "one-hot label (Table 3)", 5) == pytest.approx(-2.2)
    with pytest.raises(ValueError):
        mo.paper_effect(PAPER, "baseline", "baseline", 1)
    with pytest.raises(ValueError):
        mo.paper_table({"x": ("row", (1.0, 2.0))}, "title")


def test_reading_states_every_claim_with_its_verdict(fam):
    text = mo.reading(fam)
    prim = [r for r in fam if r["primary"]]
    assert len(prim) == 3
    for i, r in enumerate(prim):
        # each primary claim: its label, its name and its verdict with the MDE, in one bullet
        line = next(l for l in text.splitlines() if l.startswith(f"- **P{i + 1}**"))
        assert r["name"].split(" ", 1)[1] in line and f"**{r['verdict']}, MDE {r['mde']:.1f} mm**" in line
        assert f"paper {r['paper']:+.1f} mm" in line
    for r in fam:
        if not r["primary"]:
            assert f"claim {r['name'].split(' ', 1)[0]}, " in text and r["raw"] in text
    assert "{" not in text and "}" not in text and not re.search(r"\bnan\b", text, re.I)
    assert repro.family_text(fam) in text


def test_reading_refuses_an_unknown_or_missing_claim(fam):
    with pytest.raises(ValueError, match="without a sentence"):
        mo.reading(fam + [{**fam[-1], "name": "99 something else"}])
    with pytest.raises(ValueError, match="sentences without a claim"):
        mo.reading([r for r in fam if not r["name"].startswith("13 ")])


def test_claims_name_three_primary_claims_with_the_papers_effects(points):
    rows, primary = mo.claims(points, PAPER)
    assert len(primary) == 3 and set(primary) <= set(rows)
    assert sorted(k.split(" ", 1)[0] for k in primary) == ["1", "2", "3"]
    assert primary["3 best learned (val) < Constant, 30 frames"] == pytest.approx(75.9 - 102.8)
    r1 = rows["1 bank (+ decoding) < baseline, boundary-crossing windows, 30 frames"]
    pts = [p for p in points if p["knobs"]["structure"] == 1.0]
    want = [p["metrics"]["+ decoding with bank"]["pa_cross@30"] - p["metrics"]["baseline"]["pa_cross@30"] for p in pts]
    assert sorted(r1["diffs"]) == pytest.approx(sorted(want))
    with pytest.raises(KeyError):
        mo.claims(points, {k: v for k, v in PAPER.items() if k != "Constant"})


def test_regime_table_retrieval_headroom_and_best_epochs(points):
    t = mo.regime_table(points)
    lines = [l for l in t.splitlines() if l.startswith("| ")]
    assert len(lines) == 1 + len(mo.REGIME_ROWS) and "nan" not in t.lower()
    assert lines[0].startswith("| row | pa@30 at 0 |")
    md, ret = mo.retrieval_table(points, 1.0)
    assert ("+ decoding with bank", "dec_short") in ret and ret[("shuffled-label bank", "short")]["vs_control"] is None
    r = ret[("+ decoding with bank", "short")]
    assert r["choice"][0] == pytest.approx(r["hit"][0] - r["uniform"][0])
    assert 0 <= r["hit"][0] <= 100 and "| + decoding with bank | short |" in md
    h = mo.headroom(points, "oracle exemplar", 1.0)
    assert h["mean"] == pytest.approx(1.0) and h["lo"] == pytest.approx(1.0)   # the oracle recovers all of its gain
    assert mo.headroom(points, "baseline", 1.0)["mean"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="not below"):
        mo.headroom(points, "baseline", 1.0, reference="oracle exemplar", oracle="Constant")
    variants = ["baseline", "shuffled-label bank"]
    be = mo.best_epochs(points, variants, 20)
    assert be["trainings"] == 2 * len(points) == sum(be["best_epoch"].values()) == sum(be["epochs_run"].values())
    fake = [{"metrics": {"v": {"best_epoch": 4, "epochs_run": 5}}}, {"metrics": {"v": {"best_epoch": 1, "epochs_run": 4}}}]
    assert mo.best_epochs(fake, ["v"], 5) == {"trainings": 2, "best_is_last": 1, "hit_max": 1,
                                              "best_epoch": {2: 1, 5: 1}, "epochs_run": {4: 1, 5: 1}}


def test_grid_table_has_one_line_per_variant(points):
    t = mo.grid_table(points, ["baseline", "+ decoding with bank"], 1.0, ["pa@30"], title="T")
    lines = [l for l in t.splitlines() if l.startswith("| ")]
    assert lines[0] == "| method | pa@30 |" and len(lines) == 3
    assert "<br>" in lines[2] and "<br>" not in lines[1]  # the difference row, not the reference's
    assert "nan" not in t


def test_fresh_table_formats_both_protocols():
    fm = {"a": {"pa@1": 1.04, "pa@5": 2.0, "dtw@1": 1.04, "dtw@5": 1.5}}
    t = mo.fresh_table(fm, ["a"], (1, 5), seed=0, structure=1.0)
    assert "| a | 1.0 | 2.0 | 1.0 | 1.5 |" in t and "seed 0, structure 1" in t


def test_mechanism_reading_follows_the_intervals(fam, points):
    _, ret = mo.retrieval_table(points, 1.0)
    row = ret[("+ decoding with bank", "short")]
    head = mo.headroom(points, "+ decoding with bank", 1.0)
    text = mo.mechanism_reading(fam, row, head)
    assert text.startswith("**What the controls say.**") and "claim 15" in text and "nan" not in text.lower()
    c1 = next(r for r in fam if r["name"].startswith("1 "))
    assert f"{c1['diff']:+.1f} [{c1['lo']:+.1f}, {c1['hi']:+.1f}] mm" in text
    # the conclusion follows the intervals: a read that chooses and a bank that beats the shuffled one
    chooses = {**row, "choice": (5.0, 2.0, 8.0)}
    better = [{**r, "diff": -3.0, "lo": -5.0, "hi": -1.0} if r["name"].startswith("15 ") else r for r in fam]
    assert "memory of the action's futures" in mo.mechanism_reading(better, chooses, head)
    label = [{**r, "diff": 1.0, "lo": -1.0, "hi": 3.0} if r["name"].startswith(("9 ", "15 ")) else r for r in fam]
    assert "carrier of the action label" in mo.mechanism_reading(label, {**row, "choice": (-0.5, -1.0, 0.2)}, head)
    assert "do not separate" in mo.mechanism_reading(better, {**row, "choice": (-0.5, -1.0, 0.2)}, head)
    with pytest.raises(KeyError):
        mo.mechanism_reading([r for r in fam if not r["name"].startswith("15 ")], row, head)
