"""Targeting: who responds to a coupon, and who should get which one under a budget.

- :func:`uplift_dataset` builds the modelling table of an experiment in DuckDB;
- :class:`TLearner`, :class:`XLearner`, :class:`TransformedOutcome`,
  :class:`DRLearner` estimate each
  user's uplift (``fit(X, treatment, y)`` / ``predict_uplift(X)``);
- :func:`qini_curve`, :func:`uplift_curve`, :func:`auuc` score a ranking;
- :func:`allocate` picks an amount per user under a budget to maximise predicted
  incremental value; :func:`allocate_blanket`, :func:`allocate_random`,
  :func:`allocate_by_rule` are the comparators; :func:`allocate_within_rule` lets
  the model choose inside a rule; :func:`score_policies` scores plans
  against the truth.
"""

from lab.targeting._curves import UpliftCurve, auuc, qini_curve, uplift_curve
from lab.targeting._dataset import OUTCOMES, UPLIFT_FEATURES, uplift_dataset, user_features
from lab.targeting._lift import targeting_lift, tier_conversion_lift
from lab.targeting._policy import (
    Allocation,
    PolicyComparison,
    allocate,
    allocate_blanket,
    allocate_by_rule,
    allocate_random,
    allocate_within_rule,
    potential_outcomes,
    score_policies,
)
from lab.targeting._uplift import DRLearner, TLearner, TransformedOutcome, XLearner

__all__ = [
    "OUTCOMES",
    "UPLIFT_FEATURES",
    "Allocation",
    "DRLearner",
    "PolicyComparison",
    "TLearner",
    "TransformedOutcome",
    "UpliftCurve",
    "XLearner",
    "allocate",
    "allocate_blanket",
    "allocate_by_rule",
    "allocate_random",
    "allocate_within_rule",
    "auuc",
    "potential_outcomes",
    "qini_curve",
    "score_policies",
    "uplift_curve",
    "uplift_dataset",
    "user_features",
    "targeting_lift",
    "tier_conversion_lift",
]
