"""Make clean student copies of the notebooks (fastbook-style): outputs and execution counts
removed, everything else kept, so students execute every cell themselves.

``python -m paperlib.tools.clean notebooks/*.ipynb --out build/student``
"""
from __future__ import annotations

import argparse
from pathlib import Path


def clean_notebook(src: str | Path, dst: str | Path) -> int:
    """Write a copy of ``src`` without outputs to ``dst``; return the number of code cells.

    Raises ``nbformat.ValidationError`` if the source notebook is not valid nbformat 4.
    """
    import nbformat

    nb = nbformat.read(src, as_version=4)
    nbformat.validate(nb)
    n = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            n += 1
        cell.metadata.pop("execution", None)
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dst)
    return n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="+")
    ap.add_argument("--out", default="build/student")
    args = ap.parse_args(argv)
    for p in args.notebooks:
        dst = Path(args.out) / Path(p).name
        n = clean_notebook(p, dst)
        print(f"{dst}: {n} code cells, outputs cleared")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


WORDS_PER_MINUTE = 200  # a careful reading pace for technical prose with maths


def reading_minutes(path, wpm: int = WORDS_PER_MINUTE) -> float:
    """Minutes to read a notebook's prose: the words of its markdown cells over ``wpm``.

    Code, outputs and figures are not counted (a reader skims them), so this is a lower bound
    for a first read. Raises ``FileNotFoundError`` when ``path`` does not exist.
    """
    import re

    import nbformat

    nb = nbformat.read(path, as_version=4)
    words = sum(len(re.findall(r"[A-Za-z0-9]+", c.source)) for c in nb.cells if c.cell_type == "markdown")
    return words / wpm
