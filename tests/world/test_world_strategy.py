"""Strategies are plain data: JSON round-trips, presets exist, bad input is refused clearly."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lab
from lab import schema
from lab.world import (
    PRESETS,
    Arm,
    Campaign,
    Experiment,
    Stock,
    Strategy,
    Targeting,
    parameters_frame,
    preset,
    simulate,
)

REQUIRED = {
    "default",
    "pay_vs_wallet",
    "lbs_3km",
    "share_to_unlock",
    "risk_off",
    "risk_basic",
    "risk_strict",
    "denomination_split",
    "morning_doubled",
    "rainy_delivery",
    "platform_wechat",
    "platform_alipay",
    "platform_meituan",
    "platform_mix",
    "credit_tier",
    "aa_test",
}
ARMS = {
    "default": ("holdout", {"treatment", "holdout"}),
    "lbs_3km": ("lbs", {"untargeted", "lbs_3km"}),
    "share_to_unlock": ("share", {"plain", "share_to_unlock"}),
    "denomination_split": ("denomination", {"single", "split"}),
    "rainy_delivery": ("rain", {"control", "rain_delivery"}),
    "credit_tier": ("credit", {"uniform", "tiered"}),
    "aa_test": ("aa", {"a", "b"}),
}


def test_required_presets_exist_and_round_trip():
    assert set(PRESETS) >= REQUIRED
    for name in PRESETS:
        s = preset(name)
        assert s.name == name
        assert Strategy.from_json(s.to_json()) == s
        assert json.loads(s.to_json()) == s.to_dict()


def test_preset_experiments_have_the_contract_arms():
    for name, (exp, arms) in ARMS.items():
        experiments = {e.name: {a.name for a in e.arms} for e in preset(name).experiments}
        assert experiments[exp] == arms


def test_default_covers_every_entry_and_rain():
    s = preset("default")
    entries = {(c.platform, c.entry) for c in s.campaigns}
    expected = {(p, e) for p in schema.PLATFORMS for e in schema.ENTRIES[p]}
    assert entries == expected
    assert any(
        c.targeting.weather == "rain" and c.stock.order_channel == "delivery" for c in s.campaigns
    )
    holdout = {a.name: a.holdout for a in s.experiments[0].arms}
    assert holdout == {"treatment": False, "holdout": True}


def test_risk_presets_differ_only_in_risk_level():
    strip = [
        [
            c.__class__(**{**c.__dict__, "risk_level": "off"})
            for c in preset(f"risk_{lvl}").campaigns
        ]
        for lvl in ("off", "basic", "strict")
    ]
    assert strip[0] == strip[1] == strip[2]


def test_bad_input_is_refused_with_clear_errors():
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        preset("nope")
    with pytest.raises(ValueError, match="entry must be one of"):
        Campaign("x", "alipay", "card_wallet", Stock())
    with pytest.raises(ValueError, match="mechanic must be one of"):
        Campaign("x", "wechat", "pay_page", Stock(), mechanic="lottery")
    with pytest.raises(ValueError, match="stock_type must be one of"):
        Stock(stock_type="cash")
    with pytest.raises(ValueError, match="experiment 'e' has no arm 'z'"):
        Strategy(
            "s",
            campaigns=(Campaign("x", "wechat", "pay_page", Stock(), experiment="e", arm="z"),),
            experiments=(Experiment("e", (Arm("a"), Arm("b"))),),
        )
    with pytest.raises(ValueError, match="users must be a whole number from 1"):
        simulate("default", store=lab.Store(":memory:"), users=0)


def test_parameters_frame_documents_every_parameter():
    df = parameters_frame()
    assert list(df.columns) == ["name", "value", "controls", "doc"]
    assert df["name"].is_unique
    assert (df["doc"].str.len() > 10).all() and (df["controls"].str.len() > 1).all()
    assert {"reach[wechat/pay_page]", "fraud_share", "shift_prob"} <= set(df["name"])


stocks = st.builds(
    Stock,
    transaction_minimum_fen=st.integers(0, 10**6),
    amount_fen=st.integers(1, 10**5),
    total_budget_fen=st.integers(0, 10**12),
    daily_budget_fen=st.one_of(st.none(), st.integers(0, 10**9)),
    max_per_user=st.integers(1, 50),
    usable_weekdays=st.integers(0, 127),
    order_channel=st.sampled_from([None, *schema.ORDER_CHANNELS]),
)
campaigns = st.builds(
    Campaign,
    name=st.text(min_size=1, max_size=12),
    platform=st.just("meituan"),
    entry=st.sampled_from(schema.ENTRIES["meituan"]),
    stock=stocks,
    targeting=st.builds(
        Targeting,
        segments=st.lists(st.sampled_from(schema.SEGMENTS), unique=True).map(tuple),
        lbs_radius_km=st.one_of(st.none(), st.floats(0.1, 50)),
        credit_tiers=st.lists(st.integers(1, 5), unique=True).map(tuple),
    ),
    mechanic=st.sampled_from(schema.MECHANICS),
    risk_level=st.sampled_from(schema.RISK_LEVELS),
    frequency=st.floats(0, 5),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(campaigns, max_size=4, unique_by=lambda c: c.name), st.text(max_size=20))
def test_any_strategy_round_trips_through_json(cs, description):
    s = Strategy("h", campaigns=tuple(cs), description=description)
    assert Strategy.from_json(s.to_json()) == s
