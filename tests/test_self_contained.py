"""The repository stands on its own: no tracked file refers to a path outside it.

The rule, applied to every text file that ``git ls-files`` lists (binary files are skipped):

1. **Relative paths that climb** (one or more ``../`` followed by a path) are resolved from the
   folder of the file that contains them. They must land inside the repository *and* name
   something that exists there: ``../README.md`` in ``notebooks/index.md`` is fine, while a
   reference to a folder beside the repository (a ``shared`` folder next to the clone, say)
   resolves to a missing path or leaves the repository, and fails.
2. **Absolute paths on a workstation or workspace**: a path that starts, at a word boundary, with
   a slash and one of the top-level folders in ``WORKSPACE_ROOTS`` (work, home, root, Users, mnt,
   media, scratch, tmp, opt, srv) and another slash, a Windows drive letter with a backslash, or
   a ``file:`` URL fails. These are places that exist only on somebody's machine.

Legitimate absolute paths stay allowed because they are not in that list: system locations that
every Debian machine has (the browser ``/usr/bin/chromium``, ``/dev/null`` in the Makefile,
``/bin/...``, ``/etc/...``) and the README's placeholder for a user's own dataset folder. A
path inside another word (``data/tmp/`` in ``.gitignore``) is not absolute and does not match.
The patterns and the examples below are assembled from pieces so that this file does not
match itself.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKSPACE_ROOTS = ("work", "home", "root", "Users", "mnt", "media", "scratch", "tmp", "opt", "srv")
_SLASH = "/"
ABSOLUTE = re.compile(r"(?<![\w.~/-])" + _SLASH + "(?:" + "|".join(WORKSPACE_ROOTS) + ")" + _SLASH
                      + r"|(?<![\w])[A-Za-z]:\\\\?[A-Za-z][\w .-]*\\|\bfile:" + _SLASH * 2)
CLIMB = re.compile(r"(?<![\w.])((?:\.\.[/\\])+)([\w.@+-]*(?:[/\\][\w.@+-]+)*)")


def tracked_files():
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: no tracked files to check")
    return [ROOT / p for p in out.decode().split("\0") if p]


def outside_references(path: Path, text: str) -> list[str]:
    found = []
    for m in ABSOLUTE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        found.append(f"{path.relative_to(ROOT)}:{line}: absolute path {text[m.start():m.start() + 40]!r}")
    for m in CLIMB.finditer(text):
        target = (path.parent / (m.group(1) + m.group(2))).resolve()
        inside = target == ROOT or ROOT in target.parents
        if not inside or not target.exists():
            line = text.count("\n", 0, m.start()) + 1
            found.append(f"{path.relative_to(ROOT)}:{line}: {m.group(0)!r} resolves to "
                         f"{'outside the repository' if not inside else 'a missing path'}")
    return found


def test_no_tracked_file_refers_outside_the_repository():
    problems = []
    for path in tracked_files():
        if not path.is_file():
            continue  # deleted in the working tree
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary
        problems += outside_references(path, text)
    assert not problems, "references outside the repository:\n" + "\n".join(problems)


UP = "." + "./"


@pytest.mark.parametrize("text, bad", [
    ("see " + UP + "shared/GUIDE.md", True),       # beside the repository: missing inside it
    ("see " + UP * 2 + "elsewhere/x.md", True),    # leaves the repository
    ("include " + UP + "README.md", False),        # notebooks/ -> the repository's README
    ("cd " + "/wor" + "k/main && make", True),
    ("cache in " + "/ho" + "me/alice/.cache", True),
    ("file:" + "//" + "/etc/passwd", True),
    ('executable_path="/usr/bin/chromium"', False),
    ("cmd > /dev/null", False),
    ("data/tmp/", False),
    ("-p data_root /data/nturgbd_skeletons", False),
    ("C:" + "\\Users\\alice\\data", True),                   # a Windows folder
    ("C:" + "\\\\Users\\\\alice", True),                     # the same, JSON-escaped
    ('"if a else b:' + "\\n" + '    print(x)"', False),       # a newline escape after a colon is no path
])
def test_the_rule(text, bad):
    assert bool(outside_references(ROOT / "notebooks" / "x.md", text)) == bad
