"""compare(): checked against scipy, statsmodels, hand-derived values and simulation."""

import math

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import integrate, stats
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats.weightstats import CompareMeans

from lab.experiments import (
    ComparisonResult,
    CupedStats,
    GaussianPrior,
    MeanStats,
    ProportionStats,
    RatioStats,
    compare,
)

SETTINGS = settings(max_examples=60, deadline=None)
# statsmodels computes ratios and odds ratios we do not use; they divide by zero at rate 0 or 1.
IGNORE_STATSMODELS_RATIOS = pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
ALPHAS = st.sampled_from([0.01, 0.05, 0.1, 0.2])


def sample(min_size=2, max_size=60):
    return arrays(
        np.float64,
        st.integers(min_size, max_size),
        elements=st.floats(-100, 100, allow_nan=False, allow_infinity=False),
    )


def spread_out(values):
    # Keeps the data away from the zero-variance case, where compare() refuses to run.
    return np.std(values) > 0.1


@st.composite
def proportion_arms(draw, min_n=2, interior=False):
    """Two arms; ``interior`` keeps every rate strictly between 0 and 1."""
    arms = []
    for _ in range(2):
        n = draw(st.integers(min_n, 5000))
        successes = draw(st.integers(1, n - 1) if interior else st.integers(0, n))
        arms.append(ProportionStats(n=n, successes=successes))
    return arms


def mean_arms_from_seed(seed, n_control, n_treatment, shift=0.0):
    rng = np.random.default_rng(seed)
    control = rng.gamma(2.0, 5.0, n_control)
    treatment = rng.gamma(2.0, 5.0, n_treatment) + shift
    return MeanStats.from_values(control), MeanStats.from_values(treatment)


# Frequentist ------------------------------------------------------------------


@SETTINGS
@given(sample(), sample(), ALPHAS)
def test_welch_matches_scipy_ttest_ind(control, treatment, alpha):
    assume(spread_out(control) and spread_out(treatment))
    result = compare(MeanStats.from_values(control), MeanStats.from_values(treatment), alpha=alpha)
    reference = stats.ttest_ind(treatment, control, equal_var=False)
    interval = reference.confidence_interval(1 - alpha)
    assert result.effect == pytest.approx(treatment.mean() - control.mean(), rel=1e-9, abs=1e-9)
    assert result.df == pytest.approx(reference.df, rel=1e-6)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-6, abs=1e-12)
    assert result.ci_low == pytest.approx(interval.low, rel=1e-6, abs=1e-8)
    assert result.ci_high == pytest.approx(interval.high, rel=1e-6, abs=1e-8)


@SETTINGS
@given(sample(), sample(), ALPHAS)
def test_welch_interval_matches_statsmodels_compare_means(control, treatment, alpha):
    assume(spread_out(control) and spread_out(treatment))
    result = compare(MeanStats.from_values(control), MeanStats.from_values(treatment), alpha=alpha)
    low, high = CompareMeans.from_data(treatment, control).tconfint_diff(
        alpha=alpha, usevar="unequal"
    )
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), rel=1e-6, abs=1e-8)


@IGNORE_STATSMODELS_RATIOS
@SETTINGS
@given(proportion_arms(), ALPHAS)
def test_proportions_match_statsmodels_unpooled_wald(arms, alpha):
    control, treatment = arms
    assume(0 < control.successes < control.n or 0 < treatment.successes < treatment.n)
    result = compare(control, treatment, alpha=alpha)
    counts = (treatment.successes, treatment.n, control.successes, control.n)
    reference = sm_proportion.test_proportions_2indep(*counts, method="wald", compare="diff")
    low, high = sm_proportion.confint_proportions_2indep(
        *counts, method="wald", compare="diff", alpha=alpha
    )
    assert result.df is None
    assert result.effect == pytest.approx(reference.diff, abs=1e-12)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-300)
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), abs=1e-12)


