"""Checks of committed results: every file well-formed and complete, and one point re-run.

Used by ``tests/test_repro.py``; also usable by hand::

    from paperlib.repro import validate_results, cheapest_point, rerun_and_compare

and by the notebooks: ``compare_fresh`` (a fresh run against its grid point, exact or within the
seeds' prediction interval, and beyond its floors) and ``comparison_text``.
"""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
from pathlib import Path

import numpy as np
from scipy.stats import t as _student_t

from .grid import GridError, _number, _read_point, grid_points, load_grid, results_dir, same_value
from .runner import run_point, threads_env

__all__ = ["committed_stems", "validate_results", "cheapest_point", "rerun_and_compare", "tolerance_for",
           "compare_fresh", "comparison_text", "floor_for", "metric_range"]


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
    git checkout) exists in the history (``git cat-file -e <sha>^{commit}``), and its ``git_dirty``
    is ``false`` (``true``: run from uncommitted changes, which no commit holds; ``null``: not
    recorded): results must come from code someone can check out.
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
        if pt["git_dirty"] is not False:
            why = ("true: the point was run from uncommitted code" if pt["git_dirty"]
                   else "null: whether the point's code was committed was not recorded")
            problems.append(f"{path}: field 'git_dirty' is {why}; re-run it from a clean checkout: "
                            f"make reproduce NB={stem} (delete the file first)")
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


_finite = _number  # a finite int or float, not a bool


#: Metric names read as rates in [0, 1] when no ``ranges`` entry says otherwise: accuracy, AUC,
#: (m)AP, top-k, recall, precision, localisation AP (``acc``, ``obj_acc``, ``mAP_gt``,
#: ``context_mAP_gt``, ``ap_gt/<class>``, ``ar3d_top1``, ``ep_top1@0.2``, ``loc@0.5``, ``recall@0.5``).
_UNIT_RATE = re.compile(r"(^|_)(acc\w*|auc|m?ap|top\d+(@[\d.]+)?|recall\w*(@[\d.]+)?|precision\w*)(?=$|[_@/])|^loc@",
                        re.IGNORECASE)


def metric_range(metric: str, variant: str | None = None, ranges: dict | None = None) -> tuple:
    """The valid range ``(lo, hi)`` of a metric (``None``: unbounded) that :func:`compare_fresh`
    clips its envelope to.

    ``ranges`` (``{"<variant>/<metric>" or "<metric>": (lo, hi)}``) first; else inferred from the
    name: ``[0, 1]`` for rates (names starting with ``acc``, ``auc``, ``map``/``ap``, ``recall``,
    ``precision`` or ``loc@``, or with such a word after an underscore, or ``top<k>``: ``obj_acc``,
    ``context_mAP_gt``, ``ar3d_top1``); ``[0, inf)`` for errors in mm (``*_mm``) and times (``*_s``);
    else unbounded.
    """
    ranges = ranges or {}
    for k in ((f"{variant}/{metric}",) if variant is not None else ()) + (metric,):
        if k in ranges:
            lo, hi = ranges[k]
            return (None if lo is None else float(lo), None if hi is None else float(hi))
    if _UNIT_RATE.search(metric):
        return (0.0, 1.0)
    if metric.endswith("_mm") or metric.endswith("_s"):
        return (0.0, None)
    return (None, None)


def floor_for(floors: dict, variant: str, metric: str):
    """``(name, entry)`` of the floor of ``variant/metric`` in a grid's ``floors``:
    ``floors["<variant>/<metric>"]``, else ``floors["<metric>"]``; ``None`` when neither exists."""
    for k in (f"{variant}/{metric}", metric):
        if k in (floors or {}):
            return k, floors[k]
    return None


def _floor_applies(entry: dict, knobs: dict) -> bool:
    return all(k in knobs and any(same_value(knobs[k], x) for x in vals)
               for k, vals in (entry.get("where") or {}).items())


def _floor_value(entry: dict, pt: dict, name: str) -> float:
    fl = entry["floor"]
    if isinstance(fl, str):
        rv, _, rm = fl.partition("/")
        x = pt["metrics"].get(rv, {}).get(rm)
        if not _finite(x):
            raise ValueError(f"compare_fresh: the floor of {name!r} refers to {fl!r}, which the point {pt['key']} "
                             f"does not hold as a finite number ({x!r})")
        return float(x)
    return float(fl)


