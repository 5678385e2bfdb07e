"""Funnel and retention on large stores, and against pandas on 10M events.

Run from the repository root: ``python -m benchmarks.bench_models [--events N]``.

1. Builds (once, cached in ``benchmarks/scratch/``) synthetic stores of ``--events`` and
   ``--compare-events`` rows of ``events``, with the matching ``offers``, ``users``,
   ``stocks`` and ``orders``, straight from NumPy through Arrow into DuckDB (not the world:
   this measures the models, not the simulator).
2. Times ``lab.funnel.funnel`` (default steps, offers fast path) and
   ``lab.retention.retention`` (first claim → any order, daily) on the large store,
   median of ``--repeats``, each job in a child process so its peak resident memory
   (``ru_maxrss``) covers that job alone.
3. On the compare store, times the same two computations (steps exposure → rule_view →
   claim → redeem, ordered, offers, 7-day window; first claim → any order, day periods,
   exact mode, periods 0..14) three ways, on DataFrames already in memory (loading them
   is timed separately):

   * the **reference** implementations the model tests check against
     (``tests/models/reference_funnel.py``, ``reference_retention.py``): plain pandas and
     Python loops, as the issue's "pandas reference". They take minutes (the funnel
     ~40 min at 10M events), so they run once (``repeats`` 1) and their timing and
     results are cached in ``scratch/models-<N>-reference.json``; ``--fresh-reference``
     runs them again.
   * hand-vectorised pandas versions defined here (the stricter comparison).

   Every comparison first asserts that the results agree: funnel step counts (and, with
   the reference, the time-to-convert histogram), retention cohort sizes and retained
   counts per cohort and period.

Writes ``benchmarks/results/models.json``. Targets: funnel <= 2 s and retention <= 3 s at
100M events, >= 20x faster than the pandas reference at 10M, peak memory <= 3 GB.
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

from benchmarks._common import RESULTS, median_of, write_result

SCRATCH = Path(__file__).parent / "scratch"
TESTS = Path(__file__).parent.parent / "tests" / "models"
START = np.datetime64("2026-03-02T00:00:00", "us")
DAYS = 28
N_STOCKS = 40
CHUNK_OFFERS = 4_000_000
STEPS = ("exposure", "rule_view", "claim", "redeem")
WINDOW = pd.Timedelta(days=7)
MAX_PERIODS = 14
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


def ensure_reference(db: Path, n_events: int, *, fresh: bool) -> dict:
    """Timings and results of the tests' reference implementations on the compare store,
    run once and cached next to the store (they take tens of minutes)."""
    path = SCRATCH / f"models-{n_events}-reference.json"
    if path.exists() and not fresh:
        return json.loads(path.read_text())
    out = {}
    for name in ("reference_funnel", "reference_retention"):
        out[name] = run_job(name, db, 1)
        out[name]["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        print(name, {k: v for k, v in out[name].items() if k != "check"}, flush=True)
    path.write_text(json.dumps(out))
    return out


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


def pandas_retention(events: pd.DataFrame, orders: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """First claim → any order, exact day: cohort sizes and (cohort, k) retained counts."""
    claims = events[events["event_type"] == "claim"].sort_values(["ts", "event_id"])
    first = claims.drop_duplicates("user_id")[["user_id", "ts"]]
    first = first.assign(cohort=first["ts"].dt.floor("D"))
    m = first.merge(orders[["user_id", "ts"]], on="user_id", suffixes=("", "_r"))
    m = m[m["ts_r"] >= m["ts"]]
    m["k"] = (m["ts_r"].dt.floor("D") - m["cohort"]).dt.days
    m = m[m["k"] <= MAX_PERIODS].drop_duplicates(["user_id", "k"])
    return first.groupby("cohort").size(), m.groupby(["cohort", "k"]).size()


def _day(ts) -> str:
    return pd.Timestamp(ts).strftime("%Y-%m-%d")


def retention_cells(sizes: pd.Series, retained: pd.Series) -> list[list]:
    """``[cohort day, period, cohort size, retained]`` for every cohort and period with a
    return: the figures every retention version must agree on."""
    size = {_day(c): int(n) for c, n in sizes.items()}
    return sorted([_day(c), int(k), size[_day(c)], int(n)] for (c, k), n in retained.items() if n)


def model_retention_cells(table: pd.DataFrame) -> list[list]:
    t = table[table["retained"] > 0]
    return sorted(
        [_day(c), int(k), int(s), int(n)]
        for c, k, s, n in t[["cohort", "period", "cohort_size", "retained"]].itertuples(index=False)
    )


def reference_funnel_check(logs: dict) -> dict:
    """The model tests' plain reference: per-offer walk, then counts and histogram."""
    from reference_funnel import reference_entities, reference_funnel

    ent = reference_entities(logs, steps=STEPS, order="ordered", window=WINDOW, unit="offer")
    table, ttc, hist = reference_funnel(ent, steps=STEPS, keys=[], top_n=None)
    return {
        "counts": [int(c) for c in table["count"]],
        "histogram": [int(c) for c in hist[0]["counts"]],
    }


