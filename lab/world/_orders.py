"""Baseline demand: the orders users place without any coupon.

Generated from the user's own stream (seed, chunk) before anything strategy-dependent,
so the same seed gives the same baseline under every strategy (common random numbers):
this is the counterfactual written to ``truth_orders``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab.world._params import Params
from lab.world._population import DAY, Population, hour_profiles, rng_for


@dataclass
class Orders:
    """Orders of one chunk, sorted by (user, ts). ``user`` is the index in the chunk."""

    user: np.ndarray
    ts: np.ndarray  # seconds since the run epoch
    channel: np.ndarray  # 0 dine_in, 1 delivery
    platform: np.ndarray  # code into PLATFORM_CODES
    amount: np.ndarray  # fen

    def __len__(self) -> int:
        return len(self.user)


def sample_hours(rng, cdf_rows: np.ndarray) -> np.ndarray:
    """One hour per row of cumulative weights (m, 24)."""
    u = rng.random(len(cdf_rows)) * cdf_rows[:, -1]
    return np.minimum((cdf_rows < u[:, None]).sum(axis=1), 23).astype(np.int64)


def choose_platform(rng, weights: np.ndarray) -> np.ndarray:
    """Index of a column drawn proportionally to ``weights`` (m, k), per row."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), weights.shape[1] - 1).astype(np.int8)


def baseline_orders(
    pop: Population, *, seed: int, chunk: int, weekday0: int, rain: np.ndarray, p: Params
) -> Orders:
    """Orders over every run day (pre-period and campaign) without coupons."""
    rng = rng_for(seed, 3, chunk)
    n_days = len(rain)
    weekday = (weekday0 + np.arange(n_days)) % 7
    day_mult = np.where(weekday >= 5, p.weekend_rate_mult, 1.0) * np.where(
        rain, p.rain_order_mult, 1.0
    )
    counts = rng.poisson(pop.base_rate[:, None] * day_mult[None, :])
    user = np.repeat(np.arange(len(pop), dtype=np.int32), counts.sum(axis=1))
    day = np.nonzero(counts)[1]
    day = np.repeat(day, counts[counts > 0])
    # np.nonzero walks row-major, so (user, day) pairs line up with np.repeat above
    weekend = (weekday[day] >= 5).astype(np.int64)
    cdf = np.cumsum(hour_profiles(p), axis=2)
    hour = sample_hours(rng, cdf[pop.archetype[user], weekend])
    ts = day.astype(np.int64) * DAY + hour * 3600 + rng.integers(0, 3600, len(user))
    logit = pop.delivery_logit[user] + np.log(p.rain_delivery_odds) * rain[day]
    channel = (rng.random(len(user)) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    mu = pop.basket_mu[user] + np.log(p.delivery_basket_mult) * channel
    amount = np.maximum(
        100, np.round(np.exp(mu + rng.normal(0, p.basket_order_sigma, len(user))))
    ).astype(np.int64)
    platform = choose_platform(rng, pop.uses[user] * pop.engagement[user])
    order = np.lexsort((ts, user))
    return Orders(user[order], ts[order], channel[order], platform[order], amount[order])
