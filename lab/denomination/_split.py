"""The denomination-split A/B test (seed section 5, CALIBRATION C10), read through ``analyze``.

Example
-------
>>> result = split_test(store, run="denomination_split-s0")  # doctest: +SKIP
>>> result.redeemed_amount_change, result.aov_change  # doctest: +SKIP
(0.23, -0.17)
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lab._validate import check
from lab.experiments._analyze import AnalysisResult, analyze

__all__ = ["SplitTestResult", "split_test"]


@dataclass(frozen=True)
class SplitTestResult:
    """Relative changes of the split arm against the single-denomination arm.

    ``redeemed_amount_change``: redeemed order amount per assigned user, split ÷
    single − 1 (the total redeemed amount change for arms of equal size);
    ``aov_change``: mean amount of redeemed orders, split ÷ single − 1 (a ratio
    metric, delta-method interval). Intervals are ``1 - alpha`` Welch intervals.
    ``analysis`` holds the full :func:`lab.experiments.analyze` result.
    """

    redeemed_amount_change: float
    redeemed_amount_ci: tuple[float, float]
    aov_change: float
    aov_ci: tuple[float, float]
    analysis: AnalysisResult

    def to_frame(self) -> pd.DataFrame:
        return self.analysis.to_frame()

    def verdicts(self) -> list[str]:
        return self.analysis.verdicts()

    def plot(self):
        return self.analysis.plot()


def split_test(
    store,
    *,
    run: str,
    experiment: str = "denomination",
    control: str = "single",
    treatment: str = "split",
    alpha: float = 0.05,
) -> SplitTestResult:
    """A/B of one denomination (满300减50) against a split ladder (满300减50 + 满100减20).

    Parameters
    ----------
    store : lab.Store
    run : str
    experiment, control, treatment : str
        Experiment and arm names in ``assignments``.
    alpha : float
        Two-sided error rate of the intervals.

    Returns
    -------
    SplitTestResult
    """
    check(locals())  # argument types and ranges, up front
    analysis = analyze(
        store,
        run=run,
        experiment=experiment,
        control=control,
        alpha=alpha,
        metrics=("redeemed_amount", "aov", "redeemed", "gmv"),
        difference="relative",
    )
    if treatment not in analysis.arms:
        raise ValueError(f"treatment must be one of the arms {analysis.arms}, got {treatment!r}")
    amount = analysis.row("redeemed_amount", treatment)
    aov = analysis.row("aov", treatment)
    return SplitTestResult(
        redeemed_amount_change=float(amount["effect"]),
        redeemed_amount_ci=(float(amount["ci_low"]), float(amount["ci_high"])),
        aov_change=float(aov["effect"]),
        aov_ci=(float(aov["ci_low"]), float(aov["ci_high"])),
        analysis=analysis,
    )
