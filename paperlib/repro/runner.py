"""Run a notebook's grid: missing points in one-thread worker processes, one JSON file per point.

``python -m paperlib.repro NB`` (or ``make reproduce NB=00``) calls ``run_grid``. Each point is
``fn(seed=seed, **fixed, **knobs)`` where ``fn`` is the grid's ``experiment``; the function
returns ``{"metrics": {variant: {metric: number}}, "per_item": {variant: {metric: [number]}}}``
(``per_item`` optional; optionally also ``"device"``, a string naming where it ran).

Point file ``points/<key>.json`` (written atomically: a temporary file, then ``os.replace``)::

    {"notebook", "experiment", "key", "seed", "knobs": {knob: value}, "params": {**fixed, **knobs},
     "metrics": {variant: {metric: float or null}}, "per_item": {variant: {metric: [float]}} (if any,
     rounded to 6 decimals), "wall_s": seconds, "cpu_s": CPU seconds of the worker process for this
     point, "git_commit": HEAD or null, "git_dirty": tracked files modified or null, "torch_version",
     "threads": torch intra-op threads, "device": "cpu" or the CUDA device name, "python_version",
     "created": UTC ISO 8601, "cpu_model": the processor's model name, "numerics": the numerics
     fingerprint of :func:`numerics_fingerprint`}

A point whose file exists is never run again: delete the file to re-run it. A grid runs from a
clean checkout only: ``run_grid`` refuses uncommitted changes to tracked files (a point must come
from code that a commit holds), unless ``allow_dirty=True`` (``--allow-dirty``), whose points say
``git_dirty: true`` and fail ``validate_results``.

**Scratch runs** (``results`` other than the committed folder ``source``): when
``<results>/<stem>/grid.json`` does not exist, the committed ``grid.json`` is copied there, so a
variant of a grid runs without touching the committed points. ``overrides`` (``--set KNOB=VALUE``,
repeatable) replace or add fixed parameters of that copy: the value is read as JSON (``60``,
``2.5``, ``true``, ``"query"``, ``["i3d", "highres"]``), else as a string, and a comma-separated
string where the committed value is a list (``variants=highres,i3d_wide``); the copy's
``description`` records each override and its committed value, and every point's ``params`` hold
the values it ran with. Overrides are refused for the committed folder itself, for a swept knob
or ``seed`` (use ``--only``), for a name the experiment does not accept, and when the scratch
folder already holds a grid made with other overrides (choose another folder or delete it).
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as _dt
import importlib
import inspect
import json
import math
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

from .grid import (GridError, _fmt, _matches, _read_point, check_result, grid_points, load_grid, resolve_notebook,
                   results_dir, validate_grid)

__all__ = ["run_grid", "run_point", "import_experiment", "git_state", "threads_env", "THREAD_ENV", "cpu_model",
           "numerics_fingerprint", "DirtyCheckoutError", "apply_overrides", "prepare_grid"]

#: Environment variables set to the worker's thread count before torch is imported.
THREAD_ENV = ("PAPERLIB_MAX_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

_REPO = Path(__file__).resolve().parents[2]


def git_state(repo: str | os.PathLike = _REPO) -> tuple[str | None, bool | None]:
    """``(HEAD commit, whether tracked files differ from it)`` of the checkout; ``(None, None)``
    outside a git checkout or without git."""
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=30)
        if head.returncode != 0:
            return None, None
        st = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                            capture_output=True, text=True, timeout=60)
        return head.stdout.strip(), (bool(st.stdout.strip()) if st.returncode == 0 else None)
    except (OSError, subprocess.SubprocessError):
        return None, None


class DirtyCheckoutError(GridError):
    """``run_grid`` was asked to run points from a checkout with uncommitted changes to tracked files."""


def cpu_model() -> str:
    """The processor's model name (``model name`` of ``/proc/cpuinfo`` on Linux, else
    ``platform.processor()``), or ``"unknown"``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def numerics_fingerprint() -> str:
    """A short fingerprint of this process's floating-point numerics: ``"<ATen CPU capability>:<hash>"``.

    The hash is the first 12 hex digits of the SHA-256 of the float32 bytes of a fixed seeded
    computation that exercises the kernels training uses (a matrix product, a 2D convolution, a
    reduction, ``exp``/``tanh``), at this process's thread count. Two processes with the same
    fingerprint sum in the same order on these kernels, so a seeded run can repeat its grid point
    to the last bit; a different fingerprint says why it may not (another vector width or BLAS
    path: :func:`paperlib.repro.compare_fresh`'s second tier).
    """
    import hashlib

    import torch

    g = torch.Generator().manual_seed(1234)
    a = torch.randn(67, 129, generator=g)
    b = torch.randn(129, 61, generator=g)
    x = torch.randn(2, 3, 17, 19, generator=g)
    w = torch.randn(5, 3, 3, 3, generator=g)
    with torch.no_grad():
        parts = [a @ b, torch.nn.functional.conv2d(x, w, padding=1), a.sum(0, keepdim=True), torch.tanh(a).exp()]
    h = hashlib.sha256(b"".join(p.contiguous().numpy().tobytes() for p in parts)).hexdigest()[:12]
    try:
        cap = torch.backends.cpu.get_cpu_capability()
    except AttributeError:  # pragma: no cover - older torch
        cap = "unknown"
    return f"{cap}:{h}"


