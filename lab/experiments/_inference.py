"""Two-arm comparisons on sufficient statistics.

One entry point, :func:`compare`, turns the statistics of a control and a
treatment arm into an effect estimate with an interval and a decision summary,
under a fixed-horizon frequentist, an always-valid sequential or a Gaussian
Bayesian analysis.  It never sees unit-level rows, so callers can feed it
statistics aggregated in SQL, one metric at a time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal, TypeAlias

import pandas as pd
from scipy import special

from lab.experiments._stats import (
    CupedStats,
    MeanStats,
    ProportionStats,
    RatioStats,
    pooled_theta,
)

__all__ = ["ArmStats", "ComparisonResult", "GaussianPrior", "compare"]

ArmStats: TypeAlias = MeanStats | ProportionStats | RatioStats | CupedStats
Difference: TypeAlias = Literal["absolute", "relative"]
Method: TypeAlias = Literal["frequentist", "sequential", "bayesian"]

_METRIC_TYPES: dict[type, str] = {
    MeanStats: "mean",
    ProportionStats: "proportion",
    RatioStats: "ratio",
    CupedStats: "cuped",
}
_INTERVAL_NAMES = {
    "frequentist": "CI",
    "sequential": "always-valid CI",
    "bayesian": "credible interval",
}


@dataclass(frozen=True)
class GaussianPrior:
    """Normal prior on the effect, on the scale chosen by ``difference``.

    For ``difference="relative"`` a prior of ``GaussianPrior(mean=0.0,
    variance=0.1**2)`` says lifts beyond about +/-20 % are rare.

    Parameters
    ----------
    mean : float
        Prior mean of the effect.
    variance : float
        Prior variance of the effect, > 0.

    Examples
    --------
    >>> GaussianPrior(mean=0.0, variance=0.01)
    GaussianPrior(mean=0.0, variance=0.01)
    """

    mean: float
    variance: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.mean):
            raise ValueError(f"prior mean must be finite, got {self.mean!r}")
        if not (math.isfinite(self.variance) and self.variance > 0):
            raise ValueError(f"prior variance must be finite and > 0, got {self.variance!r}")


@dataclass(frozen=True)
class ComparisonResult:
    """Outcome of :func:`compare` for one metric.

    ``effect`` is ``treatment_mean - control_mean`` for absolute differences and
    ``treatment_mean / control_mean - 1`` for relative ones; for a Bayesian
    analysis it is the posterior mean and ``std_error`` the posterior standard
    deviation.  For CUPED metrics the arm means are the adjusted means.
    ``df`` is the Welch-Satterthwaite degrees of freedom, or None when the
    analysis uses the normal distribution.  ``p_value`` is None for Bayesian
    analyses; ``chance_to_win`` (probability that the effect is > 0) and the
    expected losses ``risk_control`` (of keeping control) and
    ``risk_treatment`` (of shipping treatment) are None otherwise.
    """

    metric_name: str | None
    metric_type: str
    method: str
    difference: str
    alpha: float
    control_n: int
    treatment_n: int
    control_mean: float
    treatment_mean: float
    effect: float
    std_error: float
    ci_low: float
    ci_high: float
    df: float | None
    p_value: float | None
    chance_to_win: float | None
    risk_control: float | None
    risk_treatment: float | None

    def to_frame(self) -> pd.DataFrame:
        """Return the result as a one-row DataFrame, one column per field.

        Examples
        --------
        >>> control = ProportionStats(n=1000, successes=100)
        >>> treatment = ProportionStats(n=1000, successes=130)
        >>> compare(control, treatment).to_frame()[["effect", "ci_low", "ci_high"]].round(4)
           effect  ci_low  ci_high
        0    0.03  0.0021   0.0579
        """
        return pd.DataFrame([asdict(self)])

    def verdict(self) -> str:
        """Summarise the result in one plain-language sentence.

        Absolute differences of proportions are shown in percentage points
        (pp) and relative differences in percent.  Numbers are rounded to two
        significant digits of the interval width.

        Examples
        --------
        >>> control = ProportionStats(n=10_000, successes=1_000)
        >>> treatment = ProportionStats(n=10_000, successes=1_210)
        >>> compare(control, treatment, metric_name="redemption rate").verdict()
        'Treatment raises redemption rate by 2.1 pp (95 % CI 1.2 to 3.0 pp); significant at 5 % (p = 2.1e-06)'
        """
        if self.difference == "relative":
            scale, unit = 100.0, " %"
        elif self.metric_type == "proportion":
            scale, unit = 100.0, " pp"
        else:
            scale, unit = 1.0, ""
        width = (self.ci_high - self.ci_low) * scale
        decimals = min(12, max(0, 1 - math.floor(math.log10(width))))

        def show(value: float) -> str:
            return f"{value * scale:.{decimals}f}"

        name = self.metric_name or "the metric"
        interval = (
            f"{_percent(1 - self.alpha)} {_INTERVAL_NAMES[self.method]} "
            f"{show(self.ci_low)} to {show(self.ci_high)}{unit}"
        )
        if self.effect == 0:
            claim = f"Treatment does not change {name} ({interval})"
        else:
            direction = "raises" if self.effect > 0 else "lowers"
            claim = f"Treatment {direction} {name} by {show(abs(self.effect))}{unit} ({interval})"
        if self.method == "bayesian":
            return f"{claim}; {100 * self.chance_to_win:.1f} % chance that treatment beats control"
        significance = "significant" if self.p_value < self.alpha else "not significant"
        return f"{claim}; {significance} at {_percent(self.alpha)} (p = {self.p_value:.2g})"


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.6g} %"


@dataclass(frozen=True)
class _Arm:
    n: int
    mean: float
    variance_of_mean: float


def _arms(control: ArmStats, treatment: ArmStats) -> tuple[_Arm, _Arm]:
    for label, arm in (("control", control), ("treatment", treatment)):
        if arm.n < 2:
            raise ValueError(f"the {label} arm needs at least 2 units, got n={arm.n}")
    if isinstance(control, CupedStats):
        theta = pooled_theta(control, treatment)
        pre_center = (control.pre.sum + treatment.pre.sum) / (control.n + treatment.n)
        return tuple(
            _Arm(
                n=arm.n,
                mean=arm.adjusted_mean(theta, pre_center=pre_center),
                variance_of_mean=arm.adjusted_variance(theta) / arm.n,
            )
            for arm in (control, treatment)
        )
    return tuple(
        _Arm(n=arm.n, mean=arm.mean, variance_of_mean=arm.variance / arm.n)
        for arm in (control, treatment)
    )


def _effect(control: _Arm, treatment: _Arm, difference: Difference) -> tuple[float, float, float]:
    """Return the effect and the treatment and control parts of its variance."""
    if difference == "absolute":
        return (
            treatment.mean - control.mean,
            treatment.variance_of_mean,
            control.variance_of_mean,
        )
    # a negative control mean flips the sign of mt / mc - 1 ("lowers" when it rises)
    refused = ValueError(
        f"a relative difference needs a positive control mean, got {control.mean!r}; "
        "use difference='absolute'"
    )
    if not control.mean > 0:
        raise refused
    # Delta method for mt / mc - 1 with independent arms (as in gbstats).
    try:
        ratio = treatment.mean / control.mean
        parts = (
            ratio - 1,
            treatment.variance_of_mean / control.mean**2,
            ratio**2 * control.variance_of_mean / control.mean**2,
        )
    except (ZeroDivisionError, OverflowError):
        raise refused from None  # a control mean so close to 0 that mc**2 underflows
    if not all(math.isfinite(p) for p in parts):
        raise refused
    return parts


def _welch_df(
    treatment_part: float, control_part: float, treatment_n: int, control_n: int
) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of two variance parts."""
    return (treatment_part + control_part) ** 2 / (
        treatment_part**2 / (treatment_n - 1) + control_part**2 / (control_n - 1)
    )