def test_relative_difference_golden_value():
    # Control: n=100, mean 10, variance 25 -> sum 1000, sum_squares 99*25 + 1000**2/100.
    # Treatment: n=100, mean 11, variance 36 -> sum 1100, sum_squares 99*36 + 1100**2/100.
    # Variances of the means: vc = 0.25, vt = 0.36.  Delta method for 11/10 - 1 = 0.1:
    #   var = vt / mc**2 + mt**2 vc / mc**4 = 0.36/100 + 121 * 0.25/10000
    #       = 0.0036 + 0.003025 = 0.006625
    # Welch-Satterthwaite on the two parts: df = 0.006625**2 / ((0.0036**2 + 0.003025**2) / 99)
    #   = 99 * 4.3890625e-05 / 2.2110625e-05 = 196.5196...
    control = MeanStats(n=100, sum=1000.0, sum_squares=12475.0)
    treatment = MeanStats(n=100, sum=1100.0, sum_squares=15664.0)
    result = compare(control, treatment, difference="relative")
    assert result.effect == pytest.approx(0.1, abs=1e-12)
    assert result.std_error == pytest.approx(math.sqrt(0.006625), abs=1e-12)
    assert result.df == pytest.approx(99 * 4.3890625e-05 / 2.2110625e-05, abs=1e-9)
    half_width = stats.t.isf(0.025, result.df) * math.sqrt(0.006625)
    assert result.ci_low == pytest.approx(0.1 - half_width, abs=1e-9)
    assert result.ci_high == pytest.approx(0.1 + half_width, abs=1e-9)


def test_relative_standard_error_matches_simulated_sampling_variance():
    rng = np.random.default_rng(11)
    repeats, n = 4000, 300
    control = rng.gamma(2.0, 5.0, size=(repeats, n))
    treatment = rng.gamma(2.0, 5.5, size=(repeats, n))
    lifts = treatment.mean(axis=1) / control.mean(axis=1) - 1
    reported = [
        compare(
            MeanStats.from_values(control[i]),
            MeanStats.from_values(treatment[i]),
            difference="relative",
        ).std_error
        for i in range(300)
    ]
    assert np.mean(reported) == pytest.approx(lifts.std(ddof=1), rel=0.05)


@SETTINGS
@given(sample(), sample(), st.sampled_from(["absolute", "relative"]))
def test_ratio_with_unit_denominators_equals_mean_metric(control, treatment, difference):
    assume(spread_out(control) and spread_out(treatment))
    assume(abs(control.mean()) > 1)
    assume(difference == "absolute" or control.mean() > 0)  # relative needs mc > 0
    as_mean = compare(
        MeanStats.from_values(control), MeanStats.from_values(treatment), difference=difference
    )
    as_ratio = compare(
        RatioStats.from_values(control, np.ones_like(control)),
        RatioStats.from_values(treatment, np.ones_like(treatment)),
        difference=difference,
    )
    for field in ("effect", "std_error", "ci_low", "ci_high", "p_value", "df"):
        assert getattr(as_ratio, field) == pytest.approx(
            getattr(as_mean, field), rel=1e-6, abs=1e-9
        )
    assert as_ratio.metric_type == "ratio"


# CUPED -------------------------------------------------------------------------


def cuped_data(seed, correlation, n_control=400, n_treatment=350, lift=0.5):
    rng = np.random.default_rng(seed)
    pre = [rng.normal(10, 2, n) for n in (n_control, n_treatment)]
    noise = [rng.normal(0, 2, n) for n in (n_control, n_treatment)]
    post = [
        correlation * p + math.sqrt(1 - correlation**2) * e + 5
        for p, e in zip(pre, noise, strict=True)
    ]
    post[1] = post[1] + lift
    return post, pre


def orthogonalise(post, pre):
    """Make pre exactly uncorrelated with post inside the arm, keeping its mean."""
    design = np.column_stack([np.ones_like(post), post])
    residual = pre - design @ np.linalg.lstsq(design, pre, rcond=None)[0]
    return residual + pre.mean()


