"""Sufficient statistics for one experiment arm.

Each class stores only sums, so arms, strata or days can be pooled exactly
with ``+`` and the statistics can come straight from a SQL ``GROUP BY``
without moving unit-level rows around.  Variances are derived on demand.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "CupedStats",
    "MeanStats",
    "ProportionStats",
    "RatioStats",
    "pooled_theta",
]

# Centred sums of squares computed as ``sum_squares - sum**2 / n`` lose about
# this much relative precision to cancellation; anything smaller is noise.
_CANCELLATION_TOLERANCE = 1e-12


def _count(value: object, name: str) -> int:
    """Return ``value`` as a non-negative int, accepting integral floats from SQL."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value != int(value):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return int(value)


def _finite(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def _values(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _clip_cancellation(centred: float, scale: float) -> float:
    """Snap a centred moment to 0 when it is indistinguishable from rounding error.

    Without this, constant data such as ``[0.1, 0.1, 0.1]`` yields a variance of
    about 1e-18 instead of 0 and a test statistic that looks wildly significant.
    """
    return 0.0 if centred <= _CANCELLATION_TOLERANCE * scale else centred


def _check_cross_moment(sum_products: float, x: MeanStats, y: MeanStats) -> None:
    if x.n != y.n:
        raise ValueError(f"both statistics must count the same units, got n={x.n} and n={y.n}")
    # Cauchy-Schwarz on raw moments catches a sum_products from the wrong rows,
    # again allowing for underflow of tiny squares.
    floor = x.n * sys.float_info.min
    bound = math.sqrt(x.sum_squares + floor) * math.sqrt(y.sum_squares + floor)
    if abs(sum_products) > bound * (1 + 1e-9):
        raise ValueError(
            f"sum_products={sum_products!r} is impossible: |sum_products| cannot exceed "
            f"sqrt(sum_squares_x * sum_squares_y) = {bound!r}"
        )


@dataclass(frozen=True)
class MeanStats:
    """Sufficient statistics of a continuous metric (e.g. spend per user).

    Parameters
    ----------
    n : int
        Number of units.
    sum : float
        Sum of the metric over units.
    sum_squares : float
        Sum of the squared metric over units.

    Examples
    --------
    >>> stats = MeanStats.from_values([1.0, 2.0, 3.0, 6.0])
    >>> stats.mean, stats.variance
    (3.0, 4.666666666666667)
    >>> (MeanStats.from_values([1.0, 2.0]) + MeanStats.from_values([3.0, 6.0])) == stats
    True
    """

    n: int
    sum: float
    sum_squares: float

    def __post_init__(self) -> None:
        n = _count(self.n, "n")
        total = _finite(self.sum, "sum")
        squares = _finite(self.sum_squares, "sum_squares")
        if squares < 0:
            raise ValueError(f"sum_squares must be >= 0, got {squares!r}")
        if n == 0 and (total != 0 or squares != 0):
            raise ValueError("an empty sample (n=0) must have sum=0 and sum_squares=0")
        # Cauchy-Schwarz: sum**2 <= n * sum_squares, allowing for squares below ~1e-154
        # underflowing to 0.
        if total * total > n * (squares + n * sys.float_info.min) * (1 + 1e-9):
            raise ValueError(
                f"sum_squares={squares!r} is smaller than sum**2 / n = {total * total / n!r}, "
                "which no real data can produce"
            )
        # Store plain Python numbers so numpy or SQL scalars do not leak into results.
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "sum", total)
        object.__setattr__(self, "sum_squares", squares)

    @classmethod
    def from_values(cls, values: ArrayLike) -> MeanStats:
        """Summarise unit-level values."""
        array = _values(values, "values")
        return cls(n=array.size, sum=float(array.sum()), sum_squares=float(np.sum(array * array)))

    def __add__(self, other: object) -> MeanStats:
        if not isinstance(other, MeanStats):
            return NotImplemented
        return MeanStats(
            n=self.n + other.n,
            sum=self.sum + other.sum,
            sum_squares=self.sum_squares + other.sum_squares,
        )

    @property
    def mean(self) -> float:
        if self.n == 0:
            raise ValueError("the mean of an empty sample (n=0) is undefined")
        return self.sum / self.n

    @property
    def variance(self) -> float:
        """Sample variance of one unit (``ddof=1``)."""
        if self.n < 2:
            raise ValueError(f"the sample variance needs at least 2 units, got n={self.n}")
        centred = self.sum_squares - self.sum * self.sum / self.n
        return _clip_cancellation(centred, self.sum_squares) / (self.n - 1)

    @property
    def std_error_of_mean(self) -> float:
        return math.sqrt(self.variance / self.n)


@dataclass(frozen=True)
class ProportionStats:
    """Sufficient statistics of a binary metric (e.g. redeemed a coupon).

    ``variance`` is the plug-in Bernoulli variance ``p (1 - p)`` without the
    ``n / (n - 1)`` correction, so ``std_error_of_mean = sqrt(p (1 - p) / n)``
    matches the unpooled Wald z-test of
    ``statsmodels.stats.proportion.test_proportions_2indep(method="wald")``.
    The same 0/1 data summarised as :class:`MeanStats` has a variance larger by
    ``n / (n - 1)``.

    Parameters
    ----------
    n : int
        Number of units.
    successes : int
        Number of units with the outcome, ``0 <= successes <= n``.

    Examples
    --------
    >>> stats = ProportionStats(n=200, successes=30)
    >>> stats.mean, stats.variance
    (0.15, 0.1275)
    >>> ProportionStats.from_values([1, 0, 0, 1]) + ProportionStats(n=4, successes=0)
    ProportionStats(n=8, successes=2)
    """

    n: int
    successes: int

    def __post_init__(self) -> None:
        n = _count(self.n, "n")
        successes = _count(self.successes, "successes")
        if successes > n:
            raise ValueError(f"successes ({successes}) cannot exceed n ({n})")
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "successes", successes)

    @classmethod
    def from_values(cls, values: ArrayLike) -> ProportionStats:
        """Summarise unit-level 0/1 (or boolean) outcomes."""
        array = _values(values, "values")
        if not np.all((array == 0) | (array == 1)):
            raise ValueError("proportion values must all be 0 or 1")
        return cls(n=array.size, successes=int(array.sum()))

    def __add__(self, other: object) -> ProportionStats:
        if not isinstance(other, ProportionStats):
            return NotImplemented
        return ProportionStats(n=self.n + other.n, successes=self.successes + other.successes)

    @property
    def mean(self) -> float:
        if self.n == 0:
            raise ValueError("the proportion of an empty sample (n=0) is undefined")
        return self.successes / self.n

    @property
    def variance(self) -> float:
        """Bernoulli variance ``p (1 - p)`` of one unit (no ``n / (n - 1)`` factor)."""
        p = self.mean
        return p * (1 - p)

    @property
    def std_error_of_mean(self) -> float:
        return math.sqrt(self.variance / self.n)