def _upper_quantile(tail: float, df: float | None) -> float:
    """Point exceeded with probability ``tail`` under N(0, 1) (df None) or Student's t."""
    # scipy.special instead of scipy.stats distributions: ~100x faster per call,
    # which matters when analyses loop over many metrics and segments.
    return float(-special.ndtri(tail) if df is None else -special.stdtrit(df, tail))


def _upper_tail(z: float, df: float | None) -> float:
    """Probability of exceeding ``z`` under N(0, 1) (df None) or Student's t."""
    return float(special.ndtr(-z) if df is None else special.stdtr(df, -z))


def _fixed_horizon(
    effect: float, std_error: float, df: float | None, alpha: float
) -> tuple[float, float]:
    """Return the half-width and two-sided p-value of the fixed-horizon test."""
    half_width = _upper_quantile(alpha / 2, df) * std_error
    p_value = 2 * _upper_tail(abs(effect) / std_error, df)
    return half_width, min(1.0, p_value)


def _confidence_sequence(
    effect: float, std_error: float, n_total: int, alpha: float, tuning: float
) -> tuple[float, float]:
    """Return the half-width and always-valid p-value of the normal-mixture sequence."""
    log_alpha = math.log(alpha)
    # Mixing variance that makes the sequence tightest at n_total == tuning
    # (arXiv:1810.08240 eq. 161); the p-value is the reciprocal of the mixture
    # e-value (arXiv:2103.06476 eq. 155), both as used by gbstats.
    rho_squared = (-2 * log_alpha + math.log(1 - 2 * log_alpha)) / tuning
    n_rho = n_total * rho_squared
    half_width = std_error * math.sqrt(
        2 * (n_rho + 1) / n_rho * math.log(math.sqrt(n_rho + 1) / alpha)
    )
    z = effect / std_error
    p_value = math.sqrt(n_rho + 1) * math.exp(-n_rho * z * z / (2 * (n_rho + 1)))
    return half_width, min(1.0, p_value)


