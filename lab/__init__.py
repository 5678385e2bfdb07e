"""Coupon strategy lab: simulate, store and analyse coupon issuance.

The public API is flat: ``import lab`` and call ``lab.simulate``, ``lab.funnel``,
``lab.compare``... Domain subpackages (``lab.world``, ``lab.experiments``,
``lab.risk``...) hold the details and their less common names; README has the tour.

Example
-------
>>> import lab
>>> store = lab.Store(":memory:")
>>> run = lab.simulate("aa_test", store=store, users=500, days=7, pre_days=7, progress=False)
>>> lab.funnel(store, run=run).to_frame()["step"].tolist()[:2]
['exposure', 'rule_view']
"""

__version__ = "0.1.0"

from lab import calibration
from lab.cycle import CycleComparison, CycleResult, compare_cycles, redemption_cycle
from lab.denomination import (
    FittedResponse,
    LadderFrontier,
    LadderPrediction,
    ResponseModel,
    SplitTestResult,
    optimize_ladder,
    predict_ladder,
    split_test,
)
from lab.experiments import (
    AnalysisResult,
    ComparisonResult,
    CupedStats,
    GaussianPrior,
    MeanStats,
    ProportionStats,
    RatioStats,
    SrmResult,
    adjust_pvalues,
    analyze,
    compare,
    experiment_users_status,
    mde_means,
    mde_proportions,
    power_means,
    power_proportions,
    refresh_experiment_users,
    sample_size_means,
    sample_size_proportions,
    srm_check,
)
from lab.funnel import FunnelResult, FunnelTrend, dropped_at, funnel, funnel_trend
from lab.ingest import LogImportError, import_logs
from lab.metrics import (
    IncrementalGMV,
    IssuanceTimeline,
    MetricsResult,
    PushFatigue,
    campaign_metrics,
    issuance_timeline,
    push_fatigue,
)
from lab.retention import RetentionResult, retention
from lab.risk import (
    ReconciliationReport,
    RiskEvaluation,
    RiskScores,
    compare_control_levels,
    evaluate_risk,
    reconcile,
    risk_features,
    score_accounts,
)
from lab.schema import SCHEMA_VERSION
from lab.scorecard import run_scorecard
from lab.store import SchemaVersionError, Store, StoreBusyError, StoreError
from lab.targeting import (
    TLearner,
    TransformedOutcome,
    XLearner,
    allocate,
    allocate_blanket,
    allocate_by_rule,
    allocate_random,
    auuc,
    qini_curve,
    score_policies,
    uplift_curve,
    uplift_dataset,
)
from lab.world import (
    PRESETS,
    Arm,
    Campaign,
    Experiment,
    Stock,
    Strategy,
    Targeting,
    claim_rush,
    parameters_frame,
    preset,
    simulate,
)

__all__ = [
    "parameters_frame",
    "Targeting",
    "Stock",
    "Experiment",
    "Campaign",
    "Arm",
    "PRESETS",
    "SCHEMA_VERSION",
    "AnalysisResult",
    "ComparisonResult",
    "CupedStats",
    "CycleComparison",
    "CycleResult",
    "FittedResponse",
    "FunnelResult",
    "FunnelTrend",
    "GaussianPrior",
    "IncrementalGMV",
    "IssuanceTimeline",
    "LadderFrontier",
    "LadderPrediction",
    "LogImportError",
    "MeanStats",
    "MetricsResult",
    "PushFatigue",
    "ProportionStats",
    "RatioStats",
    "ReconciliationReport",
    "ResponseModel",
    "RetentionResult",
    "RiskEvaluation",
    "RiskScores",
    "SchemaVersionError",
    "SplitTestResult",
    "SrmResult",
    "Store",
    "StoreBusyError",
    "StoreError",
    "Strategy",
    "TLearner",
    "TransformedOutcome",
    "XLearner",
    "__version__",
    "adjust_pvalues",
    "allocate",
    "allocate_blanket",
    "allocate_by_rule",
    "allocate_random",
    "analyze",
    "auuc",
    "calibration",
    "campaign_metrics",
    "claim_rush",
    "compare",
    "experiment_users_status",
    "compare_control_levels",
    "compare_cycles",
    "dropped_at",
    "evaluate_risk",
    "funnel",
    "funnel_trend",
    "import_logs",
    "issuance_timeline",
    "mde_means",
    "mde_proportions",
    "optimize_ladder",
    "power_means",
    "power_proportions",
    "refresh_experiment_users",
    "predict_ladder",
    "preset",
    "push_fatigue",
    "qini_curve",
    "reconcile",
    "redemption_cycle",
    "retention",
    "risk_features",
    "run_scorecard",
    "sample_size_means",
    "sample_size_proportions",
    "score_accounts",
    "score_policies",
    "simulate",
    "split_test",
    "srm_check",
    "uplift_curve",
    "uplift_dataset",
]
