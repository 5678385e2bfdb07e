"""Every behavioural parameter of the synthetic world, in one documented place.

Each parameter is a field of :class:`Params` whose metadata names the CALIBRATION row
(or the behaviour) it controls. Per-entry parameters are tuples of ``(key, value)``
pairs keyed ``"platform/entry"``. The simulator reads only :data:`PARAMS`; tests and
calibration measure the world from its logs, never from here.

Example
-------
>>> from lab.world._params import PARAMS
>>> PARAMS.entry("reach", "wechat", "card_wallet")
0.5
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import pandas as pd

ENTRY_KEYS = (
    "wechat/official_account",
    "wechat/mini_program",
    "wechat/pay_page",
    "wechat/card_wallet",
    "alipay/pay_page",
    "alipay/wallet_home",
    "meituan/app_push",
    "meituan/store_page",
)
PUSH_ENTRIES = ("official_account", "app_push")


def _p(value, controls: str, doc: str):
    return field(default=value, metadata={"controls": controls, "doc": doc})


def _entries(*values: float) -> tuple[tuple[str, float], ...]:
    return tuple(zip(ENTRY_KEYS, values, strict=True))


@dataclass(frozen=True)
class Params:
    """The world's behavioural parameters (see each field's metadata)."""

    # --- population -------------------------------------------------------------------
    fraud_share: float = _p(0.0155, "C9", "Share of accounts that belong to farming rings.")
    ring_size: int = _p(40, "C9", "Mean number of accounts per farming ring.")
    ring_accounts_per_device: int = _p(6, "C9", "Ring accounts sharing one device fingerprint.")
    ring_accounts_per_phone: int = _p(8, "C9", "Ring accounts sharing one (virtual) phone number.")
    ring_virtual_prefix_share: float = _p(
        0.85, "C9", "Ring accounts on 170/171 virtual-number prefixes."
    )
    legit_virtual_prefix_share: float = _p(0.02, "C9", "Legitimate accounts on 170/171 prefixes.")
    realname_legit: float = _p(0.98, "C9", "Legitimate accounts that pass real-name verification.")
    realname_fraud: float = _p(0.08, "C9", "Ring accounts that pass real-name verification.")
    linked_account_share: float = _p(
        0.03,
        "natural-person limit",
        "Accounts that are a second account of the previous user (same natural person).",
    )
    uses_wechat: float = _p(0.95, "C12", "Users reachable on WeChat.")
    uses_alipay: float = _p(0.6, "platform mix", "Users reachable on Alipay.")
    uses_meituan: float = _p(0.55, "platform mix", "Users reachable on Meituan.")
    segment_shares: tuple = _p(
        (("new", 0.15), ("active", 0.6), ("lapsed", 0.25)), "segments", "Lifecycle segment shares."
    )
    base_rate: tuple = _p(
        (("new", 0.055), ("active", 0.078), ("lapsed", 0.02)),
        "C3, C4",
        "Median baseline orders per day by segment.",
    )
    base_rate_sigma: float = _p(0.55, "C3, C4", "Log-sd of baseline order rates across users.")
    fraud_base_rate: float = _p(0.01, "C9", "Baseline orders per day of ring accounts.")
    basket_median_fen: int = _p(5500, "C10", "Median basket of an average user, fen.")
    basket_user_sigma: float = _p(0.35, "C10", "Log-sd of users' median baskets.")
    basket_order_sigma: float = _p(0.5, "C10", "Log-sd of baskets around a user's median.")
    credit_tier_shares: tuple = _p(
        (0.1, 0.2, 0.35, 0.25, 0.1), "C14", "Share of users in credit tiers 1..5."
    )
    credit_basket_step: float = _p(0.08, "C14", "Relative basket increase per credit tier.")
    price_sensitivity_sigma: float = _p(
        0.4, "uplift heterogeneity", "Log-sd of price sensitivity (mean 1)."
    )
    distance_median_km: float = _p(4.5, "C5", "Median home-to-store distance, km.")
    distance_sigma: float = _p(0.8, "C5", "Log-sd of home-to-store distance.")
    friends_mean: float = _p(8.0, "C8", "Mean number of social ties.")
    engagement_sigma: float = _p(
        0.5,
        "C13 fatigue",
        "Log-sd of how often a user visits a platform (varies pushes/visits per day).",
    )
    # hour-of-day habits: archetype shares and weights over 24 hours (weekday, weekend)
    archetype_shares: tuple = _p(
        (0.12, 0.4, 0.3, 0.18),
        "C11",
        "Shares of morning / lunch / dinner / night-owl habit archetypes.",
    )
    morning_weekday_weight: float = _p(
        0.44, "C11", "Morning archetype: weekday weight of 07-10 (spread over 3 hours)."
    )
    other_morning_weight: float = _p(0.045, "C11", "Other archetypes: weight of 07-10.")

    # --- orders ---------------------------------------------------------------------
    weekend_rate_mult: float = _p(
        1.15, "baseline demand", "Baseline order rate multiplier on Saturday and Sunday."
    )
    rain_prob: float = _p(0.3, "C15", "Probability that a day is rainy.")
    delivery_share: float = _p(0.35, "C15", "Share of baseline orders delivered on dry days.")
    rain_delivery_odds: float = _p(2.2, "C15", "Odds multiplier of delivery on rainy days.")
    rain_order_mult: float = _p(1.04, "C15", "Baseline order rate multiplier on rainy days.")
    delivery_basket_mult: float = _p(
        1.1, "baseline demand", "Basket multiplier of delivery orders."
    )
    shift_prob: float = _p(
        0.8,
        "C3 (pull-forward)",
        "Chance that a coupon order replaces the user's next baseline order (within the shift window) instead of adding one.",
    )
    shift_window_hours: float = _p(
        48.0, "C3 (pull-forward)", "How far ahead a coupon order can pull a baseline order forward."
    )

    # --- funnel -----------------------------------------------------------------------
    reach: tuple = _p(
        _entries(0.72, 0.82, 0.91, 0.5, 0.9, 0.6, 0.7, 0.8),
        "C1",
        "Share of users who ever see offers through each entry (the rest muted it or never open it).",
    )
    exposure_prob: float = _p(0.97, "C1", "Chance a reachable user sees a delivered offer.")
    exposure_delay_min: tuple = _p(
        _entries(90, 2, 0.2, 600, 0.2, 5, 30, 2),
        "C2, C4",
        "Mean minutes from delivery to exposure, per entry.",
    )
    view_prob: float = _p(0.64, "C7", "Probability an exposed legitimate user opens the rules.")
    claim_prob: float = _p(0.9, "C7", "Probability a rule viewer claims (before fatigue).")
    share_prob: float = _p(
        0.45, "C8", "Probability a rule viewer shares the offer (social mechanics)."
    )
    share_unlock_share_mult: float = _p(
        1.47, "C8", "Share-to-unlock multiplies the share probability."
    )
    share_unlock_redeem_mult: float = _p(
        0.7, "C8", "Share-to-unlock multiplies the redemption hazard (diluted audience)."
    )
    game_task_claim_mult: float = _p(
        0.85, "mechanics", "Game task: multiplier on claim probability (task effort)."
    )
    game_task_redeem_mult: float = _p(
        1.15, "mechanics", "Game task: multiplier on redemption hazard (habit)."
    )
    blind_box_claim_mult: float = _p(
        1.1, "mechanics", "Blind box: multiplier on claim probability (curiosity)."
    )
    reminder_redeem_prob: float = _p(
        0.2, "mechanics", "Expiry reminder: chance an unused coupon is redeemed on its last day."
    )
    fatigue: tuple = _p(
        _entries(0.12, 0, 0, 0, 0, 0, 0.3, 0),
        "C13",
        "Claim-rate decay per extra push the same day, per entry (exp(-k (n-1))).",
    )
    fraud_visit_mult: float = _p(
        3.0, "C9", "Ring accounts trigger this many times more visits/offers."
    )

    # --- redemption -------------------------------------------------------------------
    hazard: tuple = _p(
        _entries(0.015, 0.018, 21.0, 0.33, 18.0, 0.015, 0.09, 0.09),
        "C2, C4, C13",
        "Initial redemption hazard per day, per entry.",
    )
    decay: tuple = _p(
        _entries(0.1, 0.08, 14.0, 0.05, 14.0, 0.15, 1.2, 1.0),
        "C2, C13",
        "Memory decay of the redemption hazard per day, per entry.",
    )
    distance_weight: tuple = _p(
        _entries(1.0, 1.0, 0.2, 0.3, 0.2, 1.0, 0.5, 1.0),
        "C5",
        "How strongly each entry's redemptions fall with distance (pay pages: the user is already buying; app push: mostly delivery).",
    )
    best_coupon_prob: float = _p(
        0.7,
        "C10",
        "Chance a user holding a better coupon of the same pack uses it for baskets that qualify for both.",
    )
    immediate_hours: float = _p(
        6.0,
        "C2, C3",
        "Redemptions this soon after the claim keep their time; later ones move to the user's habitual hours.",
    )
    distance_km0: float = _p(1.5, "C5", "Distance at which the redemption hazard halves.")
    distance_power: float = _p(6.0, "C5", "Steepness of the distance decay of the hazard.")
    value_elasticity: float = _p(
        0.5, "C10, C14", "Elasticity of the hazard to the face value (relative to 10 yuan)."
    )
    credit_hazard_step: float = _p(0.0, "C14", "Relative hazard change per credit tier.")
    goods_basket_mult: tuple = _p(
        (("beauty", 3.3),),
        "C10",
        "Basket multiplier of coupons restricted to a goods tag (beauty baskets are larger).",
    )
    topup_floor: float = _p(
        0.7, "C10 (bunching)", "Baskets above this share of the threshold get topped up to it."
    )
    fraud_redeem_prob: float = _p(0.05, "C9", "Chance a ring account cashes a coupon in.")

    # --- issuance engine -------------------------------------------------------------
    latency_median_ms: float = _p(80.0, "C9", "Median claim latency without risk checks, ms.")
    latency_sigma: float = _p(0.5, "C9", "Log-sd of claim latency.")
    basic_latency_ms: float = _p(15.0, "C9", "Extra mean latency of basic risk checks, ms.")
    strict_latency_ms: float = _p(
        1185.0, "C9", "Extra mean latency of real-name + face checks, ms."
    )
    transient_failure_prob: float = _p(
        0.002,
        "reconciliation",
        "Claims that fail transiently and are issued by async compensation.",
    )
    compensation_delay_s: float = _p(
        120.0, "reconciliation", "Mean delay of the compensation job, s."
    )
    device_day_cap: int = _p(2, "C9 basic", "Basic risk: claims per device per stock per day.")
    ip_block_day_cap: int = _p(
        12, "C9 basic", "Basic risk: claims per /24 IP block per stock per day."
    )
    face_fail_fraud: float = _p(
        0.98, "C9 strict", "Strict risk: ring accounts failing the face check."
    )
    face_fail_legit: float = _p(
        0.01, "C9 strict", "Strict risk: legitimate accounts failing the face check."
    )
    cost_per_call: float = _p(
        1.0, "C5", "Engine cost units per call (delivery decision or claim request)."
    )
    lbs_cost_mult: float = _p(1.15, "C5", "Cost multiplier of LBS-targeted stocks (geo lookups).")
    cost_noise_sigma: float = _p(0.02, "C5", "Log-sd of daily cost noise.")

    def entry(self, name: str, platform: str, entry: str) -> float:
        """Value of per-entry parameter ``name`` for ``platform``/``entry``."""
        return dict(getattr(self, name))[f"{platform}/{entry}"]

    def by_key(self, name: str) -> dict:
        return dict(getattr(self, name))


PARAMS = Params()


def parameters_frame(params: Params = PARAMS) -> pd.DataFrame:
    """All behavioural parameters as a table: name, value, controls, doc.

    Per-entry and per-segment parameters are flattened to ``name[key]`` rows.

    Example
    -------
    >>> df = parameters_frame()
    >>> set(df.columns) == {"name", "value", "controls", "doc"}
    True
    """
    rows = []
    for f in fields(params):
        value = getattr(params, f.name)
        meta = f.metadata
        if isinstance(value, tuple) and value and isinstance(value[0], tuple):
            for key, v in value:
                rows.append((f"{f.name}[{key}]", v, meta["controls"], meta["doc"]))
        else:
            rows.append((f.name, value, meta["controls"], meta["doc"]))
    df = pd.DataFrame(rows, columns=["name", "value", "controls", "doc"])
    df["value"] = df["value"].astype(str)
    return df
