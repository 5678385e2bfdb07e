"""Experiment design checks: sample-ratio mismatch, multiple testing and power."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import integrate, optimize, stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

__all__ = [
    "POWER_METHODS",
    "SrmResult",
    "adjust_pvalues",
    "mde_means",
    "mde_proportions",
    "power_means",
    "power_proportions",
    "sample_size_means",
    "sample_size_proportions",
    "srm_check",
]

_ADJUSTMENTS = ("holm", "bh")
# "arcsine": normal approximation on Cohen's h (statsmodels' NormalIndPower);
# "pooled_z": the pooled-variance z formula most online A/B calculators use
POWER_METHODS = ("arcsine", "pooled_z")
# brentq's tolerances for the MDE: the root is exact to well under 1e-12 in power
_XTOL, _RTOL = 1e-15, 4 * np.finfo(float).eps
# Root-finding in statsmodels' solve_power is accurate to about 1e-8; without
# this slack an exact answer of 400 could come back as 400.00000001 and round to 401.
_SOLVER_SLACK = 1e-6


@dataclass(frozen=True)
class SrmResult:
    """Outcome of :func:`srm_check`.

    ``expected`` and ``observed`` hold one entry per arm in the order given,
    including arms with zero weight (expected 0).
    """

    p_value: float
    chi2: float
    expected: tuple[float, ...]
    observed: tuple[int, ...]
    is_mismatch: bool
    message: str


def srm_check(
    counts: ArrayLike,
    weights: ArrayLike,
    *,
    threshold: float = 0.001,
    arm_names: Sequence[str] | None = None,
) -> SrmResult:
    """Test whether units were split between arms as planned (sample-ratio mismatch).

    Runs Pearson's chi-squared goodness-of-fit test
    (:func:`scipy.stats.chisquare`) of the observed unit counts against the
    planned weights.  An arm planned at weight 0 is left out of the test when it
    is empty; if it received any units, assignment is broken regardless of
    the other arms, so the result is a mismatch with ``p_value=0`` and
    ``chi2=inf``.

    Parameters
    ----------
    counts : array_like of int
        Units assigned to each arm.
    weights : array_like of float
        Planned traffic share of each arm; normalised, so ``[1, 1]`` and
        ``[0.5, 0.5]`` are the same plan.
    threshold : float
        Flag a mismatch when ``p_value < threshold``.  The conventional 0.001
        is strict because an SRM check runs on every experiment and every look.
    arm_names : sequence of str, optional
        Names used in the message; ``"arm 0"``, ``"arm 1"``, ... by default.

    Returns
    -------
    SrmResult

    Examples
    --------
    >>> result = srm_check([5_000, 5_180], [0.5, 0.5])
    >>> round(result.p_value, 4), result.is_mismatch
    (0.0744, False)
    >>> srm_check([5_000, 5_000, 3], [0.5, 0.5, 0.0], arm_names=["a", "b", "holdout"]).message
    'Sample-ratio mismatch: arms planned to get no units received some (holdout: 3)'
    """
    observed = np.asarray(counts, dtype=float)
    planned = np.asarray(weights, dtype=float)
    if observed.ndim != 1 or planned.shape != observed.shape:
        raise ValueError(
            f"counts and weights must be one-dimensional and of equal length, "
            f"got shapes {observed.shape} and {planned.shape}"
        )
    if not (np.all(np.isfinite(observed)) and np.all(np.isfinite(planned))):
        raise ValueError("counts and weights must be finite")
    if np.any(observed < 0) or np.any(observed != np.round(observed)):
        raise ValueError("counts must be whole numbers >= 0")
    if np.any(planned < 0) or planned.sum() <= 0:
        raise ValueError("weights must be >= 0 with a positive sum")
    if observed.sum() == 0:
        raise ValueError("no units were assigned, so there is nothing to check")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")
    names = list(arm_names) if arm_names is not None else [f"arm {i}" for i in range(observed.size)]
    if len(names) != observed.size:
        raise ValueError(f"got {len(names)} arm names for {observed.size} arms")

    expected = observed.sum() * planned / planned.sum()
    per_arm = dict(
        expected=tuple(float(value) for value in expected),
        observed=tuple(int(value) for value in observed),
    )
    stray = np.flatnonzero((planned == 0) & (observed > 0))
    if stray.size:
        received = ", ".join(f"{names[i]}: {int(observed[i])}" for i in stray)
        return SrmResult(
            p_value=0.0,
            chi2=math.inf,
            is_mismatch=True,
            message=f"Sample-ratio mismatch: arms planned to get no units received some ({received})",
            **per_arm,
        )

    active = planned > 0
    if active.sum() < 2:
        raise ValueError("at least two arms need a positive weight")
    chi2, p_value = stats.chisquare(observed[active], expected[active])
    chi2, p_value = float(chi2), float(p_value)
    is_mismatch = p_value < threshold
    if is_mismatch:
        # Point at the arm with the largest Pearson residual: the likeliest culprit.
        residuals = (observed[active] - expected[active]) / np.sqrt(expected[active])
        worst = int(np.flatnonzero(active)[np.argmax(np.abs(residuals))])
        total = observed.sum()
        message = (
            f"Sample-ratio mismatch (p = {p_value:.2g} < {threshold:g}): {names[worst]} received "
            f"{observed[worst] / total:.2%} of units, planned {expected[worst] / total:.2%}"
        )
    else:
        message = f"No sample-ratio mismatch detected (p = {p_value:.2g})"
    return SrmResult(
        p_value=p_value, chi2=chi2, is_mismatch=is_mismatch, message=message, **per_arm
    )


def adjust_pvalues(pvalues: ArrayLike, *, method: Literal["holm", "bh"] = "holm") -> np.ndarray:
    """Adjust p-values for testing several metrics or arms at once.

    Parameters
    ----------
    pvalues : array_like of float
        Unadjusted p-values in [0, 1].
    method : {"holm", "bh"}
        Holm's step-down procedure (controls the family-wise error rate) or
        Benjamini-Hochberg (controls the false discovery rate). Computed here
        (the tests check them against ``statsmodels``' ``multipletests``, which
        calls ``gc.collect()`` on every Holm call: a tenth of a second in a
        large process, most of an ``analyze`` readout).

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, in the input order.

    Examples
    --------
    >>> adjust_pvalues([0.01, 0.04, 0.03], method="holm")
    array([0.03, 0.06, 0.06])
    >>> adjust_pvalues([0.01, 0.04, 0.03], method="bh")
    array([0.03, 0.04, 0.04])
    """
    if method not in _ADJUSTMENTS:
        raise ValueError(f"method must be 'holm' or 'bh', got {method!r}")
    values = np.asarray(pvalues, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"pvalues must be one-dimensional, got shape {values.shape}")
    if not np.all((values >= 0) & (values <= 1)):
        raise ValueError("p-values must lie in [0, 1] (NaN is not allowed)")
    if values.size == 0:
        return values
    order = np.argsort(values, kind="stable")
    m = values.size
    ranked = values[order]
    if method == "holm":
        # step-down: the k-th smallest (k from 0) times m - k, never below an earlier one
        adjusted = np.maximum.accumulate((m - np.arange(m)) * ranked)
    else:
        # step-up: the k-th smallest times m / (k + 1), never above a later one
        adjusted = np.minimum.accumulate((ranked * m / np.arange(1, m + 1))[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def _check_design(alpha: float, ratio: float, power: float | None = None) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    if power is not None and not alpha / 2 < power < 1:
        raise ValueError(f"power must be between alpha / 2 and 1, got {power!r}")
    if not (math.isfinite(ratio) and ratio > 0):
        raise ValueError(f"ratio must be > 0, got {ratio!r}")


def _cohens_h(baseline: float, mde: float, *, relative: bool) -> float:
    """Cohen's h between the baseline rate and the rate shifted by the MDE."""
    if not 0 < baseline < 1:
        raise ValueError(f"baseline must be a rate strictly between 0 and 1, got {baseline!r}")
    if not math.isfinite(mde) or mde == 0:
        raise ValueError(f"mde must be finite and different from 0, got {mde!r}")
    target = baseline * (1 + mde) if relative else baseline + mde
    if not 0 < target < 1:
        raise ValueError(f"baseline shifted by the mde is {target!r}, outside (0, 1)")
    return abs(float(proportion_effectsize(target, baseline)))