def import_experiment(spec: str):
    """``"package.module:function"`` -> the function. Raises ``GridError`` if it cannot be imported."""
    mod_name, _, fn_name = spec.partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise GridError(f"experiment {spec!r}: cannot import module {mod_name!r}: {e}") from e
    fn = getattr(mod, fn_name, None)
    if not callable(fn):
        raise GridError(f"experiment {spec!r}: module {mod_name!r} has no function {fn_name!r}")
    return fn


@contextlib.contextmanager
def threads_env(threads: int):
    """Context manager: ``THREAD_ENV`` variables and ``torch.set_num_threads`` at ``threads`` inside,
    restored on exit (for runs inside an existing process, e.g. a test)."""
    import torch

    saved_env = {v: os.environ.get(v) for v in THREAD_ENV}
    saved = torch.get_num_threads()
    try:
        for v in THREAD_ENV:
            os.environ[v] = str(threads)
        torch.set_num_threads(threads)
        yield
    finally:
        for v, x in saved_env.items():
            if x is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = x
        torch.set_num_threads(saved)


def _init_worker(threads: int) -> None:
    # runs in a fresh (spawned) process before anything imports torch
    for var in THREAD_ENV:
        os.environ[var] = str(threads)
    os.environ.setdefault("TQDM_DISABLE", "1")  # one bar (the parent's), not one per worker
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # pragma: no cover - already set
        pass


def _clean(v, digits=None):
    if isinstance(v, dict):
        return {str(k): _clean(x, digits) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x, digits) for x in v]
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):
        return _clean(v.tolist(), digits)
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            return None
        return round(v, digits) if digits is not None else v
    return v


def _device_name(result: dict, params: dict) -> str:
    if isinstance(result.get("device"), str):
        return result["device"]
    import torch

    want = str(params.get("device", "cpu"))
    if want.startswith("cuda") or (want == "auto" and torch.cuda.is_available()):
        if torch.cuda.is_available():  # pragma: no cover - no GPU in CI
            return torch.cuda.get_device_name(torch.device(want if want != "auto" else "cuda"))
    return "cpu"