def _envelope(points, knobs, v, m, alpha):
    """``(centre, t half-width, sd, n)`` of :func:`compare_fresh`'s tier 2 for ``v/m``: the finite
    values of the grid's seeds at ``knobs``; half-width ``t_{1-alpha/2, n-1} sd sqrt(1 + 1/n)``
    (NaN for ``n < 2``: no spread to predict from)."""
    here = np.asarray([float(x) for p in points if p["knobs"] == knobs
                       for x in [p["metrics"].get(v, {}).get(m)] if _finite(x)])
    n = len(here)
    if not n:
        raise KeyError(f"compare_fresh: no finite {v}/{m} among the grid's seeds at {knobs}")
    if n < 2:
        return float(here.mean()), math.nan, math.nan, n
    sd = float(here.std(ddof=1))
    return float(here.mean()), float(_student_t.ppf(1 - alpha / 2, n - 1)) * sd * math.sqrt(1 + 1 / n), sd, n


def _as_names(x, what):
    if x is None:
        return None
    if isinstance(x, str):
        x = [x]
    x = list(x)
    if not all(isinstance(n, str) for n in x):
        raise TypeError(f"compare_fresh: {what} must be metric names, got {x!r}")
    return x


def compare_fresh(grid: dict, points: list[dict], key: str, fresh: dict, variants, metrics=None,
                  envelope_metrics=None, *, alpha: float = 0.01, floors: dict | None = None,
                  ranges: dict | None = None, require_floors: bool = True) -> dict:
    """A notebook's fresh single-seed run against its committed grid point, in two tiers, and
    every headline metric against its floor.

    Training is chaotic: on a CPU whose kernels sum in another order (another vector width,
    another BLAS code path) a run takes another path from the first rounding difference on, so
    "the same seed gives the same numbers" holds only on the numerics that produced the grid.

    1. **repeats**: every compared metric is within the grid's tolerance (:func:`tolerance_for`)
       of the stored point ``key``: the run repeats its grid point (same numerics).
    2. **within the seed envelope**: otherwise, every *envelope* (headline) metric must lie in the
       prediction interval of one more draw of the same experiment at the point's own knob values:
       ``mean +- t_{1-alpha/2, n-1} * sd * sqrt(1 + 1/n)`` over the ``n`` seeds of the grid at those
       knob values (``sd`` their standard deviation, ``n - 1`` degrees of freedom; no pooling over
       other knob values), widened to at least the grid's tolerance and clipped to the metric's
       valid range (:func:`metric_range`). For a normal metric a new independent draw falls
       outside with probability exactly ``alpha`` (default 0.01, 1%) per metric; the tolerance
       floor only widens the interval and the clipping drops only impossible values, so the
       false-alarm rate per metric is at most ``alpha``, and with ``m`` envelope metrics at most
       ``m * alpha`` that any of them fails by chance (Bonferroni, whatever their correlation).
       (The run on other numerics is treated as a new draw: from the first differing bit on its
       path is another seed's.) With ``n < 2`` seeds there is no spread: tier 2 cannot hold.
    3. **departs**: neither; or any envelope metric does not beat its floor. The caller asserts
       against it.

    **Floors.** An envelope at a seed spread says nothing when the seeds are themselves near
    chance, so every envelope metric must also beat its floor by a stated margin:
    ``direction * (fresh - floor) > margin`` with the entry of ``floors`` (default: the grid's
    ``"floors"``, see :mod:`paperlib.repro.grid`) for ``"<variant>/<metric>"`` or ``"<metric>"``;
    the floor is a number or a reference value stored in the same point (``"reference/chance_top1"``,
    ``"data/chance"``). This holds in every tier: a run that repeats a point that does not beat its
    floor departs (``result["repeats"]`` still says that tier 1 held). An entry whose ``where``
    excludes the point's knob values does not apply there (the row's ``beats_floor`` is ``None``).
    Envelope metrics without any floor entry raise ``ValueError`` unless ``require_floors=False``.

    Parameters
    ----------
    grid, points : :func:`load_grid` and :func:`load_points` of the notebook.
    key : the point's key (:func:`point_key`).
    fresh : ``{variant: {metric: float}}``, the fresh run's metrics.
    variants : the variants to compare.
    metrics : metric names for tier 1 (default: every finite number the stored point has for the
        variant, except timings ending in ``_s``).
    envelope_metrics : the headline metrics, checked in tier 2 and against their floors (default
        ``metrics``): names ``"<metric>"`` (every compared variant that stores it) or
        ``"<variant>/<metric>"`` (that variant only). Each must name a stored metric.
    alpha : the false-alarm rate per envelope metric (two-sided t prediction interval).
    floors : ``{"<variant>/<metric>" or "<metric>": {"floor", "margin", "direction"[, "where"]}}``;
        default ``grid["floors"]``.
    ranges : ``{"<variant>/<metric>" or "<metric>": (lo, hi)}``, the valid ranges the envelope is
        clipped to (``None``: unbounded); default inferred from the name (:func:`metric_range`).
    require_floors : raise when an envelope metric has no floor entry (default ``True``).

    Returns
    -------
    dict with ``status`` (``"repeats"``, ``"within the seed envelope"``, ``"departs"`` or
    ``"no point"``), ``rows`` (one per compared (variant, metric): ``variant``, ``metric``,
    ``stored``, ``fresh``, ``tol``, ``repeats``, ``envelope``, ``floor``, ``beats_floor``, and for
    envelope metrics ``centre``, ``sd``, ``n``, ``half_width`` (t half-width floored at the
    tolerance), ``lo``, ``hi`` (clipped), ``inside``, ``floor_ref``, ``margin``, ``direction``),
    ``n_seeds`` (seeds at the point's knob values), ``identical`` (rows whose fresh value equals the
    stored one exactly), ``alpha``, ``n_envelope`` (envelope rows), ``repeats`` (tier 1 held) and
    ``floors_ok`` (every envelope metric beats its floor where one applies).

    Raises ``KeyError`` if a compared variant or metric is missing from ``fresh``, or an envelope
    metric has no finite value among the seeds; ``ValueError`` if nothing is compared (an empty
    ``envelope_metrics``, names that match no stored metric: a check that compared nothing would
    pass), if an envelope metric has no floor (``require_floors``), or a floor's reference is not
    stored in the point.
    """
    pt = {p["key"]: p for p in points}.get(key)
    if pt is None:
        return {"status": "no point", "rows": [], "n_seeds": 0, "identical": 0, "alpha": alpha, "n_envelope": 0,
                "repeats": False, "floors_ok": False}
    if not 0 < alpha < 1:
        raise ValueError(f"compare_fresh: alpha must lie in (0, 1), got {alpha!r}")
    variants = [variants] if isinstance(variants, str) else list(variants)
    missing_v = [v for v in variants if v not in pt["metrics"]]
    if missing_v or not variants:
        raise KeyError(f"compare_fresh: variants {missing_v or variants} not stored at {key} "
                       f"(stored: {sorted(pt['metrics'])})")
    floors = (grid.get("floors") or {}) if floors is None else floors
    metrics = _as_names(metrics, "metrics")
    env_names = _as_names(envelope_metrics, "envelope_metrics")
    stored = {v: pt["metrics"][v] for v in variants}
    known = sorted({m for v in variants for m in stored[v]})

    def hits(name, v):
        return name in stored[v] or (name.startswith(v + "/") and name[len(v) + 1:] in stored[v])

    if metrics is not None:
        unknown = [m for m in metrics if not any(m in stored[v] for v in variants)]
        if unknown:
            raise ValueError(f"compare_fresh: metrics {unknown} are not stored for {variants} at {key}; "
                             f"stored: {known}")
    if env_names is not None:
        if not env_names:
            raise ValueError("compare_fresh: envelope_metrics is empty: tier 2 would compare nothing and pass; "
                             "name the headline metrics")
        unknown = [e for e in env_names if not any(hits(e, v) for v in variants)]
        if unknown:
            raise ValueError(f"compare_fresh: envelope_metrics {unknown} match no metric stored for {variants} at "
                             f"{key}; stored: {known} (or '<variant>/<metric>')")
    rows, no_floor = [], []
    for v in variants:
        ms = stored[v]
        names = list(metrics) if metrics is not None else [m for m, x in ms.items()
                                                           if _finite(x) and not m.endswith("_s")]
        if env_names is None:
            env_here = set(names)
        else:
            env_here = {m for m in ms if m in env_names or f"{v}/{m}" in env_names}
            names += [m for m in ms if m in env_here and m not in names]
        for m in names:
            if m not in ms:
                continue
            x, f = ms[m], fresh[v][m]
            tol = tolerance_for(grid, v, m) if "tolerance" in grid else 0.0
            row = {"variant": v, "metric": m, "stored": x, "fresh": f, "tol": tol,
                   "repeats": _finite(f) and _finite(x) and abs(f - x) <= tol, "envelope": m in env_here,
                   "floor": None, "beats_floor": None}
            if row["envelope"]:
                centre, w_t, sd, n = _envelope(points, pt["knobs"], v, m, alpha)
                w = max(w_t, tol) if n >= 2 else math.nan
                lo, hi = centre - w, centre + w
                r_lo, r_hi = metric_range(m, v, ranges)
                if r_lo is not None:
                    lo = max(lo, r_lo)
                if r_hi is not None:
                    hi = min(hi, r_hi)
                row.update(centre=centre, sd=sd, n=n, half_width=w, lo=lo, hi=hi,
                           inside=n >= 2 and _finite(f) and lo <= f <= hi)
                fe = floor_for(floors, v, m)
                if fe is None:
                    no_floor.append(f"{v}/{m}")
                else:
                    name, entry = fe
                    row.update(floor_ref=entry["floor"], margin=float(entry["margin"]),
                               direction=int(entry["direction"]), floor_key=name)
                    if _floor_applies(entry, pt["knobs"]):
                        row["floor"] = _floor_value(entry, pt, name)
                        row["beats_floor"] = bool(_finite(f) and entry["direction"] * (f - row["floor"])
                                                  > entry["margin"])
            rows.append(row)
    if not rows:
        raise ValueError(f"compare_fresh: none of the metrics {metrics} is stored for {variants} at {key}")
    env_rows = [r for r in rows if r["envelope"]]
    if not env_rows:
        raise ValueError(f"compare_fresh: no envelope metric is stored for {variants} at {key}: tier 2 would "
                         f"compare nothing; stored: {known}")
    if no_floor and require_floors:
        raise ValueError(f"compare_fresh: no floor for the envelope metrics {no_floor}: every headline metric needs "
                         f"one (grid.json 'floors': {{\"<variant>/<metric>\" or \"<metric>\": {{\"floor\", \"margin\", "
                         f"\"direction\"}}}}; see paperlib/repro/grid.py), or pass require_floors=False")
    repeats = all(r["repeats"] for r in rows)
    floors_ok = all(r["beats_floor"] is not False for r in env_rows)
    if not floors_ok:
        status = "departs"
    elif repeats:
        status = "repeats"
    elif all(r["inside"] for r in env_rows):
        status = "within the seed envelope"
    else:
        status = "departs"
    return {"status": status, "rows": rows, "n_seeds": sum(p["knobs"] == pt["knobs"] for p in points),
            "identical": sum(r["stored"] == r["fresh"] for r in rows), "alpha": alpha,
            "n_envelope": len(env_rows), "repeats": repeats, "floors_ok": floors_ok}


