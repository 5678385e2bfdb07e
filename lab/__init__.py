"""Coupon strategy lab: simulate, store and analyse coupon issuance.

The public API is flat: ``import lab`` and call ``lab.simulate``, ``lab.funnel``,
``lab.compare``... Domain subpackages (``lab.world``, ``lab.experiments``,
``lab.risk``...) hold the details and their less common names; README has the tour.

Names are imported on first use (PEP 562), so ``python -m lab --help`` does not load
pandas, DuckDB and the models. Adding a public name: one line in :data:`_API`.

Example
-------
>>> import lab
>>> store = lab.Store(":memory:")
>>> run = lab.simulate("aa_test", store=store, users=500, days=7, pre_days=7, progress=False)
>>> lab.funnel(store, run=run).to_frame()["step"].tolist()[:2]
['exposure', 'rule_view']
"""

import importlib
import sys
import types

__version__ = "0.1.0"

# public name -> the module that defines it
_API = {
    "CycleComparison": "lab.cycle",
    "CycleResult": "lab.cycle",
    "compare_cycles": "lab.cycle",
    "redemption_cycle": "lab.cycle",
    "FittedResponse": "lab.denomination",
    "LadderFrontier": "lab.denomination",
    "LadderPrediction": "lab.denomination",
    "ResponseModel": "lab.denomination",
    "SplitTestResult": "lab.denomination",
    "optimize_ladder": "lab.denomination",
    "predict_ladder": "lab.denomination",
    "split_test": "lab.denomination",
    "split_effect": "lab.denomination",
    "AnalysisResult": "lab.experiments",
    "ComparisonResult": "lab.experiments",
    "CupedStats": "lab.experiments",
    "GaussianPrior": "lab.experiments",
    "MeanStats": "lab.experiments",
    "ProportionStats": "lab.experiments",
    "RatioStats": "lab.experiments",
    "SrmResult": "lab.experiments",
    "adjust_pvalues": "lab.experiments",
    "analyze": "lab.experiments",
    "compare": "lab.experiments",
    "experiment_users_status": "lab.experiments",
    "mde_means": "lab.experiments",
    "mde_proportions": "lab.experiments",
    "power_means": "lab.experiments",
    "power_proportions": "lab.experiments",
    "refresh_experiment_users": "lab.experiments",
    "sample_size_means": "lab.experiments",
    "sample_size_proportions": "lab.experiments",
    "srm_check": "lab.experiments",
    "FunnelResult": "lab.funnel",
    "FunnelTrend": "lab.funnel",
    "dropped_at": "lab.funnel",
    "funnel": "lab.funnel",
    "funnel_trend": "lab.funnel",
    "entry_reach": "lab.funnel",
    "journey_losses": "lab.funnel",
    "redemption_within_day": "lab.funnel",
    "share_unlock_effect": "lab.funnel",
    "LogImportError": "lab.ingest",
    "import_logs": "lab.ingest",
    "IncrementalGMV": "lab.metrics",
    "IssuanceTimeline": "lab.metrics",
    "MetricsResult": "lab.metrics",
    "PushFatigue": "lab.metrics",
    "campaign_metrics": "lab.metrics",
    "issuance_timeline": "lab.metrics",
    "push_fatigue": "lab.metrics",
    "coupons_per_active_user_day": "lab.metrics",
    "morning_shift": "lab.metrics",
    "rainy_day_effect": "lab.metrics",
    "Recommendation": "lab.recommend",
    "recommend_budget_plan": "lab.recommend",
    "recommend_engine": "lab.recommend",
    "recommend_entry_roles": "lab.recommend",
    "recommend_ladder": "lab.recommend",
    "recommend_log_additions": "lab.recommend",
    "recommend_mechanic": "lab.recommend",
    "recommend_platform_mix": "lab.recommend",
    "recommend_risk_level": "lab.recommend",
    "recommend_rollout": "lab.recommend",
    "recommend_targeting": "lab.recommend",
    "RetentionResult": "lab.retention",
    "retention": "lab.retention",
    "claimer_retention": "lab.retention",
    "ReconciliationReport": "lab.risk",
    "RiskEvaluation": "lab.risk",
    "RiskScores": "lab.risk",
    "compare_control_levels": "lab.risk",
    "evaluate_risk": "lab.risk",
    "reconcile": "lab.risk",
    "risk_features": "lab.risk",
    "score_accounts": "lab.risk",
    "SCHEMA_VERSION": "lab.schema",
    "run_scorecard": "lab.scorecard",
    "SchemaVersionError": "lab.store",
    "Store": "lab.store",
    "StoreError": "lab.store",
    "TLearner": "lab.targeting",
    "TransformedOutcome": "lab.targeting",
    "XLearner": "lab.targeting",
    "allocate": "lab.targeting",
    "allocate_blanket": "lab.targeting",
    "allocate_by_rule": "lab.targeting",
    "allocate_random": "lab.targeting",
    "auuc": "lab.targeting",
    "qini_curve": "lab.targeting",
    "score_policies": "lab.targeting",
    "uplift_curve": "lab.targeting",
    "uplift_dataset": "lab.targeting",
    "targeting_lift": "lab.targeting",
    "tier_conversion_lift": "lab.targeting",
    "PRESETS": "lab.world",
    "Arm": "lab.world",
    "Campaign": "lab.world",
    "Experiment": "lab.world",
    "Stock": "lab.world",
    "Strategy": "lab.world",
    "Targeting": "lab.world",
    "claim_rush": "lab.world",
    "parameters_frame": "lab.world",
    "preset": "lab.world",
    "simulate": "lab.world",
    "Decision": "lab.decision",
    "ExperimentDecision": "lab.decision",
    "Guardrails": "lab.decision",
    "StrategyOutcome": "lab.decision",
    "decide": "lab.decision",
    "experiment_decision": "lab.decision",
    "strategy_outcome": "lab.decision",
    "METRICS": "lab.metrics",
    "DailyTrend": "lab.metrics",
    "Metric": "lab.metrics",
    "daily_trend": "lab.metrics",
    "format_interval": "lab.metrics",
    "format_metric": "lab.metrics",
    "metric": "lab.metrics",
    "metric_frame": "lab.metrics",
    "StoreBusyError": "lab.store",
    "DRLearner": "lab.targeting",
    "allocate_within_rule": "lab.targeting",
}
# submodules that are themselves part of the flat API (loaded by __getattr__ as well)
_SUBMODULES = ("calibration", "decision")

__all__ = sorted([*_API, *_SUBMODULES, "__version__"])


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    # a subpackage not imported yet (lab.world, lab.calibration...), as eager imports allowed
    if not name.startswith("_"):
        try:
            return importlib.import_module(f"lab.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"lab.{name}":  # the subpackage exists but fails to import
                raise
    raise AttributeError(f"module 'lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _FlatModule(types.ModuleType):
    """``lab`` itself: a loaded subpackage does not hide the function of the same name.

    Importing ``lab.funnel`` binds the subpackage to ``lab.funnel``; the flat API's
    ``lab.funnel`` (and ``lab.retention``) are the functions, resolved by ``__getattr__``.
    """

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, types.ModuleType) and name in _API:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _FlatModule
