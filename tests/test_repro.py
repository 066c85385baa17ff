"""The seed-and-sweep reproduction harness (paperlib.repro): grid files, the runner, summaries,
and the committed results under notebooks/results/ (validated, and their cheapest point re-run)."""
import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from paperlib import repro
from paperlib.repro import (GridError, assert_verdict, cheapest_point, committed_stems, find_row, grid_points,
                            load_grid, load_points, missing_points, rerun_and_compare, resolve_notebook,
                            results_table, run_grid, summarize, validate_grid, validate_results)
from paperlib.repro.__main__ import main as cli_main
from paperlib.repro import runner
from paperlib.repro.runner import DirtyCheckoutError, _clean, _worker
from paperlib.stats import paired_diff_ci

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "notebooks" / "results"
FAKE = "tests.fixtures.repro_fake:run_experiment"


def write_grid(root: Path, stem: str, **over) -> Path:
    grid = {"notebook": stem, "experiment": FAKE, "seeds": [0, 1], "grid": {"cue": [0.0, 0.5]},
            "fixed": {"epochs": 20}, "baseline": "base", "tolerance": {"default": 0.0}, "budget_minutes": 1}
    grid.update(over)
    (root / stem).mkdir(parents=True, exist_ok=True)
    path = root / stem / "grid.json"
    path.write_text(json.dumps(grid))
    return path


# ---------------------------------------------------------------- grid files and names

GOOD = {"notebook": "nb", "experiment": "a.b:c", "seeds": [0, 1], "grid": {"k": [0.0, 1.0]},
        "tolerance": {"default": 0.01}}


@pytest.mark.parametrize("change,field", [
    ({"seeds": []}, "seeds"),
    ({"seeds": [0, 0]}, "seeds"),
    ({"seeds": [0.5]}, "seeds"),
    ({"experiment": "a.b.c"}, "experiment"),
    ({"grid": {"k": []}}, "grid"),
    ({"grid": {"seed": [1]}}, "grid"),
    ({"grid": {"k": [1.0, 1.0]}}, "grid"),
    ({"grid": {"k": [[1]]}}, "grid"),
    ({"fixed": {"k": 3}}, "fixed"),
    ({"tolerance": {"acc": 0.1}}, "tolerance"),
    ({"tolerance": {"default": -1}}, "tolerance"),
    ({"budget_minutes": 0}, "budget_minutes"),
    ({"notebook": "other"}, "notebook"),
    ({"epochs": 3}, "epochs"),
    ({"floors": []}, "floors"),
    ({"floors": {"acc": 0.5}}, "floors"),
    ({"floors": {"acc": {"floor": 0.5, "margin": 0.1}}}, "floors"),
    ({"floors": {"acc": {"floor": 0.5, "margin": 0.1, "direction": 1, "why": "x"}}}, "floors"),
    ({"floors": {"acc": {"floor": "chance", "margin": 0.1, "direction": 1}}}, "floors"),
    ({"floors": {"acc": {"floor": True, "margin": 0.1, "direction": 1}}}, "floors"),
    ({"floors": {"acc": {"floor": 0.5, "margin": -0.1, "direction": 1}}}, "floors"),
    ({"floors": {"acc": {"floor": 0.5, "margin": 0.1, "direction": 0}}}, "floors"),
    ({"floors": {"acc": {"floor": 0.5, "margin": 0.1, "direction": True}}}, "floors"),
    ({"floors": {"acc": {"floor": 0.5, "margin": 0.1, "direction": 1, "where": {"q": [0.0]}}}}, "floors"),
    ({"floors": {"acc": {"floor": 0.5, "margin": 0.1, "direction": 1, "where": {"k": [2.0]}}}}, "floors"),
])
def test_validate_grid_names_file_and_field(change, field):
    with pytest.raises(GridError, match=rf"results/nb/grid.json: field '{field}'"):
        validate_grid({**GOOD, **change}, "results/nb/grid.json", stem="nb")
    bad = dict(GOOD)
    del bad["seeds"]
    with pytest.raises(GridError, match="field 'seeds': missing"):
        validate_grid(bad, "g.json")
    g = validate_grid(dict(GOOD), "g.json", stem="nb")
    assert g["fixed"] == {} and g["baseline"] is None and g["floors"] == {}


