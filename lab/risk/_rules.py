"""Explicit fraud rules over :func:`lab.risk.risk_features`, with documented thresholds.

Each rule is one comparison of one feature with a threshold and carries a weight: the
probability-like strength of its evidence. Fired rules combine by noisy-or
(``1 - prod(1 - weight)``), so two independent weak signals add up and no sum exceeds 1.
The thresholds are set so that an honest account almost never fires more than one rule:
a family shares a device with two or three accounts, not five; an office /24 block
rarely has ten accounts claiming the same campaign; a person does not claim five
coupons in one hour.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["RULES", "Rule", "apply_rules"]

_OPS = {">=": operator.ge, "<": operator.lt, "==": operator.eq}


@dataclass(frozen=True)
class Rule:
    """One explicit rule: ``feature op threshold`` fires with evidence ``weight``."""

    name: str
    feature: str
    op: str
    threshold: float
    weight: float
    doc: str

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"op must be one of {tuple(_OPS)}, got {self.op!r}")
        if not 0 < self.weight < 1:
            raise ValueError(f"weight must be in (0, 1), got {self.weight!r}")

    def fires(self, features: pd.DataFrame) -> np.ndarray:
        values = features[self.feature].to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            return np.asarray(_OPS[self.op](values, self.threshold), dtype=bool)


#: The default rule set (name, feature, comparison, threshold, weight).
RULES: tuple[Rule, ...] = (
    Rule(
        "shared_device",
        "accounts_per_device",
        ">=",
        3,
        0.6,
        "three or more accounts on one device fingerprint",
    ),
    Rule(
        "crowded_ip_block",
        "accounts_per_ip_block",
        ">=",
        8,
        0.4,
        "eight or more accounts in one /24 IP block",
    ),
    Rule(
        "claim_burst",
        "max_block_claims_per_minute",
        ">=",
        5,
        0.5,
        "five or more claims from one /24 block within one minute",
    ),
    Rule(
        "virtual_number",
        "virtual_number",
        "==",
        1,
        0.4,
        "phone number in a virtual-number segment (170, 171)",
    ),
    Rule(
        "claim_velocity",
        "max_claims_per_hour",
        ">=",
        4,
        0.3,
        "four or more claims by the account within one hour",
    ),
    Rule(
        "new_account",
        "account_age_hours",
        "<",
        24,
        0.3,
        "first claim less than 24 h after registration",
    ),
    Rule(
        "threshold_scraping",
        "near_threshold_share",
        ">=",
        0.8,
        0.2,
        "at least 80 % of redemptions on baskets under 1.05 x the threshold",
    ),
    Rule(
        "linked_orders",
        "linked_orders",
        ">=",
        2,
        0.4,
        "two or more redemptions claimed from a device or IP shared with other accounts",
    ),
)


def apply_rules(features: pd.DataFrame, *, rules: tuple[Rule, ...] = RULES) -> pd.DataFrame:
    """Evaluate ``rules`` on a feature frame.

    Parameters
    ----------
    features : DataFrame
        Output of :func:`lab.risk.risk_features` (or any frame with the rules' features).
    rules : tuple of Rule, keyword-only
        Rules to apply; defaults to :data:`RULES`.

    Returns
    -------
    DataFrame
        ``user_id``, one boolean column per rule (``rule_<name>``), ``rules_fired``
        (comma-separated names) and ``rule_score`` (noisy-or of the fired weights).

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"user_id": [1], "accounts_per_device": [5]})
    >>> r = Rule("shared_device", "accounts_per_device", ">=", 3, 0.6, "")
    >>> apply_rules(f, rules=(r,))["rule_score"].tolist()
    [0.6]
    """
    missing = sorted({r.feature for r in rules} - set(features.columns))
    if missing:
        raise ValueError(f"features is missing column(s) {', '.join(missing)} used by the rules")
    out = pd.DataFrame({"user_id": features["user_id"].to_numpy()})
    keep = np.ones(len(features))
    names = np.full(len(features), "", dtype=object)
    for rule in rules:
        fired = rule.fires(features)
        out[f"rule_{rule.name}"] = fired
        keep *= np.where(fired, 1 - rule.weight, 1.0)
        names = np.where(fired, np.where(names == "", rule.name, names + "," + rule.name), names)
    out["rules_fired"] = names
    out["rule_score"] = 1 - keep
    return out
