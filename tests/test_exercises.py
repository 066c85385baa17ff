"""The checked exercises (notebooks/exercises/, nbgrader's format): tested twice.

- every lesson has an exercise notebook in the agreed format (hints, time estimates, counts);
- the tests against their reference and against the wrong answers students really write
  (``tests/exercise_mutants/<stem>.py``): the reference passes, every mutant fails at least one
  test (CI check 3); the table of which test line catches which mutant goes to
  ``build/mutation-table.md``;
- the student release that nbgrader generates holds no solution and no hidden test (CI check 4);
- the website shows no hidden test and keeps the solutions collapsed (CI check 5).

- nbgrader's own autograder gives every source notebook full marks, and the blank release runs
  top to bottom, fails only in its answer and test cells, and earns 0 (CI checks 1 and 2; about
  a minute and a half, so inside ``make test``; ``make check-exercises`` runs it alone).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from paperlib.tools import grading as G

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
STEMS = G.stems()
TABLE = ROOT / "build" / "mutation-table.md"


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_every_lesson_has_checked_exercises(lesson):
    assert (G.EXERCISES / lesson.name).exists(), f"no notebooks/exercises/{lesson.name}"


@pytest.mark.parametrize("stem", STEMS)
def test_exercise_notebook_format(stem):
    assert G.lint(stem) == []


@pytest.mark.parametrize("stem", STEMS)
def test_reference_passes_and_every_mutant_fails(stem):
    res = G.run_mutants(stem)
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    (TABLE.parent / f"mutation-table-{stem}.md").write_text(G.mutation_table(res) + "\n")
    refs = [r for r in res if r.mutant == "reference"]
    assert refs and all(not r.caught for r in refs), [f"{r.grade_id}: {r.line}" for r in refs if r.caught]
    survivors = [f"{r.grade_id}: {r.mutant}" for r in res if r.mutant != "reference" and not r.caught]
    assert not survivors, f"mutants that pass every test: {survivors}"


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    G.student_release(out / "student", course=out / "course")
    return out / "student"


@pytest.mark.parametrize("stem", STEMS)
def test_release_has_no_solution_and_no_hidden_test(release, stem):
    src = G.load(G.exercise_path(stem))
    rel = G.load(release / "exercises" / f"{stem}.ipynb")
    assert G.leaks(src, rel) == []
    its = G.items(src)
    for it in its:
        answer = G._src(rel["cells"][it.answer])
        assert "raise NotImplementedError()" in answer and G.BEGIN_SOLUTION not in answer, it.grade_id
        assert G.BEGIN_HIDDEN not in G._src(rel["cells"][it.tests]), it.grade_id
    assert all(not c.get("outputs") for c in rel["cells"] if c["cell_type"] == "code")


def test_release_holds_every_lesson_without_outputs(release):
    for lesson in LESSONS:
        nb = G.load(release / lesson.name)
        assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), lesson.name


@pytest.mark.parametrize("stem", STEMS)
def test_website_view_hides_tests_and_collapses_solutions(stem):
    src = G.load(G.exercise_path(stem))
    view = G.website_view(json.loads(json.dumps(src)))
    hidden = G.secret_lines(src, solutions=False)
    shown = {l.strip() for c in view["cells"] for l in G._src(c).splitlines()}
    assert hidden and not hidden & shown
    for it in G.items(src):
        assert "hide-input" in view["cells"][it.answer]["metadata"]["tags"], it.grade_id


def test_nbgrader_gives_the_key_full_marks_and_the_blank_release_zero(tmp_path):
    assert G.ci_check(tmp_path / "check") == []


def test_leaks_finds_a_solution_line_left_in_a_release():
    src = {"cells": [{"cell_type": "code", "metadata": {}, "source":
                      "def f(x):\n    ### BEGIN SOLUTION\n    return x.softmax(-1)\n    ### END SOLUTION"}]}
    rel = {"cells": [{"cell_type": "code", "metadata": {}, "source": "def f(x):\n    return x.softmax(-1)"}]}
    assert G.leaks(src, rel) == ["cell 0: return x.softmax(-1)"]
    assert G.leaks(src, {"cells": [{"cell_type": "code", "metadata": {}, "source": "def f(x):\n    raise NotImplementedError()"}]}) == []


def test_submissions_are_collected_and_strays_counted(tmp_path):
    stem = STEMS[0]
    (tmp_path / "ana" / "exercises").mkdir(parents=True)
    (tmp_path / "ana" / "exercises" / f"{stem}.ipynb").write_text((G.exercise_path(stem)).read_text())
    (tmp_path / "ana" / "notes.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                                                               "nbformat_minor": 5}))
    found, skipped = G.collect_submissions(tmp_path)
    assert list(found) == ["ana"] and list(found["ana"]) == [stem]
    assert len(skipped) == 1 and "notes.ipynb" in skipped[0]
    with pytest.raises(FileNotFoundError, match="no such folder"):
        G.collect_submissions(tmp_path / "missing")


def test_grade_table_shows_missing_notebooks():
    rows = [{"student": "ana", "notebook": "a", "item": "q1", "score": 1.0, "max_score": 1.0},
            {"student": "bo", "notebook": "b", "item": "q1", "score": 0.0, "max_score": 2.0}]
    t = G.grade_table(rows, ["x.ipynb: not an exercise notebook"])
    assert "| ana | 1 / 1 | not handed in | 1 / 1 |" in t and "| bo | not handed in | 0 / 2 | 0 / 2 |" in t
    assert "Skipped 1 file(s)" in t


def test_mutate_refuses_an_edit_that_does_not_apply():
    stem = STEMS[0]
    gid, src = next(iter(G.reference_answers(stem).items()))
    line = next(l for l in src.splitlines() if l.strip() and "###" not in l and src.count(l) == 1)
    assert G.mutate(stem, gid, (line, line + "  # changed")) != src
    with pytest.raises(ValueError, match=gid):
        G.mutate(stem, gid, ("this text is in no reference", "x"))