def _check_std_and_mde(std: float, mde: float) -> float:
    if not (math.isfinite(std) and std > 0):
        raise ValueError(f"std must be > 0, got {std!r}")
    if not math.isfinite(mde) or mde == 0:
        raise ValueError(f"mde must be finite and different from 0, got {mde!r}")
    return abs(mde) / std


def _check_units(n_per_arm: float) -> None:
    if not n_per_arm >= 2:
        raise ValueError(f"n_per_arm must be >= 2, got {n_per_arm!r}")


def _check_method(method: str) -> None:
    if method not in POWER_METHODS:
        raise ValueError(f"method must be one of {POWER_METHODS}, got {method!r}")


def _pooled_z_power(p1: float, p2: float, n1: float, *, alpha: float, ratio: float) -> float:
    """Power of the pooled two-proportion z-test, the near tail only (as calculators do).

    With ``n2 = ratio * n1`` and the pooled rate ``p = (p1 + ratio p2) / (1 + ratio)``:
    power = Phi((|p2 - p1| sqrt(n1) - z_(1-alpha/2) sqrt(p q (1 + 1/ratio)))
    / sqrt(p1 q1 + p2 q2 / ratio)).
    """
    pooled = (p1 + ratio * p2) / (1 + ratio)
    null_sd = math.sqrt(pooled * (1 - pooled) * (1 + 1 / ratio))
    alt_sd = math.sqrt(p1 * (1 - p1) + p2 * (1 - p2) / ratio)
    z_alpha = stats.norm.ppf(1 - alpha / 2)
    return float(stats.norm.cdf((abs(p2 - p1) * math.sqrt(n1) - z_alpha * null_sd) / alt_sd))


