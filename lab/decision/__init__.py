"""Decisions: which strategy to ship, and whether an experiment's arm should ship.

:func:`decide` compares simulated strategies on their incremental metrics (each from
its own randomised holdout) and names a winner, by how much, how sure, and what stands
in the way; :func:`experiment_decision` reads one stored experiment as ship / don't
ship / keep running. Both explain themselves in English and Chinese (``sentence``).

Example
-------
>>> import lab
>>> lab.decision.GOALS[0]
'gmv_per_cost'
"""

from lab.decision._experiments import STATUSES, ExperimentDecision, experiment_decision
from lab.decision._strategies import (
    GOALS,
    Decision,
    Guardrails,
    StrategyOutcome,
    decide,
    strategy_outcome,
)
from lab.decision._words import blocker_text

__all__ = [
    "GOALS",
    "STATUSES",
    "Decision",
    "ExperimentDecision",
    "Guardrails",
    "StrategyOutcome",
    "blocker_text",
    "decide",
    "experiment_decision",
    "strategy_outcome",
]
