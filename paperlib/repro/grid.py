"""Grid files, point keys and point files of a notebook's seed-and-sweep reproduction.

Layout (one folder per notebook, committed)::

    notebooks/results/<notebook stem>/grid.json
    notebooks/results/<notebook stem>/points/<point key>.json

``grid.json`` (every field is checked by ``validate_grid``)::

    {"notebook": "00_skeleton_sequences",                  # must equal the folder name
     "experiment": "paperlib.papers.primer:run_experiment", # "module:function"
     "seeds": [0, 1, 2, 3, 4],                             # distinct ints, at least one
     "grid": {"early_cue": [0.0, 0.5, 1.0]},               # knob -> non-empty list of scalars ({} allowed)
     "fixed": {"epochs": 6},                               # optional: keyword arguments of every point
     "baseline": "gcn",                                    # optional: the variant differences refer to
     "tolerance": {"default": 0.02, "auc": 0.03},          # absolute, per metric name or "default"
     "budget_minutes": 60,                                 # optional: expected cost of the whole grid
     "floors": {"acc": {"floor": "reference/chance", "margin": 0.1, "direction": 1}},  # optional, below
     "description": "..."}                                 # optional free text

``floors`` (optional; read by :func:`paperlib.repro.compare_fresh`): what a trained model must beat,
per ``"<variant>/<metric>"`` or ``"<metric>"`` (every variant; the variant's own entry wins), each
``{"floor": <number> or "<variant>/<metric>" (a reference value stored in the same point, e.g.
"reference/chance_top1"), "margin": <number >= 0>, "direction": 1 (higher is better) or -1 (lower
is better), "where": {knob: [values]} (optional: the floor holds at these knob values only; a
knob value where the task is at chance by design has nothing to beat), "note": "..." (optional:
where the floor comes from)}``. A value beats its floor when ``direction * (value - floor) >
margin``.

The points are ``seeds x`` the cartesian product of the grid's values; each is called as
``fn(seed=seed, **fixed, **knobs)``. A point's key lists its knobs in the grid's order, then the
seed: ``early_cue=0.5__seed=3`` (numbers as JSON writes them, strings sanitised to
``[A-Za-z0-9._-]``).
"""
from __future__ import annotations

import itertools
import json
import math
import os
import re
from pathlib import Path

__all__ = ["GridError", "results_dir", "resolve_notebook", "load_grid", "validate_grid", "grid_points",
           "point_key", "load_points", "missing_points", "stale_points", "validate_point", "POINT_FIELDS",
           "POINT_OPTIONAL_FIELDS"]

REQUIRED_GRID = ("notebook", "experiment", "seeds", "grid", "tolerance")
OPTIONAL_GRID = ("fixed", "baseline", "budget_minutes", "floors", "description")
#: Keys of one ``floors`` entry (``where`` and ``note`` optional).
FLOOR_KEYS = ("floor", "margin", "direction", "where", "note")

#: Fields of a point file (``per_item`` optional) and their types.
POINT_FIELDS = {
    "notebook": str, "experiment": str, "key": str, "seed": int, "knobs": dict, "params": dict,
    "metrics": dict, "wall_s": (int, float), "cpu_s": (int, float), "git_commit": (str, type(None)),
    "git_dirty": (bool, type(None)), "torch_version": str, "threads": int, "device": str,
    "python_version": str, "created": str,
}

#: Optional fields of a point file (recorded by every run since they were added) and their types.
POINT_OPTIONAL_FIELDS = {"per_item": dict, "cpu_model": str, "numerics": str}

_SCALAR = (int, float, str, bool)


class GridError(ValueError):
    """A grid or point file is malformed; the message names the file and the field."""


