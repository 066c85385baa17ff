"""The closing note of lesson 02 (paperlib.report.ups), built from the committed grids."""
import re
import types

import pytest

from paperlib import repro
from paperlib.report import ups as UR
from paperlib.report.text import claim_text

METRICS = {"ar3d_top1": +1, "ar2d_top1": +1, "ep_top1@0.2": +1, "ep_top1@0.4": +1, "ep_top1@0.6": +1,
           "pose_mpjpe_mm": -1}
SHORT = {"ar3d_top1": "3D rec.", "ar2d_top1": "2D rec.", "ep_top1@0.2": "EP 20%", "ep_top1@0.4": "EP 40%",
         "ep_top1@0.6": "EP 60%", "pose_mpjpe_mm": "MPJPE mm"}
PAPER_EFFECT = {"1 joint_h2 > separate, 3D rec.": 0.030, "1 joint_h2 > separate, MPJPE mm": -4.1,
           "3 joint_h2 > joint_h1, 3D rec.": 0.007, "3 joint_h2 > joint_h1, EP 40%": 0.018}


def _claims(points, budget_pts):
    """The lesson's claims (its cells "def paired" and "claims = {"), as {name: (diffs, direction)}."""
    at = lambda p: [q for q in points if q["knobs"]["label_permute"] == p]
    row = lambda m, v, b, p: repro.find_row(repro.summarize(at(p), m, baseline=b, direction=METRICS[m]), v)
    per_seed = lambda f, qs: {q["seed"]: f(q["metrics"]) for q in qs}

    def gain_diff(m, v, b, hi, lo):
        g = lambda p: per_seed(lambda x: x[v][m] - x[b][m], at(p))
        return [g(hi)[k] - g(lo)[k] for k in sorted(set(g(hi)) & set(g(lo)))], METRICS[m]

    c = {f"0 the knob interferes, {SHORT[m]}": gain_diff(m, "joint_h1", "separate", 0.0, 1.0) for m in ("ar2d_top1", "ar3d_top1")}
    for n, v, b in (("1 joint_h2 > separate", "joint_h2", "separate"), ("2 joint_h1 > separate", "joint_h1", "separate"),
                    ("3 joint_h2 > joint_h1", "joint_h2", "joint_h1"), ("5 joint_h2 > fixed_h2", "joint_h2", "fixed_h2")):
        for m in METRICS:
            r = row(m, v, b, 0.0)
            c[f"{n}, {SHORT[m]}"] = r["diffs"], r["direction"]
    for m in ("ar2d_top1", "ar3d_top1", "ep_top1@0.6", "pose_mpjpe_mm"):
        c[f"4 H2 - H1 gap, {SHORT[m]}"] = gain_diff(m, "joint_h2", "joint_h1", 1.0, 0.0)
    for v in ("joint_h2", "separate"):
        c[f"6 {v} MPJPE < MLP"] = [q["metrics"][v]["pose_mpjpe_mm"] - q["metrics"]["mlp"]["pose_mpjpe_mm"] for q in at(0.0)], -1
    c["6 joint_h2 MPJPE < mean pose"] = [q["metrics"]["joint_h2"]["pose_mpjpe_mm"]
                                         - q["metrics"]["reference"]["mean_pose_mpjpe_mm"] for q in at(0.0)], -1
    gap = lambda s: {q["seed"]: q["metrics"]["separate"]["pose_mpjpe_mm"] - q["metrics"]["mlp"]["pose_mpjpe_mm"]
                     for q in budget_pts if q["knobs"]["steps"] == s}
    c["6b token decoder alone MPJPE < MLP at 2560 iterations"] = list(gap(2560).values()), -1
    c["6c MPJPE gap smaller at 2560 than 160 iterations"] = [gap(2560)[k] - gap(160)[k] for k in sorted(gap(160))], -1
    shared = lambda p: {q["seed"]: sum(q["metrics"]["joint_h2"][f"route_ar2d_l{l}"] == q["metrics"]["joint_h2"][f"route_ar3d_l{l}"]
                                       for l in range(2)) for q in at(p)}
    c["7 routes part ar2d from ar3d"] = [(shared(0.0)[k] - shared(1.0)[k]) / 100 for k in shared(0.0)], +1
    return c


