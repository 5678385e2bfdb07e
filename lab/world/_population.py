"""Users, farming rings, hour-of-day habits, weather and experiment assignment.

Everything here depends only on the seed and the user ids, never on the strategy, so
two strategies simulated with the same seed share the same population and weather.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from lab.world._params import ENTRY_KEYS, Params

DAY = 86_400
N_ARCHETYPES = 4
SEGMENT_CODES = ("new", "active", "lapsed")
PLATFORM_CODES = ("wechat", "alipay", "meituan")


def rng_for(seed: int, *stream: int) -> np.random.Generator:
    """An independent generator for one (seed, stream, chunk...) key."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *stream])))


def hour_profiles(p: Params) -> np.ndarray:
    """Order-hour weights, shape (archetype, weekend, 24), rows summing to 1."""
    base = np.zeros((N_ARCHETYPES, 2, 24))
    lunch = np.zeros(24)
    lunch[11:14] = [0.3, 0.45, 0.25]
    dinner = np.zeros(24)
    dinner[17:21] = [0.2, 0.35, 0.3, 0.15]
    afternoon = np.zeros(24)
    afternoon[14:17] = [0.35, 0.35, 0.3]
    night = np.zeros(24)
    night[[20, 21, 22, 23]] = [0.3, 0.35, 0.25, 0.1]
    morning = np.zeros(24)
    morning[7:10] = 1 / 3
    mixes = {  # weights of lunch, dinner, afternoon, night for each archetype
        0: (0.35, 0.35, 0.15, 0.15),
        1: (0.55, 0.2, 0.15, 0.1),
        2: (0.2, 0.55, 0.1, 0.15),
        3: (0.15, 0.3, 0.1, 0.45),
    }
    for a, (wl, wd, wa, wn) in mixes.items():
        rest = wl * lunch + wd * dinner + wa * afternoon + wn * night
        wm = p.morning_weekday_weight if a == 0 else p.other_morning_weight
        base[a, 0] = wm * morning + (1 - wm) * rest
        # weekends: people sleep in, morning habits fade
        base[a, 1] = (
            0.5 * p.other_morning_weight * morning + (1 - 0.5 * p.other_morning_weight) * rest
        )
    return base / base.sum(axis=2, keepdims=True)


@dataclass
class Population:
    """One chunk of users as parallel NumPy arrays (index = position in the chunk)."""

    user_id: np.ndarray
    primary_platform: np.ndarray  # int8 code into PLATFORM_CODES
    uses: np.ndarray  # bool (n, 3)
    city_tier: np.ndarray
    distance_km: np.ndarray
    segment: np.ndarray  # int8 code into SEGMENT_CODES
    credit_tier: np.ndarray
    friends: np.ndarray
    device_id: np.ndarray
    ip: np.ndarray
    phone_prefix: np.ndarray
    registered_at: np.ndarray  # seconds relative to the run epoch
    is_fraud: np.ndarray
    ring_id: np.ndarray  # -1 for legitimate users
    base_rate: np.ndarray
    price_sensitivity: np.ndarray
    basket_mu: np.ndarray  # log of the user's median basket, fen
    archetype: np.ndarray
    delivery_logit: np.ndarray
    engagement: np.ndarray  # (n, 3) visit-rate multipliers per platform
    person_id: np.ndarray
    phone_id: np.ndarray
    real_name: np.ndarray
    reachable: np.ndarray  # (n, len(ENTRY_KEYS)) the user ever sees offers through the entry

    def __len__(self) -> int:
        return len(self.user_id)