def reference_retention_check(logs: dict, run_end: pd.Timestamp) -> dict:
    from reference_retention import reference_retention

    table, _, _ = reference_retention(
        logs,
        start_event="claim",
        return_event="order",
        period="day",
        mode="exact",
        first_time=True,
        max_periods=MAX_PERIODS,
        run_end=run_end,
    )
    return {"cells": model_retention_cells(table)}


# -- jobs (run in a child process) -------------------------------------------------------
def _timed(fn, repeats: int) -> tuple[float, object]:
    """Median seconds of ``repeats`` calls, and the last call's result."""
    box = []
    seconds = median_of(lambda: box.append(fn()), repeats)
    return seconds, box[-1]


def job(name: str, db: str, repeats: int) -> dict:
    import lab
    from lab.funnel import funnel
    from lab.retention import retention

    store = lab.Store(db, read_only=True)
    out: dict = {}
    with store.connect():  # one connection for the whole job: no reopen cost per call
        if name in ("funnel", "funnel_events"):
            source = "auto" if name == "funnel" else "events"
            out["seconds"], res = _timed(
                lambda: funnel(
                    store, run="bench", steps=STEPS, window=WINDOW, order="ordered", source=source
                ),
                repeats,
            )
            out["check"] = {
                "counts": res.table["count"].astype(int).tolist(),
                "histogram": res.histogram["count"].astype(int).tolist(),
            }
        elif name == "retention":
            out["seconds"], res = _timed(
                lambda: retention(
                    store,
                    run="bench",
                    start_event="claim",
                    return_event="order",
                    period="day",
                    mode="exact",
                    max_periods=MAX_PERIODS,
                ),
                repeats,
            )
            out["check"] = {"cells": model_retention_cells(res.table)}
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
                out["seconds"], counts = _timed(lambda: pandas_funnel(events), repeats)
                out["check"] = {"counts": counts}
            else:
                out["seconds"], (sizes, kept) = _timed(
                    lambda: pandas_retention(events, orders), repeats
                )
                out["check"] = {"cells": retention_cells(sizes, kept)}
        elif name in ("reference_funnel", "reference_retention"):
            sys.path.insert(0, str(TESTS))
            t = time.perf_counter()
            tables = ("events", "users", "stocks", "orders", "coupons")
            logs = {
                tbl: store.query(
                    f"SELECT * EXCLUDE (run_id) FROM {tbl} WHERE run_id = ?", ["bench"]
                )
                for tbl in tables
            }
            info = store.run("bench")
            out["load_seconds"] = time.perf_counter() - t
            out["repeats"] = 1  # minutes per call: once is enough against a 20x target
            t = time.perf_counter()
            if name == "reference_funnel":
                out["check"] = reference_funnel_check(logs)
            else:
                run_end = pd.Timestamp(info["start_date"]) + pd.Timedelta(days=int(info["days"]))
                out["check"] = reference_retention_check(logs, run_end)
            out["seconds"] = time.perf_counter() - t
            out["load_average"] = round(os.getloadavg()[0], 1)
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


