"""A small hand-built world with known farming rings, written with ``store.write``.

Honest users have their own device, a random IP, an ordinary phone prefix, an old
account, a claim or two spread over two weeks, organic orders and ordinary baskets.
Ring accounts share a few devices and one /24 block, mostly use 170/171 numbers,
register hours before claiming, claim every stock within the same minute as the rest of
the ring, and redeem on baskets just over the threshold. ``fraud_refusal`` and
``extra_latency_ms`` imitate an issuer-side control level.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lab.store import Store

START = dt.datetime(2026, 3, 1)
THRESHOLD_FEN = 3000
AMOUNT_FEN = 500
N_STOCKS = 3


def make_world(
    store: Store,
    run: str,
    *,
    n_legit: int = 1500,
    n_rings: int = 5,
    ring_size: int = 20,
    seed: int = 0,
    fraud_refusal: float = 0.0,
    extra_latency_ms: int = 0,
) -> dict:
    rng = np.random.default_rng(seed)
    store.create_run(
        run,
        origin="synthetic",
        n_users=n_legit + n_rings * ring_size,
        days=14,
        start_date=START.date(),
    )
    n_fraud = n_rings * ring_size
    n = n_legit + n_fraud
    user_id = np.arange(1, n + 1)
    is_fraud = user_id > n_legit
    ring_id = np.where(is_fraud, (user_id - n_legit - 1) // ring_size, -1)
    # honest profiles
    device = 1_000_000 + user_id
    ip = rng.integers(1 << 24, 1 << 32, size=n, dtype=np.int64)
    prefix = rng.choice([p for p in range(130, 190) if p not in (170, 171)], size=n)
    registered = START - pd.to_timedelta(rng.uniform(30, 700, size=n), unit="D")
    ring_time = START + pd.to_timedelta(rng.uniform(1, 12, size=n_rings), unit="D")
    # ring profiles
    f = np.flatnonzero(is_fraud)
    r = ring_id[f]
    device[f] = 9_000_000 + r * 10 + rng.integers(0, 3, size=len(f))
    ip[f] = (200_000 + r) * 256 + rng.integers(0, 256, size=len(f))
    prefix[f] = np.where(rng.random(len(f)) < 0.8, rng.choice([170, 171], size=len(f)), prefix[f])
    registered = np.asarray(registered, dtype="datetime64[ns]").copy()
    registered[f] = (
        np.asarray(ring_time, dtype="datetime64[ns]")[r]
        - pd.to_timedelta(rng.uniform(1, 10, size=len(f)), unit="h").to_numpy()
    )
    users = pd.DataFrame(
        {
            "user_id": user_id,
            "device_id": device,
            "ip": ip,
            "phone_prefix": prefix,
            "registered_at": registered,
            "credit_tier": rng.integers(1, 6, size=n),
            "segment": "active",
            "city_tier": 1,
            "distance_km": rng.uniform(0.2, 10, size=n),
        }
    )
    # claims: honest users spread over two weeks; rings claim every stock in a burst
    k = rng.poisson(1.2, size=n_legit)
    c_user = np.repeat(user_id[:n_legit], k)
    c_time = START + pd.to_timedelta(rng.uniform(0, 14, size=len(c_user)), unit="D")
    c_stock = rng.integers(1, N_STOCKS + 1, size=len(c_user))
    fr_user = np.repeat(user_id[f], N_STOCKS)
    fr_stock = np.tile(np.arange(1, N_STOCKS + 1), len(f))
    fr_time = (
        np.asarray(ring_time, dtype="datetime64[ns]")[np.repeat(r, N_STOCKS)]
        + pd.to_timedelta(rng.uniform(0, 50, size=len(fr_user)), unit="s").to_numpy()
    )
    claims = (
        pd.DataFrame(
            {
                "user_id": np.concatenate([c_user, fr_user]),
                "claimed_at": np.concatenate([np.asarray(c_time, dtype="datetime64[ns]"), fr_time]),
                "stock_id": np.concatenate([c_stock, fr_stock]),
            }
        )
        .sort_values("claimed_at", kind="stable")
        .reset_index(drop=True)
    )
    m = len(claims)
    claims["coupon_id"] = np.arange(1, m + 1)
    fraud_claim = is_fraud[claims["user_id"].to_numpy() - 1]
    u = rng.random(m)
    status = np.where(u < 0.03, "refused", np.where(u < 0.05, "compensated", "issued")).astype(
        object
    )
    refused_fraud = fraud_claim & (rng.random(m) < fraud_refusal)
    status[refused_fraud] = "refused"
    claims["status"] = status
    claims["refusal_reason"] = np.where(
        status == "refused", np.where(refused_fraud, "real_name_failed", "budget_exhausted"), None
    )
    delay = np.where(status == "compensated", 600, 0)
    claims["issued_at"] = (claims["claimed_at"] + pd.to_timedelta(delay, unit="s")).where(
        status != "refused"
    )
    claims["latency_ms"] = rng.integers(80, 200, size=m) + extra_latency_ms
    claims["amount_fen"] = AMOUNT_FEN
    claims["transaction_minimum_fen"] = THRESHOLD_FEN
    idx = claims["user_id"].to_numpy() - 1
    claims["device_id"] = device[idx]
    claims["ip"] = ip[idx]
    claims["platform"] = "wechat"
    claims["entry"] = "pay_page"
    ok = status != "refused"
    redeem = ok & (rng.random(m) < np.where(fraud_claim, 0.6, 0.35))
    claims["redeemed_at"] = (claims["claimed_at"] + pd.Timedelta(hours=5)).where(redeem)
    claims["order_id"] = (1_000_000 + claims["coupon_id"]).astype("Int64").where(redeem)
    claims["discount_fen"] = pd.Series(AMOUNT_FEN, index=claims.index, dtype="Int64").where(redeem)
    basket = np.where(
        fraud_claim,
        THRESHOLD_FEN + rng.integers(0, 100, size=m),
        THRESHOLD_FEN + rng.exponential(2500, size=m),
    ).astype(np.int64)
    coupon_orders = pd.DataFrame(
        {
            "order_id": claims.loc[redeem, "order_id"].astype(np.int64),
            "user_id": claims.loc[redeem, "user_id"],
            "ts": claims.loc[redeem, "redeemed_at"],
            "amount_fen": basket[redeem],
            "discount_fen": AMOUNT_FEN,
            "coupon_id": claims.loc[redeem, "coupon_id"],
        }
    )
    n_org = np.where(is_fraud, 0, rng.poisson(3, size=n))
    org_user = np.repeat(user_id, n_org)
    organic = pd.DataFrame(
        {
            "order_id": 5_000_000 + np.arange(len(org_user)),
            "user_id": org_user,
            "ts": START + pd.to_timedelta(rng.uniform(-14, 14, size=len(org_user)), unit="D"),
            "amount_fen": rng.integers(1000, 9000, size=len(org_user)),
            "discount_fen": 0,
            "coupon_id": pd.Series(pd.NA, index=range(len(org_user)), dtype="Int64"),
        }
    )
    orders = pd.concat([coupon_orders, organic], ignore_index=True)
    events = pd.DataFrame(
        {
            "event_id": claims["coupon_id"],
            "ts": claims["claimed_at"],
            "user_id": claims["user_id"],
            "event_type": "claim",
            "stock_id": claims["stock_id"],
            "coupon_id": claims["coupon_id"],
        }
    )
    stocks = pd.DataFrame(
        {
            "stock_id": np.arange(1, N_STOCKS + 1),
            "stock_type": "threshold",
            "transaction_minimum_fen": THRESHOLD_FEN,
            "amount_fen": AMOUNT_FEN,
            "total_budget_fen": 10_000_000,
            "max_coupons": 20_000,
            "max_per_user": 5,
        }
    )
    truth = pd.DataFrame(
        {
            "user_id": user_id,
            "is_fraud": is_fraud,
            "ring_id": pd.Series(ring_id, dtype="Int64").where(is_fraud),
        }
    )
    with store.transaction():
        store.write("users", users, run_id=run)
        store.write("stocks", stocks, run_id=run)
        store.write("coupons", claims, run_id=run)
        store.write("orders", orders, run_id=run)
        store.write("events", events, run_id=run)
        store.write("truth_users", truth, run_id=run)
    return {"users": users, "coupons": claims, "orders": orders, "truth": truth}


@pytest.fixture(scope="module")
def world():
    store = Store(":memory:")
    frames = make_world(store, "w")
    yield store, frames
    store.close()


@pytest.fixture(scope="module")
def world_factory():
    """The :func:`make_world` builder, for tests that need their own variant."""
    return make_world
