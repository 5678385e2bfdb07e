"""``analyze`` with CUPED on 10M users (target: <= 1 s, median of 3).

Run from the repository root: ``python -m benchmarks.bench_experiments [--users N]``.

Builds (once, cached in ``benchmarks/scratch/``) a store with one two-arm experiment:
``assignments`` for ``--users`` users and their ``orders`` over a 28-day pre-period and a
28-day campaign, straight from NumPy through Arrow into DuckDB (not the world: this
measures the analysis, not the simulator). Order rates are gamma-distributed per user
(about 1.4 orders per user per 28 days, so most users order at least once), baskets
log-normal, a quarter of campaign orders carry a coupon, and the treatment arm orders
5 % more. Orders are stored user by user, as the world writes them.

Then times, on that store:

- ``refresh_experiment_users``: the one-off cost, paid when a run is written (simulate and
  imports call it), of grouping the orders by user into the derived ``experiment_users``
  table (run on every invocation: it is idempotent);
- ``analyze(store, run=..., experiment="exp", covariate="pre_gmv")`` with the default
  metrics (redeemed, orders, gmv, redeemed_amount), read-only and warm: one scan of
  ``experiment_users`` down to the per-arm sufficient statistics, then the comparisons in
  Python (median of ``--repeats``);
- the same ``analyze`` forced onto the orders query it falls back to when the table is
  missing or stale (the path every call took before the table existed), for comparison.

Writes ``benchmarks/results/experiments.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pyarrow as pa

from benchmarks._common import median_of, write_result

SCRATCH = Path(__file__).parent / "scratch"
START = dt.datetime(2026, 3, 2)
DAYS = PRE_DAYS = 28
CHUNK = 1_000_000


def refresh(store) -> float:
    """Rebuild the run's ``experiment_users`` rows; return the wall-clock seconds."""
    from lab.experiments import refresh_experiment_users

    start = time.perf_counter()
    refresh_experiment_users(store, "bench")
    return time.perf_counter() - start


def build(path: Path, users: int, *, seed: int = 0) -> float:
    """Write the benchmark store at ``path`` (users processed in chunks of 1M), then refresh
    its derived table as ``lab.simulate`` does; return the seconds the refresh took."""
    import lab

    store = lab.Store(path)
    store.create_run(
        "bench",
        origin="synthetic",
        label="bench_experiments",
        seed=seed,
        n_users=users,
        days=DAYS,
        pre_days=PRE_DAYS,
        start_date=START.date(),
    )
    rng = np.random.default_rng(seed)
    epoch = np.datetime64(START - dt.timedelta(days=PRE_DAYS), "us")
    next_order = 1
    with store.transaction():
        for lo in range(0, users, CHUNK):
            n = min(CHUNK, users - lo)
            user_id = np.arange(lo + 1, lo + n + 1, dtype=np.int64)
            treated = rng.random(n) < 0.5
            store.write(
                "assignments",
                pa.table(
                    {
                        "experiment": pa.array(["exp"] * n).dictionary_encode(),
                        "user_id": user_id,
                        "arm": pa.DictionaryArray.from_arrays(
                            pa.array(treated.astype(np.int8)), pa.array(["a", "b"])
                        ),
                    }
                ),
                run_id="bench",
            )
            rate = rng.gamma(0.7, 0.07, n)  # orders per day
            basket = rng.normal(np.log(5000), 0.4, n)
            pre = rng.poisson(rate * PRE_DAYS)
            post = rng.poisson(rate * DAYS * np.where(treated, 1.05, 1.0))
            counts = pre + post
            m = int(counts.sum())
            owner = np.repeat(np.arange(n), counts)
            first = np.repeat(np.cumsum(counts) - counts, counts)
            is_post = (np.arange(m) - first) >= pre[owner]
            day = np.where(is_post, PRE_DAYS, 0) + rng.integers(0, DAYS, m)
            seconds = day * 86400 + rng.integers(0, 86400, m)
            amount = np.maximum(100, np.exp(basket[owner] + rng.normal(0, 0.5, m))).astype(np.int64)
            coupon = is_post & (rng.random(m) < 0.25)
            order_id = np.arange(next_order, next_order + m, dtype=np.int64)
            next_order += m
            store.write(
                "orders",
                pa.table(
                    {
                        "order_id": order_id,
                        "user_id": user_id[owner],
                        "ts": pa.array(epoch + seconds.astype("timedelta64[s]")),
                        "amount_fen": amount,
                        "discount_fen": np.where(coupon, np.minimum(amount // 5, 2000), 0),
                        "coupon_id": pa.array(order_id, mask=~coupon),
                    }
                ),
                run_id="bench",
            )
    return refresh(store)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import lab
    from lab.experiments import _analyze, experiment_users_status

    SCRATCH.mkdir(parents=True, exist_ok=True)
    path = SCRATCH / f"experiments-{args.users}.duckdb"
    load = os.getloadavg()[0]
    if path.exists():
        refresh_seconds = refresh(lab.Store(path))
    else:
        print(f"building {path} ...")
        refresh_seconds = build(path, args.users)
    store = lab.Store(path, read_only=True)
    if experiment_users_status(store, "bench") != "fresh":
        raise RuntimeError(f"{path}: experiment_users is not fresh after the refresh")
    n_orders = int(store.query("SELECT count(*) AS n FROM orders")["n"][0])

    def run():
        return _analyze.analyze(store, run="bench", experiment="exp", covariate="pre_gmv")

    def timings(fn) -> tuple[float, float, object]:
        """Median wall and CPU seconds of ``fn`` after one warm-up call, and its result."""
        result = fn()  # warm the file cache
        cpu = []

        def timed():
            before = resource.getrusage(resource.RUSAGE_SELF)
            fn()
            after = resource.getrusage(resource.RUSAGE_SELF)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)

        return median_of(timed, args.repeats), statistics.median(cpu), result

    seconds, cpu, result = timings(run)
    # the orders query analyze falls back to without a fresh table (every call used it before)
    with mock.patch.object(_analyze, "experiment_users_status", return_value="missing"):
        old_seconds, old_cpu, old = timings(run)
    gmv, old_gmv = float(result.row("gmv")["effect"]), float(old.row("gmv")["effect"])
    if abs(gmv - old_gmv) > 1e-9 * abs(old_gmv):
        raise RuntimeError(f"the two paths disagree: gmv effect {gmv} vs {old_gmv}")
    figures = {
        "users": args.users,
        "orders": n_orders,
        "analyze_cuped_seconds": round(seconds, 3),
        # CPU seconds of this process (DuckDB's threads included): on a shared machine the
        # wall time also counts the time other jobs hold the cores
        "analyze_cuped_cpu_seconds": round(cpu, 3),
        "analyze_cuped_from_orders_seconds": round(old_seconds, 3),
        "analyze_cuped_from_orders_cpu_seconds": round(old_cpu, 3),
        # one-off, when the run is written: orders grouped by user into experiment_users
        "refresh_seconds": round(refresh_seconds, 3),
        "load_average_1min_before": round(load, 2),
        "load_average_1min_after": round(os.getloadavg()[0], 2),
        "target_seconds": 1.0,
        "repeats": args.repeats,
        "gmv_effect": gmv,
    }
    out = write_result("experiments", figures)
    print(figures)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
