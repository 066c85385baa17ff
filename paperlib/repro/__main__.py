"""``python -m paperlib.repro NB [--workers N] [--max-points N] [--only knob=value] [--dry-run]
[--results-dir DIR [--set name=value ...]]``.

A ``--results-dir`` other than the committed ``notebooks/results`` is a scratch run: the committed
grid.json is copied there (with the ``--set`` overrides of its fixed parameters recorded), and the
committed points are never touched, e.g. ``python -m paperlib.repro 04 --results-dir build/repro
--set epochs_head=60 --only cue_scale=2.0``.
"""
from __future__ import annotations

import argparse
import sys

from .grid import GridError
from .runner import run_grid


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m paperlib.repro",
        description="Run the missing points of a notebook's seed-and-sweep grid "
                    "(notebooks/results/<stem>/grid.json); one JSON per point under points/.")
    ap.add_argument("nb", help="notebook stem or unique prefix, e.g. 00 or 00_skeleton_sequences")
    ap.add_argument("--workers", type=int, default=None, help="worker processes (default: os.cpu_count())")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per worker (default 1)")
    ap.add_argument("--max-points", type=int, default=None, help="run at most N of the missing points")
    ap.add_argument("--only", action="append", default=[], metavar="KNOB=VALUE",
                    help="run only points with this knob value (repeatable; seed=N too)")
    ap.add_argument("--dry-run", action="store_true", help="list the points and which are done; run nothing")
    ap.add_argument("--results-dir", default=None,
                    help="where the points go (default: notebooks/results of this checkout, the committed results); "
                         "another folder is a scratch run: the committed grid.json is copied there first")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="overrides",
                    help="scratch runs only (with --results-dir): set a fixed parameter of the copied grid, e.g. "
                         "epochs_head=60 or variants=highres,i3d_wide (JSON values; repeatable)")
    ap.add_argument("--source-dir", default=None,
                    help="the committed results folder that a scratch run copies its grid from (default: "
                         "notebooks/results of this checkout)")
    ap.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    ap.add_argument("--allow-dirty", action="store_true",
                    help="run from a checkout with uncommitted changes (scratch runs only: validate_results rejects "
                         "the points)")
    a = ap.parse_args(argv)
    try:
        s = run_grid(a.nb, results=a.results_dir, workers=a.workers, max_points=a.max_points, only=a.only,
                     dry_run=a.dry_run, progress=not a.no_progress, threads=a.threads,
                     allow_dirty=a.allow_dirty, overrides=a.overrides, source=a.source_dir)
    except (GridError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 1 if s["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
