"""Rules fire on hand-made cases and combine by noisy-or."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.risk import FEATURES, RULES, Rule, apply_rules


def _honest(**changes) -> pd.DataFrame:
    row = dict.fromkeys(FEATURES, 0)
    row.update(
        accounts_per_device=1,
        accounts_per_ip_block=1,
        max_block_claims_per_minute=1,
        n_claims=1,
        max_claims_per_hour=1,
        account_age_hours=5000.0,
        virtual_number=False,
    )
    row.update(changes)
    return pd.DataFrame([{"user_id": 1, **row}])


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"accounts_per_device": 3}, "shared_device"),
        ({"accounts_per_ip_block": 8}, "crowded_ip_block"),
        ({"max_block_claims_per_minute": 5}, "claim_burst"),
        ({"virtual_number": True}, "virtual_number"),
        ({"max_claims_per_hour": 4}, "claim_velocity"),
        ({"account_age_hours": 23.5}, "new_account"),
        ({"near_threshold_share": 0.8}, "threshold_scraping"),
        ({"linked_orders": 2}, "linked_orders"),
    ],
)
def test_each_rule_fires_alone(change, rule):
    assert apply_rules(_honest())["rules_fired"].item() == ""
    out = apply_rules(_honest(**change))
    assert out["rules_fired"].item() == rule
    weight = {r.name: r.weight for r in RULES}[rule]
    assert out["rule_score"].item() == pytest.approx(weight)


def test_just_under_thresholds_do_not_fire():
    out = apply_rules(
        _honest(
            accounts_per_device=2,
            accounts_per_ip_block=7,
            max_block_claims_per_minute=4,
            max_claims_per_hour=3,
            account_age_hours=24.0,
            near_threshold_share=0.79,
            linked_orders=1,
        )
    )
    assert out["rules_fired"].item() == ""
    assert out["rule_score"].item() == 0


def test_missing_age_does_not_fire():
    assert apply_rules(_honest(account_age_hours=np.nan))["rules_fired"].item() == ""


@settings(max_examples=50, deadline=None)
@given(st.lists(st.booleans(), min_size=len(RULES), max_size=len(RULES)))
def test_noisy_or(fired):
    change = {}
    triggers = {
        "shared_device": ("accounts_per_device", 9),
        "crowded_ip_block": ("accounts_per_ip_block", 9),
        "claim_burst": ("max_block_claims_per_minute", 9),
        "virtual_number": ("virtual_number", True),
        "claim_velocity": ("max_claims_per_hour", 9),
        "new_account": ("account_age_hours", 1.0),
        "threshold_scraping": ("near_threshold_share", 1.0),
        "linked_orders": ("linked_orders", 9),
    }
    for rule, on in zip(RULES, fired, strict=True):
        if on:
            col, value = triggers[rule.name]
            change[col] = value
    out = apply_rules(_honest(**change))
    expected = 1 - np.prod([1 - r.weight for r, on in zip(RULES, fired, strict=True) if on])
    assert out["rule_score"].item() == pytest.approx(expected)
    assert 0 <= out["rule_score"].item() < 1


def test_bad_rule_and_missing_feature():
    with pytest.raises(ValueError, match="op must be one of"):
        Rule("x", "n_claims", ">", 1, 0.5, "")
    with pytest.raises(ValueError, match="missing column"):
        apply_rules(pd.DataFrame({"user_id": [1]}))