@pytest.mark.parametrize("difference", ["absolute", "relative"])
def test_cuped_with_uncorrelated_pre_equals_plain_comparison(difference):
    post, pre = cuped_data(seed=1, correlation=0.0)
    pre = [orthogonalise(y, x) for y, x in zip(post, pre, strict=True)]
    cuped = compare(*map(CupedStats.from_values, post, pre), difference=difference)
    plain = compare(*map(MeanStats.from_values, post), difference=difference)
    for field in ("control_mean", "treatment_mean", "effect", "std_error", "ci_low", "ci_high"):
        assert getattr(cuped, field) == pytest.approx(getattr(plain, field), rel=1e-9, abs=1e-12)
    assert cuped.p_value == pytest.approx(plain.p_value, rel=1e-6)


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_cuped_narrows_interval_when_pre_is_correlated(seed):
    post, pre = cuped_data(seed=seed, correlation=0.9)
    cuped = compare(*map(CupedStats.from_values, post, pre))
    plain = compare(*map(MeanStats.from_values, post))
    # With correlation 0.9 the variance should shrink by about 1 - 0.9**2 = 0.19.
    assert cuped.std_error / plain.std_error == pytest.approx(math.sqrt(0.19), rel=0.15)
    assert cuped.ci_high - cuped.ci_low < plain.ci_high - plain.ci_low


@pytest.mark.parametrize(("seed", "correlation"), [(5, 0.9), (6, 0.3), (7, -0.6)])
def test_cuped_effect_equals_ols_arm_coefficient(seed, correlation):
    # The estimator uses the slope pooled within arms, which is exactly the OLS slope of
    # post ~ 1 + arm + pre; so the arm coefficient and the CUPED difference coincide.
    post, pre = cuped_data(seed=seed, correlation=correlation)
    arm = np.r_[np.zeros(post[0].size), np.ones(post[1].size)]
    pre_all = np.concatenate(pre)
    design = sm.add_constant(np.column_stack([arm, pre_all - pre_all.mean()]))
    ols = sm.OLS(np.concatenate(post), design).fit()
    cuped = compare(*map(CupedStats.from_values, post, pre))
    assert cuped.effect == pytest.approx(ols.params[1], abs=1e-8)
    # With the centred covariate the intercept is the adjusted control mean.
    assert cuped.control_mean == pytest.approx(ols.params[0], abs=1e-8)


def test_cuped_is_unbiased_over_repeated_experiments():
    estimates = [
        compare(*map(CupedStats.from_values, *cuped_data(seed, 0.8, lift=0.5))).effect
        for seed in range(300)
    ]
    standard_error = np.std(estimates, ddof=1) / math.sqrt(len(estimates))
    assert abs(np.mean(estimates) - 0.5) < 4 * standard_error


# Sequential --------------------------------------------------------------------


@st.composite
def mean_arm_pairs(draw):
    return mean_arms_from_seed(
        draw(st.integers(0, 2**32 - 1)),
        draw(st.integers(20, 3000)),
        draw(st.integers(20, 3000)),
        shift=draw(st.floats(-3, 3)),
    )


def confidence_sequence(effect, std_error, n_total, alpha, tuning):
    """Normal-mixture half-width and p-value, written out independently of the library."""
    rho_squared = (-2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))) / tuning
    v = n_total * rho_squared
    half_width = std_error * math.sqrt((v + 1) / v * (math.log(v + 1) + 2 * math.log(1 / alpha)))
    p_value = min(1.0, math.sqrt(v + 1) * math.exp(-v * (effect / std_error) ** 2 / (2 * (v + 1))))
    return half_width, p_value