def _pooled_z_sample_size(p1: float, p2: float, *, alpha: float, power: float, ratio: float):
    """Control-arm units of the pooled z formula, unrounded: the inverse of
    :func:`_pooled_z_power`,
    n1 = (z_(1-alpha/2) sqrt(p q (1 + 1/ratio)) + z_power sqrt(p1 q1 + p2 q2 / ratio))^2
    / (p2 - p1)^2."""
    pooled = (p1 + ratio * p2) / (1 + ratio)
    null_sd = math.sqrt(pooled * (1 - pooled) * (1 + 1 / ratio))
    alt_sd = math.sqrt(p1 * (1 - p1) + p2 * (1 - p2) / ratio)
    z_alpha, z_power = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    return (z_alpha * null_sd + z_power * alt_sd) ** 2 / (p2 - p1) ** 2


def _t_test_power(effect_size: float, n_per_arm: float, *, alpha: float, ratio: float) -> float:
    """Two-sided power of the two-sample t-test: statsmodels' ``TTestIndPower``.

    scipy's noncentral t (which statsmodels calls) returns NaN for some large
    noncentrality parameters; there the power is the same probability integrated
    over the chi-square variance, P(|Z + nc| > c sqrt(V / df)), by quadrature.
    """
    value = float(
        TTestIndPower().power(
            effect_size=effect_size,
            nobs1=n_per_arm,
            alpha=alpha,
            ratio=ratio,
            alternative="two-sided",
        )
    )
    if not math.isnan(value):
        return value
    n2 = ratio * n_per_arm
    df = n_per_arm + n2 - 2
    nc = effect_size * math.sqrt(n_per_arm * n2 / (n_per_arm + n2))
    crit = stats.t.isf(alpha / 2, df)

    def density(v: float) -> float:
        scaled = crit * math.sqrt(v / df)
        tails = stats.norm.cdf(nc - scaled) + stats.norm.cdf(-nc - scaled)
        return tails * stats.chi2.pdf(v, df)

    low, high = stats.chi2.ppf(1e-17, df), stats.chi2.isf(1e-17, df)
    return float(
        integrate.quad(density, low, high, points=[df], epsabs=1e-14, epsrel=1e-12, limit=400)[0]
    )


def _increasing_root(power_gap, low: float, high: float, *, limit: float = math.inf) -> float:
    """Root of an increasing ``power_gap`` (power minus its target) on ``(low, ...)``:
    ``high`` doubles until the gap turns positive (never past ``limit``), then brentq
    solves to machine precision."""

    while power_gap(high) < 0:
        if high >= limit:
            raise ValueError("the sample is too small to detect any increase from this baseline")
        high = min(2 * high, limit)
    return float(optimize.brentq(power_gap, low, high, xtol=_XTOL, rtol=_RTOL, maxiter=500))


