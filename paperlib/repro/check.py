"""Checks of committed results: every file well-formed and complete, and one point re-run.

Used by ``tests/test_repro.py``; also usable by hand::

    from paperlib.repro import validate_results, cheapest_point, rerun_and_compare

and by the notebooks: ``compare_fresh`` (a fresh run against its grid point, exact or within the
seeds' envelope) and ``comparison_text``.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import numpy as np

from .grid import GridError, _read_point, grid_points, load_grid, results_dir
from .runner import run_point, threads_env

__all__ = ["committed_stems", "validate_results", "cheapest_point", "rerun_and_compare", "tolerance_for",
           "compare_fresh", "comparison_text"]


def committed_stems(results: str | os.PathLike | None = None) -> list[str]:
    """Stems of the folders under the results directory that hold a ``grid.json``, sorted."""
    root = results_dir(results)
    return sorted(p.parent.name for p in root.glob("*/grid.json")) if root.is_dir() else []


def _git_ok(root: Path) -> bool:
    try:
        r = subprocess.run(["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"], capture_output=True,
                           text=True, timeout=30)
        return r.returncode == 0 and r.stdout.strip() == "true"
    except (OSError, subprocess.SubprocessError):
        return False


def _commit_exists(root: Path, sha: str) -> bool:
    r = subprocess.run(["git", "-C", str(root), "cat-file", "-e", f"{sha}^{{commit}}"], capture_output=True,
                       timeout=30)
    return r.returncode == 0


def validate_results(stem: str, results: str | os.PathLike | None = None, check_git: bool = True) -> dict:
    """Check one notebook's committed results; returns ``{"problems": [str], "git_checked": bool,
    "points": int}`` (no problems = valid).

    Checks: the grid file (``validate_grid``); every grid point has its file; every point file
    has the point schema (``validate_point``), belongs to the grid, and was run with the grid's
    experiment, seed and parameters; its ``git_commit`` is recorded and (``check_git`` and inside a
    git checkout) exists in the history (``git cat-file -e <sha>^{commit}``): results must come
    from code someone can check out.
    """
    root = results_dir(results)
    problems = []
    try:
        grid = load_grid(stem, root)
    except (GridError, FileNotFoundError) as e:
        return {"problems": [str(e)], "git_checked": False, "points": 0}
    pts_dir = grid["_dir"] / "points"
    expected = {p["key"]: p for p in grid_points(grid)}
    files = {p.stem: p for p in sorted(pts_dir.glob("*.json"))} if pts_dir.is_dir() else {}
    git = check_git and _git_ok(root)
    commits: dict = {}
    for key in expected:
        if key not in files:
            problems.append(f"{pts_dir / (key + '.json')}: missing (run: make reproduce NB={stem})")
    for key, path in files.items():
        try:
            pt = _read_point(path)
        except GridError as e:
            problems.append(str(e))
            continue
        if key not in expected:
            problems.append(f"{path}: not a point of the grid; delete it or add its values back to grid.json")
            continue
        exp = expected[key]
        if pt["key"] != key:
            problems.append(f"{path}: field 'key' is {pt['key']!r}, the file name says {key!r}")
        if pt["notebook"] != stem:
            problems.append(f"{path}: field 'notebook' is {pt['notebook']!r}, expected {stem!r}")
        if pt["experiment"] != grid["experiment"]:
            problems.append(f"{path}: field 'experiment' is {pt['experiment']!r}, the grid says "
                            f"{grid['experiment']!r} (stale; delete and re-run)")
        if pt["seed"] != exp["seed"] or pt["params"] != exp["params"] or pt["knobs"] != exp["knobs"]:
            problems.append(f"{path}: fields 'seed'/'params'/'knobs' ({pt['seed']}, {pt['params']}) differ from the "
                            f"grid's ({exp['seed']}, {exp['params']}) (stale; delete and re-run)")
        sha = pt["git_commit"]
        if sha is None:
            problems.append(f"{path}: field 'git_commit' is null: run the grid inside a git checkout")
        elif git:
            if sha not in commits:
                commits[sha] = _commit_exists(root, sha)
            if not commits[sha]:
                problems.append(f"{path}: field 'git_commit' {sha} is not a commit of this repository's history")
    return {"problems": problems, "git_checked": git, "points": len(files)}


def cheapest_point(results: str | os.PathLike | None = None) -> tuple[str, dict] | None:
    """``(stem, point)`` with the smallest recorded ``cpu_s`` over every committed grid (ties: the
    first stem, then grid order); ``None`` when no point is committed."""
    best = None
    for stem in committed_stems(results):
        grid = load_grid(stem, results)
        pts_dir = grid["_dir"] / "points"
        for p in grid_points(grid):
            path = pts_dir / f"{p['key']}.json"
            if path.is_file():
                pt = json.loads(path.read_text())
                if best is None or pt["cpu_s"] < best[1]["cpu_s"]:
                    best = (stem, pt)
    return best


def tolerance_for(grid: dict, variant: str, metric: str) -> float:
    """Absolute tolerance of ``variant/metric``: ``tolerance["<variant>/<metric>"]``, else
    ``tolerance["<metric>"]``, else ``tolerance["default"]``."""
    tol = grid["tolerance"]
    return float(tol.get(f"{variant}/{metric}", tol.get(metric, tol["default"])))


def rerun_and_compare(stem: str, point: dict, results: str | os.PathLike | None = None,
                      threads: int = 1) -> list[dict]:
    """Re-run a stored point in this process with ``threads`` torch threads and compare its metrics.

    Sets ``PAPERLIB_MAX_THREADS``/``OMP_NUM_THREADS`` and ``torch.set_num_threads(threads)`` for the
    run and restores them afterwards. Returns one dict per stored metric: ``{"variant", "metric",
    "stored", "fresh", "tol", "ok"}`` where ``ok`` is ``|fresh - stored| <= tol`` (both NaN/null
    also counts as equal; a metric missing from the fresh run is not ok).
    """
    grid = load_grid(stem, results)
    with threads_env(threads):
        rec = run_point({"notebook": stem, "experiment": grid["experiment"], "key": point["key"],
                         "seed": point["seed"], "knobs": point["knobs"], "params": point["params"]})
    out = []
    for variant, ms in point["metrics"].items():
        for metric, stored in ms.items():
            fresh = rec["metrics"].get(variant, {}).get(metric, "missing")
            tol = tolerance_for(grid, variant, metric)
            s_nan = stored is None or (isinstance(stored, float) and math.isnan(stored))
            if fresh == "missing":
                ok = False
            elif fresh is None or s_nan:
                ok = (fresh is None) and s_nan
            else:
                ok = abs(fresh - stored) <= tol
            out.append({"variant": variant, "metric": metric, "stored": stored, "fresh": fresh, "tol": tol, "ok": ok})
    return out


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _envelope(points, knobs, v, m, k, tol):
    """``(centre, half-width)`` of :func:`compare_fresh`'s tier 2 for ``v/m`` at ``knobs``."""
    groups: dict = {}
    for p in points:
        x = p["metrics"].get(v, {}).get(m)
        if _finite(x):
            groups.setdefault(json.dumps(p["knobs"], sort_keys=True), []).append(float(x))
    here = np.asarray(groups.get(json.dumps(knobs, sort_keys=True), []))
    if not len(here):
        raise KeyError(f"compare_fresh: no finite {v}/{m} among the grid's seeds at {knobs}")
    sd_here = here.std(ddof=1) if len(here) > 1 else 0.0
    multi = [np.asarray(g) for g in groups.values() if len(g) > 1]
    dof = sum(len(g) - 1 for g in multi)
    sd_pool = math.sqrt(sum(g.var(ddof=1) * (len(g) - 1) for g in multi) / dof) if dof else 0.0
    return float(here.mean()), max(k * max(sd_here, sd_pool) * math.sqrt(1 + 1 / len(here)), tol)


