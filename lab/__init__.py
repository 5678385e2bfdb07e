"""Coupon strategy lab: simulate, store and analyse coupon issuance.

The public API is flat: ``import lab`` and call ``lab.simulate``, ``lab.funnel``,
``lab.compare``... Domain subpackages (``lab.world``, ``lab.experiments``...) hold
the details; README has the tour.
"""

__version__ = "0.1.0"

from lab import calibration
from lab.experiments import (
    ComparisonResult,
    CupedStats,
    GaussianPrior,
    MeanStats,
    ProportionStats,
    RatioStats,
    SrmResult,
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
from lab.schema import SCHEMA_VERSION
from lab.store import SchemaVersionError, Store, StoreError

__all__ = [
    "SCHEMA_VERSION",
    "ComparisonResult",
    "CupedStats",
    "GaussianPrior",
    "MeanStats",
    "ProportionStats",
    "RatioStats",
    "SchemaVersionError",
    "SrmResult",
    "Store",
    "StoreError",
    "__version__",
    "adjust_pvalues",
    "calibration",
    "compare",
    "mde_means",
    "mde_proportions",
    "power_means",
    "power_proportions",
    "sample_size_means",
    "sample_size_proportions",
    "srm_check",
]