def run_point(task: dict) -> dict:
    """Run one point in this process and return its point record (not written).

    ``task``: ``{"notebook", "experiment", "key", "seed", "knobs", "params", "git_commit", "git_dirty"}``.
    The experiment's result is checked (``check_result``) and JSON-cleaned: numpy values become
    Python numbers, NaN/inf become null, ``per_item`` floats are rounded to 6 decimals.
    """
    import torch

    fn = import_experiment(task["experiment"])
    t0, c0 = time.perf_counter(), time.process_time()
    result = fn(seed=task["seed"], **task["params"])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    check_result(result, where=f"{task['experiment']} (point {task['key']})")
    rec = {
        "notebook": task["notebook"], "experiment": task["experiment"], "key": task["key"],
        "seed": task["seed"], "knobs": task["knobs"], "params": task["params"],
        "metrics": _clean(result["metrics"]),
    }
    if result.get("per_item") is not None:
        rec["per_item"] = _clean(result["per_item"], digits=6)
    rec.update({
        "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
        "git_commit": task.get("git_commit"), "git_dirty": task.get("git_dirty"),
        "torch_version": torch.__version__, "threads": torch.get_num_threads(),
        "device": _device_name(result, task["params"]), "python_version": platform.python_version(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(), "numerics": numerics_fingerprint(),
    })
    return rec


def _write_atomic(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # one top-level field per line (readable diffs), each value compact
    text = "{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v, allow_nan=False)}" for k, v in obj.items()) + "\n}\n"
    tmp.write_text(text)
    os.replace(tmp, path)


def _worker(task: dict) -> dict:
    """Run one point in a worker and write its file; never raises (errors come back as text)."""
    try:
        rec = run_point(task)
        _write_atomic(Path(task["out"]), rec)
        return {"key": task["key"], "wall_s": rec["wall_s"], "cpu_s": rec["cpu_s"]}
    except BaseException:  # noqa: BLE001 - reported to the parent, which goes on with the others
        return {"key": task["key"], "error": traceback.format_exc()}


def _select(points: list[dict], only) -> list[dict]:
    if not only:
        return points
    conds = []
    for item in only:
        k, sep, val = str(item).partition("=")
        if not sep:
            raise GridError(f"--only {item!r}: expected knob=value (or seed=N)")
        conds.append((k.strip(), val.strip()))
    names = set(points[0]["knobs"]) | {"seed"} if points else {"seed"}
    for k, _ in conds:
        if k not in names:
            raise GridError(f"--only {k}=...: unknown knob; the grid has {', '.join(sorted(names))}")

    def ok(p, k, val):
        v = p["seed"] if k == "seed" else p["knobs"][k]
        if _fmt(v) == val or str(v) == val:
            return True
        try:
            return not isinstance(v, (str, bool)) and float(v) == float(val)
        except ValueError:
            return False

    return [p for p in points if all(ok(p, k, val) for k, val in conds)]


def _parse_value(text: str, committed):
    """``--set`` value: JSON if it parses, else the string; a comma-separated string where the
    committed value is a list."""
    try:
        v = json.loads(text)
    except json.JSONDecodeError:
        v = text
    if isinstance(committed, list) and isinstance(v, str):
        v = [x.strip() for x in v.split(",") if x.strip()]
    return v


def apply_overrides(grid: dict, overrides, where: str = "grid.json") -> dict:
    """A copy of the raw grid dict ``grid`` with ``overrides`` (``["name=value", ...]``) set in its
    ``fixed`` parameters and recorded in its ``description``; ``grid`` itself is not changed.

    Raises ``GridError`` for an item without ``=``, a name that is a swept knob or ``seed``, or a
    name that the grid's experiment does not accept as a keyword argument.
    """
    out = json.loads(json.dumps(grid))
    fixed = out.setdefault("fixed", {})
    knobs = set(out.get("grid", {}))
    sig = None
    notes = []
    for item in overrides or []:
        name, sep, text = str(item).partition("=")
        name = name.strip()
        if not sep or not name:
            raise GridError(f"--set {item!r}: expected NAME=VALUE, e.g. --set epochs_head=60")
        if name == "seed" or name in knobs:
            raise GridError(f"--set {name}=...: {name!r} is swept by the grid ({where}); choose its values "
                            f"with --only {name}=VALUE")
        if sig is None:
            fn = import_experiment(out["experiment"])
            sig = inspect.signature(fn)
        params = sig.parameters
        if name not in params and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            raise GridError(f"--set {name}=...: {out['experiment']} has no parameter {name!r}; it takes "
                            f"{', '.join(k for k in params if k != 'seed')}")
        old = fixed.get(name, params[name].default if name in params else None)
        if old is inspect.Parameter.empty:
            old = None
        fixed[name] = _parse_value(text.strip(), old)
        notes.append(f"{name}={json.dumps(fixed[name])} (committed: {json.dumps(old)})")
    if notes:
        out["description"] = (out.get("description") or "").rstrip() + \
            (" " if out.get("description") else "") + "[Scratch variant, fixed parameters set by --set: " + \
            "; ".join(notes) + ".]"
    return out


def prepare_grid(nb: str, results=None, source=None, overrides=None, write: bool = True, log=print) -> dict:
    """The grid that :func:`run_grid` runs, validated, with ``"_dir"``.

    ``results`` is where the points go; ``source`` the committed results folder (default: the
    checkout's ``notebooks/results``, see :func:`paperlib.repro.results_dir`). When they are the
    same folder, the grid is that folder's ``grid.json`` and ``overrides`` are refused. Otherwise
    (a scratch run) an existing ``<results>/<stem>/grid.json`` is used as it is when there are no
    ``overrides``; if there is none, the source's grid, with ``overrides`` applied
    (:func:`apply_overrides`), is written there (``write=False``: only built, for a dry run); with
    ``overrides``, an existing scratch grid must equal that one. Raises ``GridError`` or
    ``FileNotFoundError``.
    """
    root = results_dir(results)
    src = results_dir(source) if source is not None else results_dir(None)
    same = root.resolve() == src.resolve()
    if same:
        if overrides:
            raise GridError(f"--set changes a grid's fixed parameters; the committed results in {src} are never "
                            f"rewritten: give a scratch folder, e.g. --results-dir build/repro")
        return load_grid(nb, root)
    try:
        stem = resolve_notebook(nb, root)
    except GridError:
        stem = resolve_notebook(nb, src)
    path = root / stem / "grid.json"
    if path.is_file() and not overrides:
        return load_grid(stem, root)
    src_path = src / stem / "grid.json"
    if not src_path.is_file():
        raise FileNotFoundError(f"no grid file for {stem}: neither {path} nor {src_path} exists")
    try:
        raw = json.loads(src_path.read_text())
    except json.JSONDecodeError as e:
        raise GridError(f"{src_path}: not valid JSON: {e}") from None
    derived = apply_overrides(raw, overrides, str(src_path))
    g = validate_grid(derived, path, stem=stem)
    if path.is_file():
        if json.loads(path.read_text()) != derived:
            raise GridError(f"{path}: this scratch folder holds a grid made with other --set values than "
                            f"{', '.join(overrides)}; choose another --results-dir or delete {path.parent}")
    else:
        if write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(derived, indent=2) + "\n")
        log(f"{stem}: scratch run in {path.parent}: grid {'copied' if write else 'to be copied (not on a dry run)'} "
            f"from {src_path}" + (f" with --set {' --set '.join(overrides)}" if overrides else ""))
    g["_dir"] = path.parent
    return g