def sample_size_proportions(
    baseline: float,
    mde: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    relative: bool = False,
    ratio: float = 1.0,
    method: str = "arcsine",
) -> int:
    """Units needed in the control arm to detect a change in a rate.

    ``method="arcsine"`` (default) uses the normal approximation on Cohen's arcsine
    effect size ``h`` (:class:`statsmodels.stats.power.NormalIndPower`), two-sided.
    ``method="pooled_z"`` uses the pooled-variance z formula that most online A/B
    test calculators use (Fleiss, without continuity correction), so a plan can be
    reconciled with such a calculator; it is usually a few units larger.

    Parameters
    ----------
    baseline : float
        Control rate, strictly between 0 and 1.
    mde : float
        Minimum detectable effect: absolute change in the rate (0.02 = 2 pp),
        or relative change (0.2 = +20 %) if ``relative``.
    alpha : float
        Two-sided significance level.
    power : float
        Probability of detecting an effect of size ``mde``.
    relative : bool
        Whether ``mde`` is relative to ``baseline``.
    ratio : float
        Treatment units per control unit; the treatment arm needs
        ``ceil(ratio * n)``.
    method : {"arcsine", "pooled_z"}
        Cohen's h with statsmodels, or the pooled-variance z formula (see
        docs/models.md for both formulas).

    Returns
    -------
    int
        Control-arm units, rounded up.

    Examples
    --------
    >>> sample_size_proportions(0.10, 0.02)
    3835
    >>> sample_size_proportions(0.10, 0.2, relative=True)
    3835
    >>> sample_size_proportions(0.10, 0.02, method="pooled_z")
    3841
    """
    _check_design(alpha, ratio, power)
    _check_method(method)
    effect_size = _cohens_h(baseline, mde, relative=relative)
    if method == "pooled_z":
        target = baseline * (1 + mde) if relative else baseline + mde
        n = _pooled_z_sample_size(baseline, target, alpha=alpha, power=power, ratio=ratio)
        return math.ceil(n - _SOLVER_SLACK)
    n = NormalIndPower().solve_power(
        effect_size=effect_size, alpha=alpha, power=power, ratio=ratio, alternative="two-sided"
    )
    return math.ceil(float(n) - _SOLVER_SLACK)


def sample_size_means(
    std: float,
    mde: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
) -> int:
    """Units needed in the control arm to detect a change in a mean.

    Uses the two-sample t-test (:class:`statsmodels.stats.power.TTestIndPower`)
    with effect size ``mde / std``, two-sided.

    Parameters
    ----------
    std : float
        Standard deviation of the metric per unit.
    mde : float
        Minimum detectable effect in the metric's units (for a relative MDE
        multiply it by the baseline mean first).
    alpha, power, ratio
        As in :func:`sample_size_proportions`.

    Returns
    -------
    int
        Control-arm units, rounded up.

    Examples
    --------
    >>> sample_size_means(std=50.0, mde=10.0)
    394
    """
    _check_design(alpha, ratio, power)
    n = TTestIndPower().solve_power(
        effect_size=_check_std_and_mde(std, mde),
        alpha=alpha,
        power=power,
        ratio=ratio,
        alternative="two-sided",
    )
    return math.ceil(float(n) - _SOLVER_SLACK)


def mde_proportions(
    baseline: float,
    n_per_arm: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    relative: bool = False,
    ratio: float = 1.0,
    method: str = "arcsine",
) -> float:
    """Smallest upward change in a rate detectable with ``n_per_arm`` control units.

    Inverts :func:`power_proportions`: finds the change at which the power equals
    ``power`` exactly (:func:`scipy.optimize.brentq` on the power function, to
    machine precision). With ``"arcsine"`` it solves for Cohen's ``h`` and maps it
    back to a rate; because the arcsine scale is not symmetric, the detectable
    decrease is slightly different.

    Parameters
    ----------
    baseline : float
        Control rate, strictly between 0 and 1.
    n_per_arm : float
        Control-arm units; the treatment arm has ``ratio * n_per_arm``.
    alpha, power, relative, ratio, method
        As in :func:`sample_size_proportions`.

    Returns
    -------
    float
        The absolute change in the rate, or the relative one if ``relative``.

    Examples
    --------
    >>> round(mde_proportions(0.10, 3835), 4)
    0.02
    >>> round(mde_proportions(0.10, 3841, method="pooled_z"), 4)
    0.02
    """
    _check_design(alpha, ratio, power)
    _check_units(n_per_arm)
    _check_method(method)
    if not 0 < baseline < 1:
        raise ValueError(f"baseline must be a rate strictly between 0 and 1, got {baseline!r}")
    if power <= alpha:
        raise ValueError(f"power must exceed alpha for an effect to be detectable, got {power!r}")
    if method == "pooled_z":
        absolute = _increasing_root(
            lambda d: (
                _pooled_z_power(baseline, baseline + d, n_per_arm, alpha=alpha, ratio=ratio) - power
            ),
            0.0,
            min(0.01, 1 - baseline),
            limit=1 - baseline,
        )
        return absolute / baseline if relative else absolute
    start = math.asin(math.sqrt(baseline))
    h = _increasing_root(
        lambda h: (
            NormalIndPower().power(
                effect_size=h, nobs1=n_per_arm, alpha=alpha, ratio=ratio, alternative="two-sided"
            )
            - power
        ),
        0.0,
        min(0.1, math.pi - 2 * start),
        # the rate reaches 1 at h = pi - 2 asin(sqrt(baseline))
        limit=math.pi - 2 * start,
    )
    absolute = math.sin(start + h / 2) ** 2 - baseline
    return absolute / baseline if relative else absolute


