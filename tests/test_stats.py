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


# ---- deciding a family of claims: Holm, power, the four verdicts ----
from scipy import stats as _sst  # noqa: E402

from paperlib import repro  # noqa: E402
from paperlib.stats import claim_verdict, holm, min_detectable_effect, paired_t_pvalue, seeds_needed  # noqa: E402


def test_paired_t_pvalue_matches_scipy_and_the_interval():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a, b = rng.normal(size=5), rng.normal(size=5)
        p = paired_t_pvalue(a - b)
        assert p == pytest.approx(_sst.ttest_rel(a, b).pvalue, rel=1e-12)
        _, lo, hi = paired_diff_ci(a, b)
        assert (p < 0.05) == (lo > 0 or hi < 0)   # the test the 95% interval inverts
    assert paired_t_pvalue([0.2, 0.2, 0.2]) == 0.0 and paired_t_pvalue([0.0, 0.0]) == 1.0
    with pytest.raises(ValueError, match="at least 2"):
        paired_t_pvalue([1.0])


def test_holm_hand_computed_and_statsmodels():
    # sorted p: 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> monotone 0.06)
    reject, adj = holm([0.01, 0.04, 0.03])
    assert adj == pytest.approx([0.03, 0.06, 0.06]) and reject == [True, False, False]
    # a single claim is its own raw test; adjusted p-values are capped at 1
    assert holm([0.049]) == ([True], [0.049])
    assert holm([0.6, 0.7])[1] == [1.0, 1.0]
    # against the definition, on random families: p_adj(i) = max over j <= rank(i) of min(1, (m - j + 1) p_(j)),
    # never above Bonferroni's m p
    rng = np.random.default_rng(1)
    for _ in range(30):
        p = rng.uniform(0, 0.1, size=rng.integers(1, 6))
        m, order = len(p), np.argsort(p)
        step = np.minimum(1, (m - np.arange(m)) * p[order])
        want = np.empty(m)
        want[order] = np.maximum.accumulate(step)
        r, a = holm(p)
        np.testing.assert_allclose(a, want, rtol=1e-12)
        assert r == [bool(x < 0.05) for x in want] and all(a <= np.minimum(1, m * p) + 1e-12)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        holm([1.2])
    with pytest.raises(ValueError, match="empty"):
        holm([])


def _power_by_noncentral_t(d, n, alpha):
    df = n - 1
    t = _sst.t.ppf(1 - alpha / 2, df)
    nc = d * np.sqrt(n)
    return _sst.nct.sf(t, df, nc) + _sst.nct.cdf(-t, df, nc)


@pytest.mark.parametrize("n,alpha", [(5, 0.05), (10, 0.05), (5, 0.0125), (20, 0.01)])
def test_min_detectable_effect_has_80_percent_power(n, alpha):
    mde = min_detectable_effect(2.0, n, alpha)            # sd 2 -> twice the standardised effect
    assert _power_by_noncentral_t(mde / 2.0, n, alpha) == pytest.approx(0.8, abs=1e-5)
    # and it shrinks with more seeds
    assert min_detectable_effect(2.0, n + 5, alpha) < mde


def test_min_detectable_effect_values_and_errors():
    assert min_detectable_effect(1.0, 5) == pytest.approx(1.682, abs=1e-3)
    assert min_detectable_effect(1.0, 10) == pytest.approx(0.996, abs=1e-3)
    assert min_detectable_effect(0.0, 5) == 0.0
    for bad in (dict(sd=1.0, n=1), dict(sd=-1.0, n=5), dict(sd=float("nan"), n=5)):
        with pytest.raises(ValueError):
            min_detectable_effect(**bad)


@pytest.mark.parametrize("rejected,diff,direction,mde,paper,expected", [
    (True, 0.1, +1, 0.05, 0.2, "reproduces"),
    (True, -0.1, +1, 0.05, 0.2, "reversed"),
    (True, -3.0, -1, 1.0, -2.0, "reproduces"),      # an error the paper claims lower
    (False, 0.01, +1, 0.05, 0.02, "underpowered"),  # could not have seen the paper's effect
    (False, 0.01, +1, 0.05, 0.2, "within noise"),   # had the power, saw nothing
    (False, 0.01, +1, 0.05, None, "within noise"),  # no paper effect to compare with
])
def test_claim_verdict(rejected, diff, direction, mde, paper, expected):
    assert claim_verdict(rejected, diff, direction, mde, paper) == expected


