"""paperlib.stats: t-intervals, paired differences, the paired bootstrap and verdicts."""
import math

import numpy as np
import pytest

from paperlib.stats import mean_ci, paired_bootstrap_ci, paired_diff_ci, verdict


def test_paired_diff_ci_hand_computed_case():
    # differences [1, 1, 2, 2]: mean 1.5, sd sqrt(1/3) = 0.577350, se = 0.288675,
    # t_{0.975, 3} = 3.182446 (t tables), half-width 0.918693
    m, lo, hi = paired_diff_ci([1, 2, 3, 4], [0, 1, 1, 2])
    assert m == pytest.approx(1.5)
    assert lo == pytest.approx(0.581307, abs=1e-6)
    assert hi == pytest.approx(2.418693, abs=1e-6)


def test_mean_ci_hand_computed_and_level():
    # values [2, 4, 6]: mean 4, sd 2, se 2/sqrt(3) = 1.154701; t_{0.975,2} = 4.302653
    m, lo, hi = mean_ci([2, 4, 6])
    assert (m, lo, hi) == pytest.approx((4.0, 4 - 4.968275, 4 + 4.968275), abs=1e-6)
    # t_{0.95,2} = 2.919986 for a 90% interval
    _, lo90, hi90 = mean_ci([2, 4, 6], level=0.90)
    assert hi90 - 4 == pytest.approx(2.919986 * 1.154701, abs=1e-5)
    assert mean_ci([3.0, 3.0, 3.0]) == (3.0, 3.0, 3.0)


def test_mean_ci_one_value_and_errors():
    m, lo, hi = mean_ci([0.7])
    assert m == 0.7 and math.isnan(lo) and math.isnan(hi)
    with pytest.raises(ValueError, match="empty"):
        mean_ci([])
    with pytest.raises(ValueError, match="NaN"):
        mean_ci([1.0, float("nan")])
    with pytest.raises(ValueError, match="one-dimensional"):
        mean_ci([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="level"):
        mean_ci([1.0, 2.0], level=95)
    with pytest.raises(ValueError, match="same length"):
        paired_diff_ci([1, 2, 3], [1, 2])


def test_paired_interval_is_narrower_than_unpaired_when_seeds_share_noise():
    rng = np.random.default_rng(0)
    shared = rng.normal(0, 1.0, 8)  # seed effect common to both variants
    a = shared + 0.3 + rng.normal(0, 0.05, 8)
    b = shared + rng.normal(0, 0.05, 8)
    d, lo, hi = paired_diff_ci(a, b)
    assert verdict(lo, hi) == "reproduces"
    _, alo, ahi = mean_ci(a)
    assert hi - lo < 0.2 * (ahi - alo)


def test_paired_bootstrap_constant_difference_is_a_point():
    a = np.linspace(0, 1, 50)
    d, lo, hi = paired_bootstrap_ci(a + 0.25, a)
    assert d == pytest.approx(0.25) and lo == pytest.approx(0.25) and hi == pytest.approx(0.25)


def test_paired_bootstrap_matches_the_normal_interval_for_many_items():
    # differences ~ N(0.3, 1) over 4000 items: the interval of the mean is 0.3 +- 1.96/sqrt(4000)
    rng = np.random.default_rng(1)
    b = rng.normal(0, 3.0, 4000)  # large per-item level that pairing must cancel
    diff = rng.normal(0.3, 1.0, 4000)
    a = b + diff
    d, lo, hi = paired_bootstrap_ci(a, b, n_resamples=2000, seed=0)
    half = 1.959964 * diff.std(ddof=1) / math.sqrt(diff.size)
    assert d == pytest.approx(diff.mean())
    assert lo == pytest.approx(d - half, abs=0.01)
    assert hi == pytest.approx(d + half, abs=0.01)
    # deterministic for a seed
    assert paired_bootstrap_ci(a, b, n_resamples=2000, seed=0) == (d, lo, hi)
    # BCa agrees closely in this symmetric case
    _, blo, bhi = paired_bootstrap_ci(a, b, n_resamples=2000, seed=0, method="BCa")
    assert blo == pytest.approx(lo, abs=0.01) and bhi == pytest.approx(hi, abs=0.01)


def test_paired_bootstrap_of_accuracies_and_errors():
    a = np.array([1, 1, 1, 0, 1, 1, 0, 1, 1, 1] * 20, float)  # 80% correct
    b = np.array([1, 0, 1, 0, 1, 0, 0, 1, 1, 0] * 20, float)  # 50% correct, a superset of a's hits
    d, lo, hi = paired_bootstrap_ci(a, b)
    assert d == pytest.approx(0.3) and 0.2 < lo < 0.3 < hi < 0.4
    assert verdict(lo, hi) == "reproduces"
    with pytest.raises(ValueError, match="aligned"):
        paired_bootstrap_ci(a, b[:-1])
    with pytest.raises(ValueError, match="method"):
        paired_bootstrap_ci(a, b, method="normal")
    with pytest.raises(ValueError, match="at least 2"):
        paired_bootstrap_ci([1.0], [0.0])


@pytest.mark.parametrize("lo,hi,direction,expected", [
    (0.1, 0.3, +1, "reproduces"),
    (-0.3, -0.1, +1, "reversed"),
    (-0.1, 0.3, +1, "within noise"),
    (0.0, 0.3, +1, "within noise"),    # closed interval: touching 0 is not a reproduction
    (-0.3, 0.0, +1, "within noise"),
    (0.0, 0.0, +1, "within noise"),
    (-0.3, -0.1, -1, "reproduces"),    # claim: lower (an error such as MPJPE)
    (0.1, 0.3, -1, "reversed"),
    (-0.1, 0.1, -1, "within noise"),
])
def test_verdict(lo, hi, direction, expected):
    assert verdict(lo, hi, direction) == expected


def test_verdict_errors():
    with pytest.raises(ValueError, match="NaN"):
        verdict(float("nan"), float("nan"))
    with pytest.raises(ValueError, match="lo"):
        verdict(0.3, 0.1)
    with pytest.raises(ValueError, match="direction"):
        verdict(0.1, 0.3, direction=2)