def mde_means(
    std: float,
    n_per_arm: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
) -> float:
    """Smallest change in a mean detectable with ``n_per_arm`` control units.

    The effect size ``d = mde / std`` at which the two-sample t-test's power
    (:class:`statsmodels.stats.power.TTestIndPower`) equals ``power`` exactly,
    found by :func:`scipy.optimize.brentq` to machine precision.

    Parameters
    ----------
    std : float
        Standard deviation of the metric per unit.
    n_per_arm : float
        Control-arm units; the treatment arm has ``ratio * n_per_arm``.
    alpha, power, ratio
        As in :func:`sample_size_proportions`.

    Returns
    -------
    float
        The detectable change, in the metric's units.

    Examples
    --------
    >>> round(mde_means(std=50.0, n_per_arm=394), 2)
    9.99
    """
    _check_design(alpha, ratio, power)
    _check_units(n_per_arm)
    if not (math.isfinite(std) and std > 0):
        raise ValueError(f"std must be > 0, got {std!r}")
    if power <= alpha:
        raise ValueError(f"power must exceed alpha for an effect to be detectable, got {power!r}")
    d = _increasing_root(
        lambda d: _t_test_power(d, n_per_arm, alpha=alpha, ratio=ratio) - power, 0.0, 1.0
    )
    return d * std


def power_proportions(
    baseline: float,
    mde: float,
    n_per_arm: float,
    *,
    alpha: float = 0.05,
    relative: bool = False,
    ratio: float = 1.0,
    method: str = "arcsine",
) -> float:
    """Probability of detecting a change of ``mde`` in a rate.

    ``"arcsine"``: statsmodels' ``NormalIndPower`` on Cohen's h, both tails.
    ``"pooled_z"``: the pooled two-proportion z-test, the near tail only, as the
    calculators that use its sample-size formula do.

    Parameters
    ----------
    baseline, mde, relative
        As in :func:`sample_size_proportions`.
    n_per_arm : float
        Control-arm units; the treatment arm has ``ratio * n_per_arm``.
    alpha, ratio, method
        As in :func:`sample_size_proportions`.

    Returns
    -------
    float

    Examples
    --------
    >>> round(power_proportions(0.10, 0.02, 3835), 3)
    0.8
    >>> round(power_proportions(0.10, 0.02, 3841, method="pooled_z"), 3)
    0.8
    """
    _check_design(alpha, ratio)
    _check_units(n_per_arm)
    _check_method(method)
    effect_size = _cohens_h(baseline, mde, relative=relative)
    if method == "pooled_z":
        target = baseline * (1 + mde) if relative else baseline + mde
        return _pooled_z_power(baseline, target, n_per_arm, alpha=alpha, ratio=ratio)
    return float(
        NormalIndPower().power(
            effect_size=effect_size,
            nobs1=n_per_arm,
            alpha=alpha,
            ratio=ratio,
            alternative="two-sided",
        )
    )


def power_means(
    std: float,
    mde: float,
    n_per_arm: float,
    *,
    alpha: float = 0.05,
    ratio: float = 1.0,
) -> float:
    """Probability of detecting a change of ``mde`` in a mean with a two-sample t-test.

    Parameters
    ----------
    std, mde
        As in :func:`sample_size_means`.
    n_per_arm : float
        Control-arm units; the treatment arm has ``ratio * n_per_arm``.
    alpha, ratio
        As in :func:`sample_size_proportions`.

    Returns
    -------
    float

    Examples
    --------
    >>> round(power_means(std=50.0, mde=10.0, n_per_arm=394), 3)
    0.801
    """
    _check_design(alpha, ratio)
    _check_units(n_per_arm)
    effect_size = _check_std_and_mde(std, mde)
    return _t_test_power(effect_size, n_per_arm, alpha=alpha, ratio=ratio)