@pytest.fixture(scope="module")
def lesson():
    grid, points = repro.load_grid("02_ups_unified_pose_sequence"), repro.load_points("02_ups_unified_pose_sequence")
    budget_pts = repro.load_points("02b_ups_pose_budget")
    grid_c, points_c = repro.load_grid(UR.CONFLICT_GRID), repro.load_points(UR.CONFLICT_GRID)
    # as the lesson decides them: explorations 1 and 3 with the paper's effects, the primary family from grid 02c
    fam = repro.decide([repro.claim_from_diffs(k, d, s, paper=PAPER_EFFECT.get(k), scale=1 if "MPJPE" in k else 100,
                                               units="mm" if "MPJPE" in k else "points")
                        for k, (d, s) in _claims(points, budget_pts).items()]
                       + UR.conflict_claims(points_c, METRICS, SHORT))
    return types.SimpleNamespace(grid=grid, points=points, budget_pts=budget_pts, fam=fam, grid_c=grid_c,
                                 points_c=points_c)


def _notes(L, fam=None):
    fam = L.fam if fam is None else fam
    return (UR.closing_note(L.grid, L.points, fam, budget_points=L.budget_pts, metrics=METRICS, short=SHORT),
            UR.routing_pose_note(L.grid, L.points, fam, budget_points=L.budget_pts, rank=64, fresh_status="repeats"))


def test_every_primary_claim_appears_with_its_verdict(lesson):
    note, _ = _notes(lesson)
    prim = [d for d in lesson.fam if d["primary"]]
    assert len(prim) == 4 and note.startswith("### What reproduces and what does not")
    for d in prim:
        assert f"**{d['name']}**: " in note
        paper = "no figure in the paper" if d["paper"] is None else f"paper {d['paper'] * d['scale']:+.1f}"
        assert f"({d['verdict']}; MDE {d['mde'] * d['scale']:.1f}, {paper})" in note
    assert repro.family_text(lesson.fam) in note
    for d in prim:
        if d["verdict"] == "underpowered":
            assert str(d["n_needed"]) in note
    assert [d["name"] for d in prim] == list(UR.CONFLICT_PRIMARY)
    # the paper-setting claims report their power against the paper's effect
    for d in lesson.fam:
        if d["name"].startswith("3 ") and d["paper"] is not None:
            assert f"MDE {d['mde'] * d['scale']:.1f} against the paper's {d['paper'] * d['scale']:+.1f}" in note


def test_every_exploratory_reading_appears(lesson):
    note, pose = _notes(lesson)
    for d in lesson.fam:       # grid 02c's claims (R, B, O, G) are in conflict_note
        if not d["primary"] and not d["name"].startswith(("0 ", "B ", "O ", "G ")):
            assert f"{claim_text(d)} ({UR.reading(d)})" in note, d["name"]
    assert pose.startswith("### Routing and pose, answered from the grid")
    assert "rank 64 = the decoder width" in pose and "passes its check against its grid point" in pose
    # both passing tiers read alike (which one holds depends on the CPU's numerics); no grid point reads otherwise
    same = UR.routing_pose_note(lesson.grid, lesson.points, lesson.fam, budget_points=lesson.budget_pts, rank=64,
                                fresh_status="within the seed envelope")
    assert same == pose
    none = UR.routing_pose_note(lesson.grid, lesson.points, lesson.fam, budget_points=lesson.budget_pts, rank=64,
                                fresh_status="no point")
    assert "has no grid point to compare with" in none


def test_no_template_left(lesson):
    for text in _notes(lesson):
        assert "{" not in text and "}" not in text
        assert not re.search(r"\bnan\b", text, re.I)


def test_readings_and_errors(lesson):
    d = dict(primary=False, raw="below 0", direction=-1)
    assert UR.reading(d) == "on the claimed side" and UR.reading({**d, "direction": 1}) == "against the claim"
    assert UR.reading({**d, "raw": "includes 0"}) == "includes 0"
    with pytest.raises(KeyError, match="7 "):
        _notes(lesson, [d for d in lesson.fam if not d["name"].startswith("7 ")])
    with pytest.raises(ValueError, match="fresh_status"):
        UR.routing_pose_note(lesson.grid, lesson.points, lesson.fam, budget_points=lesson.budget_pts, rank=64,
                             fresh_status="departs")