@SETTINGS
@given(
    st.one_of(mean_arm_pairs(), proportion_arms(min_n=20, interior=True)),
    ALPHAS,
    st.sampled_from([100, 5000, 100_000]),
    st.sampled_from(["absolute", "relative"]),
)
def test_sequential_is_the_confidence_sequence_and_wider_than_fixed_horizon(
    arms, alpha, tuning, difference
):
    control, treatment = arms
    options = dict(alpha=alpha, difference=difference)
    fixed = compare(control, treatment, **options)
    sequential = compare(
        control, treatment, method="sequential", sequential_tuning=tuning, **options
    )
    half_width, p_value = confidence_sequence(
        fixed.effect, fixed.std_error, control.n + treatment.n, alpha, tuning
    )
    assert sequential.effect == fixed.effect
    # With >= 20 units per arm the sequence itself is wider than the t or z interval.
    assert sequential.ci_high - sequential.effect == pytest.approx(half_width, rel=1e-9)
    assert sequential.ci_low <= fixed.ci_low and sequential.ci_high >= fixed.ci_high
    assert sequential.p_value >= fixed.p_value
    if isinstance(control, ProportionStats):
        # Under the normal, 2 (1 - Phi(z)) <= exp(-z^2 / 2), so this holds without the max.
        assert sequential.p_value == pytest.approx(p_value, rel=1e-9, abs=1e-300)
    # The always-valid p-value and interval agree on significance.
    excludes_zero = sequential.ci_low > 0 or sequential.ci_high < 0
    assume(abs(sequential.p_value - alpha) > 1e-9)
    assert excludes_zero == (sequential.p_value < alpha)


def test_sequential_falls_back_to_welch_interval_for_tiny_unequal_arms():
    # Welch df is close to 2 here, so t(0.975, df) ~ 4.3 exceeds the sequence's ~3.0 multiplier.
    control = MeanStats.from_values([0.0, 10.0, 20.0])
    treatment = MeanStats.from_values([5.0, 5.1, 5.2])
    fixed = compare(control, treatment)
    sequential = compare(control, treatment, method="sequential", sequential_tuning=6)
    half_width, p_value = confidence_sequence(fixed.effect, fixed.std_error, 6, 0.05, 6)
    assert half_width < fixed.ci_high - fixed.effect
    assert (sequential.ci_low, sequential.ci_high) == (fixed.ci_low, fixed.ci_high)
    assert sequential.p_value == max(p_value, fixed.p_value)


def test_sequential_golden_value():
    # N = 20000 units, tuning N* = 5000, alpha = 0.05:
    #   rho^2 = (-2 ln 0.05 + ln(1 - 2 ln 0.05)) / 5000 = (5.991465 + 1.944691) / 5000
    #   N rho^2 = 4 * 7.936156 = 31.744624
    #   half-width / se = sqrt(2 * 32.744624 / 31.744624 * ln(sqrt(32.744624) / 0.05))
    #                   = sqrt(2.063003 * ln(114.4458)) = sqrt(2.063003 * 4.740090) = 3.12711
    control = ProportionStats(n=10_000, successes=1_000)
    treatment = ProportionStats(n=10_000, successes=1_100)
    result = compare(control, treatment, method="sequential", sequential_tuning=5000)
    se = math.sqrt(0.1 * 0.9 / 10_000 + 0.11 * 0.89 / 10_000)
    n_rho = 20_000 * (-2 * math.log(0.05) + math.log(1 - 2 * math.log(0.05))) / 5000
    multiplier = math.sqrt(2 * (n_rho + 1) / n_rho * math.log(math.sqrt(n_rho + 1) / 0.05))
    p_value = math.sqrt(n_rho + 1) * math.exp(-n_rho * (0.01 / se) ** 2 / (2 * (n_rho + 1)))
    assert multiplier == pytest.approx(3.12711, abs=1e-5)
    assert result.ci_high - result.effect == pytest.approx(multiplier * se, rel=1e-12)
    assert result.p_value == pytest.approx(p_value, rel=1e-12)


def test_sequential_interval_is_tightest_near_the_tuning_sample_size():
    control, treatment = mean_arms_from_seed(8, 5000, 5000)

    def width(tuning):
        result = compare(control, treatment, method="sequential", sequential_tuning=tuning)
        return result.ci_high - result.ci_low

    assert width(10_000) < width(1_000)
    assert width(10_000) < width(100_000)


