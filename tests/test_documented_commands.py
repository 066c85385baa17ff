"""Every papermill command the course documents works as written (no notebook is executed).

The commands are read from README.md and from the markdown cells of the lessons
(``notebooks/0*.ipynb``): every ``papermill <notebook> <output> ...`` in a code block or a code
span, with backslash-continued lines joined. Each command's arguments are parsed by papermill's own
command-line parser (``papermill.cli.papermill``, a click command) and its values resolved the way
``papermill.cli.papermill`` resolves them before it injects them (papermill 2.x, "Execute via CLI",
https://papermill.readthedocs.io/en/latest/usage-execute.html): ``-y``/``--parameters_yaml``
through YAML (papermill's ``NoDatesSafeLoader``), ``-p``/``--parameters`` through
``papermill.cli._resolve_type`` ("True"/"False"/"None", then int, then float, else the string
itself: ``-p channels "[64, 128, 256]"`` is the *string* ``"[64, 128, 256]"``), ``-r`` kept as a
string; YAML first, then ``-p``, then ``-r``, a later one overriding an earlier one, as papermill
does. Where papermill cannot be imported the same rules are applied with ``yaml.safe_load``.

For each command: the notebook exists; the output is another file; every parameter name is assigned
in the notebook's cell tagged ``parameters``; the value's type agrees with the default's there:

- default ``None``: anything;
- ``bool``: a bool;  ``int``: an int (not a bool, not a float: the code counts with it);
- ``float``: an int or a float (not a bool);  ``str``: a string;
- ``list``/``tuple``: a list or a tuple, whose items agree with the default's item type when the
  default's items share one type;  ``dict``: a dict.

and values the code bounds lie within the bound (``LIMITS``; each bound is checked against the code
that imposes it by ``test_limits_are_the_codes``).
"""
from __future__ import annotations

import re

import pytest

from paperlib.tools.commands import (LESSONS, ROOT, documented_commands, extract_commands, markdown_text,
                                     parameter_defaults, parse_papermill)

# (notebook stem, parameter) -> (lowest, highest, who imposes it)
LIMITS = {
    ("04_video_action_transformer", "max_people"):
        (1, 4, "the scene demo renders with it and paperlib.data.video.make_multi_person_clips draws 1 to 4 people"),
}

def type_problem(name: str, value, default) -> str | None:
    """Why ``value`` cannot replace ``default`` (the rules in the module docstring), or None."""
    def is_num(x, ints_only=False):
        return not isinstance(x, bool) and (isinstance(x, int) or (not ints_only and isinstance(x, float)))

    if default is None:
        return None
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = is_num(value, ints_only=True)
    elif isinstance(default, float):
        ok = is_num(value)
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            ok = False
        else:
            kinds = {type(x) for x in default}
            if len(kinds) == 1 and default:
                bad = [p for i, x in enumerate(value) if (p := type_problem(f"{name}[{i}]", x, default[0]))]
                if bad:
                    return bad[0]
            ok = True
    elif isinstance(default, dict):
        ok = isinstance(value, dict)
    else:
        return f"{name}: default {default!r} of a type the checker does not know"
    if ok:
        return None
    return (f"{name}: got {type(value).__name__} {value!r}, the default is {type(default).__name__} {default!r}"
            + (" (a list goes through -y, YAML: -p passes it as a string)" if isinstance(value, str)
               and isinstance(default, (list, tuple, dict)) else ""))


def check_command(cmd: str) -> list[str]:
    """Every reason ``cmd`` would not work as written (empty: it does)."""
    try:
        nb, out, params = parse_papermill(cmd)
    except ValueError as e:
        return [str(e)]
    nb_path = ROOT / nb
    if not nb_path.is_file():
        return [f"{nb}: no such notebook"]
    problems = [f"output {out} is the input notebook"] if (ROOT / out).resolve() == nb_path.resolve() else []
    try:
        defaults = parameter_defaults(nb_path)
    except ValueError as e:
        return problems + [str(e)]
    for name, value in params.items():
        if name not in defaults:
            problems.append(f"{name}: not a parameter of {nb_path.name} (its parameters: {', '.join(defaults)})")
            continue
        if (p := type_problem(name, value, defaults[name])):
            problems.append(p)
            continue
        if (nb_path.stem, name) in LIMITS:
            lo, hi, why = LIMITS[nb_path.stem, name]
            if not lo <= value <= hi:
                problems.append(f"{name} = {value!r} is outside {lo}..{hi}: {why}")
    return problems