def make_population(
    seed: int, chunk: int, offset: int, n: int, p: Params, epoch_day0: int
) -> Population:
    """Users ``offset .. offset+n-1`` (chunk ``chunk``); ``epoch_day0`` = campaign start in run days."""
    rng = rng_for(seed, 1, chunk)
    uid = np.arange(offset, offset + n, dtype=np.int64)
    seg_names = [s for s, _ in p.segment_shares]
    seg_p = np.array([v for _, v in p.segment_shares])
    segment = rng.choice(len(seg_names), size=n, p=seg_p).astype(np.int8)
    seg_codes = np.array([SEGMENT_CODES.index(s) for s in seg_names], dtype=np.int8)
    segment = seg_codes[segment]
    uses = np.column_stack(
        [
            rng.random(n) < p.uses_wechat,
            rng.random(n) < p.uses_alipay,
            rng.random(n) < p.uses_meituan,
        ]
    )
    uses[~uses.any(axis=1), 0] = True
    engagement = np.exp(rng.normal(-0.5 * p.engagement_sigma**2, p.engagement_sigma, (n, 3)))
    primary = np.argmax(np.where(uses, engagement, -1.0), axis=1).astype(np.int8)
    city_tier = rng.choice(4, size=n, p=[0.3, 0.35, 0.25, 0.1]).astype(np.int8) + 1
    distance = (
        p.distance_median_km * np.exp(rng.normal(0, p.distance_sigma, n)) * (0.85 + 0.1 * city_tier)
    )
    credit = rng.choice(5, size=n, p=np.array(p.credit_tier_shares)).astype(np.int8) + 1
    friends = rng.poisson(p.friends_mean * np.exp(rng.normal(-0.5, 1.0, n))).astype(np.int32)
    device = rng.integers(1, 2**62, n, dtype=np.int64)
    ip = (
        rng.integers(0x0B000000 // 256, 0xDF000000 // 256, n, dtype=np.int64) * 256
        + rng.integers(1, 255, n)
    ).astype(np.uint32)
    prefixes = np.array(
        [
            130,
            131,
            132,
            135,
            136,
            137,
            138,
            139,
            150,
            151,
            152,
            158,
            159,
            177,
            180,
            186,
            187,
            188,
            189,
        ],
        dtype=np.int16,
    )
    phone_prefix = prefixes[rng.integers(0, len(prefixes), n)]
    phone_prefix[rng.random(n) < p.legit_virtual_prefix_share] = 170
    rate_by_seg = dict(p.base_rate)
    seg_median = np.array([rate_by_seg[s] for s in SEGMENT_CODES])[segment]
    base_rate = seg_median * np.exp(rng.normal(0, p.base_rate_sigma, n))
    sens = np.exp(rng.normal(-0.5 * p.price_sensitivity_sigma**2, p.price_sensitivity_sigma, n))
    sens *= 1.15 - 0.05 * credit  # better credit, less price sensitive
    basket_mu = (
        np.log(p.basket_median_fen)
        + rng.normal(0, p.basket_user_sigma, n)
        + np.log1p(p.credit_basket_step) * (credit - 3)
    )
    archetype = rng.choice(N_ARCHETYPES, size=n, p=np.array(p.archetype_shares)).astype(np.int8)
    d0 = np.log(p.delivery_share / (1 - p.delivery_share))
    delivery_logit = d0 + rng.normal(0, 0.8, n)
    # registration: new users within 30 days before the campaign, others up to 3 years
    age_days = np.where(segment == 0, rng.uniform(0, 30, n), rng.uniform(30, 1100, n))
    registered = ((epoch_day0 - age_days) * DAY).astype(np.int64)
    real_name = rng.random(n) < p.realname_legit
    person = uid.copy()
    linked = rng.random(n) < p.linked_account_share
    linked[0] = False
    person[linked] = person[np.flatnonzero(linked) - 1]
    phone_id = uid.copy()

    # farming rings: contiguous blocks of accounts with shared devices, /24 blocks and phones
    is_fraud = np.zeros(n, bool)
    ring_id = np.full(n, -1, np.int32)
    n_fraud = int(round(n * p.fraud_share))
    if n_fraud:
        members = np.sort(rng.choice(n, size=n_fraud, replace=False))
        n_rings = max(1, int(round(n_fraud / p.ring_size)))
        local_ring = np.sort(rng.integers(0, n_rings, n_fraud))
        is_fraud[members] = True
        ring_id[members] = chunk * 100_000 + local_ring
        rank = np.arange(n_fraud) - np.searchsorted(local_ring, local_ring)
        ring_dev = rng.integers(
            1,
            2**62,
            (n_rings, 1 + int(p.ring_size * 3 // p.ring_accounts_per_device)),
            dtype=np.int64,
        )
        device[members] = ring_dev[
            local_ring, rank // p.ring_accounts_per_device % ring_dev.shape[1]
        ]
        ring_block = rng.integers(0x0B000000 // 256, 0xDF000000 // 256, n_rings, dtype=np.int64)
        ip[members] = (ring_block[local_ring] * 256 + rng.integers(1, 255, n_fraud)).astype(
            np.uint32
        )
        virtual = rng.random(n_fraud) < p.ring_virtual_prefix_share
        phone_prefix[members] = np.where(
            virtual, rng.choice([170, 171], n_fraud), phone_prefix[members]
        )
        phone_id[members] = (
            -(ring_id[members].astype(np.int64) * 1000 + rank // p.ring_accounts_per_phone) - 1
        )
        real_name[members] = rng.random(n_fraud) < p.realname_fraud
        base_rate[members] = p.fraud_base_rate
        segment[members] = 0
        registered[members] = ((epoch_day0 - rng.uniform(0, 20, n_fraud)) * DAY).astype(np.int64)
        uses[members] = True
    # drawn last so the draws above do not depend on it
    reach = np.array([dict(p.reach)[k] for k in ENTRY_KEYS])
    reachable = (rng.random((n, len(ENTRY_KEYS))) < reach) | is_fraud[:, None]
    return Population(
        reachable=reachable,
        user_id=uid,
        primary_platform=primary,
        uses=uses,
        city_tier=city_tier,
        distance_km=distance,
        segment=segment,
        credit_tier=credit,
        friends=friends,
        device_id=device,
        ip=ip,
        phone_prefix=phone_prefix,
        registered_at=registered,
        is_fraud=is_fraud,
        ring_id=ring_id,
        base_rate=base_rate,
        price_sensitivity=sens,
        basket_mu=basket_mu,
        archetype=archetype,
        delivery_logit=delivery_logit,
        engagement=engagement,
        person_id=person,
        phone_id=phone_id,
        real_name=real_name,
    )


def make_weather(seed: int, n_days: int, p: Params) -> np.ndarray:
    """Rain flag per run day (pre-period included)."""
    return rng_for(seed, 2).random(n_days) < p.rain_prob


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a well-mixed 64-bit hash of each element."""
    x = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def assign_arms(seed: int, experiment: str, weights: np.ndarray, user_id: np.ndarray) -> np.ndarray:
    """Arm index per user from a hash of (seed, experiment, user id)."""
    salt = int.from_bytes(hashlib.sha256(f"{seed}:{experiment}".encode()).digest()[:8], "little")
    with np.errstate(over="ignore"):
        h = _mix64(user_id.astype(np.uint64) ^ np.uint64(salt))
    u = (h >> np.uint64(11)).astype(np.float64) / float(2**53)
    cum = np.cumsum(weights) / np.sum(weights)
    return np.minimum(np.searchsorted(cum, u, side="right"), len(weights) - 1).astype(np.int8)