def compare(
    control: ArmStats,
    treatment: ArmStats,
    *,
    difference: Difference = "absolute",
    alpha: float = 0.05,
    method: Method = "frequentist",
    sequential_tuning: float = 5000,
    prior: GaussianPrior | None = None,
    metric_name: str | None = None,
) -> ComparisonResult:
    """Compare a treatment arm with a control arm on one metric.

    Both arms must hold the same kind of statistics.  Per arm the mean and
    the variance of the mean are:

    - :class:`MeanStats`: sample mean and ``s**2 / n``.
    - :class:`ProportionStats`: ``p`` and the unpooled ``p (1 - p) / n``.
    - :class:`RatioStats`: ``sum(num) / sum(den)`` and its delta-method variance.
    - :class:`CupedStats`: ``mean(post) - theta (mean(pre) - pooled mean(pre))``
      and ``var(post - theta pre) / n``, with ``theta`` the slope pooled within
      both arms (:func:`pooled_theta`), so the absolute effect equals the arm
      coefficient of OLS ``post ~ arm + pre``.

    The effect is ``mt - mc`` (variance ``vt + vc``) or ``mt / mc - 1``
    (delta method, variance ``vt / mc**2 + mt**2 vc / mc**4``).

    ``method="frequentist"`` uses Welch's t with Welch-Satterthwaite degrees
    of freedom for means, ratios and CUPED, and the z-test for proportions.

    ``method="sequential"`` uses the normal-mixture confidence sequence of
    Howard et al. (2021), as in GrowthBook, which stays valid however often
    results are peeked at.  With ``N = nc + nt`` units and tuning ``N*``::

        rho**2     = (-2 ln(alpha) + ln(1 - 2 ln(alpha))) / N*
        half_width = std_error * sqrt(2 (N rho**2 + 1) / (N rho**2)
                                      * ln(sqrt(N rho**2 + 1) / alpha))
        p_value    = min(1, sqrt(N rho**2 + 1)
                            * exp(-N rho**2 z**2 / (2 (N rho**2 + 1))))

    where ``z = effect / std_error``; the p-value is below ``alpha`` exactly
    when the interval excludes 0.  The sequence is a large-sample (normal)
    construction, so with few units it can be narrower than the Welch t
    interval; the wider of the two, and the larger p-value, are reported so a
    sequential analysis is never more confident than a single fixed look.

    ``method="bayesian"`` puts a Gaussian posterior on the effect, using the
    normal likelihood ``effect ~ N(true effect, std_error**2)``.  The default
    flat prior gives the z-interval as credible interval; a
    :class:`GaussianPrior` is combined by precision weighting.

    Parameters
    ----------
    control, treatment : MeanStats, ProportionStats, RatioStats or CupedStats
        Statistics of each arm, each arm with at least 2 units.
    difference : {"absolute", "relative"}
        Report ``mt - mc`` or ``mt / mc - 1``.
    alpha : float
        Two-sided error rate; intervals have level ``1 - alpha``.
    method : {"frequentist", "sequential", "bayesian"}
        The analysis, see above.
    sequential_tuning : float
        Total sample size ``N*`` at which the confidence sequence is tightest.
    prior : GaussianPrior, optional
        Proper prior on the effect (``method="bayesian"`` only); flat if None.
    metric_name : str, optional
        Name used in :meth:`ComparisonResult.verdict` and ``to_frame``.

    Returns
    -------
    ComparisonResult

    Raises
    ------
    TypeError
        If the arms hold different kinds of statistics.
    ValueError
        If an option is invalid, an arm has fewer than 2 units, the effect has
        zero standard error (both arms constant) or a relative difference is
        asked for with a control mean of 0.

    Examples
    --------
    >>> control = MeanStats.from_values([12.0, 15.0, 9.0, 14.0, 10.0])
    >>> treatment = MeanStats.from_values([14.0, 18.0, 11.0, 16.0, 15.0])
    >>> result = compare(control, treatment, metric_name="spend")
    >>> round(result.effect, 2), round(result.p_value, 3)
    (2.8, 0.123)
    >>> result = compare(control, treatment, method="bayesian")
    >>> round(result.chance_to_win, 3)
    0.958
    """
    if type(control) is not type(treatment):
        raise TypeError(
            "control and treatment must hold the same kind of statistics, got "
            f"{type(control).__name__} and {type(treatment).__name__}"
        )
    if type(control) not in _METRIC_TYPES:
        raise TypeError(f"unsupported statistics type {type(control).__name__}")
    if difference not in ("absolute", "relative"):
        raise ValueError(f"difference must be 'absolute' or 'relative', got {difference!r}")
    if method not in _INTERVAL_NAMES:
        raise ValueError(
            f"method must be 'frequentist', 'sequential' or 'bayesian', got {method!r}"
        )
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    if not (math.isfinite(sequential_tuning) and sequential_tuning > 0):
        raise ValueError(f"sequential_tuning must be > 0, got {sequential_tuning!r}")
    if prior is not None and method != "bayesian":
        raise ValueError("a prior only applies to method='bayesian'")

    control_arm, treatment_arm = _arms(control, treatment)
    effect, treatment_part, control_part = _effect(control_arm, treatment_arm, difference)
    std_error = math.sqrt(treatment_part + control_part)
    if std_error == 0:
        raise ValueError(
            "the effect has zero standard error because both arms have zero variance; "
            "a test would be meaningless"
        )
    df = (
        None
        if isinstance(control, ProportionStats)
        else _welch_df(treatment_part, control_part, treatment_arm.n, control_arm.n)
    )

    p_value = chance_to_win = risk_control = risk_treatment = None
    if method == "bayesian":
        df = None
        if prior is not None:
            posterior_variance = 1 / (1 / prior.variance + 1 / std_error**2)
            effect = posterior_variance * (prior.mean / prior.variance + effect / std_error**2)
            std_error = math.sqrt(posterior_variance)
        half_width = _upper_quantile(alpha / 2, None) * std_error
        z = effect / std_error
        chance_to_win = _upper_tail(-z, None)
        # Expected loss E[max(0, -effect)] of shipping treatment and
        # E[max(0, effect)] of keeping control, under the posterior.
        density = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
        risk_treatment = std_error * density - effect * _upper_tail(z, None)
        risk_control = std_error * density + effect * chance_to_win
    else:
        half_width, p_value = _fixed_horizon(effect, std_error, df, alpha)
        if method == "sequential":
            sequence_half_width, sequence_p_value = _confidence_sequence(
                effect, std_error, control_arm.n + treatment_arm.n, alpha, sequential_tuning
            )
            half_width = max(half_width, sequence_half_width)
            p_value = max(p_value, sequence_p_value)

    return ComparisonResult(
        metric_name=metric_name,
        metric_type=_METRIC_TYPES[type(control)],
        method=method,
        difference=difference,
        alpha=alpha,
        control_n=control_arm.n,
        treatment_n=treatment_arm.n,
        control_mean=control_arm.mean,
        treatment_mean=treatment_arm.mean,
        effect=effect,
        std_error=std_error,
        ci_low=effect - half_width,
        ci_high=effect + half_width,
        df=df,
        p_value=p_value,
        chance_to_win=chance_to_win,
        risk_control=risk_control,
        risk_treatment=risk_treatment,
    )
