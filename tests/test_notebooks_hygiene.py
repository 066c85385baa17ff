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


_TYPED_TIME = re.compile(r"about (\d+)(?:\s*-\s*(\d+))? (minutes?|min|s)\b(?= to run)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_opening_run_time_agrees_with_the_stored_run(path):
    """The run time typed in the opening cell ("about 3 minutes") is within a factor 1.5 of the run
    time the stored results cell measured; a notebook that types none passes."""
    nb = nbformat.read(path, as_version=4)
    m = _TYPED_TIME.search(nb.cells[0].source)
    if m is None:
        return
    unit = 60.0 if m.group(3).startswith("min") else 1.0
    lo, hi = float(m.group(1)) * unit, float(m.group(2) or m.group(1)) * unit
    res = [c for c in nb.cells if c.cell_type == "code" and "results" in c.metadata.get("tags", [])][0]
    text = "".join(o.get("text", "") for o in res.outputs if o.output_type == "stream").strip().splitlines()[-1]
    stored = json.loads(text)["runtime_s"]
    assert lo / 1.5 <= stored <= hi * 1.5, (f"{path.name}: the opening cell says {m.group(0)!r}, the stored run took "
                                            f"{stored:.0f} s")


LESSONS = [p for p in NOTEBOOKS if p.name[0].isdigit()]
_RUN_TIME = re.compile(r"(?<![≈~] )(?<![≈~])\b\d+(?:\.\d+)?\s(?:s|sec|seconds?|min|minutes?|hours?)\b(?![-\w])(?!\s*\))")
_RUNNING = re.compile(r"\b(run|runs|ran|took|takes|train|trains|training|trained|CPU|GPU|wall|execut\w*|per epoch|"
                      r"fast|slow|speed|budget)\b", re.I)
_THROUGHPUT = re.compile(r"\b\d+(?:\.\d+)?\s?(?:clips|it|samples|frames|sequences|steps)\s?/\s?s\b")
_HISTORY = re.compile(r"previous version|earlier version|the issue'?s? |changelog|since the last run|"
                      r"what changed since|this session|the last session", re.I)


def _markdown(path):
    return [(i, c.source) for i, c in enumerate(nbformat.read(path, as_version=4).cells) if c.cell_type == "markdown"]


@pytest.mark.parametrize("path", LESSONS, ids=[p.name for p in LESSONS])
def test_opening_gives_objectives_prerequisites_and_measured_times(path):
    """A lesson opens with 3-5 learning objectives, its prerequisites, and the time to read it
    (within x1.5 of its prose at 200 words a minute) and to run it."""
    from paperlib.tools.clean import reading_minutes

    text = _markdown(path)[0][1]
    for label in ("**Learning objectives.**", "**Prerequisites.**", "**Time.**"):
        assert label in text, f"{path.name}: cell 0 has no {label}"
    block = text.split("**Learning objectives.**")[1].split("**Prerequisites.**")[0]
    n = len(re.findall(r"^\s*\d+\.\s", block, re.M))
    assert 3 <= n <= 5, f"{path.name}: {n} numbered learning objectives, 3-5 expected"
    m = re.search(r"[Aa]bout (\d+) min(?:utes)? to read", text)
    assert m, f"{path.name}: cell 0 states no reading time ('About N min to read')"
    words = reading_minutes(path)
    assert words / 1.5 <= int(m.group(1)) <= words * 1.5 + 1, (
        f"{path.name}: 'about {m.group(1)} min to read', the prose takes {words:.1f} min at 200 words a minute")
    # the exercise time is the sum of the checked exercises' own estimates (each prompt's "(≈ N min)")
    from paperlib.tools import grading as G

    m = re.search(r"exercises take about (\d+) min", " ".join(text.split()))
    assert m, f"{path.name}: cell 0 states no exercise time ('the exercises take about K min')"
    ex = G.load(G.exercise_path(path.stem))
    total = sum(int(re.search(r"≈\s*(\d+)", G._src(ex["cells"][it.prompt])).group(1)) for it in G.items(ex))
    assert int(m.group(1)) == total, f"{path.name}: 'exercises take about {m.group(1)} min', their estimates sum to {total}"


@pytest.mark.parametrize("path", LESSONS, ids=[p.name for p in LESSONS])
def test_lesson_ends_with_what_you_learned_and_exercises(path):
    heads = [s.splitlines()[0] for _, s in _markdown(path) if s.startswith("#")]
    assert any(h.startswith("## What you learned") for h in heads), f"{path.name}: no '## What you learned'"
    assert any(re.match(r"## (\d+\. )?Exercises", h) for h in heads), f"{path.name}: no '## Exercises'"
    text = "".join(s for _, s in _markdown(path))
    assert f"exercises/{path.name}" in text, f"{path.name}: no link to its checked exercises"


@pytest.mark.parametrize("path", LESSONS, ids=[p.name for p in LESSONS])
def test_no_typed_run_time_throughput_or_history_in_the_prose(path):
    """Outside the opening cell, no run time or throughput is typed in markdown (they come from
    cells), and no development history is left in student-facing text."""
    found = []
    for i, s in _markdown(path):
        prose = re.sub(r"`[^`]*`|\$[^$]*\$|```.*?```", "", s, flags=re.S)
        if i > 0:  # a duration is a run time when its sentence speaks of running (not "0.27 s at 30 fps")
            for sentence in re.split(r"(?<=[.;:!?])\s|\n\s*\n|\n\s*[-*] ", prose):
                if _RUNNING.search(sentence):
                    found += [f"cell {i}: {m.group(0)!r}" for m in _RUN_TIME.finditer(sentence)]
        found += [f"cell {i}: {m.group(0)!r}" for m in _THROUGHPUT.finditer(prose)]
        found += [f"cell {i}: {m.group(0)!r}" for m in _HISTORY.finditer(prose)]
    assert not found, f"{path.name}: {found}"
