"""The issuance engine: risk control, limits and budgets enforced at claim time.

All claim attempts of the run are processed together in time order per stock, so
budgets and cross-user limits (device, /24 IP block, natural person, phone) hold
exactly across user chunks. Every attempt ends ``issued``, ``compensated`` (a
transient failure fixed by the asynchronous compensation job) or ``refused`` with a
reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab import schema
from lab.world._funnel import Plan
from lab.world._params import Params
from lab.world._population import DAY, rng_for

ISSUED, COMPENSATED, REFUSED = 0, 1, 2
REASON = {r: i for i, r in enumerate(schema.REFUSAL_REASONS)}


@dataclass
class Claims:
    """Claim attempts of the whole run, in coupon-id order."""

    campaign: np.ndarray
    claimed: np.ndarray
    amount: np.ndarray
    user_id: np.ndarray
    person: np.ndarray
    phone: np.ndarray
    device: np.ndarray
    ip: np.ndarray
    fraud: np.ndarray
    real_name: np.ndarray


@dataclass
class Outcome:
    status: np.ndarray
    reason: np.ndarray  # -1 unless refused
    issued: np.ndarray  # run seconds, -1 if refused
    latency_ms: np.ndarray


def _rank(keys: list[np.ndarray], t: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Rank of each row of ``idx`` (0 = first in time) within its group of equal ``keys``."""
    if len(idx) == 0:
        return np.empty(0, np.int64)
    cols = [k[idx] for k in keys]
    o = np.lexsort((idx, t[idx], *reversed(cols)))
    new = np.zeros(len(o), bool)
    new[0] = True
    for c in cols:
        s = c[o]
        new[1:] |= s[1:] != s[:-1]
    start = np.flatnonzero(new)
    rank_sorted = np.arange(len(o)) - np.repeat(start, np.diff(np.r_[start, len(o)]))
    rank = np.empty(len(o), np.int64)
    rank[o] = rank_sorted
    return rank


