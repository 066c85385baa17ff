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
- ``verdict``: reads one interval of "claimed variant minus baseline" on its own (no
  multiplicity control) as ``"reproduces"``, ``"reversed"`` or ``"within noise"``.

Deciding a *family* of claims (GUIDE.md, "Primary claims" and "Power"):

- ``paired_t_pvalue``: the two-sided p-value of the paired t-test on per-seed differences
  (``scipy.stats.ttest_1samp``; the test whose interval ``paired_diff_ci`` inverts).
- ``holm``: Holm's step-down adjustment of a family's p-values (Holm, *Scand. J. Statist.* 1979),
  through ``statsmodels.stats.multitest.multipletests(method="holm")``: it controls the
  family-wise error rate at ``alpha`` under any dependence between the claims.
- ``min_detectable_effect``: the paired effect a design of ``n`` seeds detects with the given power
  at the given level (two-sided paired t-test, noncentral t; ``statsmodels.stats.power.TTestPower``).
- ``claim_verdict``: the four verdicts of a claim, ``VERDICTS``: ``"reproduces"`` and
  ``"reversed"`` when the (Holm-adjusted) test rejects, ``"underpowered"`` when it does not and the
  minimum detectable effect exceeds the paper's own effect, else ``"within noise"``.

All functions take array-likes of floats and return Python floats. They raise ``ValueError``
with the function's name for empty input, NaN values, or mismatched lengths.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats as _st

__all__ = ["mean_ci", "paired_diff_ci", "paired_bootstrap_ci", "verdict", "INTERVAL_VERDICTS", "VERDICTS",
           "paired_t_pvalue", "holm", "min_detectable_effect", "seeds_needed", "claim_verdict"]

#: The three readings ``verdict`` gives one interval.
INTERVAL_VERDICTS = ("reproduces", "reversed", "within noise")
#: The four verdicts of a paper claim (``claim_verdict``).
VERDICTS = ("reproduces", "reversed", "within noise", "underpowered")


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


def paired_t_pvalue(diffs) -> float:
    """Two-sided p-value of the paired t-test of ``H0: mean(diffs) = 0``.

    ``diffs``: shape ``(n,)``, the per-seed differences ``a_s - b_s``. Uses
    ``scipy.stats.ttest_1samp``, the test whose 95% interval is ``paired_diff_ci``'s (``p < 0.05``
    exactly when that interval excludes 0). Differences that are all equal have no spread: the
    p-value is 0 when they are not 0, and 1 when they are all 0. Raises ``ValueError`` for fewer
    than 2 values, NaN, or a non-1D input.
    """
    d = _as_1d(diffs, "diffs", "paired_t_pvalue")
    if d.size < 2:
        raise ValueError(f"paired_t_pvalue: need at least 2 paired differences, got {d.size}")
    if np.all(d == d[0]):
        return 0.0 if d[0] != 0 else 1.0
    return float(_st.ttest_1samp(d, 0.0).pvalue)


def holm(pvalues, alpha: float = 0.05) -> tuple[list[bool], list[float]]:
    """Holm's step-down procedure over one family of p-values.

    ``pvalues``: shape ``(m,)``, one per claim of the family. Returns ``(reject, p_adjusted)``, two
    lists of length ``m`` in the input order: ``p_adjusted[i] = max_{j <= rank(i)} min(1, (m - j + 1)
    p_(j))`` and ``reject[i] = p_adjusted[i] < alpha`` (statsmodels' ``multipletests(...,
    method="holm")``). Example: ``[0.01, 0.04, 0.03]`` -> adjusted ``[0.03, 0.06, 0.06]``, reject
    ``[True, False, False]`` at 0.05. Raises ``ValueError`` for an empty family, NaN, values outside
    [0, 1], or ``alpha`` outside (0, 1).
    """
    from statsmodels.stats.multitest import multipletests

    _check_level(alpha, "holm")
    p = _as_1d(pvalues, "pvalues", "holm")
    if ((p < 0) | (p > 1)).any():
        raise ValueError(f"holm: p-values must lie in [0, 1], got {p.tolist()}")
    reject, p_adj, _, _ = multipletests(p, alpha=alpha, method="holm")
    return [bool(r) for r in reject], [float(x) for x in p_adj]


