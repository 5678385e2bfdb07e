"""Redemption: a hazard with memory decay, usable windows, basket top-up, pull-forward.

A coupon's redemption hazard starts at ``h0`` (entry, mechanic, value, distance,
credit, price sensitivity) and decays at rate ``d`` per day (users forget). Only
baskets the coupon applies to count, so the hazard is thinned by the chance that the
basket reaches the top-up floor of the threshold; baskets just below the threshold
are topped up to it (bunching just above 满X). The order lands at an hour the user
habitually orders within the coupon's usable hours and weekdays. With probability
``shift_prob`` it replaces the user's next baseline order within ``shift_window_hours`` (pull-forward),
otherwise it is an extra order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from lab import schema
from lab.world._funnel import Plan
from lab.world._orders import Orders
from lab.world._params import ENTRY_KEYS, Params
from lab.world._population import DAY, Population, hour_profiles

_M = {m: i for i, m in enumerate(schema.MECHANICS)}
_T = {m: i for i, m in enumerate(schema.STOCK_TYPES)}


def basket_mu(plan: Plan, pop: Population, user, camp, p: Params) -> np.ndarray:
    """Log median basket of the orders a coupon can pay for (goods tags shift it)."""
    mult = dict(p.goods_basket_mult)
    tag = np.log(np.array([mult.get(c.stock.goods_tag, 1.0) for c in plan.strategy.campaigns]))
    return pop.basket_mu[user] + tag[camp]


def distance_factor(dist: np.ndarray, weight: np.ndarray, p: Params) -> np.ndarray:
    """Hazard multiplier falling with distance, to the power ``weight`` (how much the
    entry's coupons depend on visiting the store), scaled to average 1 over the population
    so the distance parameters move redemptions between users, not their total."""
    z, w = np.polynomial.hermite_e.hermegauss(60)
    typical = p.distance_median_km * np.exp(p.distance_sigma * z)
    g = 1 / (1 + (typical / p.distance_km0) ** p.distance_power)
    levels, inv = np.unique(weight, return_inverse=True)
    mean = (w[None, :] * g[None, :] ** levels[:, None]).sum(axis=1) / w.sum()
    return (1 / (1 + (dist / p.distance_km0) ** p.distance_power)) ** weight / mean[inv]


def hazard(
    plan: Plan,
    pop: Population,
    user: np.ndarray,
    camp: np.ndarray,
    amount: np.ndarray,
    p: Params,
    ceiling: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(initial hazard per day thinned by basket qualification, decay per day)."""
    ek = plan.entry_key[camp]
    h0 = np.array([dict(p.hazard)[k] for k in ENTRY_KEYS])[ek]
    d = np.array([dict(p.decay)[k] for k in ENTRY_KEYS])[ek]
    mech = plan.mechanic[camp]
    h0 = h0 * np.where(mech == _M["share_to_unlock"], p.share_unlock_redeem_mult, 1.0)
    h0 = h0 * np.where(mech == _M["game_task"], p.game_task_redeem_mult, 1.0)
    st = plan.stock_type[camp]
    mu = basket_mu(plan, pop, user, camp, p)
    value = np.where(
        st == _T["discount"],
        np.minimum(np.exp(mu) * (1 - plan.discount_rate[camp]), plan.max_amount[camp]),
        amount,
    )
    h0 = h0 * (np.maximum(value, 1) / 1000.0) ** p.value_elasticity
    weight = np.array([dict(p.distance_weight)[k] for k in ENTRY_KEYS])
    h0 = h0 * distance_factor(pop.distance_km[user], weight[ek], p)
    h0 = h0 * (1 + p.credit_hazard_step * (pop.credit_tier[user] - 3)) * pop.price_sensitivity[user]
    lo, hi = _basket_bounds(plan, camp, mu, p, ceiling)
    return h0 * (hi - lo), d


def _basket_bounds(plan: Plan, camp, mu, p: Params, ceiling=None):
    """CDF bounds of the baskets a coupon is used for: from the top-up floor of its
    threshold up to the floor of a better coupon the user holds (they use the best one)."""
    m = np.where(plan.stock_type[camp] == _T["no_threshold"], 0, plan.minimum[camp])
    with np.errstate(divide="ignore"):
        lo = ndtr((np.log(np.maximum(p.topup_floor * m, 1e-9)) - mu) / p.basket_order_sigma)
    lo = np.where(m > 0, lo, 0.0)
    if ceiling is None:
        return lo, np.ones_like(lo)
    with np.errstate(divide="ignore"):
        hi = ndtr((np.log(np.maximum(p.topup_floor * ceiling, 1e-9)) - mu) / p.basket_order_sigma)
    return lo, np.where(np.isfinite(ceiling), np.maximum(hi, lo), 1.0)


def better_coupon_floor(plan: Plan, user, camp, n_users: int) -> np.ndarray:
    """Threshold of the lowest-threshold better coupon of the same pack (same platform,
    entry and arm; higher threshold and amount) the user was issued in the run, or inf."""
    out = np.full(len(user), np.inf)
    held = np.zeros((n_users, plan.n), bool)
    held[user, camp] = True
    for c in range(plan.n):
        better = [
            b
            for b in range(plan.n)
            if plan.entry_key[b] == plan.entry_key[c]
            and plan.arm_idx[b] == plan.arm_idx[c]
            and plan.arm_exp[b] == plan.arm_exp[c]
            and plan.minimum[b] > plan.minimum[c]
            and plan.amount[b] > plan.amount[c]
        ]
        sel = camp == c
        for b in sorted(better, key=lambda b: -plan.minimum[b]):
            has = sel & held[user, b]
            out[has] = plan.minimum[b]
    return out


def redeem_prob(h0q: np.ndarray, d: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Chance of redemption within ``days`` of issue."""
    return 1 - np.exp(-h0q / d * (1 - np.exp(-d * np.maximum(days, 0))))


def valid_until(plan: Plan, camp: np.ndarray, issued: np.ndarray) -> np.ndarray:
    cs = plan.strategy.campaigns
    rel = np.array([c.stock.validity_type == "relative" for c in cs], bool)[camp]
    vdays = np.array([c.stock.valid_days for c in cs], np.int64)[camp]
    fixed_end = np.array(
        [
            (
                plan.pre_days
                + (c.stock.valid_until_day if c.stock.valid_until_day is not None else plan.days)
            )
            * DAY
            for c in cs
        ],
        np.int64,
    )[camp]
    return np.where(rel, issued + vdays * DAY, fixed_end)


@dataclass
class Redemptions:
    redeemed: np.ndarray  # bool per coupon
    ts: np.ndarray
    amount: np.ndarray  # order amount, fen
    discount: np.ndarray
    channel: np.ndarray
    consumed: np.ndarray  # indices of baseline orders replaced (pull-forward)
    expired: np.ndarray  # expiry time or -1 (still valid at the end of the run)


def _place(rng, t_raw, issued, until, camp, arch, plan: Plan, p: Params):
    """Move a redemption to an hour the user orders at, inside the usable window."""
    cs = plan.strategy.campaigns
    wmask = np.array([c.stock.usable_weekdays for c in cs], np.int64)[camp]
    hs = np.array([c.stock.usable_hour_start for c in cs], np.int64)[camp]
    he = np.array([c.stock.usable_hour_end for c in cs], np.int64)[camp]
    prof = hour_profiles(p)
    hours = np.arange(24)
    out = np.full(len(t_raw), -1, np.int64)
    day = t_raw // DAY
    # a follow-up purchase within a few hours happens when it happens, if the coupon allows it
    wd0 = (plan.weekday0 + day) % 7
    hr0 = (t_raw % DAY) // 3600
    soon = (
        (t_raw - issued < p.immediate_hours * 3600)
        & (hr0 >= hs)
        & (hr0 < he)
        & (((wmask >> wd0) & 1) == 1)
    )
    out[soon] = t_raw[soon]
    pending = np.flatnonzero(~soon)
    for _ in range(8):
        if len(pending) == 0:
            break
        dd = day[pending]
        wd = (plan.weekday0 + dd) % 7
        same = dd == issued[pending] // DAY
        lo = np.maximum(hs[pending], np.where(same, (issued[pending] % DAY) // 3600, 0))
        allowed = (
            (hours >= lo[:, None])
            & (hours < he[pending][:, None])
            & (((wmask[pending] >> wd) & 1) == 1)[:, None]
        )
        w = prof[arch[pending], (wd >= 5).astype(np.int64)] * allowed + 1e-6 * allowed
        ok = allowed.any(axis=1)
        if ok.any():
            cw = np.cumsum(w[ok], axis=1)
            u = rng.random(ok.sum()) * cw[:, -1]
            hour = np.minimum((cw < u[:, None]).sum(axis=1), 23)
            sel = pending[ok]
            ts = dd[ok] * DAY + hour * 3600 + rng.integers(0, 3600, len(sel))
            out[sel] = np.maximum(ts, issued[sel] + 60)
        pending = pending[~ok]
        day[pending] += 1
    # the claim-time floor can push a late redemption out of its window: then it never happens
    wd = (plan.weekday0 + out // DAY) % 7
    hr = (out % DAY) // 3600
    inside = (hr >= hs) & (hr < he) & (((wmask >> wd) & 1) == 1)
    bad = (out > until) | (out >= plan.end_ts) | ~inside
    out[bad] = -1
    return out


def redeem(
    plan: Plan, pop: Population, base: Orders, user, camp, amount, issued, rain, rng, p: Params
) -> Redemptions:
    """Redemptions of the chunk's issued coupons (``user`` are chunk indices)."""
    n = len(user)
    until = valid_until(plan, camp, issued)
    horizon = np.minimum(until, plan.end_ts)
    ceiling = better_coupon_floor(plan, user, camp, len(pop))
    ceiling[rng.random(n) >= p.best_coupon_prob] = np.inf
    h0q, d = hazard(plan, pop, user, camp, amount, p, ceiling)
    e = rng.exponential(1.0, n)
    cap = h0q / d * (1 - np.exp(-d * (horizon - issued) / DAY))
    hit = e < cap
    t_days = np.full(n, np.inf)
    t_days[hit] = -np.log1p(-d[hit] * e[hit] / h0q[hit]) / d[hit]
    # expiry reminder: a nudge on the last day
    remind = (plan.mechanic[camp] == _M["expiry_reminder"]) & ~hit & (until <= plan.end_ts)
    remind &= rng.random(n) < p.reminder_redeem_prob
    t_days[remind] = np.maximum(
        (until[remind] - issued[remind]) / DAY - rng.uniform(0.05, 0.9, remind.sum()), 0
    )
    # ring accounts cash coupons in quickly, whatever the hazard says
    fraud = pop.is_fraud[user]
    cash = rng.random(n) < p.fraud_redeem_prob
    t_days[fraud] = np.where(cash[fraud], rng.exponential(0.5, fraud.sum()), np.inf)
    go = np.isfinite(t_days)
    t_raw = np.full(n, -1, np.int64)
    t_raw[go] = issued[go] + np.minimum(t_days[go] * DAY, 400 * DAY).astype(np.int64)
    ts = np.full(n, -1, np.int64)
    gi = np.flatnonzero(go)
    ts[gi] = _place(
        rng, t_raw[gi], issued[gi], until[gi], camp[gi], pop.archetype[user[gi]], plan, p
    )
    red = ts >= 0

    # basket drawn from the user's distribution, inside the range the coupon is used for
    m = np.where(plan.stock_type[camp] == _T["no_threshold"], 0, plan.minimum[camp]).astype(float)
    mu = basket_mu(plan, pop, user, camp, p)
    lo, hi = _basket_bounds(plan, camp, mu, p, ceiling)
    uu = lo + rng.random(n) * (hi - lo)
    basket = np.exp(mu + p.basket_order_sigma * ndtri(np.clip(uu, 1e-12, 1 - 1e-12)))
    topped = basket < m
    basket = np.where(topped, m * (1 + rng.uniform(0, 0.06, n)), basket)
    basket = np.maximum(np.round(basket), 100).astype(np.int64)
    st = plan.stock_type[camp]
    disc = np.where(
        st == _T["discount"],
        np.minimum(np.round(basket * (1 - plan.discount_rate[camp])), plan.max_amount[camp]),
        np.where(
            st == _T["no_threshold"],
            np.minimum(amount, basket - 1),
            amount,
        ),
    ).astype(np.int64)
    tiered = plan.mechanic[camp] == _M["tiered_reward"]
    steps = np.maximum(1, basket // np.maximum(plan.minimum[camp], 1))
    disc = np.where(tiered, np.minimum(amount * steps, plan.max_amount[camp]), disc)
    disc = np.clip(disc, 1, basket - 1)

    cs = plan.strategy.campaigns
    forced = np.array(
        [
            schema.ORDER_CHANNELS.index(c.stock.order_channel) if c.stock.order_channel else -1
            for c in cs
        ]
    )[camp]
    rday = np.clip(ts // DAY, 0, len(rain) - 1)
    logit = pop.delivery_logit[user] + np.log(p.rain_delivery_odds) * rain[rday]
    free = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    channel = np.where(forced >= 0, forced, free).astype(np.int8)

    # pull-forward: replace the user's next baseline order within the shift window
    shift = red & (rng.random(n) < p.shift_prob)
    consumed = np.empty(0, np.int64)
    si = np.flatnonzero(shift)
    if len(si) and len(base):
        bkey = base.user.astype(np.int64) << 32 | base.ts
        qkey = user[si].astype(np.int64) << 32 | ts[si]
        pos = np.searchsorted(bkey, qkey)
        ok = pos < len(bkey)
        pos_c = np.minimum(pos, len(bkey) - 1)
        ok &= (base.user[pos_c] == user[si]) & (
            base.ts[pos_c] < ts[si] + int(p.shift_window_hours * 3600)
        )
        consumed = np.unique(pos_c[ok])
    expired = np.where(~red & (until < plan.end_ts), until, -1)
    return Redemptions(
        red, ts, np.where(red, basket, 0), np.where(red, disc, 0), channel, consumed, expired
    )


def expected_uplift(
    plan: Plan, pop: Population, user, camp, amount, start, p_claim, p: Params
) -> np.ndarray:
    """Expected extra orders from each offer, had it been delivered (truth only).

    Offers must be in delivery order. Expected coupons per user and stock are capped at
    the stock's ``max_per_user`` (later claims are refused), in delivery order.
    """
    until = valid_until(plan, camp, start)
    h0q, d = hazard(plan, pop, user, camp, amount, p)
    pr = redeem_prob(h0q, d, (np.minimum(until, plan.end_ts) - start) / DAY)
    pr = np.where(pop.is_fraud[user], 0.0, pr)
    extra = 1 - p.shift_prob * (1 - np.exp(-pop.base_rate[user] * p.shift_window_hours / 24))
    if len(user) == 0:
        return np.zeros(0)
    key = user.astype(np.int64) * 4096 + camp
    o = np.argsort(key, kind="stable")
    k = key[o]
    cum = np.cumsum(p_claim[o])
    start_idx = np.r_[0, np.flatnonzero(k[1:] != k[:-1]) + 1]
    base = np.repeat(cum[start_idx] - p_claim[o][start_idx], np.diff(np.r_[start_idx, len(o)]))
    cap = plan.max_per_user[camp[o]]
    within = np.minimum(cum - base, cap) - np.minimum(cum - base - p_claim[o], cap)
    issued = np.empty(len(o))
    issued[o] = within
    return issued * pr * extra