def test_validate_grid_floors():
    floors = {"acc": {"floor": "reference/chance", "margin": 0.1, "direction": 1},
              "m/err_mm": {"floor": 140, "margin": 0, "direction": -1, "where": {"k": [1]}, "note": "mean pose"}}
    assert validate_grid({**GOOD, "floors": floors})["floors"] == floors    # where: 1 matches the grid's 1.0
    with pytest.raises(GridError, match=r"g.json: field 'floors': 'acc': 'direction' must be 1 .* or -1"):
        validate_grid({**GOOD, "floors": {"acc": {"floor": 0.1, "margin": 0.1, "direction": 2}}}, "g.json")
    with pytest.raises(GridError, match=r"field 'floors': 'acc': missing 'direction'"):
        validate_grid({**GOOD, "floors": {"acc": {"floor": 0.1, "margin": 0.1}}}, "g.json")
    with pytest.raises(GridError, match=r"'where' 'k': \[2.0\] not among the grid's values"):
        validate_grid({**GOOD, "floors": {"acc": {"floor": 0.1, "margin": 0, "direction": 1, "where": {"k": [2.0]}}}})


def test_grid_points_keys_and_order():
    g = validate_grid({**GOOD, "grid": {"k": [0.0, 0.5], "mode": ["a b", "c"]}, "fixed": {"epochs": 2}})
    pts = grid_points(g)
    assert len(pts) == 2 * 2 * 2
    assert [p["key"] for p in pts[:4]] == ["k=0.0__mode=a-b__seed=0", "k=0.0__mode=c__seed=0",
                                           "k=0.5__mode=a-b__seed=0", "k=0.5__mode=c__seed=0"]
    assert pts[0]["params"] == {"epochs": 2, "k": 0.0, "mode": "a b"} and pts[-1]["seed"] == 1
    assert [p["key"] for p in grid_points(validate_grid({**GOOD, "grid": {}}))] == ["seed=0", "seed=1"]


def test_resolve_notebook_prefixes(tmp_path):
    res = tmp_path / "notebooks" / "results"
    res.mkdir(parents=True)
    for stem in ("00_primer", "00b_appendix", "01_era", "02_ups"):
        (tmp_path / "notebooks" / f"{stem}.ipynb").write_text("{}")
    (res / "03_glimpse").mkdir()
    assert resolve_notebook("00", res) == "00_primer"
    assert resolve_notebook("00b", res) == "00b_appendix"
    assert resolve_notebook("notebooks/01_era.ipynb", res) == "01_era"
    assert resolve_notebook("03", res) == "03_glimpse"
    with pytest.raises(GridError, match="ambiguous"):
        resolve_notebook("0", res)
    with pytest.raises(GridError, match="no notebook matches '7'"):
        resolve_notebook("7", res)
    with pytest.raises(GridError, match="no notebook given"):
        resolve_notebook("", res)
    with pytest.raises(FileNotFoundError, match="no grid file for 01_era"):
        load_grid("01", res)