def test_this_run_line():
    fm = {"separate": {"ar3d_top1": 0.951, "pose_mpjpe_mm": 92.1},
          "joint_h2": {"ar3d_top1": 0.859, "route_pose3d_l0": 0, "route_pose3d_l1": 0, "route_ar2d_l0": 0,
                       "route_ar2d_l1": 1, "route_ep3d_l0": 0, "route_ep3d_l1": 1, "route_ar3d_l0": 0,
                       "route_ar3d_l1": 1, "distinct_routes": 2}}
    timer = types.SimpleNamespace(elapsed=lambda: 137.2, cpu=lambda: 136.9)
    line = UR.this_run(fm, seed=0, label_permute=0.0, variants=("separate", "joint_h2"), metrics=METRICS, short=SHORT,
                       fresh_cpu_s=126.0, timer=timer)
    assert line.startswith("**This run** (seed 0, label_permute 0, variants separate, joint_h2): separate 3D rec. 95.1, "
                           "MPJPE mm 92.1; joint_h2 3D rec. 85.9; routes of joint_h2 {'pose3d': (0, 0), 'ar2d': (0, 1)")
    assert "(2 distinct); fresh run 126 s CPU; notebook 137 s wall, 137 s kernel CPU" in line


def test_conflict_note_tables_and_recovery(lesson):
    import numpy as np
    note = UR.conflict_note(lesson.grid_c, lesson.points_c, lesson.fam)
    assert note.startswith("### Where the tasks conflict") and "{" not in note and not re.search(r"\bnan\b", note, re.I)
    D = {d["name"]: d for d in lesson.fam}
    for n in UR.CONFLICT_PRIMARY:
        d = D[n]
        assert f"{claim_text(d)} {d['units']} ({d['verdict']}, MDE {d['mde'] * d['scale']:.1f})" in note
    for d in lesson.fam:
        if d["name"].startswith(("B ", "O ", "G ")) and not d["primary"]:
            assert f"{claim_text(d)}" in note and UR.reading(d) in note, d["name"]
    # R1 by hand from the points: the mean of 2D and 3D top-1, joint_h2 minus joint_h1, where the tasks conflict
    p1 = max(lesson.grid_c["grid"]["label_permute"])
    qs = sorted([q for q in lesson.points_c if q["knobs"]["label_permute"] == p1], key=lambda q: q["seed"])
    want = [((q["metrics"]["joint_h2"]["ar2d_top1"] + q["metrics"]["joint_h2"]["ar3d_top1"])
             - (q["metrics"]["joint_h1"]["ar2d_top1"] + q["metrics"]["joint_h1"]["ar3d_top1"])) / 2 for q in qs]
    assert np.allclose(D[list(UR.CONFLICT_PRIMARY)[0]]["diffs"], want)
    t = UR.conflict_table(lesson.points_c)
    assert len(t.rows) == 2 * len(UR.CONFLICT_VARIANTS)
    b = UR.budget_table(lesson.points_c, METRICS, SHORT)
    assert len(b.rows) == len(METRICS) and "(640)" in " ".join(b.columns)
    rec = UR.recovery(lesson.points_c, "own_h4")
    assert (rec["fraction"] != rec["fraction"]) == (rec["oracle"][1] <= 0)
    # the fraction is defined only where the oracle's interval lies above 0: an oracle equal to joint_h1 has none
    same = [{**q, "metrics": {**q["metrics"], "own_h4": q["metrics"]["joint_h1"]}} for q in lesson.points_c]
    assert UR.recovery(same, "own_h4")["fraction"] != UR.recovery(same, "own_h4")["fraction"]
    with pytest.raises(KeyError, match="lacks"):
        UR.conflict_note(lesson.grid_c, lesson.points_c, [d for d in lesson.fam if not d["name"].startswith("R2 ")])
