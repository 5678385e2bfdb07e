"""Design checks: SRM, multiple-testing adjustment and power calculations."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

from lab.experiments import (
    ProportionStats,
    adjust_pvalues,
    compare,
    mde_means,
    mde_proportions,
    power_means,
    power_proportions,
    sample_size_means,
    sample_size_proportions,
    srm_check,
)

SETTINGS = settings(max_examples=60, deadline=None)


# Sample-ratio mismatch ---------------------------------------------------------


@st.composite
def allocations(draw):
    arms = draw(st.integers(2, 6))
    weights = draw(st.lists(st.floats(0.05, 1.0), min_size=arms, max_size=arms))
    counts = draw(st.lists(st.integers(1, 100_000), min_size=arms, max_size=arms))
    return counts, weights


@SETTINGS
@given(allocations())
def test_srm_matches_scipy_chisquare(allocation):
    counts, weights = allocation
    result = srm_check(counts, weights)
    expected = np.sum(counts) * np.asarray(weights) / np.sum(weights)
    reference = stats.chisquare(counts, expected)
    assert result.chi2 == pytest.approx(reference.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-300)
    assert result.expected == pytest.approx(tuple(expected), rel=1e-12)
    assert result.observed == tuple(counts)
    assert result.is_mismatch == (reference.pvalue < 0.001)


def test_empty_zero_weight_arm_is_left_out_of_the_test():
    result = srm_check([5_000, 5_200, 0], [0.5, 0.5, 0.0])
    reference = stats.chisquare([5_000, 5_200])
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-12)
    assert result.chi2 == pytest.approx(reference.statistic, rel=1e-12)
    assert result.expected == (5_100.0, 5_100.0, 0.0)
    assert not result.is_mismatch


def test_units_in_a_zero_weight_arm_are_a_mismatch():
    result = srm_check([5_000, 5_000, 1], [1, 1, 0], arm_names=["control", "treatment", "holdout"])
    assert result.p_value == 0.0
    assert result.chi2 == math.inf
    assert result.is_mismatch
    assert result.message == (
        "Sample-ratio mismatch: arms planned to get no units received some (holdout: 1)"
    )


def test_mismatch_message_names_the_arm_furthest_from_plan():
    result = srm_check([10_000, 10_000, 9_000], [1, 1, 1], arm_names=["a", "b", "c"])
    assert result.is_mismatch
    assert result.message.startswith("Sample-ratio mismatch (p = ")
    assert "c received 31.03% of units, planned 33.33%" in result.message


def test_threshold_decides_the_flag():
    # chi2 = 2 * 90**2 / 5090 = 3.18 on 1 df, p = 0.074.
    counts, weights = [5_000, 5_180], [1, 1]
    assert not srm_check(counts, weights).is_mismatch
    assert srm_check(counts, weights, threshold=0.1).is_mismatch
    assert srm_check(counts, weights).message == "No sample-ratio mismatch detected (p = 0.074)"


@pytest.mark.parametrize(
    ("counts", "weights", "options", "message"),
    [
        ([10, 10], [1, 1, 1], {}, "equal length"),
        ([10, -1], [1, 1], {}, "whole numbers"),
        ([10, 1.5], [1, 1], {}, "whole numbers"),
        ([10, 10], [1, -1], {}, "weights must be >= 0"),
        ([10, 10], [0, 0], {}, "positive sum"),
        ([0, 0], [1, 1], {}, "no units"),
        ([10, 0], [1, 0], {}, "two arms"),
        ([10, np.nan], [1, 1], {}, "finite"),
        ([10, 10], [1, 1], {"threshold": 1.5}, "threshold"),
        ([10, 10], [1, 1], {"arm_names": ["a"]}, "arm names"),
    ],
)
def test_srm_rejects_invalid_input(counts, weights, options, message):
    with pytest.raises(ValueError, match=message):
        srm_check(counts, weights, **options)


# Multiple testing ----------------------------------------------------------------

pvalue_lists = st.lists(st.floats(0, 1), min_size=1, max_size=30)


@SETTINGS
@given(pvalue_lists)
def test_bh_matches_statsmodels(pvalues):
    bh = adjust_pvalues(pvalues, method="bh")
    # subnormal p-values (5e-324) lose relative precision in any order of operations
    np.testing.assert_allclose(
        bh, multipletests(pvalues, method="fdr_bh")[1], rtol=1e-12, atol=1e-300
    )
    assert np.all(bh >= np.asarray(pvalues) - 1e-15)


# multipletests(method="holm") calls gc.collect() every time, which costs tens to hundreds
# of milliseconds in a large test process, so Holm gets a few fixed cases instead of hypothesis.
@pytest.mark.parametrize(
    "pvalues",
    [
        np.random.default_rng(5).uniform(0, 0.2, 30),
        [0.0, 1.0, 0.5, 0.5, 0.01, 0.02, 0.049, 0.051],
    ],
)
def test_holm_matches_statsmodels_and_is_stricter_than_bh(pvalues):
    holm = adjust_pvalues(pvalues, method="holm")
    np.testing.assert_allclose(holm, multipletests(pvalues, method="holm")[1], rtol=1e-12)
    # Holm (family-wise error) is never less strict than BH (false discovery rate).
    assert np.all(holm >= adjust_pvalues(pvalues, method="bh") - 1e-15)


def test_adjust_pvalues_golden_values():
    # Holm: sorted 0.01, 0.03, 0.04 times 3, 2, 1 -> 0.03, 0.06, 0.04 -> running max 0.06.
    np.testing.assert_allclose(adjust_pvalues([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    assert adjust_pvalues([]).shape == (0,)


@pytest.mark.parametrize(
    ("pvalues", "method", "message"),
    [
        ([0.1, 1.2], "holm", r"\[0, 1\]"),
        ([0.1, np.nan], "bh", "NaN"),
        ([0.1], "bonferroni", "method"),
        ([[0.1]], "holm", "one-dimensional"),
    ],
)
def test_adjust_pvalues_rejects_invalid_input(pvalues, method, message):
    with pytest.raises(ValueError, match=message):
        adjust_pvalues(pvalues, method=method)


# Power ---------------------------------------------------------------------------


def test_sample_size_proportions_golden_value():
    # Cohen's h = 2 asin(sqrt(0.12)) - 2 asin(sqrt(0.10)) = 0.0639821.
    # n = (1 + 1/ratio) (z_0.975 + z_0.8)^2 / h^2 = 2 * (1.959964 + 0.841621)^2 / 0.0639821^2
    #   = 2 * 7.848876 / 0.00409371 = 3834.6  ->  3835 per arm.
    assert sample_size_proportions(0.10, 0.02) == 3835
    assert sample_size_proportions(0.10, 0.20, relative=True) == 3835


@pytest.mark.parametrize(
    ("baseline", "mde", "alpha", "power", "ratio"),
    [(0.05, 0.01, 0.05, 0.8, 1.0), (0.3, -0.04, 0.01, 0.9, 1.0), (0.5, 0.05, 0.1, 0.8, 2.0)],
)
def test_sample_size_proportions_matches_statsmodels(baseline, mde, alpha, power, ratio):
    effect_size = proportion_effectsize(baseline + mde, baseline)
    reference = NormalIndPower().solve_power(
        effect_size=abs(effect_size), alpha=alpha, power=power, ratio=ratio
    )
    n = sample_size_proportions(baseline, mde, alpha=alpha, power=power, ratio=ratio)
    assert isinstance(n, int)
    assert n == math.ceil(reference)


def test_sample_size_means_golden_value():
    # d = 10 / 50 = 0.2.  Normal approximation: 2 (1.959964 + 0.841621)^2 / 0.04 = 392.44;
    # the t-test needs about one unit more (statsmodels: 393.41), so 394 per arm.
    assert sample_size_means(std=50.0, mde=10.0) == 394
    reference = TTestIndPower().solve_power(effect_size=0.2, alpha=0.05, power=0.8, ratio=3.0)
    assert sample_size_means(std=5.0, mde=-1.0, ratio=3.0) == math.ceil(reference)


def test_planned_sample_size_reaches_planned_power_in_simulation():
    # 2000 simulated experiments at the planned size, analysed with compare()'s z-test.
    rng = np.random.default_rng(21)
    n = sample_size_proportions(0.10, 0.02)
    control = rng.binomial(n, 0.10, size=2000)
    treatment = rng.binomial(n, 0.12, size=2000)
    detected = np.mean(
        [
            compare(ProportionStats(n, c), ProportionStats(n, t)).p_value < 0.05
            for c, t in zip(control, treatment, strict=True)
        ]
    )
    assert detected == pytest.approx(0.8, abs=0.03)


@pytest.mark.parametrize(("baseline", "n", "ratio"), [(0.10, 3835, 1.0), (0.02, 20_000, 1.5)])
def test_mde_and_power_invert_sample_size_for_proportions(baseline, n, ratio):
    mde = mde_proportions(baseline, n, ratio=ratio)
    assert power_proportions(baseline, mde, n, ratio=ratio) == pytest.approx(0.8, abs=1e-9)
    assert abs(sample_size_proportions(baseline, mde, ratio=ratio) - n) <= 1 + 2e-4 * n
    relative = mde_proportions(baseline, n, ratio=ratio, relative=True)
    assert relative == pytest.approx(mde / baseline, rel=1e-12)
    assert power_proportions(baseline, relative, n, ratio=ratio, relative=True) == pytest.approx(
        0.8, abs=1e-9
    )


def test_mde_proportions_golden_value():
    # Solving the golden sample size backwards gives back the 2 pp lift from 10 %.
    assert mde_proportions(0.10, 3834.595739884031) == pytest.approx(0.02, abs=1e-6)


def test_mde_and_power_invert_sample_size_for_means():
    mde = mde_means(std=50.0, n_per_arm=394)
    assert power_means(std=50.0, mde=mde, n_per_arm=394) == pytest.approx(0.8, abs=1e-9)
    assert mde == pytest.approx(50.0 * 0.2, rel=0.01)
    assert power_means(std=50.0, mde=10.0, n_per_arm=394) > 0.8
    assert power_means(std=50.0, mde=10.0, n_per_arm=393) < 0.8


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sample_size_proportions(0.0, 0.02), "baseline"),
        (lambda: sample_size_proportions(0.10, 0.0), "mde"),
        (lambda: sample_size_proportions(0.95, 0.1), "outside"),
        (lambda: sample_size_proportions(0.10, 0.02, alpha=1.0), "alpha"),
        (lambda: sample_size_proportions(0.10, 0.02, power=1.0), "power"),
        (lambda: sample_size_proportions(0.10, 0.02, ratio=0.0), "ratio"),
        (lambda: sample_size_means(std=0.0, mde=1.0), "std"),
        (lambda: sample_size_means(std=1.0, mde=math.nan), "mde"),
        (lambda: mde_proportions(0.10, 1), "n_per_arm"),
        (lambda: mde_proportions(0.99, 10), "too small"),
        (lambda: mde_means(std=-1.0, n_per_arm=100), "std"),
        (lambda: power_proportions(0.10, 0.02, 1), "n_per_arm"),
        (lambda: power_means(std=1.0, mde=0.0, n_per_arm=100), "mde"),
    ],
)
def test_power_functions_reject_invalid_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# Exact roots and the pooled-variance z formula (issue 15) -------------------------


@SETTINGS
@given(
    st.floats(0.01, 0.6),
    st.floats(50, 200_000),
    st.sampled_from([0.5, 1.0, 2.0]),
    st.sampled_from([0.01, 0.05, 0.1]),
    st.sampled_from([0.5, 0.8, 0.9, 0.95]),
    st.sampled_from(["arcsine", "pooled_z"]),
)
def test_mde_proportions_is_the_exact_root(baseline, n, ratio, alpha, power, method):
    """Power at the returned MDE equals the target to 1e-9, and brentq (scipy) on
    statsmodels' power function lands on the same effect size."""
    mde = mde_proportions(baseline, n, alpha=alpha, power=power, ratio=ratio, method=method)
    got = power_proportions(baseline, mde, n, alpha=alpha, ratio=ratio, method=method)
    assert got == pytest.approx(power, abs=1e-9)
    if method == "arcsine":
        h = proportion_effectsize(baseline + mde, baseline)

        def gap(e):
            return NormalIndPower().power(e, n, alpha, ratio=ratio) - power

        assert abs(h) == pytest.approx(optimize.brentq(gap, 1e-12, 10, xtol=1e-14), rel=1e-9)


