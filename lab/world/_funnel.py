"""Offers: delivery through each entry, then exposure, rule view, share and claim.

Everything up to the claim attempt depends only on the user, the strategy and the
chunk's own random stream, never on other users, so the issuance engine can enforce
budgets globally afterwards and this step can be regenerated identically.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab import schema
from lab.world._orders import Orders, sample_hours
from lab.world._params import ENTRY_KEYS, PUSH_ENTRIES, Params
from lab.world._population import (
    DAY,
    PLATFORM_CODES,
    SEGMENT_CODES,
    Population,
    hour_profiles,
    rng_for,
)
from lab.world._strategy import Strategy

NONE = np.int64(-1)


@dataclass
class Plan:
    """A strategy compiled to per-campaign arrays for vectorised lookups."""

    strategy: Strategy
    entry_key: np.ndarray  # index into ENTRY_KEYS
    platform: np.ndarray  # index into PLATFORM_CODES
    mechanic: np.ndarray  # index into schema.MECHANICS
    risk: np.ndarray  # index into schema.RISK_LEVELS
    stock_type: np.ndarray  # index into schema.STOCK_TYPES
    minimum: np.ndarray
    amount: np.ndarray
    max_amount: np.ndarray
    discount_rate: np.ndarray
    max_per_user: np.ndarray
    # issuance limits the engine enforces; -1 where the stock sets none
    real_name_limit: np.ndarray
    natural_person_limit: np.ndarray
    phone_limit: np.ndarray
    daily_budget: np.ndarray
    total_budget: np.ndarray
    max_coupons: np.ndarray
    lbs: np.ndarray
    # campaign day windows in run days [first, last)
    first_day: np.ndarray
    last_day: np.ndarray
    arm_exp: np.ndarray  # experiment index or -1
    arm_idx: np.ndarray  # arm index or -1
    holdout_arms: list  # per experiment: bool array over arms
    arm_weights: list
    pre_days: int
    days: int
    weekday0: int

    @property
    def n(self) -> int:
        return len(self.entry_key)

    @property
    def end_ts(self) -> int:
        return (self.pre_days + self.days) * DAY


def _or_none(value: int | None) -> int:
    return -1 if value is None else value


def compile_plan(strategy: Strategy, *, pre_days: int, days: int, weekday0: int) -> Plan:
    cs = strategy.campaigns
    exp_names = [e.name for e in strategy.experiments]

    def arr(values, dtype):
        return np.array(list(values), dtype=dtype)

    first = []
    last = []
    for c in cs:
        lo, hi = c.start_day, days if c.end_day is None else min(c.end_day, days)
        if c.stock.validity_type == "fixed":
            lo = max(lo, c.stock.valid_from_day)
            if c.stock.valid_until_day is not None:
                hi = min(hi, c.stock.valid_until_day)
        first.append(pre_days + lo)
        last.append(pre_days + max(lo, hi))
    return Plan(
        strategy=strategy,
        entry_key=arr((ENTRY_KEYS.index(f"{c.platform}/{c.entry}") for c in cs), np.int8),
        platform=arr((PLATFORM_CODES.index(c.platform) for c in cs), np.int8),
        mechanic=arr((schema.MECHANICS.index(c.mechanic) for c in cs), np.int8),
        risk=arr((schema.RISK_LEVELS.index(c.risk_level) for c in cs), np.int8),
        stock_type=arr((schema.STOCK_TYPES.index(c.stock.stock_type) for c in cs), np.int8),
        minimum=arr((c.stock.transaction_minimum_fen for c in cs), np.int64),
        amount=arr((c.stock.amount_fen for c in cs), np.int64),
        max_amount=arr((c.stock.max_amount_fen or c.stock.amount_fen for c in cs), np.int64),
        discount_rate=arr((c.stock.discount_rate or 1.0 for c in cs), np.float64),
        max_per_user=arr((c.stock.max_per_user for c in cs), np.int64),
        real_name_limit=arr((c.stock.real_name_limit for c in cs), bool),
        natural_person_limit=arr((c.stock.natural_person_limit for c in cs), bool),
        phone_limit=arr((c.stock.phone_limit for c in cs), bool),
        daily_budget=arr((_or_none(c.stock.daily_budget_fen) for c in cs), np.int64),
        total_budget=arr((c.stock.total_budget_fen for c in cs), np.int64),
        max_coupons=arr((_or_none(c.stock.max_coupons) for c in cs), np.int64),
        lbs=arr((c.targeting.lbs_radius_km is not None for c in cs), bool),
        first_day=arr(first, np.int64),
        last_day=arr(last, np.int64),
        arm_exp=arr((exp_names.index(c.experiment) if c.experiment else -1 for c in cs), np.int64),
        arm_idx=arr(
            (
                [a.name for a in strategy.experiments[exp_names.index(c.experiment)].arms].index(
                    c.arm
                )
                if c.experiment
                else -1
                for c in cs
            ),
            np.int64,
        ),
        holdout_arms=[np.array([a.holdout for a in e.arms]) for e in strategy.experiments],
        arm_weights=[np.array([a.weight for a in e.arms], float) for e in strategy.experiments],
        pre_days=pre_days,
        days=days,
        weekday0=weekday0,
    )


@dataclass
class Offers:
    """Offers of one chunk; timestamps in run seconds, -1 when the step never happened."""

    user: np.ndarray
    campaign: np.ndarray
    delivered: np.ndarray
    exposed: np.ndarray
    viewed: np.ndarray
    shared: np.ndarray
    claimed: np.ndarray
    amount: np.ndarray  # face value the claim asks for (blind box draw, unlocked amount)
    phantom: np.ndarray  # offer to a holdout user: kept only for the true uplift
    p_claim: np.ndarray  # probability the offer leads to a claim attempt

    def __len__(self) -> int:
        return len(self.user)

    def take(self, idx) -> Offers:
        return Offers(**{k: v[idx] for k, v in self.__dict__.items()})


def _deliveries(
    plan: Plan,
    ci: int,
    pop: Population,
    orders: Orders,
    arms: np.ndarray,
    rain: np.ndarray,
    rng,
    p: Params,
) -> tuple[np.ndarray, np.ndarray]:
    """(user index, delivery time) of campaign ``ci``."""
    c = plan.strategy.campaigns[ci]
    t = c.targeting
    plat = int(plan.platform[ci])
    ok = pop.uses[:, plat].copy()
    if t.segments:
        ok &= np.isin(pop.segment, [SEGMENT_CODES.index(s) for s in t.segments])
    if t.credit_tiers:
        ok &= np.isin(pop.credit_tier, t.credit_tiers)
    if t.lbs_radius_km is not None:
        ok &= pop.distance_km <= t.lbs_radius_km
    if plan.arm_exp[ci] >= 0:
        ok &= arms[:, plan.arm_exp[ci]] == plan.arm_idx[ci]
    days = np.arange(plan.first_day[ci], plan.last_day[ci])
    wd = (plan.weekday0 + days) % 7
    days = days[(t.weekdays >> wd) & 1 == 1]
    if t.weather is not None:
        days = days[rain[days] == (t.weather == "rain")]
    if c.entry == "pay_page":
        sel = (
            ok[orders.user]
            & (orders.platform == plat)
            & np.isin(orders.ts // DAY, days)
            & (orders.ts % DAY >= t.hour_start * 3600)
            & (orders.ts % DAY < t.hour_end * 3600)
        )
        sel &= rng.random(len(sel)) < min(1.0, c.frequency)
        idx = np.flatnonzero(sel)
        ts = orders.ts[idx] + rng.integers(5, 60, len(idx))
        keep = ts < plan.end_ts
        return orders.user[idx][keep], ts[keep]
    users = np.flatnonzero(ok)
    if len(users) == 0 or len(days) == 0:
        return np.empty(0, np.int32), np.empty(0, np.int64)
    rate = c.frequency * pop.engagement[users, plat]
    if c.entry not in PUSH_ENTRIES:  # farmers visit pages far more often; pushes are the platform's
        rate = rate * np.where(pop.is_fraud[users], p.fraud_visit_mult, 1.0)
    counts = rng.poisson(np.broadcast_to(rate[:, None], (len(users), len(days))))
    nz = counts > 0
    u = np.repeat(users, nz.sum(axis=1))
    u = np.repeat(u, counts[nz])
    d = np.repeat(np.nonzero(nz)[1], counts[nz])
    d = days[d]
    lo, hi = t.hour_start, t.hour_end
    if c.entry in PUSH_ENTRIES:
        plo, phi = max(lo, 8), min(hi, 22)
        if plo >= phi:
            plo, phi = lo, hi
        hour = rng.integers(plo, phi, len(u))
    else:
        prof = hour_profiles(p)
        weekend = ((plan.weekday0 + d) % 7 >= 5).astype(np.int64)
        w = prof[pop.archetype[u], weekend].copy()
        w[:, :lo] = 0
        w[:, hi:] = 0
        w += 1e-9 * ((np.arange(24) >= lo) & (np.arange(24) < hi))
        hour = sample_hours(rng, np.cumsum(w, axis=1))
    ts = d * DAY + hour * 3600 + rng.integers(0, 3600, len(u))
    return u.astype(np.int32), ts


def face_values(plan: Plan, camp: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Face value of each claim of ``camp``: the stock's amount, or for random-amount stocks
    a uniform draw (from the uniforms ``u``) centred on it, up to its maximum."""
    amount = plan.amount[camp].copy()
    rnd = plan.stock_type[camp] == schema.STOCK_TYPES.index("random")
    if rnd.any():
        hi = plan.max_amount[camp[rnd]]
        lo = np.maximum(1, 2 * plan.amount[camp[rnd]] - hi)
        amount[rnd] = lo + np.floor(u[rnd] * (hi - lo + 1)).astype(np.int64)
    return amount


