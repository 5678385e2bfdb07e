"""Recommendations computed from a notebook's numbers.

Every notebook ends by calling one of these: the rule that turns its figures into a
decision lives here, tested, so the recommendation follows the numbers.

Example
-------
>>> from lab.recommend import recommend_budget_plan
>>> print(recommend_budget_plan({"uplift model": 900.0, "blanket": 600.0}))
Recommendation: Spend the budget with the uplift model plan: 900 yuan of incremental GMV, +50% over the next best (blanket, 600 yuan). Keep a holdout and a small randomised ladder running so the plan keeps learning.
"""

from lab.recommend._recommend import (
    Recommendation,
    recommend_budget_plan,
    recommend_engine,
    recommend_entry_roles,
    recommend_ladder,
    recommend_log_additions,
    recommend_mechanic,
    recommend_platform_mix,
    recommend_risk_level,
    recommend_rollout,
    recommend_targeting,
)

__all__ = [
    "Recommendation",
    "recommend_budget_plan",
    "recommend_engine",
    "recommend_entry_roles",
    "recommend_ladder",
    "recommend_log_additions",
    "recommend_mechanic",
    "recommend_platform_mix",
    "recommend_risk_level",
    "recommend_rollout",
    "recommend_targeting",
]
