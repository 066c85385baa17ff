"""Small formatters for the closing notes that the notebooks generate from their grids.

Every closing note is built by a function of ``paperlib.report.<paper>`` from the numbers the
notebook computed (nothing typed); these are the pieces they share.
"""
from __future__ import annotations


def diff_text(r: dict, scale: float = 100.0, digits: int = 1) -> str:
    """``"+1.2 [-0.3, +2.7]"``: a paired difference and its interval, from a row with ``diff``,
    ``diff_lo`` and ``diff_hi`` (as ``repro.summarize`` and ``repro.claim`` give them), times
    ``scale`` (100: accuracy points). Raises ``KeyError`` when a field is missing."""
    f = f"{{:+.{digits}f}}"
    return f"{f.format(scale * r['diff'])} [{f.format(scale * r['diff_lo'])}, {f.format(scale * r['diff_hi'])}]"


def mean_ci_text(t, scale: float = 100.0, digits: int = 1, unit: str = "%") -> str:
    """``"41.2% [38.0, 44.1]"`` from ``(mean, lo, hi)``, times ``scale``."""
    f = f"{{:.{digits}f}}"
    return f"{f.format(scale * t[0])}{unit} [{f.format(scale * t[1])}, {f.format(scale * t[2])}]"


def claim_word(decided: dict, key: str, scale: float = 100.0, digits: int = 1) -> str:
    """A claim's word for the prose: a primary claim's verdict with its minimum detectable effect
    (``"within noise, MDE 3.1"``), or where an exploratory interval lies (``"exploratory: above 0"``).

    ``decided`` is ``repro.decide``'s output. Raises ``KeyError`` for an unknown claim."""
    d = decided[key]
    if d["primary"]:
        return f"{d['verdict']}, MDE {scale * d['mde']:.{digits}f}"
    return f"exploratory: {d['raw']}"


def claim_text(decided_claim: dict, scale: float | None = None, digits: int = 1) -> str:
    """``"+1.2 [-0.3, +2.7]"`` for one claim of ``repro.decide``'s output (fields ``diff``, ``lo``,
    ``hi``), in its table's units: times the claim's own ``scale`` unless ``scale`` is given.
    Raises ``KeyError`` when a field is missing."""
    d = decided_claim
    s = d["scale"] if scale is None else scale
    return diff_text({"diff": d["diff"], "diff_lo": d["lo"], "diff_hi": d["hi"]}, s, digits)


def recovery_fraction(gain: float, oracle_gain: float, oracle_lo: float) -> float:
    """What a mechanism recovers of an oracle's gain over the same baseline: ``gain / oracle_gain`` (means
    over seeds, a ratio without an interval), ``nan`` unless the oracle's interval lower end ``oracle_lo``
    lies above 0: a ratio to a gain that may be zero means nothing."""
    return gain / oracle_gain if oracle_lo > 0 else float("nan")