def test_sequential_controls_false_positives_under_continuous_peeking():
    rng = np.random.default_rng(12)
    experiments, looks, batch = 400, 20, 50
    sequential_hits = fixed_hits = 0
    for _ in range(experiments):
        control = treatment = MeanStats(n=0, sum=0.0, sum_squares=0.0)
        sequential_rejected = fixed_rejected = False
        for _ in range(looks):
            control = control + MeanStats.from_values(rng.normal(10, 3, batch))
            treatment = treatment + MeanStats.from_values(rng.normal(10, 3, batch))
            options = dict(sequential_tuning=1000)
            sequential_rejected |= (
                compare(control, treatment, method="sequential", **options).p_value < 0.05
            )
            fixed_rejected |= compare(control, treatment).p_value < 0.05
        sequential_hits += sequential_rejected
        fixed_hits += fixed_rejected
    # Peeking at a fixed-horizon test 20 times inflates the 5 % error to ~25 %.
    assert fixed_hits / experiments > 0.12
    assert sequential_hits / experiments < 0.05 + 2.5 * math.sqrt(0.05 * 0.95 / experiments)


# Bayesian ----------------------------------------------------------------------


@IGNORE_STATSMODELS_RATIOS
@SETTINGS
@given(proportion_arms(), ALPHAS)
def test_bayesian_flat_prior_matches_z_test(arms, alpha):
    control, treatment = arms
    assume(0 < control.successes < control.n or 0 < treatment.successes < treatment.n)
    result = compare(control, treatment, method="bayesian", alpha=alpha)
    counts = (treatment.successes, treatment.n, control.successes, control.n)
    low, high = sm_proportion.confint_proportions_2indep(
        *counts, method="wald", compare="diff", alpha=alpha
    )
    one_sided = sm_proportion.test_proportions_2indep(*counts, method="wald", alternative="larger")
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), abs=1e-12)
    assert result.chance_to_win == pytest.approx(1 - one_sided.pvalue, abs=1e-12)
    assert result.p_value is None and result.df is None


@pytest.mark.parametrize("difference", ["absolute", "relative"])
def test_bayesian_flat_prior_uses_the_z_interval_for_means(difference):
    control, treatment = mean_arms_from_seed(9, 40, 60, shift=1.0)
    frequentist = compare(control, treatment, difference=difference)
    bayesian = compare(control, treatment, difference=difference, method="bayesian")
    z = stats.norm.isf(0.025)
    assert bayesian.effect == frequentist.effect
    assert bayesian.ci_low == pytest.approx(frequentist.effect - z * frequentist.std_error)
    assert bayesian.ci_high == pytest.approx(frequentist.effect + z * frequentist.std_error)
    assert bayesian.ci_high - bayesian.ci_low < frequentist.ci_high - frequentist.ci_low


def test_bayesian_proper_prior_is_conjugate_normal_update():
    control, treatment = mean_arms_from_seed(10, 200, 200, shift=1.5)
    flat = compare(control, treatment, method="bayesian")
    prior = GaussianPrior(mean=0.0, variance=0.5**2)
    result = compare(control, treatment, method="bayesian", prior=prior)
    precision = 1 / prior.variance + 1 / flat.std_error**2
    assert result.std_error == pytest.approx(math.sqrt(1 / precision), rel=1e-12)
    assert result.effect == pytest.approx(flat.effect / flat.std_error**2 / precision, rel=1e-12)
    assert 0 < result.effect < flat.effect  # shrunk towards the prior mean
    vague = compare(control, treatment, method="bayesian", prior=GaussianPrior(0.0, 1e12))
    assert vague.effect == pytest.approx(flat.effect, rel=1e-9)
    certain = compare(control, treatment, method="bayesian", prior=GaussianPrior(0.3, 1e-12))
    assert certain.effect == pytest.approx(0.3, abs=1e-9)


@pytest.mark.parametrize("shift", [-2.0, 0.0, 0.4, 3.0])
def test_bayesian_risk_is_expected_loss_under_posterior(shift):
    control, treatment = mean_arms_from_seed(13, 100, 100, shift=shift)
    result = compare(control, treatment, method="bayesian")
    posterior = stats.norm(result.effect, result.std_error)
    lower, upper = result.effect - 12 * result.std_error, result.effect + 12 * result.std_error
    loss_treatment = integrate.quad(
        lambda x: max(-x, 0) * posterior.pdf(x), lower, upper, points=[0]
    )[0]
    loss_control = integrate.quad(lambda x: max(x, 0) * posterior.pdf(x), lower, upper, points=[0])[
        0
    ]
    assert result.risk_treatment == pytest.approx(loss_treatment, abs=1e-9)
    assert result.risk_control == pytest.approx(loss_control, abs=1e-9)
    assert result.risk_control - result.risk_treatment == pytest.approx(result.effect, abs=1e-12)
    assert result.chance_to_win == pytest.approx(posterior.sf(0), abs=1e-12)


