"""The closing note of lesson 01 (paperlib.report.era), built from the committed grid as the notebook builds it."""
import numpy as np
import pytest

from paperlib import repro
from paperlib.papers.era import PAPER
from paperlib.report import era
from paperlib.stats import mean_ci

STEM, CUE, CELL = "01_era_early_action_prediction", 20.0, (4, 8)
PRIMARY = (era.REGIME_CLAIMS["acc20"], era.REGIME_CLAIMS["auc"], "2 ERA > Baseline, AUC", "5a ERA > Expert-Avg, AUC")
ORDER = ["baseline", "era_wo_elro", "era", "expert_avg", "extra_channel", "extra_filters", "era_10a"]


def _paired(points, metric, a, b, cue):
    return repro.find_row(repro.summarize([p for p in points if p["knobs"]["early_cue"] == cue], metric, baseline=b), a)


@pytest.fixture(scope="module")
def inputs():
    """The arguments of ``closing_note`` as Sections 10 and 12 of the notebook compute them."""
    grid, points = repro.load_grid(STEM), repro.load_points(STEM)
    probes = {(q["knobs"]["early_cue"], q["seed"]): q for q in repro.load_points("01b_era_probes")}
    for p in points:
        p["metrics"]["mlp_probe"] = probes[(p["knobs"]["early_cue"], p["seed"])]["metrics"]["mlp_probe"]
    T1 = PAPER["table1"]
    paper = {m: {v: T1[v][k] / 100 for v in T1} for m, k in (("acc@0.2", 0), ("acc@1.0", 4), ("auc", 5))}
    paper["auc"].update({v: a / 100 for v, a in PAPER["table3e_auc"].items()})
    claims = {era.CLAIMS[k]: _paired(points, m, a, b, CUE) for k, m, a, b in (
        ("acc20", "acc@0.2", "era", "baseline"), ("auc", "auc", "era", "baseline"),
        ("wo_elro", "auc", "era_wo_elro", "baseline"), ("elro", "auc", "era", "era_wo_elro"),
        ("avg", "auc", "era", "expert_avg"), ("channel", "auc", "era", "extra_channel"),
        ("filters", "auc", "era", "extra_filters"), ("elro10", "auc", "era_10a", "era"))}
    g = {c: {p["seed"]: p["metrics"]["era"]["acc@0.2"] - p["metrics"]["baseline"]["acc@0.2"]
             for p in points if p["knobs"]["early_cue"] == c} for c in (0.0, 40.0)}
    claims[era.CLAIMS["growth"]] = {"diffs": [g[40.0][s] - g[0.0][s] for s in sorted(g[0.0])], "direction": +1}
    at = {c: [p for p in points if p["knobs"]["early_cue"] == c] for c in grid["grid"]["early_cue"]}
    best_net = {(m, c): max((v for v in ORDER if all(v in p["metrics"] for p in at[c])),
                            key=lambda v: np.mean([p["metrics"][v][m] for p in at[c]]))
                for m in ("acc@0.2", "auc") for c in grid["grid"]["early_cue"]}
    for (m, c), v in best_net.items():
        claims[era.headroom_name(v, m, c)] = _paired(points, m, "mlp_probe", v, c)
    grid_c, points_c = repro.load_grid("01c_era_cue_location"), repro.load_points("01c_era_cue_location")
    claims.update(era.regime_claim_rows(points_c, CELL))
    pe = {k: paper[m][a] - paper[m][b] for k, (m, a, b) in zip(PRIMARY, (
        ("acc@0.2", "era", "baseline"), ("auc", "era", "baseline"), ("auc", "era", "baseline"), ("auc", "era", "expert_avg")))}
    fam = repro.decide([repro.claim(k, r, primary=k in pe, paper=pe.get(k), scale=100, units="points")
                        for k, r in claims.items()])
    keys = ("unused_frac", "max_share@0.2", "banks_over_90@0.2", "spearman_usage_beta")
    vals = {v: {k: [p["metrics"][v].get(k, np.nan) for p in at[CUE]] for k in keys} for v in ("era", "era_wo_elro", "era_10a")}
    usage_rows = {v: {k: (np.nan,) * 3 if np.isnan(x).any() else mean_ci(x) for k, x in vs.items()} for v, vs in vals.items()}
    worst = {"era": {k: max(p["metrics"]["era"][k] for p in at[CUE]) for k in ("unused_frac", "max_share@0.2")}}
    targets = {"era": {"at most 20% of the experts unused": worst["era"]["unused_frac"] <= 0.2,
                       "no bank above 90% of the test sequences at 20%": worst["era"]["max_share@0.2"] <= 0.9}}
    return dict(grid=grid, points=points, fam=fam, paper=paper, usage_rows=usage_rows, worst=worst, targets=targets,
                best_net=best_net, cue=CUE, regime={"grid": grid_c, "points": points_c, "cell": CELL})