@dataclass(frozen=True)
class RatioStats:
    """Sufficient statistics of a ratio metric such as revenue per order.

    The randomisation unit (user) differs from the analysis unit (order), so the
    metric is ``sum(numerator) / sum(denominator)`` over users and its variance
    comes from the delta method on the per-user pairs.

    Parameters
    ----------
    numerator, denominator : MeanStats
        Per-unit statistics of the numerator and denominator, over the same units.
    sum_products : float
        Sum over units of ``numerator * denominator``.

    Examples
    --------
    >>> revenue = [10.0, 0.0, 25.0, 5.0]
    >>> orders = [1.0, 0.0, 2.0, 1.0]
    >>> stats = RatioStats.from_values(revenue, orders)
    >>> stats.mean
    10.0
    >>> round(stats.variance, 6)
    16.666667
    """

    numerator: MeanStats
    denominator: MeanStats
    sum_products: float

    def __post_init__(self) -> None:
        if not isinstance(self.numerator, MeanStats) or not isinstance(self.denominator, MeanStats):
            raise TypeError("numerator and denominator must be MeanStats")
        sum_products = _finite(self.sum_products, "sum_products")
        _check_cross_moment(sum_products, self.numerator, self.denominator)
        object.__setattr__(self, "sum_products", sum_products)

    @classmethod
    def from_values(cls, numerator: ArrayLike, denominator: ArrayLike) -> RatioStats:
        """Summarise per-unit numerator and denominator values."""
        num = _values(numerator, "numerator")
        den = _values(denominator, "denominator")
        if num.shape != den.shape:
            raise ValueError(f"numerator and denominator lengths differ: {num.size} vs {den.size}")
        return cls(
            numerator=MeanStats.from_values(num),
            denominator=MeanStats.from_values(den),
            sum_products=float(np.sum(num * den)),
        )

    def __add__(self, other: object) -> RatioStats:
        if not isinstance(other, RatioStats):
            return NotImplemented
        return RatioStats(
            numerator=self.numerator + other.numerator,
            denominator=self.denominator + other.denominator,
            sum_products=self.sum_products + other.sum_products,
        )

    @property
    def n(self) -> int:
        return self.numerator.n

    @property
    def covariance(self) -> float:
        """Sample covariance (``ddof=1``) of numerator and denominator per unit."""
        if self.n < 2:
            raise ValueError(f"the sample covariance needs at least 2 units, got n={self.n}")
        num, den = self.numerator, self.denominator
        return (self.sum_products - num.sum * den.sum / self.n) / (self.n - 1)

    @property
    def mean(self) -> float:
        """``sum(numerator) / sum(denominator)``."""
        if self.denominator.sum == 0:
            raise ValueError("the ratio is undefined because the denominator sums to 0")
        return self.numerator.sum / self.denominator.sum

    @property
    def variance(self) -> float:
        """Delta-method variance of the ratio, scaled to one unit.

        With ``m, d`` the numerator and denominator means::

            var_m / d**2 + m**2 var_d / d**4 - 2 m cov / d**3

        so that ``variance / n`` is the variance of :attr:`mean`, as for
        :class:`MeanStats`.
        """
        m, d = self.numerator.mean, self.denominator.mean
        if d == 0:
            raise ValueError("the ratio is undefined because the denominator sums to 0")
        terms = (
            self.numerator.variance / d**2,
            m**2 * self.denominator.variance / d**4,
            -2 * m * self.covariance / d**3,
        )
        return _clip_cancellation(math.fsum(terms), sum(abs(term) for term in terms))

    @property
    def std_error_of_mean(self) -> float:
        return math.sqrt(self.variance / self.n)


