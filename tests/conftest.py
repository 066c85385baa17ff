"""Shared pytest hooks: print the browser tests' measurements at the end of the run.

Under ``make test`` (pytest-xdist) a passing test's prints are not shown, so the browser tests
also write their measurements (widget update latencies, the website's build time and page count)
to small text files under ``build/``; this hook prints the ones written during this run.
"""
from __future__ import annotations

import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEASUREMENTS = {
    "widget gallery in JupyterLab (control change -> new figure)": ROOT / "build" / "widgets" / "latency.txt",
    "course website": ROOT / "build" / "book-test.txt",
}
_START = time.time()


def _mutation_summary(terminalreporter):
    """Join the per-notebook mutation tables of tests/test_exercises.py into build/mutation-table.md
    and print one line per notebook: exercises, mutants, caught (visible / hidden tests)."""
    parts = sorted(p for p in (ROOT / "build").glob("mutation-table-*.md") if p.stat().st_mtime >= _START)
    if not parts:
        return
    rows, lines = [], []
    for p in parts:
        body = p.read_text().splitlines()
        rows += body[2:] if rows else body
        cells = [r.split(" | ") for r in body[2:]]
        mut = [c for c in cells if c[2] != "reference"]
        lines.append(f"{p.stem.removeprefix('mutation-table-')}: {len({c[1] for c in cells})} exercises, {len(mut)} "
                     f"mutants, caught {sum('caught' in c[3] for c in mut)} (by visible tests "
                     f"{sum('visible' in c[3] for c in mut)}, by hidden tests only {sum('hidden' in c[3] for c in mut)})")
    (ROOT / "build" / "mutation-table.md").write_text("\n".join(rows) + "\n")
    terminalreporter.write_sep("-", "exercise mutants (table: build/mutation-table.md)")
    for line in lines:
        terminalreporter.write_line(line)


def pytest_terminal_summary(terminalreporter):
    _mutation_summary(terminalreporter)
    for title, path in MEASUREMENTS.items():
        if path.exists() and path.stat().st_mtime >= _START:
            terminalreporter.write_sep("-", title)
            for line in path.read_text().splitlines():
                terminalreporter.write_line(line)
