"""Each notebook's recommendation follows its numbers: the rule names what the numbers
single out, quotes them, and changes its choice when they change."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from lab.recommend import (
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


def effect(value: float, half_width: float = 0.02) -> SimpleNamespace:
    return SimpleNamespace(effect=value, ci_low=value - half_width, ci_high=value + half_width)


def incremental(roi: float, low: float, high: float) -> SimpleNamespace:
    return SimpleNamespace(
        incremental_roi=roi,
        roi_ci_low=low,
        roi_ci_high=high,
        incremental_gmv_fen=(1 + roi) * 500_000,
        cost_fen=500_000,
    )


@pytest.mark.parametrize(
    ("low", "high", "choice"),
    [(0.2, 1.4, "scale up"), (-1.2, -0.1, "stop or redesign"), (-0.4, 0.9, "keep testing")],
)
def test_rollout_follows_the_incremental_roi_interval(low, high, choice):
    roi = (low + high) / 2
    result = recommend_rollout(incremental(roi, low, high), weakest_step="claim")
    assert result.choice == choice
    assert f"{roi:.2f}" in result.text and "5,000 yuan" in result.text and "'claim'" in result.text


def test_entry_roles_follow_immediate_conversion_and_retention():
    kwargs = {"orders": effect(0.03), "treatment": "card_wallet", "control": "pay_page"}
    immediate = {"pay_page": 0.28, "card_wallet": 0.05}
    retention = {"pay_page": 0.12, "card_wallet": 0.66}
    result = recommend_entry_roles(immediate=immediate, retention=retention, **kwargs)
    assert result.choice == "promotions: pay_page, membership: card_wallet"
    assert "28.0%" in result.text and "66.0%" in result.text and "card_wallet wins" in result.text
    swapped = recommend_entry_roles(
        immediate={"pay_page": 0.05, "card_wallet": 0.3},
        retention={"pay_page": 0.7, "card_wallet": 0.2},
        **kwargs,
    )
    assert swapped.choice == "promotions: card_wallet, membership: pay_page"


def test_targeting_needs_better_roi_without_losing_gmv():
    kwargs = {"targeted": "lbs", "untargeted": "wide", "resource_overhead": 0.15}
    better = {"lbs": 4.0, "wide": 3.0}
    assert recommend_targeting(roi=better, gmv=effect(0.0), **kwargs).choice == "lbs"
    assert recommend_targeting(roi=better, gmv=effect(-0.1), **kwargs).choice == "wide"
    worse = {"lbs": 2.0, "wide": 3.0}
    assert recommend_targeting(roi=worse, gmv=effect(0.0), **kwargs).choice == "wide"
    assert recommend_targeting(roi=worse, gmv=effect(0.1), **kwargs).choice == "lbs"


def test_mechanic_is_the_best_roi_among_arms_that_keep_gmv():
    rows = {"game": effect(0.01), "box": effect(-0.1)}
    readout = SimpleNamespace(row=lambda metric, arm: rows[arm])
    roi = pd.Series({"plain": 2.0, "game": 2.5, "box": 9.0})
    result = recommend_mechanic(readout, roi, control="plain")
    assert result.choice == "game" and "Dropped for losing gmv: box" in result.text
    rows["box"] = effect(0.0)
    assert recommend_mechanic(readout, roi, control="plain").choice == "box"
    assert recommend_mechanic(readout, roi.replace(2.0, 10.0), control="plain").choice == "plain"


def test_risk_level_is_the_fastest_acceptable_one():
    levels = pd.DataFrame(
        {
            "level": ["off", "basic", "strict"],
            "fraud_issued_share": [0.15, 0.008, 0.001],
            "latency_increase_s": [0.0, 0.1, 1.2],
        }
    )
    assert recommend_risk_level(levels).choice == "basic"
    assert recommend_risk_level(levels, max_fraud_share=0.005).choice == "strict"
    assert recommend_risk_level(levels, max_fraud_share=0.0001).choice == "strict"
    assert recommend_risk_level(levels, max_fraud_share=0.2).choice == "off"


def test_ladder_follows_gmv_then_roi_and_picks_the_next_ladder_above_the_floor():
    roi = pd.DataFrame({"incremental_roi": [0.5, 0.9]}, index=["single", "split"])
    front = pd.DataFrame(
        {
            "ladder": ["a", "b", "c"],
            "incremental_roi": [1.0, 0.4, -0.2],
            "redeemed_amount_fen": [100, 200, 300],
        }
    )
    assert recommend_ladder(roi, effect(0.0, 0.1), front).choice == "split · next: b"
    assert recommend_ladder(roi, effect(-0.2), front).choice == "single · next: b"
    assert recommend_ladder(roi, effect(0.0, 0.1), front, roi_floor=0.5).choice == "split · next: a"
    assert recommend_ladder(roi, effect(0.0, 0.1), front, roi_floor=-1).choice == "split · next: c"
    roi.loc["single", "incremental_roi"] = 2.0
    assert recommend_ladder(roi, effect(0.0, 0.1), front).choice.startswith("single")


def test_platform_mix_is_the_fastest_cycle_and_caps_pushes_only_with_fatigue():
    cycles = {"meituan": 0.8, "mix": 2.8, "wechat": 4.0}
    assert recommend_platform_mix(cycles, fatigue_slope=-0.08).choice == "meituan · cap pushes"
    cycles["mix"] = 0.5
    assert recommend_platform_mix(cycles, fatigue_slope=0.01).choice == "mix"


def test_budget_plan_is_the_one_with_most_true_uplift():
    plans = {"uplift model": 900.0, "blanket": 600.0, "random": 300.0}
    result = recommend_budget_plan(plans)
    assert result.choice == "uplift model" and "+50%" in result.text and "blanket" in result.text
    plans["random"] = 1000.0
    assert recommend_budget_plan(plans).choice == "random"


def test_log_additions_name_what_is_missing():
    assert (
        recommend_log_additions(redeemed_share=0.0, near_share=0.7, has_holdout=False).choice
        == "add redemption dates, a holdout"
    )
    result = recommend_log_additions(redeemed_share=0.3, near_share=0.2, has_holdout=True)
    assert result.choice == "nothing to add" and "20%" in result.text


def test_engine_follows_agreement_then_size():
    checks = pd.DataFrame({"question": ["funnel", "retention"], "equal": [True, True]})
    small = recommend_engine(checks, events=50_000_000)
    assert small.choice == "embedded" and "50,000,000" in small.text
    assert recommend_engine(checks, events=5_000_000_000).choice == "spark"
    assert (
        recommend_engine(checks, events=50_000_000, embedded_limit_events=10_000_000).choice
        == "spark"
    )
    checks.loc[1, "equal"] = False
    differing = recommend_engine(checks, events=5_000_000_000)
    assert differing.choice == "check the engines" and "retention" in differing.text
    with pytest.raises(ValueError, match="checks"):
        recommend_engine(pd.DataFrame({"question": []}), events=1)
