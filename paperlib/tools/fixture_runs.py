"""Run every lesson's documented real-data command on the real-format fixtures, through papermill.

``python -m paperlib.tools.fixture_runs [--data build/fixtures] [--out build/fixture_runs] [--jobs 2]
[--only 00 04 ...]`` (``make fixture-runs``; a step of ``.ci/run``).

For each lesson: the papermill command of its *Scaling up* section (the last ``papermill`` command in
the lesson's markdown, :mod:`paperlib.tools.commands`) is parsed as papermill parses it, then

1. its data paths (``/data/...``) are replaced by the fixtures' (:mod:`paperlib.data.fixtures`,
   written first when missing), see :data:`RUNS`;
2. ``device`` becomes ``"auto"`` (CUDA where there is one);
3. only the *scale* is shrunk, by the overrides of :data:`RUNS` (epochs, steps, image size, bank
   size): every other parameter, the dataset and its benchmark included, is the documented one.

Each run executes with papermill's Python API and the ``paperlib`` engine
(:func:`paperlib.tools.execute.papermill_engine`) in a fresh kernel, one torch thread, and writes
the executed notebook to ``OUT/<lesson>.ipynb``; ``OUT/summary.json`` holds, per lesson, the
parameters, the wall time, the kernel's exit time and the error if any. The exit status is the
number of failed runs. The fixtures hold too little to learn from: the runs show that each code
path runs end to end on the real formats, not what the method achieves on the real data.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .commands import LESSONS, ROOT, extract_commands, markdown_text, parse_papermill


@dataclass(frozen=True)
class Run:
    """One lesson's fixture run: the fixtures it reads, the fixture path that replaces each
    documented path parameter, and the scale overrides (the smallest scale that runs each step;
    for a ``*_stride`` parameter a larger value is the smaller scale: fewer windows)."""

    fixtures: tuple
    paths: dict
    smallest: dict = field(default_factory=dict)


RUNS = {
    "00_skeleton_sequences": Run(("ntu60",), {"data_root": "nturgb+d_skeletons"}, {"epochs": 1}),
    "01_era_early_action_prediction": Run(("ntu60",), {"data_root": "nturgb+d_skeletons"},
                                          {"epochs": 1, "channels": [16, 32, 64]}),   # widths change in every block, as documented
    "02_ups_unified_pose_sequence": Run(
        ("ntu60", "kinetics", "h36m"),
        {"ntu_dir": "nturgb+d_skeletons", "kinetics_dir": "kinetics-skeleton", "h36m_file": "h36m/data_3d_h36m.npz"},
        {"steps": 8, "real_limit": 32, "batch_size": 32}),
    "03_glimpse_clouds": Run(("ntu_rgb",), {"data_root": "ntu_rgb"},
                             {"size": 64, "epochs_global": 1, "epochs_glimpse": 1}),
    "04_video_action_transformer": Run(("ava",), {"data_root": "ava"},
                                       {"frames": 8, "size": 64, "epochs_trunk": 1, "epochs_head": 1}),
    "05_action_guided_motion_prediction": Run(
        ("h36m",), {"data_root": "h36m/data_3d_h36m.npz"},
        {"epochs_stage1": 1, "epochs_stage2": 1, "epochs_classifier": 1, "bank_samples": 40, "train_stride": 20}),
}


def documented_command(stem: str) -> str:
    """The last papermill command in lesson ``stem``'s markdown (its *Scaling up* section).
    Raises ``LookupError`` if it has none."""
    path = ROOT / "notebooks" / f"{stem}.ipynb"
    cmds = [c for _, text in markdown_text(path) for c in extract_commands(text)]
    if not cmds:
        raise LookupError(f"{path.name}: no papermill command in its markdown")
    return cmds[-1]


def fixture_parameters(stem: str, data: Path) -> tuple[dict, dict]:
    """``(documented parameters, parameters of the fixture run)`` of lesson ``stem``.
    Raises ``KeyError`` for a lesson without a fixture run and ``ValueError`` when the documented
    command lacks a path parameter that :data:`RUNS` replaces."""
    run = RUNS[stem]
    _, _, documented = parse_papermill(documented_command(stem))
    missing = [k for k in run.paths if k not in documented]
    if missing:
        raise ValueError(f"{stem}: the documented command has no {missing}")
    params = dict(documented)
    params.update({k: str(Path(data) / v) for k, v in run.paths.items()})
    if "device" in params:
        params["device"] = "auto"
    params.update(run.smallest)
    return documented, params


def run_one(stem: str, data: Path, out: Path, timeout: int = 900) -> dict:
    """Execute lesson ``stem`` with its fixture parameters in this process (papermill, the
    ``paperlib`` engine); returns its summary entry."""
    import papermill as pm

    from .execute import register_papermill_engine

    register_papermill_engine()
    documented, params = fixture_parameters(stem, data)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    entry = {"notebook": stem, "documented": documented, "parameters": params}
    try:
        pm.execute_notebook(str(ROOT / "notebooks" / f"{stem}.ipynb"), str(out / f"{stem}.ipynb"), parameters=params,
                            engine_name="paperlib", kernel_name="python3", cwd=str(ROOT / "notebooks"),
                            progress_bar=False, execution_timeout=timeout)
        entry["error"] = None
    except Exception as err:  # noqa: BLE001 - recorded and reported, the exit status counts it
        entry["error"] = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
    entry["wall_s"] = time.perf_counter() - t0
    from papermill.engines import papermill_engines

    client = getattr(papermill_engines.get_engine("paperlib"), "last_client", None)
    entry["kernel_exit_s"] = getattr(client, "exit_seconds", None)
    return entry


def _child(stem, data, out, timeout):
    """Run one lesson in a child process (a fresh interpreter per run); returns its entry."""
    env = {**os.environ, "PAPERLIB_MAX_THREADS": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    cmd = [sys.executable, "-m", "paperlib.tools.fixture_runs", "--child", stem, "--data", str(data), "--out", str(out),
           "--timeout", str(timeout)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=str(ROOT))
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"notebook": stem, "error": f"runner exited {proc.returncode}: {proc.stderr.strip()[-2000:]}",
                "wall_s": None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m paperlib.tools.fixture_runs", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ROOT / "build" / "fixtures"), help="fixtures folder (written if missing)")
    ap.add_argument("--out", default=str(ROOT / "build" / "fixture_runs"), help="executed notebooks and summary.json")
    ap.add_argument("--jobs", type=int, default=2, help="lessons run at once (one torch thread each)")
    ap.add_argument("--only", nargs="+", help="lesson prefixes, e.g. 00 04")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    data, out = Path(args.data), Path(args.out)
    if args.child:
        print(json.dumps(run_one(args.child, data, out, args.timeout)))
        return 0
    stems = [s for s in RUNS if not args.only or any(s.startswith(p) for p in args.only)]
    unknown = [p.stem for p in LESSONS if p.stem not in RUNS and not p.stem.startswith("00b")]
    if unknown:
        print(f"fixture_runs: lessons without a fixture run: {unknown}", file=sys.stderr)
        return 1
    from ..data.fixtures import write_fixtures

    need = sorted({f for s in stems for f in RUNS[s].fixtures})
    marker = data / "fixtures.json"
    have = json.loads(marker.read_text()) if marker.exists() else {}
    todo = [f for f in need if f not in have]
    if todo:
        t0 = time.perf_counter()
        have.update({k: {"seconds": v["seconds"]} for k, v in write_fixtures(data, todo).items()})
        data.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(have, indent=1))
        print(f"fixtures {', '.join(todo)} written to {data} in {time.perf_counter() - t0:.0f} s", flush=True)
    t0 = time.perf_counter()
    results = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for entry in pool.map(lambda s: _child(s, data, out, args.timeout), stems):
            status = "ok" if entry.get("error") is None else f"FAILED: {entry['error']}"
            wall = entry.get("wall_s")
            print(f"{entry['notebook']:40s} {'' if wall is None else f'{wall:6.0f} s'}  {status}", flush=True)
            results.append(entry)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps({"runs": results, "wall_s": time.perf_counter() - t0,
                                                  "jobs": args.jobs}, indent=1, default=str))
    failed = sum(e.get("error") is not None for e in results)
    print(f"{len(results) - failed} of {len(results)} lessons ran end to end on the fixtures "
          f"({time.perf_counter() - t0:.0f} s, {args.jobs} at a time); executed notebooks in {out}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