def test_cli_errors_and_dry_run(tmp_path, capsys):
    write_grid(tmp_path, "07_fake")
    assert cli_main(["nothing", "--results-dir", str(tmp_path)]) == 2
    assert "no notebook matches" in capsys.readouterr().err
    assert cli_main(["07", "--results-dir", str(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "4 points (0 done, 4 to run)" in out and "to run  cue=0.5__seed=1" in out
    with pytest.raises(GridError, match="unknown knob"):
        run_grid("07", tmp_path, only=["epochs=3"], dry_run=True, log=lambda *a: None)
    s = run_grid("07", tmp_path, only=["cue=0.5", "seed=1"], dry_run=True, log=lambda *a: None)
    assert s["missing"] == ["cue=0.5__seed=1"]


def test_a_failing_point_is_reported_not_written(tmp_path):
    out = tmp_path / "p.json"
    r = _worker({"notebook": "x", "experiment": FAKE, "key": "k", "seed": 0, "knobs": {},
                 "params": {"fail": True}, "out": str(out)})
    assert "fake failure requested" in r["error"] and not out.exists()
    r = _worker({"notebook": "x", "experiment": "tests.fixtures.repro_fake:nope", "key": "k", "seed": 0,
                 "knobs": {}, "params": {}, "out": str(out)})
    assert "has no function 'nope'" in r["error"]


# ---------------------------------------------------------------- the runner, end to end

def _head() -> str | None:
    r = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    return r.stdout.strip() or None


@pytest.fixture(scope="module")
def ran_grid(tmp_path_factory):
    """2 seeds x 2 cue values of the fake experiment, run once by 2 spawned worker processes, as from a
    clean checkout of HEAD (the tests themselves run in a working tree with changes, which run_grid
    refuses: test_run_grid_refuses_a_dirty_checkout)."""
    root = tmp_path_factory.mktemp("results")
    write_grid(root, "07_fake")
    lines = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "git_state", lambda *a: (_head(), False if _head() else None))
        summary = run_grid("07", root, workers=2, progress=False, log=lines.append)
    return root, summary, lines


def test_runner_writes_every_point_with_its_schema(ran_grid):
    root, summary, lines = ran_grid
    assert sorted(summary["ran"]) == ["cue=0.0__seed=0", "cue=0.0__seed=1", "cue=0.5__seed=0", "cue=0.5__seed=1"]
    assert summary["failed"] == [] and summary["cpu_s"] > 0
    assert any("total wall time" in s and "sum of CPU time" in s for s in lines)
    assert any("on 2 worker process(es), 1 torch thread(s)" in s for s in lines)
    files = sorted(p.name for p in (root / "07_fake" / "points").iterdir())
    assert files == [f"{k}.json" for k in sorted(summary["ran"])]  # no temporary files left
    check = validate_results("07_fake", root)
    assert check["problems"] == [] and check["points"] == 4
    pt = json.loads((root / "07_fake" / "points" / "cue=0.5__seed=1.json").read_text())
    assert pt["params"] == {"epochs": 20, "cue": 0.5} and pt["knobs"] == {"cue": 0.5} and pt["seed"] == 1
    assert pt["threads"] == 1 and pt["device"] == "cpu" and pt["created"].endswith("+00:00")
    assert set(pt["metrics"]) == {"base", "cued"} and len(pt["per_item"]["cued"]["acc"]) == 96
    head = _head()
    if head:
        assert pt["git_commit"] == head and pt["git_dirty"] is False
    # the mechanism the fake experiment claims to exploit shows up with the knob
    rows = summarize(load_points("07_fake", root), "acc", by="cue", baseline="base")
    assert find_row(rows, "cued", 0.5)["diff"] > 0.1


def test_runner_resumes_and_reruns_a_deleted_point(ran_grid, tmp_path, monkeypatch):
    src, _, _ = ran_grid
    monkeypatch.setattr(runner, "git_state", lambda *a: (_head(), False if _head() else None))  # as from HEAD
    root = tmp_path / "results"
    shutil.copytree(src, root)
    pts = root / "07_fake" / "points"
    before = {p.name: json.loads(p.read_text()) for p in pts.iterdir()}
    assert run_grid("07_fake", root, workers=2, log=lambda *a: None)["ran"] == []
    assert missing_points("07_fake", root) == []
    (pts / "cue=0.5__seed=0.json").unlink()
    assert [p["key"] for p in missing_points("07_fake", root)] == ["cue=0.5__seed=0"]
    # workers=0: in this process (the pool was exercised above)
    s = run_grid("07_fake", root, workers=0, progress=False, log=lambda *a: None)
    assert s["ran"] == ["cue=0.5__seed=0"]
    after = {p.name: json.loads(p.read_text()) for p in pts.iterdir()}
    assert after.keys() == before.keys()
    for name in before:  # deterministic on one thread, in a worker or in this process
        assert after[name]["metrics"] == before[name]["metrics"], name
        assert after[name]["per_item"] == before[name]["per_item"], name


def test_stale_and_foreign_points_are_detected(ran_grid, tmp_path):
    src, _, _ = ran_grid
    root = tmp_path / "results"
    shutil.copytree(src, root)
    write_grid(root, "07_fake", fixed={"epochs": 5})  # the grid changed after the run
    assert load_points("07_fake", root) == []
    assert missing_points("07_fake", root) == []  # stale files are never overwritten silently
    with pytest.raises(GridError, match="stale"):
        load_points("07_fake", root, strict=True)
    assert all("stale" in p for p in validate_results("07_fake", root)["problems"])
    lines = []
    run_grid("07_fake", root, dry_run=True, log=lines.append)
    assert "4 point file(s) were run with other parameters" in lines[0]
    write_grid(root, "07_fake", grid={"cue": [0.0]}, seeds=[0, 1, 2])
    probs = validate_results("07_fake", root)["problems"]
    assert any("cue=0.0__seed=2.json: missing" in p for p in probs)
    assert any("cue=0.5__seed=0.json: not a point of the grid" in p for p in probs)
    bad = root / "07_fake" / "points" / "cue=0.0__seed=0.json"
    pt = json.loads(bad.read_text())
    del pt["cpu_s"]
    pt["git_commit"] = "0" * 40
    bad.write_text(json.dumps(pt))
    probs = validate_results("07_fake", root)["problems"]
    assert any("field 'cpu_s': missing" in p for p in probs)


def test_run_grid_refuses_a_dirty_checkout_and_dirty_points_are_invalid(ran_grid, tmp_path, monkeypatch):
    src, _, _ = ran_grid
    root = tmp_path / "results"
    shutil.copytree(src, root)
    pts = root / "07_fake" / "points"
    (pts / "cue=0.5__seed=1.json").unlink()
    monkeypatch.setattr(runner, "git_state", lambda *a: ("0" * 40, True))
    with pytest.raises(DirtyCheckoutError, match="uncommitted changes"):
        run_grid("07_fake", root, workers=0, log=lambda *a: None)
    assert run_grid("07_fake", root, workers=0, progress=False, log=lambda *a: None, allow_dirty=True)["ran"] == [
        "cue=0.5__seed=1"]
    probs = validate_results("07_fake", root, check_git=False)["problems"]
    assert [p for p in probs if "git_dirty" in p] == [
        f"{pts / 'cue=0.5__seed=1.json'}: field 'git_dirty' is true: the point was run from uncommitted code; "
        f"re-run it from a clean checkout: make reproduce NB=07_fake (delete the file first)"]
    pt = json.loads((pts / "cue=0.0__seed=0.json").read_text())
    (pts / "cue=0.0__seed=0.json").write_text(json.dumps({**pt, "git_dirty": None}))
    probs = validate_results("07_fake", root, check_git=False)["problems"]
    assert any("cue=0.0__seed=0.json: field 'git_dirty' is null" in p for p in probs)
    assert len([p for p in probs if "git_dirty" in p]) == 2 and all(_is_dirty_problem(p) for p in probs)


def test_rerun_and_compare_on_the_fake_grid(ran_grid):
    root, _, _ = ran_grid
    stem, pt = cheapest_point(root)
    assert stem == "07_fake"
    cmp = rerun_and_compare(stem, pt, root)
    assert cmp and all(c["ok"] for c in cmp), cmp
    pt = dict(pt, metrics={"cued": {"acc": pt["metrics"]["cued"]["acc"] + 0.5}})
    assert not rerun_and_compare(stem, pt, root)[0]["ok"]


# ---------------------------------------------------------------- summaries, tables, figures

def fake_points():
    base = {0.0: [0.50, 0.60, 0.70, 0.80], 1.0: [0.50, 0.60, 0.70, 0.80]}
    gain = {0.0: [0.00, 0.01, -0.01, 0.00], 1.0: [0.01, 0.01, 0.02, 0.02]}
    pts = []
    for cue in (0.0, 1.0):
        for s in range(4):
            pts.append({"seed": s, "knobs": {"cue": cue},
                        "metrics": {"base": {"acc": base[cue][s]}, "ours": {"acc": base[cue][s] + gain[cue][s]},
                                    "ceiling": {"acc": 0.95}},
                        "per_item": {"base": {"acc": [1.0, 0.0] * 10}, "ours": {"acc": [1.0, 1.0] * 10}}})
    return pts


def test_summarize_paired_rows():
    rows = summarize(fake_points(), "acc", by="cue", baseline="base")
    assert [(r["value"], r["variant"]) for r in rows] == [(0.0, "base"), (0.0, "ours"), (0.0, "ceiling"),
                                                         (1.0, "base"), (1.0, "ours"), (1.0, "ceiling")]
    r = find_row(rows, "ours", 1.0)
    # differences [0.01, 0.01, 0.02, 0.02]: the hand-computed case of test_stats scaled by 0.01
    assert r["diff"] == pytest.approx(0.015) and r["diff_lo"] == pytest.approx(0.00581307, abs=1e-7)
    assert r["diff_hi"] == pytest.approx(0.02418693, abs=1e-7) and r["n_pairs"] == 4
    assert assert_verdict(r, "reproduces") == "reproduces"
    assert find_row(rows, "ours", 0.0)["verdict"] == "within noise"
    assert find_row(rows, "base", 1.0)["verdict"] is None
    with pytest.raises(AssertionError, match=r"expected 'reproduces': ours - base on acc at cue=0.0: \+0.000"):
        assert_verdict(find_row(rows, "ours", 0.0), "reproduces")
    assert assert_verdict(find_row(rows, "ours", 0.0), {"within noise", "reproduces"}) == "within noise"
    with pytest.raises(AssertionError):
        assert_verdict(find_row(rows, "base", 0.0), "reproduces")
    # lower is better: the same interval reads as reversed
    rows_low = summarize(fake_points(), "acc", by="cue", baseline="base", direction={"ours": -1})
    assert find_row(rows_low, "ours", 1.0)["verdict"] == "reversed"
    # the paired bootstrap over test items, pooled over seeds
    rows_it = summarize(fake_points(), "acc", by="cue", baseline="base", items=True)
    ri = find_row(rows_it, "ours", 1.0)
    assert ri["item_diff"] == pytest.approx(0.5) and ri["item_verdict"] == "reproduces"
    assert 0.3 < ri["item_lo"] < 0.5 < ri["item_hi"] < 0.7
    pts = fake_points()
    for p in pts:
        p["per_item"] = {v: {"correct": x["acc"]} for v, x in p["per_item"].items()}
    rows_named = summarize(pts, "acc", by="cue", baseline="base", items=True, item_metric="correct")
    assert find_row(rows_named, "ours", 1.0)["item_diff"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="seed occurs more than once"):
        summarize(fake_points(), "acc", by=None, baseline="base")
    assert len(summarize(fake_points(), "acc", baseline="base", where={"cue": 1.0})) == 3
    with pytest.raises(ValueError, match="baseline 'gcn'"):
        summarize(fake_points(), "acc", by="cue", baseline="gcn")
    with pytest.raises(KeyError, match="0 rows"):
        find_row(rows, "ours", 0.5)
    assert paired_diff_ci([1, 2, 3, 4], [0, 1, 1, 2])[1] == pytest.approx(0.581307, abs=1e-6)


def test_results_table_is_deterministic_and_labels_the_paper_column():
    rows = summarize(fake_points(), "acc", by="cue", baseline="base")
    t = results_table(rows, paper={"base": 70.1, "ours": "74.2"})
    text = str(t)
    assert t.columns == ["cue", "variant", "n (seeds)", "mean ± 95% CI", "Δ vs base (paired, 95% CI)", "interval",
                         "paper (different data/scale)"]
    # ours at cue=1: [0.51, 0.61, 0.72, 0.82], sd 0.134288, se 0.067144, x t_{0.975,3} 3.182446 = 0.2137
    # a plain reading of the interval, not a verdict (verdicts are for claims: repro.decide)
    assert t.rows[4] == ["1.0", "ours", "4", "0.665 ± 0.214", "+0.015 [+0.006, +0.024]", "above 0", "74.2"]
    assert "reproduces" not in text and "reversed" not in text
    assert t.rows[3][4:] == ["(baseline)", "", "70.1"] and t.rows[5][-1] == ""
    assert "<th>paper (different data/scale)</th>" in t._repr_html_()
    assert t._repr_markdown_().splitlines()[2].startswith("| cue | variant |")
    assert str(results_table(rows, paper={"base": 70.1, "ours": "74.2"})) == text
    one = [dict(p, seed=0) for p in fake_points() if p["seed"] == 0]
    r1 = results_table(summarize(one, "acc", by="cue", baseline="base"))
    assert r1.rows[1][3:6] == ["0.500 (one seed)", "+0.000 (one seed)", "n < 2"]


def test_sweep_figure_lines():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summarize(fake_points(), "acc", by="cue", baseline="base")
    fig = repro.sweep_figure(rows, extra={"probe reference": 0.3, "probe series": [0.2, 0.25]})
    ax = fig.axes[0]
    # 2 variants (ours, ceiling) + 2 extra lines + the zero line
    assert len(ax.lines) == 5
    assert [l.get_label() for l in ax.lines][:2] == ["ours", "ceiling"]
    assert list(ax.lines[0].get_ydata()) == pytest.approx([0.0, 0.015])
    assert len(ax.collections) == 2 and ax.get_xlabel() == "cue"
    plt.close(fig)
    with pytest.raises(ValueError, match="3 values for 2"):
        repro.sweep_figure(rows, extra={"bad": [1, 2, 3]})
    plt.close("all")


# ---------------------------------------------------------------- the committed results

STEMS = committed_stems(COMMITTED)


def test_harness_in_use__at_least_one_grid_is_committed():
    """THE "harness is in use" check: at least one notebook's grid is committed under
    notebooks/results/. Expected to fail (xfail) only until the first grid is committed."""
    if not STEMS:
        pytest.xfail("no grid committed yet under notebooks/results/*/grid.json (the first one is on its way)")
    assert STEMS


#: Grids whose committed points were run from uncommitted code (``git_dirty: true``) and are to be
#: re-run from a clean checkout (``make reproduce NB=<stem>``) in later issues. Their only tolerated
#: problems are the dirty points; every other check is strict. Remove a grid as soon as its clean
#: points land: test_pending_clean_rerun_grids_still_have_dirty_points fails until it is removed.
PENDING_CLEAN_RERUN = {"04_video_action_transformer"}

#: Grids whose points are being run right now (none committed yet). Their validity test is skipped
#: while, and only while, the points folder holds no point file; the first point file makes it strict.
AWAITING_FIRST_POINTS = {
    "00_skeleton_sequences": "grid 00's dirty points were removed (issue 24: the two probe references) and are "
                             "being re-run from a clean checkout; no point committed yet",
    "01b_era_probes": "grid 01b_era_probes is new and being run; no point committed yet",
}


def _is_dirty_problem(problem: str) -> bool:
    return "field 'git_dirty' is true:" in problem or "field 'git_dirty' is null:" in problem


@pytest.mark.parametrize("stem", STEMS)
def test_committed_results_are_valid_and_complete(stem):
    if stem in AWAITING_FIRST_POINTS and not list((COMMITTED / stem / "points").glob("*.json")):
        pytest.skip(f"{AWAITING_FIRST_POINTS[stem]} (notebooks/results/{stem}/points/ is empty; this test is "
                    f"strict as soon as it is not)")
    check = validate_results(stem, COMMITTED)
    problems = check["problems"]
    if stem in PENDING_CLEAN_RERUN:            # the dirty points only; documented above
        problems = [p for p in problems if not _is_dirty_problem(p)]
    assert problems == [], "\n".join(problems)
    if not check["git_checked"]:
        pytest.skip("not in a git checkout: the git_commit of each point was not looked up in the history")


@pytest.mark.parametrize("stem", STEMS)
def test_committed_points_beat_their_grids_floors(stem):
    """A grid's floors are what a fresh run of a learned model must beat (repro.compare_fresh): every committed
    point must beat each floor that applies to it, or the fresh-run check fails on another CPU whenever its
    training path lands where some committed seed already did (a floor set from one pilot seed)."""
    from paperlib.repro.check import _floor_applies, _floor_value

    grid = repro.load_grid(stem)
    floors = grid.get("floors") or {}
    missed = []
    for pt in repro.load_points(stem):
        for name, entry in floors.items():
            if not _floor_applies(entry, pt["knobs"]):
                continue
            variant, _, metric = name.rpartition("/")
            for v in ([variant] if variant else [k for k, m in pt["metrics"].items() if isinstance(m, dict) and metric in m]):
                x = pt["metrics"].get(v, {}).get(metric)
                if x is None:
                    continue
                f = _floor_value(entry, pt, name)
                if not entry["direction"] * (x - f) > entry["margin"]:
                    missed.append(f"{pt['key']}: {v}/{metric} = {x:.4g}, floor {f:.4g}, margin {entry['margin']}")
    assert not missed, f"{stem}: committed points that do not beat their floors:\n" + "\n".join(missed)


@pytest.mark.parametrize("stem", sorted(PENDING_CLEAN_RERUN))
def test_pending_clean_rerun_grids_still_have_dirty_points(stem):
    """The allow-list must shrink when a grid lands clean: a listed grid without a dirty point fails here."""
    assert stem in STEMS, f"{stem} is in PENDING_CLEAN_RERUN but has no committed grid: remove it from the list"
    dirty = [p for p in validate_results(stem, COMMITTED, check_git=False)["problems"] if _is_dirty_problem(p)]
    assert dirty, (f"{stem} has no dirty point any more: remove it from PENDING_CLEAN_RERUN in tests/test_repro.py, "
                   f"so that its grid is checked strictly")


def test_cheapest_committed_point_reproduces():
    """Re-run the committed point with the smallest recorded cpu_s, one thread, in this process;
    its metrics must match the stored ones within the grid's tolerance, or (another CPU's
    numerics) lie within the envelope of the grid's seeds (repro.compare_fresh)."""
    best = cheapest_point(COMMITTED)
    if best is None:
        pytest.skip("no committed point under notebooks/results/ yet: nothing to re-run")
    stem, pt = best
    cmp = rerun_and_compare(stem, pt, COMMITTED, threads=1)
    lost = _rerun_nans(cmp)
    assert not lost, f"{stem}/{pt['key']}: the re-run gave NaN or nothing where the stored point has a number: {lost}"
    bad = [c for c in cmp if not c["ok"]]
    if bad:
        # On a CPU whose kernels round differently training takes another path (repro.compare_fresh):
        # the re-run must then be a plausible draw of the grid's seeds on every metric.
        fresh: dict = {}
        for c in cmp:
            fresh.setdefault(c["variant"], {})[c["metric"]] = c["fresh"]
        # every stored metric is compared here, not only the grid's headline ones: floors where the grid has them
        env = repro.compare_fresh(load_grid(stem, COMMITTED), load_points(stem, COMMITTED), pt["key"], fresh,
                                  list(pt["metrics"]), require_floors=False)
        assert env["status"] == "within the seed envelope", f"{stem}/{pt['key']} (cpu_s {pt['cpu_s']}): " + "; ".join(
            f"{c['variant']}/{c['metric']}: stored {c['stored']}, fresh {c['fresh']}, tolerance {c['tol']}" for c in bad) \
            + "\n" + repro.comparison_text(env)


def _rerun_nans(cmp: list[dict]) -> list[str]:
    """``variant/metric`` of the rows of ``rerun_and_compare`` whose stored value is a number but whose re-run
    value is not: run_point writes NaN as None (runner._clean), and a metric the re-run lacks is "missing"."""
    def number(x):
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
    return [f"{c['variant']}/{c['metric']}" for c in cmp if number(c["stored"]) and not number(c["fresh"])]


def test_the_rerun_nan_check_can_fail():
    assert _clean({"v": {"m": float("nan")}}) == {"v": {"m": None}}   # what a re-run's NaN looks like
    rows = [{"variant": "v", "metric": "a", "stored": 0.5, "fresh": None},
            {"variant": "v", "metric": "b", "stored": 0.5, "fresh": "missing"},
            {"variant": "v", "metric": "c", "stored": 0.5, "fresh": float("nan")},
            {"variant": "v", "metric": "d", "stored": None, "fresh": None},
            {"variant": "v", "metric": "e", "stored": 0.5, "fresh": 0.4}]
    assert _rerun_nans(rows) == ["v/a", "v/b", "v/c"]

# compare_fresh (a notebook's fresh run against its grid point): tests/test_compare_fresh.py


# ---------------------------------------------------------------- scratch runs: a variant of a grid elsewhere

def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_scratch_run_copies_the_grid_with_overrides_and_leaves_the_committed_one(tmp_path, monkeypatch, capsys):
    from tests.fixtures.repro_fake import run_experiment as fake

    src, scratch = tmp_path / "committed", tmp_path / "scratch"
    write_grid(src, "07_fake")
    before = _snapshot(src)
    # a dry run lists the variant's points and writes nothing
    assert cli_main(["07", "--results-dir", str(scratch), "--source-dir", str(src), "--set", "epochs=5",
                     "--only", "cue=0.5", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2 points (0 done, 2 to run)" in out and "--set epochs=5" in out
    assert not scratch.exists()
    # a real run (in this process, as from a clean checkout): the override reaches the experiment
    monkeypatch.setattr(runner, "git_state", lambda *a: (_head(), False if _head() else None))
    kw = dict(workers=0, progress=False, log=lambda *a: None, source=src)
    s = run_grid("07", scratch, only=["cue=0.5", "seed=1"], overrides=["epochs=5"], **kw)
    assert s["ran"] == ["cue=0.5__seed=1"] and s["failed"] == []
    g = json.loads((scratch / "07_fake" / "grid.json").read_text())
    assert g["fixed"] == {"epochs": 5} and "epochs=5 (committed: 20)" in g["description"]
    pt = json.loads((scratch / "07_fake" / "points" / "cue=0.5__seed=1.json").read_text())
    assert pt["params"] == {"epochs": 5, "cue": 0.5}
    assert pt["metrics"] == _clean(fake(seed=1, cue=0.5, epochs=5)["metrics"])
    assert pt["metrics"] != _clean(fake(seed=1, cue=0.5, epochs=20)["metrics"])
    assert _snapshot(src) == before                        # the committed grid and points untouched
    # resumable with the same overrides; another override in the same folder is refused
    assert run_grid("07", scratch, only=["cue=0.5", "seed=1"], overrides=["epochs=5"], **kw)["ran"] == []
    with pytest.raises(GridError, match="other --set values"):
        run_grid("07", scratch, overrides=["epochs=7"], dry_run=True, **kw)
    # without --set an empty scratch folder gets the committed grid as it is
    s = run_grid("07", tmp_path / "copy", dry_run=True, **kw)
    assert len(s["missing"]) == 4


def test_overrides_are_refused_where_they_would_change_a_grid_or_mean_nothing(tmp_path):
    src = tmp_path / "committed"
    write_grid(src, "07_fake")
    kw = dict(dry_run=True, log=lambda *a: None, source=src)
    with pytest.raises(GridError, match="never rewritten"):
        run_grid("07", src, overrides=["epochs=5"], **kw)
    with pytest.raises(GridError, match="swept by the grid"):
        run_grid("07", tmp_path / "s", overrides=["cue=1.0"], **kw)
    with pytest.raises(GridError, match="swept by the grid"):
        run_grid("07", tmp_path / "s", overrides=["seed=3"], **kw)
    with pytest.raises(GridError, match="has no parameter 'epoch'"):
        run_grid("07", tmp_path / "s", overrides=["epoch=5"], **kw)
    with pytest.raises(GridError, match="expected NAME=VALUE"):
        run_grid("07", tmp_path / "s", overrides=["epochs"], **kw)
    assert cli_main(["07", "--results-dir", str(src), "--source-dir", str(src), "--set", "epochs=5", "--dry-run"]) == 2


def test_overrides_on_the_committed_04_grid_dry_run(tmp_path, capsys):
    """Exploration 6 of notebook 04, as a dry run: the variant is listed, nothing is written, the committed
    grid is unchanged; values are read as JSON, or as a comma-separated list where the grid has a list."""
    path = COMMITTED / "04_video_action_transformer" / "grid.json"
    raw = path.read_bytes()
    g = json.loads(raw)
    new = runner.apply_overrides(g, ["epochs_head=60", "variants=highres,i3d_wide", "ffn_input=query",
                                     "location_embedding=false"])
    assert new["fixed"]["epochs_head"] == 60 and new["fixed"]["variants"] == ["highres", "i3d_wide"]
    assert new["fixed"]["ffn_input"] == "query" and new["fixed"]["location_embedding"] is False
    assert 'epochs_head=60 (committed: 30)' in new["description"] and g == json.loads(raw)
    assert runner.apply_overrides(g, ['variants=["i3d"]'])["fixed"]["variants"] == ["i3d"]
    assert cli_main(["04", "--results-dir", str(tmp_path / "repro"), "--set", "epochs_head=60",
                     "--only", "cue_scale=2.0", "--dry-run"]) == 0
    assert "5 points (0 done, 5 to run)" in capsys.readouterr().out
    assert not (tmp_path / "repro").exists() and path.read_bytes() == raw
