"""Sufficient statistics: derived moments, exact pooling and input validation."""

import math

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from lab.experiments import CupedStats, MeanStats, ProportionStats, RatioStats, pooled_theta

SETTINGS = settings(max_examples=60, deadline=None)


def samples(min_size=2, max_size=40, bound=100.0):
    return arrays(
        np.float64,
        st.integers(min_size, max_size),
        elements=st.floats(-bound, bound, allow_nan=False, allow_infinity=False),
    )


@st.composite
def paired_samples(draw, min_size=2, max_size=40):
    n = draw(st.integers(min_size, max_size))
    elements = st.floats(-100, 100, allow_nan=False, allow_infinity=False)
    return draw(arrays(np.float64, n, elements=elements)), draw(
        arrays(np.float64, n, elements=elements)
    )


def zero_one(min_size=0, max_size=40):
    return arrays(np.float64, st.integers(min_size, max_size), elements=st.sampled_from([0.0, 1.0]))


def assert_close(actual, expected, scale=1.0):
    # Moments built from raw sums lose precision relative to the raw second moment.
    assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9 * scale)


@SETTINGS
@given(samples())
def test_mean_stats_match_numpy(values):
    result = MeanStats.from_values(values)
    scale = 1 + float(np.mean(values**2))
    assert result.n == values.size
    assert_close(result.mean, float(np.mean(values)), scale)
    assert_close(result.variance, float(np.var(values, ddof=1)), scale)
    assert_close(result.std_error_of_mean**2, float(stats.sem(values) ** 2), scale)


@SETTINGS
@given(samples(min_size=0), samples(min_size=0))
def test_adding_mean_stats_equals_stats_of_concatenated_data(first, second):
    pooled = MeanStats.from_values(first) + MeanStats.from_values(second)
    direct = MeanStats.from_values(np.concatenate([first, second]))
    scale = 1 + float(np.sum(np.concatenate([first, second]) ** 2))
    assert pooled.n == direct.n
    assert_close(pooled.sum, direct.sum, scale)
    assert_close(pooled.sum_squares, direct.sum_squares, scale)


@SETTINGS
@given(zero_one(), zero_one())
def test_adding_proportion_stats_equals_stats_of_concatenated_data(first, second):
    pooled = ProportionStats.from_values(first) + ProportionStats.from_values(second)
    assert pooled == ProportionStats.from_values(np.concatenate([first, second]))


@SETTINGS
@given(paired_samples(min_size=0), paired_samples(min_size=0))
def test_adding_ratio_and_cuped_stats_equals_stats_of_concatenated_data(first, second):
    x = np.concatenate([first[0], second[0]])
    y = np.concatenate([first[1], second[1]])
    scale = 1 + float(np.sum(x**2) + np.sum(y**2))
    for kind in (RatioStats, CupedStats):
        pooled = kind.from_values(*first) + kind.from_values(*second)
        direct = kind.from_values(x, y)
        assert_close(pooled.sum_products, direct.sum_products, scale)
        assert pooled.n == direct.n


@SETTINGS
@given(zero_one(min_size=2))
def test_proportion_variance_is_the_plug_in_bernoulli_variance(values):
    proportion = ProportionStats.from_values(values)
    as_mean = MeanStats.from_values(values)
    p = values.mean()
    assert proportion.mean == pytest.approx(p, abs=1e-15)
    assert proportion.variance == pytest.approx(p * (1 - p), abs=1e-15)
    # The convention differs from the sample variance by exactly n / (n - 1).
    n = values.size
    assert proportion.variance == pytest.approx(as_mean.variance * (n - 1) / n, abs=1e-12)


def test_ratio_variance_golden_value():
    # Per-user revenue and orders.  By hand: means m=10, d=1;
    # var_m = (0 + 100 + 225 + 25) / 3 = 350/3, var_d = (0 + 1 + 1 + 0) / 3 = 2/3,
    # cov = (0 + 10 + 15 + 0) / 3 = 25/3, so the delta-method unit variance is
    # 350/3 + 100 * 2/3 - 2 * 10 * 25/3 = 50/3.
    stats_ = RatioStats.from_values([10.0, 0.0, 25.0, 5.0], [1.0, 0.0, 2.0, 1.0])
    assert stats_.mean == 10.0
    assert stats_.covariance == pytest.approx(25 / 3, abs=1e-12)
    assert stats_.variance == pytest.approx(50 / 3, abs=1e-12)
    assert stats_.std_error_of_mean == pytest.approx(math.sqrt(50 / 3 / 4), abs=1e-12)


@SETTINGS
@given(samples())
def test_ratio_with_unit_denominators_is_the_mean(values):
    ratio = RatioStats.from_values(values, np.ones_like(values))
    mean = MeanStats.from_values(values)
    scale = 1 + float(np.mean(values**2))
    assert_close(ratio.mean, mean.mean, scale)
    assert_close(ratio.variance, mean.variance, scale)


def test_ratio_delta_method_matches_simulated_sampling_variance():
    rng = np.random.default_rng(7)
    n, repeats = 400, 4000
    orders = rng.poisson(2.0, size=(repeats, n)) + 1.0
    revenue = orders * rng.gamma(2.0, 15.0, size=(repeats, n))
    simulated = revenue.sum(axis=1) / orders.sum(axis=1)
    predicted = np.mean(
        [RatioStats.from_values(revenue[i], orders[i]).std_error_of_mean for i in range(200)]
    )
    assert predicted == pytest.approx(simulated.std(ddof=1), rel=0.05)


