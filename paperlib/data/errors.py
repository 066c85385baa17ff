"""Errors and skip reports shared by the real-dataset loaders.

Two rules hold for every loader in :mod:`paperlib.data` that reads files from disk:

1. Bad input raises :class:`FormatError`, whose message names the file, the 1-based line number
   where the file is line-oriented, and the field or key that is wrong.
2. Nothing is dropped silently. A per-file reader raises; a dataset loader catches the error,
   records it in a :class:`SkipReport` (a count per reason plus the ``(file, reason)`` items) and
   emits one ``warnings.warn`` summary line. Samples left out *by request* (another split, other
   classes, beyond ``limit``) are tallied separately in ``SkipReport.filtered`` and do not warn.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

__all__ = ["FormatError", "SkipReport"]


class FormatError(ValueError):
    """A file that does not follow its documented format.

    Parameters
    ----------
    path : str or os.PathLike
        The offending file. The message shows its base name; ``.path`` keeps it whole.
    message : str
        What is wrong, e.g. ``"expected 25, got 24"``.
    line : int, optional
        1-based line number, for line-oriented text files.
    field : str, optional
        The field or key that is wrong, e.g. ``"joint count"`` or ``"data[3].skeleton[0].pose"``.

    Notes
    -----
    Renders as ``S001C001P001R001A001.skeleton, line 7, field 'joint count': expected 25, got 24``.
    A subclass of ``ValueError``, so ``except ValueError`` also catches it.
    """

    def __init__(self, path, message: str, line: int | None = None, field: str | None = None):
        self.path = os.fspath(path)
        self.message = message
        self.line = line
        self.field = field
        where = [os.path.basename(self.path) or self.path]
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}")

    def __reduce__(self):  # keep the exception picklable (e.g. across worker processes)
        return (type(self), (self.path, self.message, self.line, self.field))


@dataclass
class SkipReport:
    """What a loader left out, and why.

    Attributes
    ----------
    source : str
        What was loaded, e.g. ``"NTU RGB+D (xsub, train)"``; used in :meth:`warn`.
    counts : dict[str, int]
        Losses: how many units (samples, bodies, frames...; the reason says which) were skipped
        per reason. These trigger :meth:`warn`.
    items : list[tuple[str, str]]
        One ``(path or sample name, reason with details)`` per skip event, in order.
    filtered : dict[str, int]
        Samples left out on purpose (another split, other classes, past ``limit``): counted,
        shown by ``str()``, but never warned about.
    """

    source: str = ""
    counts: dict = field(default_factory=dict)
    items: list = field(default_factory=list)
    filtered: dict = field(default_factory=dict)

    def add(self, path, reason: str, n: int = 1, detail: str | None = None) -> None:
        """Record ``n`` units skipped for ``reason`` in ``path``; ``detail`` goes into ``items``."""
        if n <= 0:
            return
        self.counts[reason] = self.counts.get(reason, 0) + int(n)
        text = reason if detail is None else f"{reason}: {detail}"
        if n != 1 and detail is None:
            text = f"{reason} (x{n})"
        self.items.append((os.fspath(path), text))

    def add_filtered(self, reason: str, n: int = 1) -> None:
        """Count ``n`` samples left out on request (no warning)."""
        if n > 0:
            self.filtered[reason] = self.filtered.get(reason, 0) + int(n)

    def merge(self, other: "SkipReport") -> "SkipReport":
        """Add ``other``'s counts, items and filtered counts into this report; returns ``self``."""
        for reason, n in other.counts.items():
            self.counts[reason] = self.counts.get(reason, 0) + n
        self.items.extend(other.items)
        for reason, n in other.filtered.items():
            self.filtered[reason] = self.filtered.get(reason, 0) + n
        return self

    @property
    def total(self) -> int:
        """Sum of ``counts`` (losses only)."""
        return sum(self.counts.values())

    def __len__(self) -> int:
        return self.total

    def __str__(self) -> str:
        head = f"{self.source}: " if self.source else ""
        if self.counts:
            parts = ", ".join(f"{n} x {reason}" for reason, n in sorted(self.counts.items()))
            text = f"{head}skipped {parts}"
        else:
            text = f"{head}nothing skipped"
        if self.filtered:
            text += "; filtered out on request: " + ", ".join(
                f"{n} x {reason}" for reason, n in sorted(self.filtered.items()))
        return text

    def warn(self, stacklevel: int = 3) -> None:
        """``warnings.warn`` one summary line if anything was lost (``counts`` not empty)."""
        if self.counts:
            warnings.warn(f"{self} (see the SkipReport's items for each file)", UserWarning,
                          stacklevel=stacklevel)
