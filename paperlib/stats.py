"""Intervals and verdicts for reproductions that can decide (GUIDE.md section 3).

Standard statistics, nothing course-specific:

- ``mean_ci``: the Student-t confidence interval of a mean over independent runs (seeds),
  ``mean +- t_{(1+level)/2, n-1} * s / sqrt(n)`` with ``s`` the sample standard deviation
  (``ddof=1``); e.g. any statistics textbook, or ``scipy.stats.t.interval``.
- ``paired_diff_ci``: the same interval on the per-seed differences ``a_s - b_s`` (the paired
  t-interval). Pairing removes what both variants of one seed share (data, data order,
  initialisation of shared parts), so it is much narrower than comparing two unpaired means.
- ``paired_bootstrap_ci``: the difference of a statistic over test items with a paired bootstrap
  interval (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993): items are resampled
  with replacement, the same indices for both variants. ``scipy.stats.bootstrap(paired=True)``.
  It captures the test-set sampling noise of one run, not the noise between training seeds.
- ``verdict``: reads an interval of "claimed variant minus baseline" as ``"reproduces"``,
  ``"reversed"`` or ``"within noise"``.

All functions take array-likes of floats and return Python floats. They raise ``ValueError``
with the function's name for empty input, NaN values, or mismatched lengths.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats as _st

__all__ = ["mean_ci", "paired_diff_ci", "paired_bootstrap_ci", "verdict", "VERDICTS"]

#: The three verdicts ``verdict`` can return.
VERDICTS = ("reproduces", "reversed", "within noise")


def _as_1d(values, name: str, fn: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{fn}: {name} must be one-dimensional (one value per seed or item), "
                         f"got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{fn}: {name} is empty; need at least one value")
    if np.isnan(arr).any():
        raise ValueError(f"{fn}: {name} contains NaN at positions {np.flatnonzero(np.isnan(arr)).tolist()[:10]}")
    return arr


def _check_level(level: float, fn: str) -> None:
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"{fn}: level must lie in (0, 1), got {level}")


def mean_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``values`` with its Student-t confidence interval.

    ``values``: shape ``(n,)``, one number per independent run (e.g. per seed).
    Returns ``(mean, lo, hi)`` with ``lo, hi = mean -+ t_{(1+level)/2, n-1} * s / sqrt(n)``,
    ``s`` the sample standard deviation (``ddof=1``). Assumes the runs are independent and their
    mean is close to normally distributed (the usual t-interval assumption; with 5 seeds it is an
    approximation, stated as such). ``n == 1`` gives ``(value, nan, nan)``: one run has no
    interval. Raises ``ValueError`` on empty input, NaN, or ``level`` outside (0, 1).
    """
    _check_level(level, "mean_ci")
    x = _as_1d(values, "values", "mean_ci")
    n = x.size
    m = float(x.mean())
    if n == 1:
        return m, math.nan, math.nan
    half = float(_st.t.ppf((1.0 + level) / 2.0, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return m, m - half, m + half


def paired_diff_ci(a, b, level: float = 0.95) -> tuple[float, float, float]:
    """Mean paired difference ``a - b`` with its t-interval over pairs (the paired t-interval).

    ``a``, ``b``: shape ``(n,)``, aligned: ``a[i]`` and ``b[i]`` come from the same seed (same data,
    data order and shared initialisation). Returns ``(mean(a - b), lo, hi)`` as ``mean_ci(a - b)``.
    Example: ``a=[1,2,3,4], b=[0,1,1,2]`` -> differences ``[1,1,2,2]``, mean 1.5, sd 0.57735,
    se 0.288675, ``t_{0.975,3}`` = 3.182446, interval ``[0.581307, 2.418693]``.
    Raises ``ValueError`` if the lengths differ, on empty input or NaN.
    """
    x = _as_1d(a, "a", "paired_diff_ci")
    y = _as_1d(b, "b", "paired_diff_ci")
    if x.size != y.size:
        raise ValueError(f"paired_diff_ci: a and b must be paired (same length), got {x.size} and {y.size}")
    return mean_ci(x - y, level=level)


def paired_bootstrap_ci(a_items, b_items, statistic=np.mean, n_resamples: int = 2000, level: float = 0.95,
                        seed: int = 0, method: str = "percentile") -> tuple[float, float, float]:
    """Difference ``statistic(a) - statistic(b)`` over test items with a paired bootstrap interval.

    ``a_items``, ``b_items``: shape ``(m,)``, one score per test item (e.g. 0/1 correctness, a
    per-item error), aligned: item ``i`` is the same test sample for both variants.
    ``statistic(x, axis=-1)`` must reduce along ``axis`` (numpy reductions do; default the mean).
    Resamples item indices with replacement, the same indices for ``a`` and ``b``
    (``scipy.stats.bootstrap(..., paired=True)``), ``n_resamples`` times from
    ``numpy.random.default_rng(seed)`` (deterministic for a given seed).

    ``method``: ``"percentile"`` (default: the ``(1-level)/2`` and ``(1+level)/2`` quantiles of the
    resampled differences; well defined even when every difference is equal), or ``"BCa"`` /
    ``"basic"`` as in scipy. Returns ``(observed difference, lo, hi)``. The interval measures the
    test-set sampling noise of one trained pair, not the spread between training seeds (use
    ``paired_diff_ci`` over seeds for that). Raises ``ValueError`` on mismatched lengths, fewer
    than 2 items, NaN, or an unknown method.
    """
    _check_level(level, "paired_bootstrap_ci")
    x = _as_1d(a_items, "a_items", "paired_bootstrap_ci")
    y = _as_1d(b_items, "b_items", "paired_bootstrap_ci")
    if x.size != y.size:
        raise ValueError(f"paired_bootstrap_ci: a_items and b_items must be aligned (same length), "
                         f"got {x.size} and {y.size}")
    if x.size < 2:
        raise ValueError("paired_bootstrap_ci: need at least 2 test items")
    if method not in ("percentile", "BCa", "basic"):
        raise ValueError(f"paired_bootstrap_ci: method must be 'percentile', 'BCa' or 'basic', got {method!r}")

    def diff(u, v, axis=-1):
        return statistic(u, axis=axis) - statistic(v, axis=axis)

    observed = float(diff(x, y))
    if np.all(x - y == (x - y)[0]) and statistic is np.mean:
        # every resample has the same difference: the interval is the point (scipy would warn)
        return observed, observed, observed
    res = _st.bootstrap((x, y), diff, n_resamples=int(n_resamples), paired=True, vectorized=True, axis=-1,
                        confidence_level=level, method=method, rng=np.random.default_rng(seed))
    return observed, float(res.confidence_interval.low), float(res.confidence_interval.high)


def verdict(lo: float, hi: float, direction: int = +1) -> str:
    """Read an interval of the difference "claimed variant minus baseline".

    ``direction``: ``+1`` when the paper claims the variant is *higher* (accuracy, AUC, AP),
    ``-1`` when it claims *lower* (MPJPE, error rates). Returns

    - ``"reproduces"``: the whole interval lies strictly on the claimed side of 0;
    - ``"reversed"``: the whole interval lies strictly on the other side;
    - ``"within noise"``: the interval contains 0 (closed interval: ``lo == 0`` counts).

    Raises ``ValueError`` for NaN bounds (e.g. ``mean_ci`` of one seed), ``lo > hi``, or a
    direction other than +1/-1.
    """
    if direction not in (1, -1):
        raise ValueError(f"verdict: direction must be +1 (claim: higher) or -1 (claim: lower), got {direction!r}")
    lo, hi = float(lo), float(hi)
    if math.isnan(lo) or math.isnan(hi):
        raise ValueError("verdict: the interval has NaN bounds (fewer than 2 seeds?); no verdict possible")
    if lo > hi:
        raise ValueError(f"verdict: lo ({lo}) > hi ({hi})")
    if direction == -1:
        lo, hi = -hi, -lo
    if lo > 0:
        return "reproduces"
    if hi < 0:
        return "reversed"
    return "within noise"