def compare_fresh(grid: dict, points: list[dict], key: str, fresh: dict, variants, metrics=None,
                  envelope_metrics=None, k: float = 6.0) -> dict:
    """A notebook's fresh run against its committed grid point, in two tiers.

    Training is chaotic: on a CPU whose kernels sum in another order (another vector width,
    another BLAS code path) a run takes another path from the first rounding difference on, so
    "the same seed gives the same numbers" holds only on the numerics that produced the grid.

    1. **repeats**: every compared metric is within the grid's tolerance (:func:`tolerance_for`)
       of the stored point ``key``: the run repeats its grid point (same numerics).
    2. **within the seed envelope**: otherwise, every metric of ``envelope_metrics`` must lie within
       ``mean +- max(k * sd * sqrt(1 + 1/n), tolerance)`` of the grid's ``n`` seeds at the same knob
       values, where ``sd`` is the larger of the seeds' standard deviation at those knob values and
       the one pooled over every knob value of the grid: a prediction interval for one more draw of
       the same experiment. With ``k = 6`` a normal draw falls outside with probability about 1e-4
       (0.4% for Student's t with 3 degrees of freedom), so twenty metrics rarely fail together by
       chance, while a broken model (at chance, or at the mean pose) falls outside.
    3. **departs**: neither; the caller asserts against it.

    Parameters
    ----------
    grid, points : :func:`load_grid` and :func:`load_points` of the notebook.
    key : the point's key (:func:`point_key`).
    fresh : ``{variant: {metric: float}}``, the fresh run's metrics.
    variants : the variants to compare.
    metrics : metric names for tier 1 (default: every finite number the stored point has for the
        variant, except timings ending in ``_s``).
    envelope_metrics : metric names for tier 2 (default ``metrics``): the headline metrics.
    k : the envelope's half-width in standard deviations (tier 2).

    Returns
    -------
    dict with ``status`` (``"repeats"``, ``"within the seed envelope"``, ``"departs"`` or
    ``"no point"``), ``rows`` (one per compared (variant, metric): ``variant``, ``metric``,
    ``stored``, ``fresh``, ``tol``, ``repeats``, and for envelope metrics ``lo``, ``hi``,
    ``inside``), ``n_seeds`` (seeds at the point's knob values) and ``identical`` (rows whose
    fresh value equals the stored one exactly).

    Raises ``KeyError`` if a compared metric is missing from ``fresh``, or an envelope metric has
    no finite value among the seeds; ``ValueError`` if nothing is left to compare (a check that
    compared nothing would pass).
    """
    pt = {p["key"]: p for p in points}.get(key)
    if pt is None:
        return {"status": "no point", "rows": [], "n_seeds": 0, "identical": 0}
    same_knobs = [p for p in points if p["knobs"] == pt["knobs"]]
    rows = []
    for v in variants:
        names = metrics if metrics is not None else [m for m, x in pt["metrics"][v].items()
                                                    if _finite(x) and not m.endswith("_s")]
        env = set(envelope_metrics if envelope_metrics is not None else names)
        for m in names:
            if m not in pt["metrics"][v]:
                continue
            stored, f = pt["metrics"][v][m], fresh[v][m]
            tol = tolerance_for(grid, v, m)
            row = {"variant": v, "metric": m, "stored": stored, "fresh": f, "tol": tol,
                   "repeats": _finite(f) and _finite(stored) and abs(f - stored) <= tol}
            if m in env:
                centre, w = _envelope(points, pt["knobs"], v, m, k, tol)
                row.update(lo=centre - w, hi=centre + w, inside=_finite(f) and abs(f - centre) <= w)
            rows.append(row)
    if not rows:
        raise ValueError(f"compare_fresh: none of the metrics {metrics} is stored for {list(variants)} at {key}")
    if all(r["repeats"] for r in rows):
        status = "repeats"
    elif all(r["inside"] for r in rows if "inside" in r):
        status = "within the seed envelope"
    else:
        status = "departs"
    return {"status": status, "rows": rows, "n_seeds": len(same_knobs),
            "identical": sum(r["stored"] == r["fresh"] for r in rows)}


def comparison_text(cmp: dict, fmt: str = ".4f") -> str:
    """A printable report of :func:`compare_fresh`: the verdict line, then one line per envelope
    row (stored, fresh, tolerance, seed envelope)."""
    if cmp["status"] == "no point":
        return "no committed grid point with these parameters: nothing to compare"
    rows = cmp["rows"]
    head = (f"{len(rows)} metrics compared, {cmp['identical']} identical, "
            f"{sum(r['repeats'] for r in rows)} within the grid's tolerance -> {cmp['status']}")
    if cmp["status"] == "within the seed envelope":
        head += (" (this CPU's numerics differ from the grid's: the run took another path; its headline "
                 f"metrics lie within the prediction envelope of the grid's {cmp['n_seeds']} seeds)")
    lines = [head]
    for r in rows:
        if "inside" in r:
            lines.append(f"  {r['variant']:14s} {r['metric']:16s} grid {r['stored']:{fmt}}  fresh {r['fresh']:{fmt}}  "
                         f"tolerance {r['tol']:g}  seed envelope [{r['lo']:{fmt}}, {r['hi']:{fmt}}]"
                         + ("" if r["inside"] else "  OUTSIDE"))
    return "\n".join(lines)