def _num(x, fmt):
    return format(x, fmt) if _finite(x) or isinstance(x, float) else str(x)


def comparison_text(cmp: dict, fmt: str = ".4f") -> str:
    """A printable report of :func:`compare_fresh`: the verdict line, the false-alarm rate of
    tier 2, then one line per envelope row (stored, fresh, tolerance, seed envelope, floor and
    margin)."""
    if cmp["status"] == "no point":
        return "no committed grid point with these parameters: nothing to compare"
    rows = cmp["rows"]
    env = [r for r in rows if r.get("envelope", "inside" in r)]
    m, a = len(env), cmp.get("alpha", 0.01)
    head = (f"{len(rows)} metrics compared, {cmp['identical']} identical, "
            f"{sum(r['repeats'] for r in rows)} within the grid's tolerance -> {cmp['status']}")
    if cmp["status"] == "within the seed envelope":
        head += (" (this CPU's numerics differ from the grid's: the run took another path; its headline "
                 f"metrics lie within the prediction envelope of the grid's {cmp['n_seeds']} seeds and beat their "
                 "floors)")
    elif cmp.get("repeats") and not cmp.get("floors_ok", True):
        head += " (the run repeats its grid point, but a headline metric does not beat its floor)"
    lines = [head, (f"  {m} headline metrics: each within a t prediction interval of the seeds at these knob values "
                    f"(false-alarm rate {a:g} per metric for a normal draw, at most {min(1.0, m * a):.2g} for all {m} "
                    f"together, Bonferroni) and beating its floor by its margin")]
    for r in env:
        floor = ""
        if r.get("floor_key") is None:
            floor = "  no floor"
        elif r["floor"] is None:
            floor = f"  floor n/a at these knob values ({r['floor_key']})"
        else:
            ref = "" if not isinstance(r["floor_ref"], str) else f" = {r['floor_ref']}"
            bar = r["floor"] + r["direction"] * r["margin"]
            floor = (f"  must be {'>' if r['direction'] > 0 else '<'} {_num(bar, fmt)} "
                     f"(floor {_num(r['floor'], fmt)}{ref}, margin {r['margin']:g})"
                     + ("" if r["beats_floor"] else "  NOT BEYOND ITS FLOOR"))
        lines.append(f"  {r['variant']:14s} {r['metric']:16s} grid {_num(r['stored'], fmt)}  "
                     f"fresh {_num(r['fresh'], fmt)}  "
                     f"tolerance {r['tol']:g}  seed envelope [{_num(r['lo'], fmt)}, {_num(r['hi'], fmt)}]"
                     + ("" if r["inside"] else "  OUTSIDE") + floor)
    return "\n".join(lines)
