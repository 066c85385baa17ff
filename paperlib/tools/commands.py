"""The papermill commands that the course documents: found, parsed as papermill parses them, and
checked against the notebook's parameters cell.

Used by ``tests/test_documented_commands.py`` (every documented command works as written) and by
:mod:`paperlib.tools.fixture_runs` (each lesson's documented real-data command runs on the
real-format fixtures). Rules: papermill 2.x, "Execute via CLI"
(https://papermill.readthedocs.io/en/latest/usage-execute.html): ``-y``/``--parameters_yaml``
through YAML (papermill's ``NoDatesSafeLoader``), ``-p``/``--parameters`` through
``papermill.cli._resolve_type`` ("True"/"False"/"None", then int, then float, else the string
itself), ``-r`` kept as a string; YAML first, then ``-p``, then ``-r``, a later one overriding an
earlier one. Where papermill cannot be imported the same rules are applied with ``yaml.safe_load``.
"""
from __future__ import annotations

import ast
import json
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
SOURCES = [ROOT / "README.md", *LESSONS]

__all__ = ["markdown_text", "extract_commands", "documented_commands", "parse_papermill", "parameter_defaults"]

_COMMAND = re.compile(r"(?:(?<=\s)|(?<=^)|(?<=`))(?:[\w.~-]*/)*papermill[ \t]+(\S+\.ipynb)(?=\s)([^`\n]*)", re.M)


# ------------------------------------------------------------------ extraction
def markdown_text(path: Path) -> list[tuple[str, str]]:
    """(where, markdown) pairs: README.md whole, a lesson one pair per markdown cell."""
    if path.suffix == ".md":
        return [(path.name, path.read_text(encoding="utf-8"))]
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [(f"{path.name} cell {i}", "".join(c["source"]) if isinstance(c["source"], list) else c["source"])
            for i, c in enumerate(cells) if c["cell_type"] == "markdown"]


def extract_commands(text: str) -> list[str]:
    """Every ``papermill NOTEBOOK ...`` in ``text``, backslash-continued lines joined, up to the end
    of its line or the code span's closing backtick."""
    joined = re.sub(r"[ \t]*\\[ \t]*\n[ \t]*", " ", text)
    return [("papermill " + m.group(1) + m.group(2)).strip() for m in _COMMAND.finditer(joined)]


def documented_commands() -> list[tuple[str, str]]:
    return [(where, cmd) for path in SOURCES for where, text in markdown_text(path) for cmd in extract_commands(text)]


# ------------------------------------------------------------------ papermill's parsing
def parse_papermill(cmd: str) -> tuple[str, str, dict]:
    """``papermill IN OUT options`` -> (IN, OUT, {name: value}) as papermill's CLI resolves them.
    Raises ``ValueError`` on arguments papermill's parser rejects and on ``-f``/``-b`` (not used
    in the documentation, so not checked here)."""
    args = shlex.split(cmd)
    if not args or args[0].rsplit("/", 1)[-1] != "papermill":
        raise ValueError(f"not a papermill command: {cmd!r}")
    args = args[1:]
    try:
        import click
        from papermill.cli import _resolve_type, papermill
        from papermill.iorw import NoDatesSafeLoader
        import yaml

        def load_yaml(s):
            return yaml.load(s, Loader=NoDatesSafeLoader)
        try:
            p = papermill.make_context("papermill", list(args)).params
        except click.ClickException as e:
            raise ValueError(f"papermill rejects {cmd!r}: {e.format_message()}") from None
        nb, out = p["notebook_path"], p["output_path"]
        ys, ps, rs = p["parameters_yaml"], p["parameters"], p["parameters_raw"]
        if p["parameters_file"] or p["parameters_base64"]:
            raise ValueError(f"-f / -b are not checked: {cmd!r}")
    except ImportError:  # papermill's documented rules, by hand
        import yaml
        load_yaml, _resolve_type = yaml.safe_load, _resolve_type_by_hand
        nb, out, ys, ps, rs = _split_by_hand(args, cmd)
    params = {}
    for y in ys:
        loaded = load_yaml(y) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"-y {y!r} is not a YAML mapping")
        params.update(loaded)
    params.update({k: _resolve_type(v) for k, v in ps})
    params.update({k: v for k, v in rs})
    return nb, out, params


def _resolve_type_by_hand(value: str):
    if value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[value]
    for t in (int, float):
        try:
            return t(value)
        except ValueError:
            pass
    return value


def _split_by_hand(args, cmd):
    pos, ys, ps, rs, i = [], [], [], [], 0
    while i < len(args):
        a = args[i]
        if a in ("-p", "--parameters", "-r", "--parameters_raw"):
            (ps if a in ("-p", "--parameters") else rs).append((args[i + 1], args[i + 2]))
            i += 3
        elif a in ("-y", "--parameters_yaml"):
            ys.append(args[i + 1])
            i += 2
        elif a.startswith("-"):
            raise ValueError(f"option {a} is not checked: {cmd!r}")
        else:
            pos.append(a)
            i += 1
    if len(pos) != 2:
        raise ValueError(f"expected a notebook and an output path: {cmd!r}")
    return pos[0], pos[1], ys, ps, rs


# ------------------------------------------------------------------ the notebook's defaults
def parameter_defaults(nb_path: Path) -> dict:
    """{name: default} of the cell tagged ``parameters`` (literal assignments, tuple targets
    unpacked). Raises ``ValueError`` if there is no such cell or a default is not a literal."""
    cells = json.loads(nb_path.read_text(encoding="utf-8"))["cells"]
    tagged = [c for c in cells if c["cell_type"] == "code" and "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"{nb_path.name}: {len(tagged)} cells tagged 'parameters', 1 expected")
    src = "".join(tagged[0]["source"]) if isinstance(tagged[0]["source"], list) else tagged[0]["source"]
    out = {}
    for node in ast.parse(src).body:
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            names = [target] if isinstance(target, ast.Name) else list(getattr(target, "elts", []))
            values = [node.value] if isinstance(target, ast.Name) else list(getattr(node.value, "elts", []))
            if len(names) != len(values) or not all(isinstance(n, ast.Name) for n in names):
                raise ValueError(f"{nb_path.name}: parameters cell line {node.lineno}: unpacking not understood")
            for n, v in zip(names, values):
                try:
                    out[n.id] = ast.literal_eval(v)
                except ValueError:
                    raise ValueError(f"{nb_path.name}: parameters cell line {node.lineno}: the default of {n.id} "
                                     "is not a literal") from None
    return out