def run_grid(nb: str, results: str | os.PathLike | None = None, workers: int | None = None,
             max_points: int | None = None, only=None, dry_run: bool = False, progress: bool = True,
             threads: int = 1, log=print, allow_dirty: bool = False, overrides=None, source=None) -> dict:
    """Run the missing points of notebook ``nb``'s grid (see the module docstring).

    ``workers``: worker processes (default ``os.cpu_count()``; ``0`` runs the points one after the
    other in this process, for debugging and tests), started with the *spawn* method so
    that no worker inherits a forked torch; each sets ``PAPERLIB_MAX_THREADS``, ``OMP_NUM_THREADS``
    (and MKL/OpenBLAS) to ``threads`` and ``torch.set_num_threads(threads)`` before it imports the
    experiment. ``max_points``: run at most this many of the missing points; ``only``: list of
    ``"knob=value"`` filters (``"seed=3"`` too); ``dry_run``: list the points and their state, run
    nothing. Returns ``{"stem", "done", "missing", "stale", "ran", "failed", "wall_s", "cpu_s"}``
    (``ran``/``failed``: lists of keys; ``cpu_s``: the sum over the points run now).
    A point that raises is reported (its traceback printed) and not written; the others go on.
    Raises ``GridError`` / ``FileNotFoundError`` for a bad ``nb`` or grid file, and
    ``DirtyCheckoutError`` (a ``GridError``) when points are to run and the checkout has uncommitted
    changes to tracked files, unless ``allow_dirty`` (whose points record ``git_dirty: true``).
    ``results`` other than ``source`` (default: the committed ``notebooks/results``) is a scratch
    run: the grid is copied there first, with ``overrides`` (``["name=value"]``) set in its fixed
    parameters (:func:`prepare_grid`; a dry run writes nothing).
    """
    grid = prepare_grid(nb, results, source, overrides, write=not dry_run, log=log)
    stem = grid["notebook"]
    pts_dir = grid["_dir"] / "points"
    all_points = grid_points(grid)
    points = _select(all_points, only)
    stale = {p["key"] for p in all_points
             if (pts_dir / f"{p['key']}.json").is_file() and not _matches(_read_point(pts_dir / f"{p['key']}.json"),
                                                                           p, grid)}
    done = [p for p in points if (pts_dir / f"{p['key']}.json").is_file()]
    todo = [p for p in points if not (pts_dir / f"{p['key']}.json").is_file()]
    if max_points is not None:
        todo = todo[: max(0, int(max_points))]
    summary = {"stem": stem, "done": [p["key"] for p in done], "missing": [p["key"] for p in todo],
               "stale": sorted(stale), "ran": [], "failed": [], "wall_s": 0.0, "cpu_s": 0.0}
    if stale:
        log(f"warning: {len(stale)} point file(s) were run with other parameters than the grid now gives "
            f"(stale; they are kept, never overwritten; delete them to re-run): {', '.join(sorted(stale))}")
    if dry_run:
        log(f"{stem}: {len(points)} points ({len(done)} done, {len(todo)} to run) in {pts_dir}")
        for p in points:
            state = "stale" if p["key"] in stale else ("done" if p in done else "to run")
            log(f"  {state:7s} {p['key']}")
        cpus = [json.loads((pts_dir / f"{p['key']}.json").read_text()).get("cpu_s") for p in done]
        cpus = [c for c in cpus if isinstance(c, (int, float))]
        if cpus and todo:
            n_w = max(1, min(int(workers or os.cpu_count() or 1), len(todo)))
            est = sum(cpus) / len(cpus) * len(todo) / n_w
            log(f"estimate: {len(todo)} points x {sum(cpus) / len(cpus):.0f} CPU s (mean of the done ones) "
                f"/ {n_w} workers = about {est / 60:.1f} min on quiet cores")
        if grid.get("budget_minutes"):
            log(f"grid budget: {grid['budget_minutes']} min for the whole grid")
        return summary
    if not todo:
        log(f"{stem}: all {len(points)} points done; nothing to run ({pts_dir})")
        return summary
    in_process = workers == 0
    workers = 1 if in_process else max(1, min(int(workers or os.cpu_count() or 1), len(todo)))
    commit, dirty = git_state()
    if dirty and not allow_dirty:
        raise DirtyCheckoutError(
            f"{_REPO}: uncommitted changes to tracked files (git status --untracked-files=no); a grid point must "
            "come from code a commit holds: commit or stash them, then run again (or --allow-dirty for a scratch "
            "run, whose points validate_results rejects)")
    if dirty:
        log("warning: --allow-dirty: the checkout has uncommitted changes; points record git_dirty=true and "
            "will fail validate_results")
    tasks = [{**p, "notebook": stem, "experiment": grid["experiment"], "git_commit": commit,
              "git_dirty": dirty, "out": str(pts_dir / f"{p['key']}.json")} for p in todo]
    log(f"{stem}: running {len(tasks)} of {len(points)} points ({len(done)} done) "
        + ("in this process" if in_process else f"on {workers} worker process(es)")
        + f", {threads} torch thread(s) each")
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    bar = tqdm(total=len(tasks), desc=stem, unit="point", disable=not progress, file=sys.stderr)
    def record(r):
        if "error" in r:
            summary["failed"].append(r["key"])
            bar.write(f"point {r['key']} failed:\n{r['error']}")
        else:
            summary["ran"].append(r["key"])
            summary["cpu_s"] += r["cpu_s"]
            bar.set_postfix_str(f"{r['key']} {r['wall_s']:.0f} s")
        bar.update(1)

    try:
        if in_process:
            with threads_env(threads):
                for t in tasks:
                    record(_worker(t))
        else:
            ctx = mp.get_context("spawn")
            with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                        initargs=(threads,)) as pool:
                futs = [pool.submit(_worker, t) for t in tasks]
                try:
                    for fut in cf.as_completed(futs):
                        record(fut.result())
                except KeyboardInterrupt:  # pragma: no cover - interactive
                    for f in futs:
                        f.cancel()
                    raise
    finally:
        bar.close()
    summary["wall_s"] = time.perf_counter() - t0
    summary["cpu_s"] = round(summary["cpu_s"], 3)
    log(f"{stem}: ran {len(summary['ran'])} point(s), {len(summary['failed'])} failed; "
        f"total wall time {summary['wall_s']:.1f} s, sum of CPU time {summary['cpu_s']:.1f} s")
    if grid.get("budget_minutes"):
        log(f"grid budget: {grid['budget_minutes']} min")
    if summary["failed"]:
        log(f"failed points (not written; fix and run again): {', '.join(summary['failed'])}")
    return summary