def results_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder that holds ``<stem>/grid.json``.

    ``path`` if given; else ``$PAPERLIB_RESULTS_DIR``; else ``notebooks/results`` of the checkout
    that holds this package (an editable install, as ``make setup`` does); else
    ``./notebooks/results`` or ``./results`` (a notebook's working directory is ``notebooks/``).
    The folder need not exist yet.
    """
    if path is not None:
        return Path(path)
    env = os.environ.get("PAPERLIB_RESULTS_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[2] / "notebooks"
    if here.is_dir():
        return here / "results"
    cwd = Path.cwd()
    if (cwd / "notebooks").is_dir():
        return cwd / "notebooks" / "results"
    return cwd / "results"


def resolve_notebook(nb: str, results: str | os.PathLike | None = None) -> str:
    """The notebook stem named by ``nb``: a full stem, a file name, or a unique prefix (``"00"``).

    Candidates are the folders under the results directory and the ``*.ipynb`` next to it. A
    prefix matches ``<prefix>_...`` first (so ``00`` is ``00_skeleton_sequences``, not
    ``00b_...``), then any stem that starts with it. Raises ``GridError`` when nothing or more
    than one stem matches, listing the candidates.
    """
    root = results_dir(results)
    nb = Path(str(nb).strip()).name
    if nb.endswith(".ipynb"):
        nb = nb[: -len(".ipynb")]
    if not nb:
        raise GridError("resolve_notebook: no notebook given (e.g. NB=00 or NB=00_skeleton_sequences)")
    stems = set()
    if root.is_dir():
        stems |= {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    if root.parent.is_dir():
        stems |= {p.stem for p in root.parent.glob("*.ipynb")}
    if nb in stems:
        return nb
    for rule in (lambda s: s.startswith(nb + "_"), lambda s: s.startswith(nb)):
        hits = sorted(s for s in stems if rule(s))
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise GridError(f"notebook {nb!r} is ambiguous: {', '.join(hits)}")
    raise GridError(f"no notebook matches {nb!r} under {root} or {root.parent}/*.ipynb; "
                    f"known: {', '.join(sorted(stems)) or 'none'}")


def _fail(path, field, msg):
    raise GridError(f"{path}: field {field!r}: {msg}")


def validate_grid(grid: dict, path: str | os.PathLike = "grid.json", stem: str | None = None) -> dict:
    """Check a parsed grid file; returns it with defaults filled (``fixed={}``, ``baseline=None``,
    ``budget_minutes=None``, ``floors={}``). Raises ``GridError("<path>: field '<name>': ...")`` on the
    first problem.
    """
    if not isinstance(grid, dict):
        raise GridError(f"{path}: the grid file must hold a JSON object, got {type(grid).__name__}")
    for f in REQUIRED_GRID:
        if f not in grid:
            _fail(path, f, "missing (required: " + ", ".join(REQUIRED_GRID) + ")")
    unknown = sorted(set(grid) - set(REQUIRED_GRID) - set(OPTIONAL_GRID))
    if unknown:
        _fail(path, unknown[0], f"unknown field (allowed: {', '.join(REQUIRED_GRID + OPTIONAL_GRID)})")
    g = dict(grid)
    g.setdefault("fixed", {})
    g.setdefault("baseline", None)
    g.setdefault("budget_minutes", None)
    g.setdefault("floors", {})
    if not isinstance(g["notebook"], str) or not g["notebook"]:
        _fail(path, "notebook", "must be the notebook's file stem")
    if stem is not None and g["notebook"] != stem:
        _fail(path, "notebook", f"is {g['notebook']!r} but the file lies in the folder of {stem!r}")
    exp = g["experiment"]
    if not isinstance(exp, str) or not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", exp):
        _fail(path, "experiment", f"must be 'package.module:function', got {exp!r}")
    seeds = g["seeds"]
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool)
                                                          for s in seeds):
        _fail(path, "seeds", f"must be a non-empty list of integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        _fail(path, "seeds", f"has repeated seeds: {seeds}")
    knobs = g["grid"]
    if not isinstance(knobs, dict):
        _fail(path, "grid", "must be an object {knob: [values]}")
    for k, vals in knobs.items():
        if not re.fullmatch(r"[A-Za-z_]\w*", k) or k == "seed":
            _fail(path, "grid", f"knob name {k!r} must be a Python identifier other than 'seed'")
        if not isinstance(vals, list) or not vals:
            _fail(path, "grid", f"knob {k!r} must have a non-empty list of values, got {vals!r}")
        for v in vals:
            if not isinstance(v, _SCALAR) or (isinstance(v, float) and not math.isfinite(v)):
                _fail(path, "grid", f"knob {k!r}: value {v!r} must be a finite number, a string or a boolean")
        if len({_fmt(v) for v in vals}) != len(vals):
            _fail(path, "grid", f"knob {k!r} has repeated values: {vals}")
    if not isinstance(g["fixed"], dict):
        _fail(path, "fixed", "must be an object {parameter: value}")
    clash = sorted(set(g["fixed"]) & (set(knobs) | {"seed"}))
    if clash:
        _fail(path, "fixed", f"{clash} also set by the grid (or 'seed'); a parameter is fixed or swept, not both")
    if g["baseline"] is not None and not isinstance(g["baseline"], str):
        _fail(path, "baseline", "must be a variant name")
    tol = g["tolerance"]
    if not isinstance(tol, dict) or "default" not in tol:
        _fail(path, "tolerance", "must be an object with a 'default' (absolute, e.g. {\"default\": 0.02})")
    for k, v in tol.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not v >= 0:
            _fail(path, "tolerance", f"{k!r}: must be a number >= 0, got {v!r}")
    b = g["budget_minutes"]
    if b is not None and (not isinstance(b, (int, float)) or isinstance(b, bool) or b <= 0):
        _fail(path, "budget_minutes", f"must be a positive number, got {b!r}")
    _validate_floors(g["floors"], knobs, path)
    if g.get("description") is not None and not isinstance(g["description"], str):
        _fail(path, "description", "must be a string")
    return g


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def same_value(a, b) -> bool:
    """Knob values equal as JSON scalars (``4 == 4.0``; a boolean equals only a boolean)."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _validate_floors(floors, knobs: dict, path) -> None:
    """The ``floors`` field (module docstring); raises ``GridError`` naming the file, the field and the entry."""
    if not isinstance(floors, dict):
        _fail(path, "floors", 'must be an object {"<variant>/<metric>" or "<metric>": {"floor", "margin", '
                              '"direction"}}')
    for name, e in floors.items():
        if not isinstance(name, str) or not name.strip("/") or name != name.strip():
            _fail(path, "floors", f"entry name {name!r} must be '<metric>' or '<variant>/<metric>'")
        if not isinstance(e, dict):
            _fail(path, "floors", f"{name!r}: must be an object {{\"floor\", \"margin\", \"direction\"}}, got {e!r}")
        missing = [k for k in FLOOR_KEYS[:3] if k not in e]
        if missing:
            _fail(path, "floors", f"{name!r}: missing {', '.join(repr(k) for k in missing)} "
                                  f"(required: 'floor', 'margin', 'direction'; optional: 'where', 'note')")
        unknown = sorted(set(e) - set(FLOOR_KEYS))
        if unknown:
            _fail(path, "floors", f"{name!r}: unknown key {unknown[0]!r} (allowed: {', '.join(FLOOR_KEYS)})")
        fl = e["floor"]
        if isinstance(fl, str):
            v, _, m = fl.partition("/")
            if not v or not m:
                _fail(path, "floors", f"{name!r}: 'floor' {fl!r} must be a number or '<variant>/<metric>' "
                                      f"(a reference value stored in the same point, e.g. 'reference/chance')")
        elif not _number(fl):
            _fail(path, "floors", f"{name!r}: 'floor' must be a finite number or '<variant>/<metric>', got {fl!r}")
        if not _number(e["margin"]) or e["margin"] < 0:
            _fail(path, "floors", f"{name!r}: 'margin' must be a finite number >= 0, got {e['margin']!r}")
        if e["direction"] not in (1, -1) or isinstance(e["direction"], bool) or not isinstance(e["direction"], int):
            _fail(path, "floors", f"{name!r}: 'direction' must be 1 (higher is better) or -1 (lower is better), "
                                  f"got {e['direction']!r}")
        where = e.get("where")
        if where is not None:
            if not isinstance(where, dict) or not where:
                _fail(path, "floors", f"{name!r}: 'where' must be a non-empty object {{knob: [values]}}, got {where!r}")
            for k, vals in where.items():
                if k not in knobs:
                    _fail(path, "floors", f"{name!r}: 'where' names knob {k!r}, not a knob of the grid "
                                          f"({', '.join(knobs) or 'none'})")
                if not isinstance(vals, list) or not vals:
                    _fail(path, "floors", f"{name!r}: 'where' {k!r} must be a non-empty list of the grid's values")
                bad = [x for x in vals if not any(same_value(x, y) for y in knobs[k])]
                if bad:
                    _fail(path, "floors", f"{name!r}: 'where' {k!r}: {bad} not among the grid's values {knobs[k]}")
        if "note" in e and not isinstance(e["note"], str):
            _fail(path, "floors", f"{name!r}: 'note' must be a string")


def load_grid(stem: str, results: str | os.PathLike | None = None) -> dict:
    """Read and validate ``<results>/<stem>/grid.json``. ``stem`` may be a prefix (``"00"``).

    Returns the grid dict with defaults filled and ``"_dir"`` (the folder, a ``Path``) added.
    Raises ``FileNotFoundError`` if there is no grid file, ``GridError`` if it is malformed.
    """
    root = results_dir(results)
    stem = resolve_notebook(stem, root)
    path = root / stem / "grid.json"
    if not path.is_file():
        raise FileNotFoundError(f"no grid file for {stem}: {path} does not exist "
                                f"(write one first; see paperlib/repro/grid.py for its fields)")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise GridError(f"{path}: not valid JSON: {e}") from None
    g = validate_grid(raw, path, stem=stem)
    g["_dir"] = path.parent
    return g


def _fmt(v) -> str:
    if isinstance(v, str):
        return re.sub(r"[^A-Za-z0-9._-]", "-", v)
    return json.dumps(v)


def point_key(knobs: dict, seed: int) -> str:
    """The file stem of a point: ``knob=value__...__seed=N`` in the knobs' order."""
    return "__".join([f"{k}={_fmt(v)}" for k, v in knobs.items()] + [f"seed={int(seed)}"])


def grid_points(grid: dict) -> list[dict]:
    """Every point of a validated grid: ``[{"key", "seed", "knobs", "params"}]``.

    Order: seeds outermost, then the cartesian product of the knob values (first knob slowest),
    so that a partial run (``--max-points``) covers every knob value for the first seeds first.
    ``params`` = ``{**fixed, **knobs}`` (the keyword arguments besides ``seed``).
    """
    names = list(grid["grid"])
    combos = list(itertools.product(*(grid["grid"][k] for k in names))) or [()]
    out = []
    for seed in grid["seeds"]:
        for combo in combos:
            knobs = dict(zip(names, combo))
            out.append({"key": point_key(knobs, seed), "seed": seed, "knobs": knobs,
                        "params": {**grid["fixed"], **knobs}})
    keys = [p["key"] for p in out]
    if len(set(keys)) != len(keys):
        raise GridError(f"{grid.get('_dir', 'grid')}: two points share a file name after sanitising string "
                        f"values; rename the values")
    return out


def validate_point(point: dict, path: str | os.PathLike = "point.json") -> dict:
    """Check one point file's schema (``POINT_FIELDS``; ``POINT_OPTIONAL_FIELDS`` where present).

    ``metrics`` must be ``{variant: {metric: number or null}}``; ``per_item`` (if present)
    ``{variant: {metric: [numbers]}}`` with the lists of one metric equally long across variants.
    Returns the point. Raises ``GridError("<path>: field '<name>': ...")``.
    """
    if not isinstance(point, dict):
        raise GridError(f"{path}: a point file must hold a JSON object")
    for f, t in POINT_FIELDS.items():
        if f not in point:
            _fail(path, f, "missing")
        if not isinstance(point[f], t) or (t is int and isinstance(point[f], bool)):
            _fail(path, f, f"has type {type(point[f]).__name__}")
    for f, t in POINT_OPTIONAL_FIELDS.items():
        if f in point and not isinstance(point[f], t):
            _fail(path, f, f"has type {type(point[f]).__name__}")
    check_result({"metrics": point["metrics"], "per_item": point.get("per_item")}, where=str(path))
    c = point["git_commit"]
    if c is not None and not re.fullmatch(r"[0-9a-f]{40}", c):
        _fail(path, "git_commit", f"must be a 40-hex commit id or null, got {c!r}")
    if point["wall_s"] < 0 or point["cpu_s"] < 0:
        _fail(path, "wall_s", "times must be >= 0")
    return point


def check_result(result, where: str = "experiment") -> None:
    """Check an experiment's return value ``{"metrics": {...}, "per_item": {...} (optional)}``."""
    if not isinstance(result, dict) or not isinstance(result.get("metrics"), dict) or not result["metrics"]:
        raise GridError(f"{where}: field 'metrics': must be a non-empty {{variant: {{metric: number}}}}")
    for var, ms in result["metrics"].items():
        if not isinstance(ms, dict) or not ms:
            raise GridError(f"{where}: field 'metrics': variant {var!r} must map metric names to numbers")
        for m, v in ms.items():
            if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool)):
                raise GridError(f"{where}: field 'metrics': {var}/{m} = {v!r} is not a number")
    per = result.get("per_item")
    if per is None:
        return
    if not isinstance(per, dict):
        raise GridError(f"{where}: field 'per_item': must be {{variant: {{metric: [numbers]}}}}")
    lengths: dict = {}
    for var, ms in per.items():
        if not isinstance(ms, dict):
            raise GridError(f"{where}: field 'per_item': variant {var!r} must map metric names to lists")
        for m, xs in ms.items():
            if not isinstance(xs, list):
                raise GridError(f"{where}: field 'per_item': {var}/{m} must be a list")
            lengths.setdefault(m, {})[var] = len(xs)
    for m, by_var in lengths.items():
        if len(set(by_var.values())) > 1:
            raise GridError(f"{where}: field 'per_item': metric {m!r} has lists of different lengths across "
                            f"variants {by_var}; items must be aligned (item i = the same test sample)")


