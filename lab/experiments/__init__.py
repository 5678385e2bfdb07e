"""Experiment analysis: sufficient statistics, comparisons, design, and ``analyze``.

The inference core works on aggregated statistics, never on a database, so the
same code serves SQL-backed analyses, simulations and notebooks; ``analyze`` is
the one place that reduces a stored experiment to those statistics in DuckDB,
from the derived per-user table that ``refresh_experiment_users`` builds.
"""

from lab._outcomes import experiment_users_status, refresh_experiment_users
from lab.experiments._analyze import AnalysisResult, analyze
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
    "AnalysisResult",
    "analyze",
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
    "experiment_users_status",
    "mde_means",
    "mde_proportions",
    "pooled_theta",
    "power_means",
    "power_proportions",
    "refresh_experiment_users",
    "sample_size_means",
    "sample_size_proportions",
    "srm_check",
]