@dataclass(frozen=True)
class CupedStats:
    """Sufficient statistics for CUPED variance reduction with a pre-period covariate.

    Parameters
    ----------
    post : MeanStats
        The metric during the experiment.
    pre : MeanStats
        The same metric (or any covariate unaffected by treatment) before the
        experiment, over the same units.
    sum_products : float
        Sum over units of ``post * pre``.

    Examples
    --------
    >>> stats = CupedStats.from_values(post=[3.0, 5.0, 4.0, 8.0], pre=[1.0, 2.0, 2.0, 3.0])
    >>> stats.theta
    2.5
    >>> stats.adjusted_variance(stats.theta) < stats.post.variance
    True
    """

    post: MeanStats
    pre: MeanStats
    sum_products: float

    def __post_init__(self) -> None:
        if not isinstance(self.post, MeanStats) or not isinstance(self.pre, MeanStats):
            raise TypeError("post and pre must be MeanStats")
        sum_products = _finite(self.sum_products, "sum_products")
        _check_cross_moment(sum_products, self.post, self.pre)
        object.__setattr__(self, "sum_products", sum_products)

    @classmethod
    def from_values(cls, post: ArrayLike, pre: ArrayLike) -> CupedStats:
        """Summarise per-unit post-period and pre-period values."""
        post_values = _values(post, "post")
        pre_values = _values(pre, "pre")
        if post_values.shape != pre_values.shape:
            raise ValueError(
                f"post and pre lengths differ: {post_values.size} vs {pre_values.size}"
            )
        return cls(
            post=MeanStats.from_values(post_values),
            pre=MeanStats.from_values(pre_values),
            sum_products=float(np.sum(post_values * pre_values)),
        )

    def __add__(self, other: object) -> CupedStats:
        if not isinstance(other, CupedStats):
            return NotImplemented
        return CupedStats(
            post=self.post + other.post,
            pre=self.pre + other.pre,
            sum_products=self.sum_products + other.sum_products,
        )

    @property
    def n(self) -> int:
        return self.post.n

    @property
    def covariance(self) -> float:
        """Sample covariance (``ddof=1``) of post and pre per unit."""
        if self.n < 2:
            raise ValueError(f"the sample covariance needs at least 2 units, got n={self.n}")
        return (self.sum_products - self.post.sum * self.pre.sum / self.n) / (self.n - 1)

    @property
    def theta(self) -> float:
        """Slope of post on pre within this sample; 0 when pre does not vary.

        :func:`compare` does not use this: it pools the slope over both arms with
        :func:`pooled_theta` so that both arms are adjusted by the same amount.
        """
        return pooled_theta(self)

    def adjusted_mean(self, theta: float, *, pre_center: float) -> float:
        """``mean(post) - theta * (mean(pre) - pre_center)``.

        Centring at a value shared by all arms (the pooled pre-period mean)
        keeps the adjusted mean on the scale of the metric, which matters for
        relative differences; absolute differences do not depend on it.
        """
        return self.post.mean - theta * (self.pre.mean - pre_center)

    def adjusted_variance(self, theta: float) -> float:
        """Per-unit sample variance of ``post - theta * pre``."""
        terms = (
            self.post.variance,
            theta**2 * self.pre.variance,
            -2 * theta * self.covariance,
        )
        return _clip_cancellation(math.fsum(terms), sum(abs(term) for term in terms))