@SETTINGS
@given(paired_samples(min_size=3))
def test_cuped_theta_and_adjusted_variance_match_regression(pair):
    post, pre = pair
    assume(np.std(pre) > 0.1 and np.std(post) > 0.1)
    stats_ = CupedStats.from_values(post, pre)
    slope = np.polyfit(pre, post, 1)[0]
    assert stats_.theta == pytest.approx(slope, rel=1e-6, abs=1e-9)
    residual = post - stats_.theta * pre
    scale = 1 + float(np.mean(post**2) + stats_.theta**2 * np.mean(pre**2))
    assert stats_.adjusted_variance(stats_.theta) == pytest.approx(
        np.var(residual, ddof=1), rel=1e-6, abs=1e-9 * scale
    )
    assert stats_.adjusted_mean(stats_.theta, pre_center=1.5) == pytest.approx(
        post.mean() - stats_.theta * (pre.mean() - 1.5), rel=1e-9, abs=1e-9 * scale
    )


def test_pooled_theta_equals_ols_slope_with_arm_indicator():
    rng = np.random.default_rng(3)
    pre_c, pre_t = rng.normal(10, 3, 300), rng.normal(10.5, 3, 250)
    post_c = 2 + 0.7 * pre_c + rng.normal(0, 1, 300)
    post_t = 3 + 0.7 * pre_t + rng.normal(0, 1, 250)
    arm = np.r_[np.zeros(300), np.ones(250)]
    design = sm.add_constant(np.column_stack([arm, np.r_[pre_c, pre_t]]))
    ols = sm.OLS(np.r_[post_c, post_t], design).fit()
    theta = pooled_theta(
        CupedStats.from_values(post_c, pre_c), CupedStats.from_values(post_t, pre_t)
    )
    assert theta == pytest.approx(ols.params[2], abs=1e-10)


def test_theta_is_zero_when_pre_is_constant():
    stats_ = CupedStats.from_values([1.0, 5.0, 2.0], [4.0, 4.0, 4.0])
    assert stats_.theta == 0.0


@pytest.mark.parametrize("value", [0.1, 1e6 + 0.1, -3.7])
def test_constant_data_has_exactly_zero_variance(value):
    assert MeanStats.from_values(np.full(7, value)).variance == 0.0


def test_stats_hold_plain_python_numbers():
    stats_ = MeanStats(n=np.int64(3), sum=np.float32(3.0), sum_squares=5.0)
    assert type(stats_.n) is int and type(stats_.sum) is float
    assert ProportionStats(n=10.0, successes=np.int64(3)) == ProportionStats(n=10, successes=3)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: MeanStats(n=-1, sum=0.0, sum_squares=0.0), "n must be >= 0"),
        (lambda: MeanStats(n=2.5, sum=0.0, sum_squares=0.0), "whole number"),
        (lambda: MeanStats(n=2, sum=float("nan"), sum_squares=1.0), "finite"),
        (lambda: MeanStats(n=2, sum=0.0, sum_squares=-1.0), "sum_squares must be >= 0"),
        (lambda: MeanStats(n=0, sum=1.0, sum_squares=1.0), "empty sample"),
        (lambda: MeanStats(n=2, sum=10.0, sum_squares=1.0), "no real data"),
        (lambda: MeanStats.from_values([[1.0, 2.0]]), "one-dimensional"),
        (lambda: MeanStats.from_values([1.0, np.inf]), "NaN or infinite"),
        (lambda: ProportionStats(n=3, successes=4), "cannot exceed n"),
        (lambda: ProportionStats(n=3, successes=-1), "successes must be >= 0"),
        (lambda: ProportionStats.from_values([0, 1, 2]), "0 or 1"),
        (lambda: RatioStats.from_values([1.0, 2.0], [1.0]), "lengths differ"),
        (
            lambda: RatioStats(MeanStats(2, 2.0, 2.0), MeanStats(3, 3.0, 3.0), 2.0),
            "same units",
        ),
        (
            lambda: RatioStats(MeanStats(2, 2.0, 2.0), MeanStats(2, 2.0, 2.0), 5.0),
            "impossible",
        ),
        (lambda: CupedStats.from_values([1.0, 2.0], [1.0, 2.0, 3.0]), "lengths differ"),
        (lambda: MeanStats(n=0, sum=0.0, sum_squares=0.0).mean, "empty sample"),
        (lambda: MeanStats.from_values([1.0]).variance, "at least 2 units"),
        (lambda: ProportionStats(n=0, successes=0).mean, "empty sample"),
        (lambda: RatioStats.from_values([1.0, 2.0], [0.0, 0.0]).mean, "sums to 0"),
        (lambda: RatioStats.from_values([1.0, 2.0], [1.0, -1.0]).variance, "sums to 0"),
        (lambda: pooled_theta(), "at least one arm"),
        (lambda: pooled_theta(CupedStats.from_values([1.0], [2.0])), "at least 2 units"),
    ],
)
def test_invalid_inputs_raise_clear_value_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_wrong_types_raise_type_errors():
    with pytest.raises(TypeError):
        MeanStats.from_values([1.0, 2.0]) + ProportionStats(n=2, successes=1)
    with pytest.raises(TypeError, match="must be a number"):
        MeanStats(n=True, sum=0.0, sum_squares=0.0)
    with pytest.raises(TypeError, match="MeanStats"):
        RatioStats(ProportionStats(2, 1), MeanStats(2, 2.0, 2.0), 1.0)
    with pytest.raises(TypeError, match="CupedStats"):
        pooled_theta(MeanStats.from_values([1.0, 2.0]))