def _read_point(path: Path) -> dict:
    try:
        return validate_point(json.loads(path.read_text()), path)
    except json.JSONDecodeError as e:
        raise GridError(f"{path}: not valid JSON: {e}") from None


def _nan(v):
    if isinstance(v, dict):
        return {k: _nan(x) for k, x in v.items()}
    return math.nan if v is None else v


def _matches(point: dict, expected: dict, grid: dict) -> bool:
    return (point["experiment"] == grid["experiment"] and point["seed"] == expected["seed"]
            and point["params"] == expected["params"])


def load_points(stem: str, results: str | os.PathLike | None = None, strict: bool = False) -> list[dict]:
    """The finished points of the current grid, in grid order, as dicts (the point files' fields;
    ``null`` metrics read back as ``nan``).

    A file whose parameters no longer match the grid (the grid's ``fixed`` or ``experiment``
    changed) is *stale* and left out, as is a file for values no longer in the grid; with
    ``strict=True`` either raises ``GridError``. Malformed files always raise ``GridError``.
    """
    grid = load_grid(stem, results)
    pts_dir = grid["_dir"] / "points"
    expected = {p["key"]: p for p in grid_points(grid)}
    out = []
    present = sorted(pts_dir.glob("*.json")) if pts_dir.is_dir() else []
    found = {}
    for path in present:
        pt = _read_point(path)
        if path.stem not in expected:
            if strict:
                raise GridError(f"{path}: not a point of the grid in {grid['_dir'] / 'grid.json'}; "
                                f"delete it or add its values back to the grid")
            continue
        if not _matches(pt, expected[path.stem], grid):
            if strict:
                raise GridError(f"{path}: stale: run with experiment={pt['experiment']!r} params={pt['params']}"
                                f" but the grid now gives experiment={grid['experiment']!r} "
                                f"params={expected[path.stem]['params']}; delete it to re-run")
            continue
        pt["metrics"] = _nan(pt["metrics"])
        found[path.stem] = pt
    for key in expected:
        if key in found:
            out.append(found[key])
    return out


def missing_points(stem: str, results: str | os.PathLike | None = None) -> list[dict]:
    """The grid's points without a point file (``grid_points`` entries), in grid order.

    A stale file (see ``load_points``) counts as present: it is never overwritten silently;
    ``stale_points`` lists those.
    """
    grid = load_grid(stem, results)
    pts_dir = grid["_dir"] / "points"
    return [p for p in grid_points(grid) if not (pts_dir / f"{p['key']}.json").is_file()]


def stale_points(stem: str, results: str | os.PathLike | None = None) -> list[Path]:
    """Point files of the grid's keys whose experiment/parameters differ from the current grid."""
    grid = load_grid(stem, results)
    pts_dir = grid["_dir"] / "points"
    out = []
    for p in grid_points(grid):
        path = pts_dir / f"{p['key']}.json"
        if path.is_file() and not _matches(_read_point(path), p, grid):
            out.append(path)
    return out