@SETTINGS
@given(
    st.floats(10, 100_000),
    st.sampled_from([0.5, 1.0, 3.0]),
    st.sampled_from([0.01, 0.05]),
    st.sampled_from([0.5, 0.8, 0.9]),
)
def test_mde_means_is_the_exact_root(n, ratio, alpha, power):
    mde = mde_means(std=2.0, n_per_arm=n, alpha=alpha, power=power, ratio=ratio)
    assert power_means(std=2.0, mde=mde, n_per_arm=n, alpha=alpha, ratio=ratio) == pytest.approx(
        power, abs=1e-9
    )

    def gap(d):
        return TTestIndPower().power(d, n, alpha, ratio=ratio) - power

    # statsmodels' own power changes sign within 1e-9 (relative) of the returned root
    # (where it is defined: scipy's noncentral t is NaN for some large parameters)
    d = mde / 2.0
    below, above = gap(d * (1 - 1e-9)), gap(d * (1 + 1e-9))
    if np.isfinite(below) and np.isfinite(above):
        assert below < 0 < above


def test_pooled_z_golden_value():
    """By hand, 10 % -> 12 %, alpha 0.05 two-sided, power 0.8, equal arms:
    pooled p = 0.11, z_0.975 = 1.959964, z_0.8 = 0.841621,
    sqrt(2 * 0.11 * 0.89) = 0.442493, sqrt(0.10 * 0.90 + 0.12 * 0.88) = 0.442267,
    n = (1.959964 * 0.442493 + 0.841621 * 0.442267)^2 / 0.02^2
      = 1.239492^2 / 0.0004 = 3840.85 -> 3841 per arm (the arcsine formula gives 3835)."""
    n = (1.959964 * math.sqrt(2 * 0.11 * 0.89) + 0.841621 * math.sqrt(0.09 + 0.1056)) ** 2 / 4e-4
    assert n == pytest.approx(3840.85, abs=0.01)
    assert sample_size_proportions(0.10, 0.02, method="pooled_z") == 3841
    assert sample_size_proportions(0.10, 0.02, method="arcsine") == 3835
    assert power_proportions(0.10, 0.02, 3840.85, method="pooled_z") == pytest.approx(0.8, abs=1e-4)
    # unequal arms (ratio 2): pooled p = (0.10 + 2 * 0.12) / 3, by the same formula
    p = 0.34 / 3
    n2 = (
        stats.norm.ppf(0.975) * math.sqrt(p * (1 - p) * 1.5)
        + stats.norm.ppf(0.8) * math.sqrt(0.09 + 0.1056 / 2)
    ) ** 2 / 4e-4
    assert sample_size_proportions(0.10, 0.02, ratio=2.0, method="pooled_z") == math.ceil(n2)
    with pytest.raises(ValueError, match="method"):
        sample_size_proportions(0.10, 0.02, method="wald")


def test_power_means_where_scipys_noncentral_t_fails():
    """scipy's noncentral t is NaN at these parameters; the power must still be right.
    Reference: Monte Carlo of |Z + nc| / sqrt(V / df) > t_crit with V ~ chi2(df)."""
    n, ratio, alpha, d = 3.0, 0.5, 0.01, 8.0  # df = 2.5, nc = 8
    assert np.isnan(TTestIndPower().power(d, n, alpha, ratio=ratio))
    rng = np.random.default_rng(0)
    df, nc = n * (1 + ratio) - 2, d * math.sqrt(n * ratio * n / (n + ratio * n))
    t = (rng.standard_normal(400_000) + nc) / np.sqrt(rng.chisquare(df, 400_000) / df)
    expected = np.mean(np.abs(t) > stats.t.isf(alpha / 2, df))
    got = power_means(std=1.0, mde=d, n_per_arm=n, alpha=alpha, ratio=ratio)
    assert got == pytest.approx(expected, abs=0.003)