# ------------------------------------------------------------------ the tests
COMMANDS = documented_commands()


def test_commands_are_found():
    """README.md and every lesson with a 'Scaling up' section document at least one command."""
    where = {w.split(" cell ")[0] for w, _ in COMMANDS}
    expected = {"README.md"} | {p.name for p in LESSONS
                                if any(re.search(r"^#+ .*Scaling up", t, re.M) for _, t in markdown_text(p))}
    assert expected - where == set(), f"no papermill command found in {sorted(expected - where)}"


@pytest.mark.parametrize("where, cmd", COMMANDS, ids=[f"{w} #{i}" for i, (w, _) in enumerate(COMMANDS)])
def test_documented_command_works_as_written(where, cmd):
    problems = check_command(cmd)
    assert not problems, f"{where}: {cmd}\n  " + "\n  ".join(problems)


def test_limits_are_the_codes():
    """The bounds in LIMITS are those of the code: the renderer takes the highest, refuses one more."""
    from paperlib.data.video import make_multi_person_clips

    lo, hi, _ = LIMITS["04_video_action_transformer", "max_people"]
    for ok in (lo, hi):
        make_multi_person_clips(1, frames=1, size=16, max_people=ok, seed=0)
    for bad in (lo - 1, hi + 1):
        with pytest.raises(ValueError, match="max_people"):
            make_multi_person_clips(1, frames=1, size=16, max_people=bad, seed=0)


NB01 = "papermill notebooks/01_era_early_action_prediction.ipynb out.ipynb"


@pytest.mark.parametrize("options, needle", [
    ('-p channels "[64, 128, 256]"', "channels: got str '[64, 128, 256]'"),        # the old documented form
    ('-y "channels: [64, 128, 256]"', None),
    ('-y "channels: [64, 128.5, 256]"', "channels[1]: got float"),
    ("-p epochs 2.5", "epochs: got float"),
    ("-p lr 1e-3 -p epochs 3 -p data_root /data/ntu -p dataset ntu60", None),       # float, int, None, str
    ("-p dataset 60", "dataset: got int"),
    ("-p chanels 3", "chanels: not a parameter"),
    ('-y "channels: [1, 2, 3]" -p channels 4', "channels: got int"),               # -p overrides -y, as papermill
    ("-r key_dim 32", "key_dim: got str"),
])
def test_checker(options, needle):
    problems = check_command(f"{NB01} {options}")
    if needle is None:
        assert problems == []
    else:
        assert any(needle in p for p in problems), problems


def test_checker_limits_tuple_targets_and_missing_notebooks():
    nb04 = "papermill notebooks/04_video_action_transformer.ipynb out.ipynb"
    assert any("max_people = 8 is outside 1..4" in p for p in check_command(f"{nb04} -p max_people 8"))
    assert check_command(f"{nb04} -p max_people 4 -p size 224") == []          # from `frames, size, max_people = ...`
    assert check_command(f'{nb04} -y "fresh_variants: [i3d, lowres]" -p symmetric_exchange False') == []
    assert check_command("papermill notebooks/99_none.ipynb out.ipynb") == ["notebooks/99_none.ipynb: no such notebook"]
    assert check_command(f"{nb04} -p max_people") != []                             # papermill's parser rejects it


def test_extraction_joins_continued_lines_and_stops_at_a_code_span():
    text = ("With papermill the same notebook runs:\n```\n.venv/bin/papermill notebooks/a.ipynb o.ipynb \\\n"
            "    -p x 1 \\\n    -y \"l: [1, 2]\"\n```\nor `papermill notebooks/b.ipynb o.ipynb -p y 2` inline.")
    assert extract_commands(text) == ['papermill notebooks/a.ipynb o.ipynb -p x 1 -y "l: [1, 2]"',
                                      "papermill notebooks/b.ipynb o.ipynb -p y 2"]