def min_detectable_effect(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Minimum detectable effect of a paired design: the smallest true mean difference that a
    two-sided paired t-test over ``n`` seeds rejects with probability ``power`` at level ``alpha``.

    ``sd``: the standard deviation of the per-seed differences (``ddof=1``), in the metric's units;
    ``n``: the number of paired seeds. Returns ``d * sd`` in the same units, with ``d`` the
    standardised effect solving the noncentral-t power equation (``statsmodels.stats.power.
    TTestPower().solve_power(nobs=n, alpha=alpha, power=power, alternative="two-sided")``). For
    example ``n = 5, alpha = 0.05, power = 0.8`` gives ``d = 1.6820``; ``n = 10`` gives ``0.9960``.
    ``sd == 0`` gives 0. Raises ``ValueError`` for ``n < 2``, a negative or NaN ``sd``, or ``alpha``
    / ``power`` outside (0, 1).
    """
    from statsmodels.stats.power import TTestPower

    _check_level(alpha, "min_detectable_effect")
    if not 0.0 < float(power) < 1.0:
        raise ValueError(f"min_detectable_effect: power must lie in (0, 1), got {power}")
    if int(n) < 2:
        raise ValueError(f"min_detectable_effect: need at least 2 paired seeds, got n={n}")
    sd = float(sd)
    if math.isnan(sd) or sd < 0:
        raise ValueError(f"min_detectable_effect: sd must be >= 0, got {sd}")
    if sd == 0:
        return 0.0
    d = TTestPower().solve_power(effect_size=None, nobs=int(n), alpha=float(alpha), power=float(power),
                                 alternative="two-sided")
    return float(np.asarray(d).item()) * sd


def seeds_needed(sd: float, effect: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """The number of paired seeds a two-sided paired t-test needs to detect a true mean difference
    ``effect`` with probability ``power`` at level ``alpha``, given the standard deviation ``sd`` of
    the per-seed differences (same units): the smallest ``n >= 2`` whose
    :func:`min_detectable_effect` is at most ``|effect|`` (found by doubling, then bisection).
    ``sd == 0`` gives 2. Raises ``ValueError`` for ``effect == 0``, a
    negative or NaN ``sd``, or ``alpha``/``power`` outside (0, 1).
    """
    _check_level(alpha, "seeds_needed")
    if not 0.0 < float(power) < 1.0:
        raise ValueError(f"seeds_needed: power must lie in (0, 1), got {power}")
    sd, effect = float(sd), abs(float(effect))
    if math.isnan(sd) or sd < 0:
        raise ValueError(f"seeds_needed: sd must be >= 0, got {sd}")
    if effect == 0 or math.isnan(effect):
        raise ValueError("seeds_needed: the effect must be non-zero")
    if sd == 0:
        return 2
    ok = lambda n: min_detectable_effect(sd, n, alpha, power) <= effect  # noqa: E731 - decreasing in n
    lo, hi = 1, 2                                                        # invariant: not ok(lo) (n = 1 never is)
    while not ok(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 1:                                                   # bisection: ok(hi), not ok(lo)
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def claim_verdict(rejected: bool, diff: float, direction: int, mde: float, paper_effect=None) -> str:
    """The verdict of one paper claim, from its (multiplicity-adjusted) test decision.

    ``rejected``: whether the family's procedure (``holm``) rejects ``mean difference = 0``;
    ``diff``: the observed mean difference "claimed variant minus baseline"; ``direction``: +1 when
    the paper claims a higher value, -1 a lower one; ``mde``: the design's minimum detectable effect
    (``min_detectable_effect``, same units); ``paper_effect``: the paper's own effect in the same
    units, or ``None`` when the paper gives none. Returns

    - ``"reproduces"``: rejected, and the difference lies on the claimed side;
    - ``"reversed"``: rejected, and it lies on the other side;
    - ``"underpowered"``: not rejected, and ``mde > |paper_effect|``: this design could not have seen
      the paper's effect, so its silence says nothing against it;
    - ``"within noise"``: not rejected, with power for the paper's effect (or no paper effect).

    Raises ``ValueError`` for a direction other than +1/-1 or a NaN difference.
    """
    if direction not in (1, -1):
        raise ValueError(f"claim_verdict: direction must be +1 or -1, got {direction!r}")
    if math.isnan(float(diff)):
        raise ValueError("claim_verdict: the difference is NaN")
    if rejected:
        return "reproduces" if float(diff) * direction > 0 else "reversed"
    if paper_effect is not None and float(mde) > abs(float(paper_effect)):
        return "underpowered"
    return "within noise"