# Results and errors --------------------------------------------------------------


def test_verdict_sentences():
    control = ProportionStats(n=10_000, successes=1_000)
    raised = ProportionStats(n=10_000, successes=1_210)
    lowered = ProportionStats(n=10_000, successes=960)
    assert compare(control, raised, metric_name="redemption rate").verdict() == (
        "Treatment raises redemption rate by 2.1 pp (95 % CI 1.2 to 3.0 pp); "
        "significant at 5 % (p = 2.1e-06)"
    )
    assert compare(control, lowered, alpha=0.1).verdict() == (
        "Treatment lowers the metric by 0.4 pp (90 % CI -1.1 to 0.3 pp); "
        "not significant at 10 % (p = 0.34)"
    )
    assert compare(control, raised, difference="relative", method="bayesian").verdict() == (
        "Treatment raises the metric by 21 % (95 % credible interval 11 to 31 %); "
        "100.0 % chance that treatment beats control"
    )
    same = compare(control, control, method="sequential", metric_name="spend")
    assert same.verdict().startswith("Treatment does not change spend (95 % always-valid CI")


def test_to_frame_is_one_row_with_every_field():
    result = compare(
        MeanStats.from_values([1.0, 2.0, 4.0]),
        MeanStats.from_values([2.0, 3.0, 7.0]),
        metric_name="spend",
    )
    frame = result.to_frame()
    assert frame.shape == (1, len(ComparisonResult.__dataclass_fields__))
    assert frame.loc[0, "metric_name"] == "spend"
    assert frame.loc[0, "p_value"] == result.p_value


@pytest.mark.parametrize(
    ("arms", "options", "message"),
    [
        ((MeanStats.from_values([1.0]), MeanStats.from_values([1.0, 2.0])), {}, "control arm"),
        ((MeanStats.from_values([1.0, 2.0]), MeanStats.from_values([3.0])), {}, "treatment arm"),
        (
            (MeanStats.from_values([1.0, 1.0]), MeanStats.from_values([3.0, 3.0])),
            {},
            "zero standard error",
        ),
        ((ProportionStats(50, 0), ProportionStats(50, 0)), {}, "zero standard error"),
        (
            (MeanStats.from_values([-1.0, 1.0]), MeanStats.from_values([1.0, 2.0])),
            {"difference": "relative"},
            "positive control mean",
        ),
        ((ProportionStats(50, 5), ProportionStats(50, 7)), {"alpha": 0.0}, "alpha"),
        ((ProportionStats(50, 5), ProportionStats(50, 7)), {"method": "bayes"}, "method"),
        ((ProportionStats(50, 5), ProportionStats(50, 7)), {"difference": "ratio"}, "difference"),
        ((ProportionStats(50, 5), ProportionStats(50, 7)), {"sequential_tuning": 0}, "tuning"),
        (
            (ProportionStats(50, 5), ProportionStats(50, 7)),
            {"prior": GaussianPrior(0.0, 1.0)},
            "only applies to method='bayesian'",
        ),
    ],
)
def test_invalid_comparisons_raise_value_errors(arms, options, message):
    with pytest.raises(ValueError, match=message):
        compare(*arms, **options)


def test_mixed_kinds_of_stats_raise_type_error():
    with pytest.raises(TypeError, match="same kind"):
        compare(ProportionStats(10, 2), MeanStats.from_values([0.0, 1.0]))


@pytest.mark.parametrize("variance", [0.0, -1.0, math.inf])
def test_prior_variance_must_be_positive(variance):
    with pytest.raises(ValueError, match="prior variance"):
        GaussianPrior(mean=0.0, variance=variance)
