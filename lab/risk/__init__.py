"""Risk control: farming-ring (羊毛党) detection, control levels and reconciliation.

- :func:`risk_features` computes per-account signals in DuckDB from the logs;
- :func:`score_accounts` combines explicit :data:`RULES` with an isolation forest into a
  risk score and an allow / challenge / block decision;
- :func:`evaluate_risk` and :func:`compare_control_levels` score them against the
  world's truth (CALIBRATION C9);
- :func:`reconcile` checks that every claim ended once and no stock overspent.
"""

from lab.risk._evaluate import (
    ControlComparison,
    RiskEvaluation,
    compare_control_levels,
    evaluate_risk,
)
from lab.risk._features import FEATURES, VIRTUAL_PREFIXES, risk_features
from lab.risk._reconcile import CHECKS, ReconciliationReport, reconcile
from lab.risk._rules import RULES, Rule, apply_rules
from lab.risk._score import BLOCK_AT, CHALLENGE_AT, RiskScores, score_accounts

__all__ = [
    "BLOCK_AT",
    "CHALLENGE_AT",
    "CHECKS",
    "FEATURES",
    "RULES",
    "VIRTUAL_PREFIXES",
    "ControlComparison",
    "ReconciliationReport",
    "RiskEvaluation",
    "RiskScores",
    "Rule",
    "apply_rules",
    "compare_control_levels",
    "evaluate_risk",
    "reconcile",
    "risk_features",
    "score_accounts",
]
