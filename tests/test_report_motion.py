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
         "action-agnostic bank": ("Table 4: Action-agnostic Bank", (61.4, 64.6, 66.3, 80.7))}


@pytest.fixture(scope="module")
def points():
    return repro.load_points(STEM)


def _paired(points, metric, a, b, direction=-1):
    pts = [p for p in points if p["knobs"]["structure"] == 1.0]
    return repro.find_row(repro.summarize(pts, metric, baseline=b, direction=direction), a)


@pytest.fixture(scope="module")
def fam(points):
    P = lambda *a: _paired(points, *a)
    claims = {
        "1 bank < baseline, 30": P("pa@30", "+ decoding with bank", "baseline"),
        "2 bank < baseline, 10": P("pa@10", "+ decoding with bank", "baseline"),
        "3 prediction read < baseline, 10": P("pa@10", "+ prediction with bank", "baseline"),
        "4 gain grows with the horizon": mo.gain_diff(points, "+ decoding with bank", "baseline", "pa@30", "pa@5", 1.0, 1.0),
        "5 specific < agnostic, 30": P("pa@30", "+ decoding with bank", "action-agnostic bank"),
        "6 specific < agnostic, 10": P("pa@10", "+ decoding with bank", "action-agnostic bank"),
        "7 bank < one-hot, 10": P("pa@10", "+ decoding with bank", "one-hot label (Table 3)"),
        "7b full < one-hot, 30": P("pa@30", "+ action constraint (full)", "one-hot label (Table 3)"),
        "8 gain grows with structure": mo.gain_diff(points, "+ decoding with bank", "baseline", "pa@10", "pa@10", 1.0, 0.0),
        "9 bank < Constant": P("pa@30", "+ decoding with bank", "Constant"),
        "10 60% labels raise the error": P("pa@30", "table6 60%", "table6 ground truth", +1),
        "11 constraint < bank": P("pa@30", "+ action constraint (full)", "+ decoding with bank"),
        "12 full < baseline": P("pa@30", "+ action constraint (full)", "baseline"),
        "13 bank < baseline, DTW": P("dtw@30", "+ decoding with bank", "baseline"),
    }
    pe = lambda a, b: mo.paper_effect(PAPER, a, b, 30)
    primary = {"1 bank < baseline, 30": pe("+ decoding with bank", "baseline"),
               "5 specific < agnostic, 30": pe("+ decoding with bank", "action-agnostic bank"),
               "7b full < one-hot, 30": pe("+ action constraint (full)", "one-hot label (Table 3)"),
               "11 constraint < bank": pe("+ action constraint (full)", "+ decoding with bank")}
    return repro.decide([repro.claim(k, r, primary=k in primary, paper=primary.get(k), units="mm")
                         for k, r in claims.items()])


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
    assert len(prim) == 4
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