def test_decide_applies_holm_to_primary_claims_only():
    strong = [0.10, 0.12, 0.08, 0.11, 0.09]
    weak = [0.02, 0.05, 0.0, 0.04, 0.03]              # raw p ~ 0.03: decisive alone, not after Holm over 4
    cl = [repro.claim_from_diffs("strong", strong, primary=True, paper=0.15),
          repro.claim_from_diffs("weak", weak, primary=True, paper=0.2),
          repro.claim_from_diffs("null1", [0.01, -0.02, 0.03, 0.0, 0.01], primary=True, paper=0.001),
          repro.claim_from_diffs("null2", [-0.01, 0.02, 0.0, 0.01, -0.02], primary=True),
          repro.claim_from_diffs("explore", weak)]
    fam = {r["name"]: r for r in repro.decide(cl)}
    p = {k: paired_t_pvalue(v) for k, v in (("strong", strong), ("weak", weak))}
    assert p["weak"] < 0.05 and fam["weak"]["raw"] == "above 0"
    assert fam["weak"]["p_holm"] > 0.05 and fam["weak"]["holm"] == "includes 0"
    assert fam["weak"]["verdict"] == "within noise"         # MDE below the paper's 0.2
    assert fam["strong"]["verdict"] == "reproduces" and fam["strong"]["p_holm"] == pytest.approx(4 * p["strong"])
    assert fam["null1"]["verdict"] == "underpowered"
    assert fam["null2"]["verdict"] == "within noise"
    # the exploratory comparison: a plain interval, no verdict; its MDE at alpha, the primaries' at alpha / 4
    ex = fam["explore"]
    assert ex["verdict"] is None and ex["holm"] is None and ex["raw"] == "above 0"
    assert ex["mde"] == pytest.approx(min_detectable_effect(np.std(weak, ddof=1), 5, 0.05))
    assert fam["weak"]["mde"] == pytest.approx(min_detectable_effect(np.std(weak, ddof=1), 5, 0.0125))
    assert all(r["family_size"] == 4 for r in fam.values())


def test_decide_refuses_more_than_four_primary_claims_and_repeats():
    d = [0.1, 0.2, 0.1]
    with pytest.raises(ValueError, match="at most 4"):
        repro.decide([repro.claim_from_diffs(f"c{i}", d, primary=True) for i in range(5)])
    with pytest.raises(ValueError, match="repeated"):
        repro.decide([repro.claim_from_diffs("a", d), repro.claim_from_diffs("a", d)])
    with pytest.raises(ValueError, match="at least 2"):
        repro.claim_from_diffs("one seed", [0.1])


def test_claims_table_and_assert_claims():
    fam = repro.decide([repro.claim_from_diffs("up", [0.10, 0.12, 0.08], primary=True, paper=0.05, scale=100,
                                               units="points"),
                        repro.claim_from_diffs("side", [0.01, -0.01, 0.02], scale=100, units="points")])
    t = repro.results_table(fam)          # results_table hands claims to claims_table
    text = str(t)
    for col in ("family", "p (Holm)", "Holm", "MDE (80% power)", "paper's effect", "verdict"):
        assert col in t.columns
    assert "primary" in text and "exploratory" in text and "+5.0 points" in text
    assert "Family of 1 primary claim decided with Holm" in text
    repro.assert_claims(fam, {"up": "reproduces"})
    with pytest.raises(AssertionError, match="verdict 'reproduces', expected reversed"):
        repro.assert_claims(fam, {"up": "reversed"})
    with pytest.raises(AssertionError, match="primary claims are"):
        repro.assert_claims(fam, {"up": "reproduces", "side": "within noise"})


def test_summarize_rows_carry_the_paired_differences():
    pts = [{"seed": s, "knobs": {}, "metrics": {"a": {"m": 0.5 + 0.1 * s}, "b": {"m": 0.4 + 0.05 * s}}}
           for s in range(4)]
    row = repro.find_row(repro.summarize(pts, "m", baseline="b"), "a")
    assert row["pair_seeds"] == [0, 1, 2, 3]
    assert row["diffs"] == pytest.approx([0.1, 0.15, 0.2, 0.25])
    c = repro.claim("a > b", row, primary=True)
    assert c["diffs"] == row["diffs"] and c["seeds"] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="no paired differences"):
        repro.claim("b", repro.find_row(repro.summarize(pts, "m", baseline="b"), "b"))


def test_seeds_needed_is_the_smallest_n_whose_mde_reaches_the_effect():
    for sd, eff, alpha in ((1.0, 1.0, 0.05), (2.0, 0.5, 0.0125), (0.1, 0.3, 0.05)):
        n = seeds_needed(sd, eff, alpha)
        assert min_detectable_effect(sd, n, alpha) <= eff < min_detectable_effect(sd, n - 1, alpha) or n == 2
    assert seeds_needed(1.0, -1.0) == seeds_needed(1.0, 1.0)   # the sign of the effect does not matter
    with pytest.raises(ValueError, match="non-zero"):
        seeds_needed(1.0, 0.0)
    fam = repro.decide([repro.claim_from_diffs("c", [0.1, 0.3, 0.2, 0.0], primary=True, paper=0.05),
                        repro.claim_from_diffs("e", [0.1, 0.3, 0.2, 0.0])])
    assert fam[0]["n_needed"] == seeds_needed(np.std([0.1, 0.3, 0.2, 0.0], ddof=1), 0.05, 0.05)
    assert fam[1]["n_needed"] is None