def _cumsum(keys: list[np.ndarray], t: np.ndarray, w: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Running sum of ``w`` (inclusive) in time order within groups of equal ``keys``."""
    if len(idx) == 0:
        return np.empty(0, np.int64)
    cols = [k[idx] for k in keys]
    o = np.lexsort((idx, t[idx], *reversed(cols)))
    new = np.zeros(len(o), bool)
    new[0] = True
    for c in cols:
        s = c[o]
        new[1:] |= s[1:] != s[:-1]
    cs = np.cumsum(w[idx][o])
    start = np.flatnonzero(new)
    base = np.repeat(cs[start] - w[idx][o][start], np.diff(np.r_[start, len(o)]))
    out = np.empty(len(o), np.int64)
    out[o] = cs - base
    return out


def enforce(claims: Claims, plan: Plan, p: Params, *, seed: int) -> Outcome:
    """Decide every claim attempt's outcome."""
    n = len(claims.campaign)
    rng = rng_for(seed, 5)
    camp = claims.campaign.astype(np.int64)
    t = claims.claimed
    day = t // DAY
    risk = plan.risk[camp]
    basic, strict = risk >= 1, risk == 2
    reason = np.full(n, -1, np.int64)
    alive = np.ones(n, bool)

    def refuse(mask_idx: np.ndarray, why: str) -> None:
        reason[mask_idx] = REASON[why]
        alive[mask_idx] = False

    # risk control: device and /24 rate limits count every attempt
    idx = np.flatnonzero(basic)
    r = _rank([camp, claims.device, day], t, idx)
    refuse(idx[r >= p.device_day_cap], "rate_limited")
    idx = np.flatnonzero(basic & alive)
    r = _rank([camp, (claims.ip // 256).astype(np.int64), day], t, idx)
    refuse(idx[r >= p.ip_block_day_cap], "risk_blocked")
    u = rng.random(n)
    needs_name = (
        strict | np.array([c.stock.real_name_limit for c in plan.strategy.campaigns], bool)[camp]
    )
    refuse(np.flatnonzero(alive & needs_name & ~claims.real_name), "real_name_failed")
    face_fail = np.where(claims.fraud, p.face_fail_fraud, p.face_fail_legit)
    refuse(np.flatnonzero(alive & strict & (u < face_fail)), "risk_blocked")

    # limits per natural person, phone number and account
    cs = plan.strategy.campaigns
    maxpu = plan.max_per_user[camp]
    for flag, key, why in (
        (
            np.array([c.stock.natural_person_limit for c in cs], bool)[camp],
            claims.person,
            "natural_person_limit",
        ),
        (np.array([c.stock.phone_limit for c in cs], bool)[camp], claims.phone, "phone_limit"),
        (np.ones(n, bool), claims.user_id, "per_user_limit"),
    ):
        idx = np.flatnonzero(alive & flag)
        r = _rank([camp, key], t, idx)
        refuse(idx[r >= maxpu[idx]], why)

    # budgets: daily, total, coupon count (a refused attempt does not spend)
    daily = np.array(
        [c.stock.daily_budget_fen if c.stock.daily_budget_fen is not None else -1 for c in cs],
        np.int64,
    )[camp]
    idx = np.flatnonzero(alive & (daily >= 0))
    spent = _cumsum([camp, day], t, claims.amount, idx)
    refuse(idx[spent > daily[idx]], "daily_budget_exhausted")
    total = np.array([c.stock.total_budget_fen for c in cs], np.int64)[camp]
    idx = np.flatnonzero(alive)
    spent = _cumsum([camp], t, claims.amount, idx)
    refuse(idx[spent > total[idx]], "budget_exhausted")
    maxc = np.array(
        [c.stock.max_coupons if c.stock.max_coupons is not None else -1 for c in cs], np.int64
    )[camp]
    idx = np.flatnonzero(alive & (maxc >= 0))
    r = _rank([camp], t, idx)
    refuse(idx[r >= maxc[idx]], "max_coupons_reached")

    lat = p.latency_median_ms * np.exp(rng.normal(0, p.latency_sigma, n))
    lat += np.where(basic, rng.exponential(p.basic_latency_ms, n), 0.0)
    lat += np.where(strict, rng.gamma(16.0, p.strict_latency_ms / 16.0, n), 0.0)
    latency = np.maximum(1, np.round(lat)).astype(np.int64)
    failed = alive & (rng.random(n) < p.transient_failure_prob)
    status = np.where(alive, np.where(failed, COMPENSATED, ISSUED), REFUSED).astype(np.int8)
    delay = np.where(
        failed, 1 + np.round(rng.exponential(p.compensation_delay_s, n)), np.ceil(latency / 1000)
    )
    issued = np.where(alive, t + delay.astype(np.int64), -1)
    return Outcome(status=status, reason=reason, issued=issued, latency_ms=latency)


def engine_metrics(
    plan: Plan, deliveries: np.ndarray, claims: Claims, out: Outcome, p: Params, *, seed: int
) -> dict[str, np.ndarray]:
    """Per (campaign, run day): deliveries, requests, failures, compensations, cost units.

    ``deliveries`` is a (campaign, run day) count matrix; returns long arrays.
    """
    n_days = deliveries.shape[1]
    camp = claims.campaign.astype(np.int64)
    cell = camp * n_days + claims.claimed // DAY
    size = plan.n * n_days
    requests = np.bincount(cell, minlength=size).reshape(plan.n, n_days)
    failures = np.bincount(cell, weights=out.status == COMPENSATED, minlength=size).reshape(
        plan.n, n_days
    )
    rng = rng_for(seed, 7)
    noise = np.exp(rng.normal(0, p.cost_noise_sigma, (plan.n, n_days)))
    mult = np.where(plan.lbs, p.lbs_cost_mult, 1.0)[:, None]
    cost = (deliveries + requests) * p.cost_per_call * mult * noise
    metrics = {
        "deliveries": deliveries.astype(float),
        "requests": requests.astype(float),
        "failures": failures,
        "compensations": failures,
        "cost_units": cost,
    }
    active = (deliveries + requests) > 0
    ci, di = np.nonzero(active)
    return {"campaign": ci, "day": di, **{k: v[active] for k, v in metrics.items()}}
