"""Execute notebooks top to bottom in place, as the course stores them.

``python -m paperlib.tools.execute notebooks/00_skeleton_sequences.ipynb [...]``

Runs each notebook with nbclient in a ``python3`` kernel from the notebook's directory, writes
the outputs back (execution counts 1..N), and prints the wall time. Outputs are never
hand-edited; this is the only way they are produced.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path


def execute(path: str | Path, timeout: int = 900) -> float:
    """Execute ``path`` in place; return the wall time in seconds. Raises on a cell error."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    dt = time.perf_counter() - t0
    nbformat.write(nb, path)
    return dt


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__)
        return 2
    for p in argv:
        dt = execute(p)
        print(f"{p}: executed in {dt:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
