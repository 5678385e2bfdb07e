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
import pandas as pd

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


def _group_codes(cols: list[np.ndarray], limit: int) -> np.ndarray:
    """One int64 code per row, equal exactly when every column is equal, all below ``limit``."""
    code, size = None, 1
    for col in cols:
        col = col.astype(np.int64)  # a copy: shifted in place below
        lo = int(col.min())
        span = int(col.max()) - lo + 1
        if span > limit:  # sparse ids (device hashes): dense codes, by hashing
            col = pd.factorize(col)[0].astype(np.int64)
            span = int(col.max()) + 1
        else:
            col -= lo
        if code is None:
            code, size = col, span
            continue
        if size * span > limit:
            code = np.unique(code, return_inverse=True)[1]
            size = int(code.max()) + 1
        if size * span > limit:
            code = np.unique(np.column_stack([code, col]), axis=0, return_inverse=True)[1]
            size = int(code.max()) + 1
            continue
        code *= span
        code += col
        size *= span
    return code


class _Timeline:
    """Claim attempts in time order (ties in coupon-id order), grouped by any keys.

    A rule ranks attempts within groups of equal keys in time order. Packing the group
    code and the time position into one int64 makes that a single sort of integers
    rather than a sort on several keys. Arrays are updated in place where possible:
    at 10M attempts every fresh array costs page faults.
    """

    def __init__(self, t: np.ndarray) -> None:
        n = len(t)
        self.order = np.argsort(t, kind="stable")
        self.position = np.empty(n, np.int64)
        self.position[self.order] = np.arange(n)
        self.bits = max(1, (n - 1).bit_length())
        self._by_attempt = np.empty(n, np.int64)  # scratch: a rule's result per attempt

    def _sorted(self, keys: list[np.ndarray], idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows of ``idx`` ordered by group then time, and where each group starts."""
        packed = _group_codes([k[idx] for k in keys], limit=1 << (62 - self.bits))
        packed <<= self.bits
        packed |= self.position[idx]
        packed.sort()
        group = packed >> self.bits
        starts = np.flatnonzero(group[1:] != group[:-1])
        del group
        starts += 1
        packed &= (1 << self.bits) - 1
        return self.order[packed], np.r_[0, starts]

    def _per_attempt(self, rows: np.ndarray, sorted_values: np.ndarray, idx: np.ndarray):
        """``sorted_values`` (aligned with ``rows``) put back in the order of ``idx``."""
        self._by_attempt[rows] = sorted_values
        return self._by_attempt[idx]

    def rank(self, keys: list[np.ndarray], idx: np.ndarray) -> np.ndarray:
        """Rank of each row of ``idx`` (0 = first in time) within its group of equal ``keys``."""
        if len(idx) == 0:
            return np.empty(0, np.int64)
        rows, starts = self._sorted(keys, idx)
        rank = np.arange(len(rows))
        rank -= np.repeat(starts, np.diff(np.r_[starts, len(rows)]))
        return self._per_attempt(rows, rank, idx)

    def running_sum(self, keys: list[np.ndarray], w: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Running sum of ``w`` (inclusive) in time order within groups of equal ``keys``."""
        if len(idx) == 0:
            return np.empty(0, np.int64)
        rows, starts = self._sorted(keys, idx)
        total = np.cumsum(w[rows], dtype=np.int64)
        before = np.r_[0, total[starts[1:] - 1]]  # running sum where each group starts
        total -= np.repeat(before, np.diff(np.r_[starts, len(rows)]))
        return self._per_attempt(rows, total, idx)


def enforce(claims: Claims, plan: Plan, p: Params, *, seed: int) -> Outcome:
    """Decide every claim attempt's outcome.

    Per-campaign settings are looked up on the attempts a rule concerns, not on all of
    them, and random draws are made in place: the run's claim attempts are the largest
    arrays a simulation holds at once.
    """
    n = len(claims.campaign)
    rng = rng_for(seed, 5)
    camp = claims.campaign
    t = claims.claimed
    day = t // DAY
    timeline = _Timeline(t)
    risk = plan.risk[camp]
    basic, strict = risk >= 1, risk == 2
    del risk
    reason = np.full(n, -1, np.int8)
    alive = np.ones(n, bool)

    def refuse(mask_idx: np.ndarray, why: str) -> None:
        reason[mask_idx] = REASON[why]
        alive[mask_idx] = False

    # risk control: device and /24 rate limits count every attempt
    idx = np.flatnonzero(basic)
    r = timeline.rank([camp, claims.device, day], idx)
    refuse(idx[r >= p.device_day_cap], "rate_limited")
    idx = np.flatnonzero(basic & alive)
    r = timeline.rank([camp, claims.ip // 256, day], idx)
    refuse(idx[r >= p.ip_block_day_cap], "risk_blocked")
    u = rng.random(n)
    refuse(
        np.flatnonzero(alive & (strict | plan.real_name_limit[camp]) & ~claims.real_name),
        "real_name_failed",
    )
    idx = np.flatnonzero(alive & strict)
    face_fail = np.where(claims.fraud[idx], p.face_fail_fraud, p.face_fail_legit)
    refuse(idx[u[idx] < face_fail], "risk_blocked")
    del u, face_fail

    # limits per natural person, phone number and account
    for flag, key, why in (
        (plan.natural_person_limit, claims.person, "natural_person_limit"),
        (plan.phone_limit, claims.phone, "phone_limit"),
        (np.ones(plan.n, bool), claims.user_id, "per_user_limit"),
    ):
        idx = np.flatnonzero(alive & flag[camp])
        r = timeline.rank([camp, key], idx)
        refuse(idx[r >= plan.max_per_user[camp[idx]]], why)

    # budgets: daily, total, coupon count (a refused attempt does not spend)
    idx = np.flatnonzero(alive & (plan.daily_budget >= 0)[camp])
    spent = timeline.running_sum([camp, day], claims.amount, idx)
    refuse(idx[spent > plan.daily_budget[camp[idx]]], "daily_budget_exhausted")
    idx = np.flatnonzero(alive)
    spent = timeline.running_sum([camp], claims.amount, idx)
    refuse(idx[spent > plan.total_budget[camp[idx]]], "budget_exhausted")
    idx = np.flatnonzero(alive & (plan.max_coupons >= 0)[camp])
    r = timeline.rank([camp], idx)
    refuse(idx[r >= plan.max_coupons[camp[idx]]], "max_coupons_reached")
    del timeline, idx, r, spent, day

    lat = rng.normal(0, p.latency_sigma, n)
    np.exp(lat, out=lat)
    lat *= p.latency_median_ms
    extra = rng.exponential(p.basic_latency_ms, n)
    extra[~basic] = 0.0
    lat += extra
    extra = rng.gamma(16.0, p.strict_latency_ms / 16.0, n)
    extra[~strict] = 0.0
    lat += extra
    del extra
    np.round(lat, out=lat)
    np.maximum(lat, 1, out=lat)
    latency = lat.astype(np.int32)
    del lat
    failed = rng.random(n) < p.transient_failure_prob
    failed &= alive
    status = np.full(n, ISSUED, np.int8)
    status[failed] = COMPENSATED
    status[~alive] = REFUSED
    delay = rng.exponential(p.compensation_delay_s, n)
    np.round(delay, out=delay)
    delay += 1
    on_time = np.flatnonzero(~failed)
    delay[on_time] = np.ceil(latency[on_time] / 1000)
    del on_time
    issued = t + delay.astype(np.int64)
    issued[~alive] = -1
    return Outcome(status=status, reason=reason, issued=issued, latency_ms=latency)


def engine_metrics(
    plan: Plan, deliveries: np.ndarray, claims: Claims, out: Outcome, p: Params, *, seed: int
) -> dict[str, np.ndarray]:
    """Per (campaign, run day): deliveries, requests, failures, compensations, cost units.

    ``deliveries`` is a (campaign, run day) count matrix; returns long arrays.
    """
    n_days = deliveries.shape[1]
    cell = claims.claimed // DAY  # (campaign, day) cell; int32 holds any plan's cells
    cell += claims.campaign.astype(np.int32) * n_days
    size = plan.n * n_days
    requests = np.bincount(cell, minlength=size).reshape(plan.n, n_days)
    failures = np.bincount(cell[out.status == COMPENSATED], minlength=size).reshape(plan.n, n_days)
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
