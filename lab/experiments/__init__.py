"""Statistical core of experiment analysis: sufficient statistics, comparisons and design.

Everything here works on aggregated statistics, never on a database, so the
same code serves SQL-backed analyses, simulations and notebooks.
"""

from lab.experiments._design import (
    SrmResult,
    adjust_pvalues,
    mde_means,
    mde_proportions,
    power_means,
    power_proportions,
    sample_size_means,
    sample_size_proportions,
    srm_check,
)
from lab.experiments._inference import ArmStats, ComparisonResult, GaussianPrior, compare
from lab.experiments._stats import (
    CupedStats,
    MeanStats,
    ProportionStats,
    RatioStats,
    pooled_theta,
)

__all__ = [
    "ArmStats",
    "ComparisonResult",
    "CupedStats",
    "GaussianPrior",
    "MeanStats",
    "ProportionStats",
    "RatioStats",
    "SrmResult",
    "adjust_pvalues",
    "compare",
    "mde_means",
    "mde_proportions",
    "pooled_theta",
    "power_means",
    "power_proportions",
    "sample_size_means",
    "sample_size_proportions",
    "srm_check",
]
