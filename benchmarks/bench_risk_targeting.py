"""Risk scoring on 10M claims; uplift training, scoring and allocation on 1M users.

Run from the repository root: ``python -m benchmarks.bench_risk_targeting [--claims N]``.

1. Builds (once, cached in ``benchmarks/scratch/``) a store of ``--claims`` claim
   attempts by ``--accounts`` accounts, 1 % of them in farming rings (shared devices and
   /24 blocks, 170/171 numbers, bursts of claims, baskets just over the threshold),
   straight from NumPy through Arrow into DuckDB (not the world: this measures the
   models, not the simulator).
2. Times ``lab.risk.risk_features``, ``lab.risk.score_accounts`` (features + rules +
   isolation forest) and ``lab.risk.reconcile`` on it, and reports recall / precision.
3. Draws ``--uplift-users`` users with a known uplift in NumPy and times ``TLearner``
   and ``TransformedOutcome`` (fit + predict), ``qini_curve`` and a 3-amount
   ``allocate`` under a budget (3 option rows per user).

Each timing is the median of ``--repeats`` (model fits: ``--fit-repeats``). Writes
``benchmarks/results/risk_targeting.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from benchmarks._common import median_of, write_result
from lab.store import Store

SCRATCH = Path(__file__).parent / "scratch"
START = np.datetime64("2026-03-02T00:00:00", "us")
DAYS = 28
RING_SIZE = 40
FRAUD_SHARE = 0.01
CHUNK = 2_000_000


def _ts(seconds: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(START + seconds.astype("timedelta64[s]").astype("timedelta64[us]"), mask=mask)


def build_store(path: Path, *, claims: int, accounts: int, seed: int = 0) -> None:
    """Write users, coupons and orders of one run ``bench`` into a new DuckDB file."""
    rng = np.random.default_rng(seed)
    store = Store(path)
    store.create_run(
        "bench",
        origin="synthetic",
        n_users=accounts,
        days=DAYS,
        start_date=START.astype("datetime64[D]").item(),
    )
    n_fraud = int(accounts * FRAUD_SHARE) // RING_SIZE * RING_SIZE
    n_legit = accounts - n_fraud
    user = np.arange(accounts, dtype=np.int64)
    fraud = user >= n_legit
    ring = np.where(fraud, (user - n_legit) // RING_SIZE, -1)
    device = np.where(fraud, 10**9 + ring * 8 + rng.integers(0, 8, accounts), user)
    ip = np.where(
        fraud,
        (300_000 + ring) * 256 + rng.integers(0, 256, accounts),
        rng.integers(1 << 24, 1 << 32, accounts),
    )
    prefix = np.where(
        fraud & (rng.random(accounts) < 0.8),
        rng.choice([170, 171], accounts),
        rng.choice(np.r_[130:170, 172:190], accounts),
    )
    ring_start = rng.uniform(86400, (DAYS - 1) * 86400, size=max(int(ring.max()) + 1, 1))
    registered = np.where(
        fraud,
        ring_start[np.maximum(ring, 0)] - rng.uniform(3600, 36000, accounts),
        -rng.uniform(30, 900, accounts) * 86400,
    )
    with store.transaction():
        store.write(
            "users",
            pa.table(
                {
                    "user_id": user,
                    "device_id": device,
                    "ip": ip,
                    "phone_prefix": prefix,
                    "registered_at": _ts(registered),
                    "credit_tier": rng.integers(1, 6, accounts),
                }
            ),
            run_id="bench",
        )
    # fraud accounts claim ~10x as often as honest ones, in ring bursts
    weight = np.where(fraud, 10.0, 1.0)
    done = 0
    while done < claims:
        n = min(CHUNK, claims - done)
        who = rng.choice(accounts, size=n, p=weight / weight.sum())
        f = fraud[who]
        t = np.where(
            f,
            ring_start[np.maximum(ring[who], 0)] + rng.uniform(0, 3600, n),
            rng.uniform(0, DAYS * 86400, n),
        )
        status = np.where(rng.random(n) < 0.97, "issued", "refused")
        redeemed = (status == "issued") & (rng.random(n) < np.where(f, 0.6, 0.3))
        coupon = done + np.arange(n, dtype=np.int64)
        order = np.where(redeemed, coupon, -1)
        basket = np.where(
            f, 3000 + rng.integers(0, 100, n), 3000 + rng.exponential(3000, n)
        ).astype(np.int64)
        with store.transaction():
            store.write(
                "coupons",
                pa.table(
                    {
                        "coupon_id": coupon,
                        "stock_id": rng.integers(0, 20, n),
                        "user_id": who,
                        "claimed_at": _ts(t),
                        "status": status,
                        "refusal_reason": pa.array(
                            np.where(status == "refused", "budget_exhausted", None)
                        ),
                        "issued_at": _ts(t, status == "refused"),
                        "latency_ms": rng.integers(60, 200, n),
                        "amount_fen": np.full(n, 500),
                        "transaction_minimum_fen": np.full(n, 3000),
                        "redeemed_at": _ts(t + 3600, ~redeemed),
                        "order_id": pa.array(order, mask=~redeemed),
                        "device_id": device[who],
                        "ip": ip[who],
                    }
                ),
                run_id="bench",
            )
            store.write(
                "orders",
                pa.table(
                    {
                        "order_id": order[redeemed],
                        "user_id": who[redeemed],
                        "ts": _ts(t[redeemed] + 3600),
                        "amount_fen": basket[redeemed],
                        "discount_fen": np.full(int(redeemed.sum()), 500),
                        "coupon_id": coupon[redeemed],
                    }
                ),
                run_id="bench",
            )
        done += n
    with store.transaction():
        store.write(
            "stocks",
            pa.table(
                {
                    "stock_id": np.arange(20),
                    "stock_type": ["threshold"] * 20,
                    "total_budget_fen": np.full(20, 10**13),
                    "max_coupons": np.full(20, 10**9),
                    "max_per_user": np.full(20, 10**6),
                }
            ),
            run_id="bench",
        )
        store.write(
            "truth_users",
            pa.table(
                {
                    "user_id": user,
                    "is_fraud": fraud,
                    "ring_id": pa.array(ring, mask=~fraud),
                }
            ),
            run_id="bench",
        )


def bench_risk(args) -> dict:
    from lab.risk import evaluate_risk, reconcile, risk_features, score_accounts

    SCRATCH.mkdir(parents=True, exist_ok=True)
    path = SCRATCH / f"risk-{args.claims}.duckdb"
    if not path.exists():
        t = time.perf_counter()
        build_store(path, claims=args.claims, accounts=args.accounts)
        print(f"built {path} in {time.perf_counter() - t:.0f} s")
    store = Store(path, read_only=True)
    figures = {"claims": args.claims, "accounts": args.accounts}
    figures["risk_features_s"] = median_of(lambda: risk_features(store, run="bench"), args.repeats)
    print("risk_features", figures["risk_features_s"])
    out = {}

    def score():
        out["scores"] = score_accounts(store, run="bench")

    figures["score_accounts_s"] = median_of(score, args.fit_repeats)
    print("score_accounts", figures["score_accounts_s"])
    figures["reconcile_s"] = median_of(lambda: reconcile(store, run="bench"), args.repeats)
    print("reconcile", figures["reconcile_s"])
    ev = evaluate_risk(store, run="bench", scores=out["scores"])
    for metric in (
        "precision_block",
        "recall_block",
        "recall_flagged",
        "legit_blocked_share",
        "ring_coupon_share",
        "ring_coupon_share_after_block",
    ):
        figures[metric] = round(ev[metric], 5)
    figures["claims_scored_per_s"] = round(args.claims / figures["score_accounts_s"])
    return figures


def bench_targeting(args) -> dict:
    from lab.targeting import TLearner, TransformedOutcome, allocate, qini_curve

    n = args.uplift_users
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, 10))
    t = rng.integers(0, 2, n)
    tau = np.clip(0.5 + X[:, 1] + 0.5 * X[:, 2], 0, None)
    y = 1 + X[:, 0] + t * tau + rng.normal(scale=1.0, size=n)
    figures = {"uplift_users": n}
    for name, learner in (("tlearner", TLearner), ("transformed_outcome", TransformedOutcome)):
        out = {}

        def fit(learner=learner, out=out):
            out["model"] = learner().fit(X, t, y)

        figures[f"{name}_fit_s"] = median_of(fit, args.fit_repeats)
        figures[f"{name}_predict_s"] = median_of(
            lambda out=out: out["model"].predict_uplift(X), args.repeats
        )
        figures[f"{name}_corr_true_uplift"] = round(
            float(np.corrcoef(out["model"].predict_uplift(X), tau)[0, 1]), 4
        )
        print(name, figures[f"{name}_fit_s"], figures[f"{name}_predict_s"])
        if name == "tlearner":
            pred = out["model"].predict_uplift(X)
    figures["qini_curve_s"] = median_of(lambda: qini_curve(pred, t, y), args.repeats)
    ladder = np.array([300, 800, 1500])
    options = pd.DataFrame(
        {
            "user_id": np.repeat(np.arange(n), 3),
            "amount_fen": np.tile(ladder, n),
            "cost_fen": np.tile(ladder, n),
            "uplift": np.repeat(pred, 3) * 1000 * np.tile(1 - np.exp(-ladder / 800), n),
        }
    )
    budget = int(0.3 * n * 800)
    figures["allocate_rows"] = len(options)
    figures["allocate_greedy_s"] = median_of(
        lambda: allocate(options, budget_fen=budget), args.repeats
    )
    print("allocate", figures["allocate_greedy_s"])
    return figures


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=10_000_000)
    parser.add_argument("--accounts", type=int, default=2_000_000)
    parser.add_argument("--uplift-users", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fit-repeats", type=int, default=1)
    args = parser.parse_args(argv)
    figures = {
        **bench_risk(args),
        **bench_targeting(args),
        "repeats": args.repeats,
        "fit_repeats": args.fit_repeats,
    }
    print(write_result("risk_targeting", figures))


if __name__ == "__main__":
    main()
