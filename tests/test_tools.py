from pathlib import Path

import nbformat
import pytest

from paperlib.tools.clean import clean_notebook

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_student_copy_has_no_outputs(path, tmp_path):
    dst = tmp_path / path.name
    n = clean_notebook(path, dst)
    src, out = nbformat.read(path, 4), nbformat.read(dst, 4)
    nbformat.validate(out)
    assert len(out.cells) == len(src.cells) and n == sum(c.cell_type == "code" for c in src.cells)
    assert all(not c.outputs and c.execution_count is None for c in out.cells if c.cell_type == "code")
    assert [c.source for c in out.cells] == [c.source for c in src.cells]