def test_note_names_every_primary_claim_with_its_computed_verdict(inputs):
    note = era.closing_note(**inputs)
    D = {r["name"]: r for r in inputs["fam"]}
    assert sorted(r["name"] for r in inputs["fam"] if r["primary"]) == sorted(PRIMARY)
    for name in PRIMARY:
        assert D[name]["verdict"] in ("reproduces", "reversed", "within noise", "underpowered")
        assert f"**{D[name]['verdict']}, MDE {100 * D[name]['mde']:.1f}**" in note, name
    assert note.startswith("### Where retrieval has a job") and "### What reproduces and what does not" in note
    assert "**Reading the result.**" in note
    rest = note.replace("{0, 20, 40}", "").replace("{1, 4}", "").replace("{8, 32}", "")
    assert "{" not in rest and "}" not in rest
    assert "nan" not in note.lower() and "None" not in note


def test_paper_effects_come_from_the_paper_table(inputs):
    note = era.closing_note(**inputs)
    # Table 1: 53.98 - 38.09 at 20%; AUC 73.87 - 71.62 = 2.25 rounds half up; Table 3(e): 73.87 - 68.02 = 5.85
    for text in ("paper: +15.9", "paper: +7.4", "paper: +5.2", "paper: +2.2", "paper: +5.9", "paper: +6.3"):
        assert text in note
    assert era.paper_effect(inputs["paper"], "auc", "era", "expert_avg") == "+5.9"


def test_missing_claim_or_cue_is_an_error(inputs):
    fam = [r for r in inputs["fam"] if r["name"] != era.CLAIMS["elro10"]]
    with pytest.raises(KeyError, match="ELRO at 10 alpha"):
        era.closing_note(**{**inputs, "fam": fam})
    with pytest.raises(ValueError, match="knob value"):
        era.closing_note(**{**inputs, "cue": 30.0})


def test_regime_findings_read_the_grid(inputs):
    r = inputs["regime"]
    note = era.regime_findings(r["grid"], r["points"], inputs["fam"], CELL)
    mi = era.group_information_rows(r["points"], CELL)
    assert f"ERA {mi['era']['mi'][0]:.3f} bits" in note and f"the oracle {mi['era_oracle']['mi'][0]:.2f} bits" in note
    # the oracle reaches the groups' entropy (balanced groups: about 2 bits) on every seed
    assert (mi["era_oracle"]["per_bank"] > 1.9).all()
    rec = era.oracle_recovery(r["points"], CELL, "auc")
    assert rec["era"]["variant"] == "era" and rec["oracle"]["variant"] == "era_oracle"
    assert f"`cue_groups` {CELL[0]}, width {CELL[1]}" in note
    row = [line for line in note.splitlines() if line.startswith("| era |")][0]
    assert f"{era.diff_text(rec['era'])}" in row                  # the table's AUC gain of ERA at the primary cell
    with pytest.raises(KeyError, match="lacks"):
        era.regime_findings(r["grid"], r["points"], [x for x in inputs["fam"] if x["name"] != era.REGIME_CLAIMS["auc"]],
                            CELL)
    with pytest.raises(ValueError, match="not a cell"):
        era.regime_findings(r["grid"], r["points"], inputs["fam"], (2, 8))
