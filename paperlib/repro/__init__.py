"""Seed-and-sweep reproductions (GUIDE.md section 3, "Reproductions that can decide").

A notebook's experiment is one importable function, called as ``fn(seed=<int>, **params)``, that
returns ``{"metrics": {variant: {metric: float}}, "per_item": {variant: {metric: [float per test
item]}}}`` (``per_item`` optional, aligned across variants). The notebook calls it once for its
fresh single-seed run; ``make reproduce NB=00`` (``python -m paperlib.repro 00``) runs it over
the grid ``notebooks/results/<stem>/grid.json`` (seeds x knob values) in one-thread worker
processes and writes one JSON per point under ``notebooks/results/<stem>/points/``.

- ``grid``: grid file schema and validation, point keys, ``load_grid``, ``load_points``,
  ``missing_points``;
- ``runner``: ``run_grid`` (the command), ``run_point``;
- ``summary``: ``summarize`` (intervals, paired differences), ``results_table``, ``assert_verdict``;
- ``claims``: a notebook's claims as a family: ``claim``, ``decide`` (Holm over the primary claims,
  minimum detectable effects, the four verdicts), ``claims_table``, ``assert_claims``;
- ``check``: ``validate_results``, ``cheapest_point``, ``rerun_and_compare`` (the tests),
  ``compare_fresh`` and ``comparison_text`` (a notebook's fresh run against its grid point: exact,
  or within the seeds' prediction interval, and beyond the grid's ``floors``), ``floor_for``,
  ``metric_range``;
- ``paperlib.viz.repro.sweep_figure``: gain over the baseline against the data knob.
"""
from .check import (cheapest_point, committed_stems, compare_fresh, comparison_text, floor_for, metric_range,
                    rerun_and_compare, tolerance_for, validate_results)
from .grid import (POINT_FIELDS, GridError, grid_points, load_grid, load_points, missing_points, point_key,
                   resolve_notebook, results_dir, stale_points, validate_grid, validate_point)
from .claims import MAX_PRIMARY, assert_claims, claim, claim_from_diffs, claims_table, decide, family_text
from .runner import run_grid, run_point
from .summary import PAPER_LABEL, Table, assert_verdict, find_row, results_table, sign_word, summarize


def sweep_figure(*args, **kwargs):
    """``paperlib.viz.repro.sweep_figure`` (imported lazily: matplotlib only when plotting)."""
    from ..viz.repro import sweep_figure as _f

    return _f(*args, **kwargs)


__all__ = ["GridError", "POINT_FIELDS", "results_dir", "resolve_notebook", "load_grid", "validate_grid",
           "grid_points", "point_key", "load_points", "missing_points", "stale_points", "validate_point",
           "run_grid", "run_point", "summarize", "results_table", "Table", "find_row", "assert_verdict",
           "PAPER_LABEL", "committed_stems", "validate_results", "cheapest_point", "rerun_and_compare",
           "tolerance_for", "compare_fresh", "comparison_text", "floor_for", "metric_range", "sweep_figure",
           "MAX_PRIMARY", "claim",
           "claim_from_diffs", "decide", "claims_table", "assert_claims", "family_text", "sign_word"]