def pooled_theta(*arms: CupedStats) -> float:
    """CUPED slope pooled within arms: ``sum_k S_xy,k / sum_k S_xx,k``.

    ``S_xy,k`` and ``S_xx,k`` are the centred cross-product and pre-period sum
    of squares inside arm ``k``.  Centring inside each arm keeps the treatment
    effect out of the slope, and the resulting adjusted difference in means is
    exactly the arm coefficient of the OLS regression ``post ~ arm + pre``.
    Returns 0 (no adjustment) when pre does not vary within any arm.

    Parameters
    ----------
    *arms : CupedStats
        The arms to pool, usually control and treatment.

    Examples
    --------
    >>> control = CupedStats.from_values(post=[1.0, 2.0, 3.0], pre=[0.0, 1.0, 2.0])
    >>> treatment = CupedStats.from_values(post=[5.0, 9.0], pre=[1.0, 3.0])
    >>> pooled_theta(control, treatment)
    1.5
    """
    if not arms:
        raise ValueError("pooled_theta needs at least one arm")
    for arm in arms:
        if not isinstance(arm, CupedStats):
            raise TypeError(f"pooled_theta needs CupedStats, got {type(arm).__name__}")
        if arm.n < 2:
            raise ValueError(f"every arm needs at least 2 units to estimate theta, got n={arm.n}")
    cross = sum(arm.covariance * (arm.n - 1) for arm in arms)
    pre_squares = sum(arm.pre.variance * (arm.n - 1) for arm in arms)
    return 0.0 if pre_squares == 0 else cross / pre_squares
