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


def pytest_terminal_summary(terminalreporter):
    for title, path in MEASUREMENTS.items():
        if path.exists() and path.stat().st_mtime >= _START:
            terminalreporter.write_sep("-", title)
            for line in path.read_text().splitlines():
                terminalreporter.write_line(line)
