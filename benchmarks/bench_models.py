"""Funnel and retention on large stores, and against vectorised pandas on 10M events.

Run from the repository root: ``python -m benchmarks.bench_models [--events N]``.

1. Builds (once, cached in ``benchmarks/scratch/``) synthetic stores of ``--events`` and
   ``--compare-events`` rows of ``events``, with the matching ``offers``, ``users``,
   ``stocks`` and ``orders``, straight from NumPy through Arrow into DuckDB (not the world:
   this measures the models, not the simulator).
2. Times ``lab.funnel.funnel`` (default steps, offers fast path) and
   ``lab.retention.retention`` (first claim → any order, daily) on the large store,
   median of ``--repeats``, each job in a child process so its peak resident memory
   (``ru_maxrss``) covers that job alone.
3. On the compare store, times the same models against plain vectorised pandas versions
   computed on DataFrames already in memory (loading them is timed separately).

Writes ``benchmarks/results/models.json``. Targets: funnel <= 2 s and retention <= 3 s at
100M events, >= 20x faster than pandas at 10M, peak memory <= 3 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from benchmarks._common import median_of, write_result

SCRATCH = Path(__file__).parent / "scratch"
START = np.datetime64("2026-03-02T00:00:00", "us")
DAYS = 28
N_STOCKS = 40
CHUNK_OFFERS = 4_000_000
STEPS = ("exposure", "rule_view", "claim", "redeem")
WINDOW = pd.Timedelta(days=7)
# conversion of each step from the previous one, and the mean delay (seconds)
STEP_P = {"exposed_at": 0.75, "rule_viewed_at": 0.65, "claimed_at": 0.78, "redeemed_at": 0.4}
STEP_DELAY = {"exposed_at": 600, "rule_viewed_at": 120, "claimed_at": 60, "redeemed_at": 2 * 86400}
EVENT_OF = {
    "delivered_at": "delivery",
    "exposed_at": "exposure",
    "rule_viewed_at": "rule_view",
    "claimed_at": "claim",
    "redeemed_at": "redeem",
}


# -- building the store ------------------------------------------------------------------
def _dict(values, codes) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int8)), pa.array(values))


def _us(a: np.ndarray) -> pa.Array:
    mask = np.isnat(a)
    return pa.array(a.astype("datetime64[us]"), mask=mask if mask.any() else None)


def build(path: Path, n_events: int, *, seed: int = 0) -> dict:
    """Write a store of about ``n_events`` events; return its row counts."""
    import lab

    rng = np.random.default_rng(seed)
    events_per_offer = 1 + 0.75 * (1 + 0.65 * (1 + 0.78 * (1 + 0.4)))
    n_offers = int(n_events / events_per_offer)
    n_users = max(n_events // 50, 10)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    store = lab.Store(path)
    run = "bench"
    store.create_run(
        run,
        origin="synthetic",
        n_users=n_users,
        days=DAYS,
        start_date=START.astype("datetime64[D]").item(),
    )
    platforms = np.array(["wechat", "alipay", "meituan"])
    entries = np.array(["pay_page", "card_wallet", "app_push", "mini_program"])
    stock_platform = rng.integers(0, 3, N_STOCKS)
    stock_entry = rng.integers(0, 4, N_STOCKS)
    counts = {"offers": 0, "events": 0, "orders": 0}
    with store.connect() as con:
        store.write(
            "stocks",
            pa.table(
                {
                    "stock_id": np.arange(1, N_STOCKS + 1),
                    "stock_type": ["threshold"] * N_STOCKS,
                    "platform": platforms[stock_platform],
                    "entry": entries[stock_entry],
                }
            ),
            run_id=run,
        )
        store.write(
            "users",
            pa.table(
                {
                    "user_id": np.arange(1, n_users + 1),
                    "segment": _dict(["new", "active", "lapsed"], rng.integers(0, 3, n_users)),
                }
            ),
            run_id=run,
        )
        next_event = 1
        for lo in range(0, n_offers, CHUNK_OFFERS):
            n = min(CHUNK_OFFERS, n_offers - lo)
            # a chunk covers a slice of users, as the world writes them
            u_lo = lo * n_users // n_offers
            u_hi = max((lo + n) * n_users // n_offers, u_lo + 1)
            user = rng.integers(u_lo + 1, u_hi + 1, n)
            stock = rng.integers(1, N_STOCKS + 1, n)
            times = {
                "delivered_at": START + rng.integers(0, DAYS * 86400, n) * np.timedelta64(1, "s")
            }
            prev = times["delivered_at"]
            for col, p in STEP_P.items():
                delay = rng.exponential(STEP_DELAY[col], n).astype("int64") * np.timedelta64(1, "s")
                t = np.where(
                    ~np.isnat(prev) & (rng.random(n) < p), prev + delay, np.datetime64("NaT")
                )
                times[col] = prev = t.astype("datetime64[us]")
            offer_id = np.arange(lo + 1, lo + n + 1)
            coupon = np.where(~np.isnat(times["claimed_at"]), offer_id, -1)
            offers = pa.table(
                {
                    "offer_id": offer_id,
                    "user_id": user,
                    "stock_id": stock,
                    "platform": _dict(platforms, stock_platform[stock - 1]),
                    "entry": _dict(entries, stock_entry[stock - 1]),
                    **{c: _us(t) for c, t in times.items()},
                    "coupon_id": pa.array(coupon, mask=coupon < 0),
                }
            )
            store.write("offers", offers, run_id=run)
            counts["offers"] += n
            # the chunk's events in time order, as a logger writes them: event types
            # interleave, so no zone map can skip row groups by type
            has = {col: ~np.isnat(times[col]) for col in EVENT_OF}
            ts = np.concatenate([times[col][h] for col, h in has.items()])
            kind = np.concatenate([np.full(int(h.sum()), j) for j, h in enumerate(has.values())])
            who = np.concatenate([offer_id[h] - 1 - lo for h in has.values()])
            order = np.argsort(ts, kind="stable")
            ts, kind, who = ts[order], kind[order], who[order]
            m = len(ts)
            ev = pa.table(
                {
                    "event_id": np.arange(next_event, next_event + m),
                    "ts": _us(ts),
                    "user_id": user[who],
                    "event_type": _dict(list(EVENT_OF.values()), kind),
                    "platform": _dict(platforms, stock_platform[stock[who] - 1]),
                    "entry": _dict(entries, stock_entry[stock[who] - 1]),
                    "stock_id": stock[who],
                    "offer_id": offer_id[who],
                }
            )
            store.write("events", ev, run_id=run)
            next_event += m
            counts["events"] += m
            n_orders = n // 3
            ts = START + rng.integers(0, DAYS * 86400, n_orders) * np.timedelta64(1, "s")
            store.write(
                "orders",
                pa.table(
                    {
                        "order_id": np.arange(
                            counts["orders"] + 1, counts["orders"] + n_orders + 1
                        ),
                        "user_id": rng.integers(u_lo + 1, u_hi + 1, n_orders),
                        "ts": _us(ts),
                        "amount_fen": rng.integers(1000, 20000, n_orders),
                        "discount_fen": np.zeros(n_orders, dtype=np.int64),
                    }
                ),
                run_id=run,
            )
            counts["orders"] += n_orders
        con.execute("CHECKPOINT")
    return counts


def store_path(n_events: int) -> Path:
    return SCRATCH / f"models-{n_events}.duckdb"


def ensure_store(n_events: int) -> tuple[Path, dict]:
    path = store_path(n_events)
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return path, json.loads(meta.read_text())
    t = time.perf_counter()
    # built in a child process: its memory must not count against the jobs' peak
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_models", "--build", str(n_events)],
        check=True,
        capture_output=True,
        text=True,
    )
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    counts["build_seconds"] = round(time.perf_counter() - t, 1)
    counts["db_file_mb"] = round(path.stat().st_size / 2**20)
    meta.write_text(json.dumps(counts))
    return path, counts


# -- pandas versions -----------------------------------------------------------------------
def pandas_funnel(events: pd.DataFrame) -> list[int]:
    """Default offer funnel, ordered, 7-day window, from the event log."""
    ev = events[events["event_type"].isin(STEPS)]
    first = ev.groupby(["offer_id", "event_type"], observed=True)["ts"].min().unstack()
    t0 = first[STEPS[0]]
    reached, prev = [t0.notna()], t0
    for s in STEPS[1:]:
        t = first[s].where(reached[-1] & (first[s] >= prev) & (first[s] <= t0 + WINDOW))
        reached.append(t.notna())
        prev = t
    dur = (prev - t0).dropna().dt.total_seconds()
    dur.quantile([0.25, 0.5, 0.75, 0.9])
    return [int(r.sum()) for r in reached]


def pandas_retention(
    events: pd.DataFrame, orders: pd.DataFrame, max_periods: int = 14
) -> pd.Series:
    """First claim → any order, exact day, cohort × period counts."""
    claims = events[events["event_type"] == "claim"].sort_values(["ts", "event_id"])
    first = claims.drop_duplicates("user_id")[["user_id", "ts"]]
    first = first.assign(cohort=first["ts"].dt.floor("D"))
    m = first.merge(orders[["user_id", "ts"]], on="user_id", suffixes=("", "_r"))
    m = m[m["ts_r"] >= m["ts"]]
    m["k"] = (m["ts_r"].dt.floor("D") - m["cohort"]).dt.days
    m = m[m["k"] <= max_periods].drop_duplicates(["user_id", "k"])
    first.groupby("cohort").size()
    return m.groupby(["cohort", "k"]).size()


# -- jobs (run in a child process) -------------------------------------------------------
def job(name: str, db: str, repeats: int) -> dict:
    import lab
    from lab.funnel import funnel
    from lab.retention import retention

    store = lab.Store(db, read_only=True)
    out: dict = {}
    with store.connect():  # one connection for the whole job: no reopen cost per call
        if name == "funnel":
            out["seconds"] = median_of(lambda: funnel(store, run="bench"), repeats)
        elif name == "funnel_events":
            out["seconds"] = median_of(lambda: funnel(store, run="bench", source="events"), repeats)
        elif name == "retention":
            out["seconds"] = median_of(lambda: retention(store, run="bench"), repeats)
        elif name in ("pandas_funnel", "pandas_retention"):
            t = time.perf_counter()
            events = store.query(
                "SELECT event_id, ts, user_id, event_type, offer_id FROM events WHERE run_id = ?",
                ["bench"],
            )
            events["event_type"] = events["event_type"].astype("category")
            orders = store.query("SELECT user_id, ts FROM orders WHERE run_id = ?", ["bench"])
            out["load_seconds"] = time.perf_counter() - t
            if name == "pandas_funnel":
                out["seconds"] = median_of(lambda: pandas_funnel(events), repeats)
            else:
                out["seconds"] = median_of(lambda: pandas_retention(events, orders), repeats)
        else:
            raise ValueError(f"unknown job {name!r}")
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def peak_rss_mb() -> int:
    """This process's peak resident memory. VmHWM starts afresh at exec, unlike
    ``ru_maxrss``, which a child inherits from the parent it was forked from."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def run_job(name: str, db: Path, repeats: int) -> dict:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.bench_models",
            "--job",
            name,
            "--db",
            str(db),
            "--repeats",
            str(repeats),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000_000)
    parser.add_argument("--compare-events", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--build", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--job")
    parser.add_argument("--db")
    args = parser.parse_args()
    if args.build:
        counts = build(store_path(args.build), args.build)
        counts["build_peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(counts))
        return
    if args.job:
        print(json.dumps(job(args.job, args.db, args.repeats)))
        return

    # the machine is shared: record how busy it was, since timings scale with it
    figures: dict = {"repeats": args.repeats, "load_average_start": round(os.getloadavg()[0], 1)}
    small, small_counts = ensure_store(args.compare_events)
    figures["compare_store"] = small_counts
    for name in ("funnel", "funnel_events", "retention", "pandas_funnel", "pandas_retention"):
        figures[f"compare_{name}"] = run_job(name, small, args.repeats)
        print(name, figures[f"compare_{name}"], flush=True)
    figures["funnel_speedup_vs_pandas"] = round(
        figures["compare_pandas_funnel"]["seconds"] / figures["compare_funnel"]["seconds"], 1
    )
    figures["retention_speedup_vs_pandas"] = round(
        figures["compare_pandas_retention"]["seconds"] / figures["compare_retention"]["seconds"], 1
    )

    big, big_counts = ensure_store(args.events)
    figures["large_store"] = big_counts
    for name in ("funnel", "retention"):
        figures[f"large_{name}"] = run_job(name, big, args.repeats)
        print(name, figures[f"large_{name}"], flush=True)
    figures["load_average_end"] = round(os.getloadavg()[0], 1)
    print(write_result("models", figures))


if __name__ == "__main__":
    main()