def make_offers(
    plan: Plan,
    pop: Population,
    orders: Orders,
    arms: np.ndarray,
    rain: np.ndarray,
    *,
    seed: int,
    chunk: int,
    p: Params,
) -> Offers:
    """All offers of the chunk, sorted by (delivery time, user, campaign)."""
    rng = rng_for(seed, 4, chunk)
    parts_u, parts_t, parts_c = [], [], []
    for ci in range(plan.n):
        u, t = _deliveries(plan, ci, pop, orders, arms, rain, rng, p)
        parts_u.append(u)
        parts_t.append(t)
        parts_c.append(np.full(len(u), ci, np.int16))
    user = np.concatenate(parts_u) if parts_u else np.empty(0, np.int32)
    delivered = np.concatenate(parts_t) if parts_t else np.empty(0, np.int64)
    camp = np.concatenate(parts_c) if parts_c else np.empty(0, np.int16)
    order = np.lexsort((camp, user, delivered))
    user, delivered, camp = user[order], delivered[order], camp[order]
    m = len(user)
    ek = plan.entry_key[camp]
    fraud = pop.is_fraud[user]

    # fatigue: pushes through the same entry on the same day
    fatigue_k = np.array([dict(p.fatigue)[k] for k in ENTRY_KEYS])[ek]
    fatigue = np.ones(m)
    tired = np.flatnonzero(fatigue_k > 0)
    if len(tired):
        key = (user[tired].astype(np.int64) * 100_000 + delivered[tired] // DAY) * 16 + ek[tired]
        _, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
        fatigue[tired] = np.exp(-fatigue_k[tired] * (cnt[inv] - 1))

    reach = pop.reachable[user, ek] * p.exposure_prob
    delay = np.array([dict(p.exposure_delay_min)[k] for k in ENTRY_KEYS])[ek] * 60
    mech = plan.mechanic[camp]
    share_mech = mech == schema.MECHANICS.index("share_to_unlock")
    claim_mult = np.ones(m)
    claim_mult[mech == schema.MECHANICS.index("game_task")] = p.game_task_claim_mult
    claim_mult[mech == schema.MECHANICS.index("blind_box")] = p.blind_box_claim_mult
    p_claim_view = np.minimum(1.0, p.claim_prob * fatigue * claim_mult)
    p_share = (
        p.share_prob
        * (pop.friends[user] > 0)
        * np.where(share_mech, p.share_unlock_share_mult, 1.0)
    )

    u = rng.random((5, m))
    exposed_ok = (u[0] < reach) | fraud
    viewed_ok = exposed_ok & ((u[1] < p.view_prob) | fraud)
    shared_ok = viewed_ok & (u[2] < p_share) & ~fraud
    claimed_ok = viewed_ok & ((u[3] < p_claim_view) | (fraud & (u[3] < 0.97)))
    gaps = rng.exponential(1.0, (4, m))
    exposed = delivered + np.ceil(gaps[0] * np.where(fraud, 5, delay)).astype(np.int64)
    viewed = exposed + 1 + (gaps[1] * 30).astype(np.int64)
    shared = viewed + 1 + (gaps[2] * 40).astype(np.int64)
    claimed = np.where(shared_ok, shared, viewed) + 1 + (gaps[3] * 15).astype(np.int64)
    end = plan.end_ts
    exposed_ok &= exposed < end
    viewed_ok &= exposed_ok & (viewed < end)
    shared_ok &= viewed_ok & (shared < end)
    claimed_ok &= viewed_ok & (claimed < end)

    # face value asked for: blind boxes draw it, share-to-unlock unlocks a larger one
    amount = face_values(plan, camp, u[4])
    if share_mech.any():
        unlock = np.array(
            [c.unlock_amount_fen or int(c.stock.amount_fen * 1.5) for c in plan.strategy.campaigns],
            np.int64,
        )
        sel = share_mech & shared_ok
        amount[sel] = unlock[camp[sel]]

    phantom = np.zeros(m, bool)
    for e, hold in enumerate(plan.holdout_arms):
        phantom |= hold[arms[user, e]]
    pc = np.where(fraud, 0.97, reach * p.view_prob * p_claim_view)
    offers = Offers(
        user=user,
        campaign=camp,
        delivered=delivered,
        exposed=np.where(exposed_ok, exposed, NONE),
        viewed=np.where(viewed_ok, viewed, NONE),
        shared=np.where(shared_ok, shared, NONE),
        claimed=np.where(claimed_ok, claimed, NONE),
        amount=amount,
        phantom=phantom,
        p_claim=pc,
    )
    return offers
