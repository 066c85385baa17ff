"""Every stored notebook: valid nbformat 4, python3 kernel, executed in order, no errors,
a `parameters` cell and a `results` cell, within its size budget."""
import json
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
MAX_MB = 3.0


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_hygiene(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    assert path.stat().st_size / 1e6 < MAX_MB
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "re-execute top to bottom"
    for c in code:
        for out in c.get("outputs", []):
            assert out.output_type != "error", f"stored error in cell: {c.source[:60]!r}"
            if out.output_type == "stream":
                assert "Traceback" not in out.text
    tags = [set(c.metadata.get("tags", [])) for c in nb.cells]
    assert any("parameters" in t for t in tags)
    assert "results" in tags[-1] or "results" in [t for c in code[-1:] for t in c.metadata.get("tags", [])]
    # the results cell prints one JSON object with the agreed keys
    res = [c for c in code if "results" in c.metadata.get("tags", [])]
    assert len(res) == 1
    text = "".join(o.get("text", "") for o in res[0].outputs if o.output_type == "stream").strip().splitlines()[-1]
    obj = json.loads(text)
    assert set(obj) == {"notebook", "dataset", "runtime_s", "metrics"}
    assert obj["notebook"] == path.stem
    assert all(isinstance(v, dict) for v in obj["metrics"].values())


_TYPED_TIME = re.compile(r"about (\d+)(?:\s*-\s*(\d+))? (minutes?|s)\b")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_opening_run_time_agrees_with_the_stored_run(path):
    """The run time typed in the opening cell ("about 3 minutes") is within a factor 1.5 of the run
    time the stored results cell measured; a notebook that types none passes."""
    nb = nbformat.read(path, as_version=4)
    m = _TYPED_TIME.search(nb.cells[0].source)
    if m is None:
        return
    unit = 60.0 if m.group(3).startswith("minute") else 1.0
    lo, hi = float(m.group(1)) * unit, float(m.group(2) or m.group(1)) * unit
    res = [c for c in nb.cells if c.cell_type == "code" and "results" in c.metadata.get("tags", [])][0]
    text = "".join(o.get("text", "") for o in res.outputs if o.output_type == "stream").strip().splitlines()[-1]
    stored = json.loads(text)["runtime_s"]
    assert lo / 1.5 <= stored <= hi * 1.5, (f"{path.name}: the opening cell says {m.group(0)!r}, the stored run took "
                                            f"{stored:.0f} s")