def time_large(figures: dict, args) -> None:
    """Time the funnel and retention on the ``--events`` store into ``figures``."""
    big, big_counts = ensure_store(args.events)
    figures["large_store"] = big_counts
    for name in ("funnel", "retention"):
        result = run_job(name, big, args.repeats)
        result.pop("check")
        figures[f"large_{name}"] = result
        print(name, result, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000_000)
    parser.add_argument("--compare-events", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--fresh-reference",
        action="store_true",
        help="run the tests' reference implementations again instead of using their cache",
    )
    parser.add_argument(
        "--reference-only",
        action="store_true",
        help="only run (and cache) the reference implementations on the compare store",
    )
    parser.add_argument(
        "--large-only",
        action="store_true",
        help="only re-time the --events store; the comparison figures already in "
        "models.json are kept (the pandas reference takes ~40 min on a fresh machine)",
    )
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
    if args.reference_only:
        small, _ = ensure_store(args.compare_events)
        ensure_reference(small, args.compare_events, fresh=args.fresh_reference)
        return

    if args.large_only:
        figures = json.loads((RESULTS / "models.json").read_text())["figures"]
        figures["large_load_average_start"] = round(os.getloadavg()[0], 1)
        time_large(figures, args)
        figures["large_load_average_end"] = round(os.getloadavg()[0], 1)
        figures["large_date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        print(write_result("models", figures))
        return

    # the machine is shared: record how busy it was, since timings scale with it
    figures: dict = {"repeats": args.repeats, "load_average_start": round(os.getloadavg()[0], 1)}
    small, small_counts = ensure_store(args.compare_events)
    figures["compare_store"] = small_counts
    figures["compared"] = (
        f"funnel: steps {' → '.join(STEPS)}, ordered, unit offer, window {WINDOW}; "
        f"retention: first claim → any order, period day, mode exact, periods 0..{MAX_PERIODS}"
    )
    checks: dict = {}
    reference = ensure_reference(small, args.compare_events, fresh=args.fresh_reference)
    for name in ("reference_funnel", "reference_retention"):
        checks[name] = reference[name].pop("check")
        figures[f"compare_{name}"] = reference[name]
    for name in ("funnel", "funnel_events", "retention", "pandas_funnel", "pandas_retention"):
        result = run_job(name, small, args.repeats)
        checks[name] = result.pop("check")
        figures[f"compare_{name}"] = result
        print(name, result, flush=True)

    # the speedups compare like with like: the results must agree first
    for name in ("funnel_events", "pandas_funnel", "reference_funnel"):
        assert checks[name]["counts"] == checks["funnel"]["counts"], (name, checks[name])
    assert checks["reference_funnel"]["histogram"] == checks["funnel"]["histogram"]
    for name in ("pandas_retention", "reference_retention"):
        assert checks[name]["cells"] == checks["retention"]["cells"], name
    figures["results_agree"] = {
        "funnel_step_counts": checks["funnel"]["counts"],
        "retention_cells_compared": len(checks["retention"]["cells"]),
    }
    for model in ("funnel", "retention"):
        seconds = figures[f"compare_{model}"]["seconds"]
        figures[f"{model}_speedup_vs_reference"] = round(
            figures[f"compare_reference_{model}"]["seconds"] / seconds, 1
        )
        figures[f"{model}_speedup_vs_vectorised_pandas"] = round(
            figures[f"compare_pandas_{model}"]["seconds"] / seconds, 1
        )

    time_large(figures, args)
    figures["load_average_end"] = round(os.getloadavg()[0], 1)
    print(write_result("models", figures))


if __name__ == "__main__":
    main()
