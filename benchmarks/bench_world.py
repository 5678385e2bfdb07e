"""Benchmark the synthetic world (CALIBRATION C6 and the memory bound of large worlds).

(a) Issuance end to end: ``claim_rush`` sends ``--rush-claims`` claim attempts (10M by
    default) from 1M users through the issuance engine (risk rules, limits, budgets in
    time order, latency, compensated failures) and commits every decided attempt to a
    fresh DuckDB file, one ``coupons`` row each. Coupons per second of wall time from
    the call to the commit, population included; median of 3. This is C6's "millions
    of coupons per second": the engine, not the users' journey.
(b) The whole world: an issuance-heavy strategy simulated into a fresh DuckDB file,
    with every offer, funnel event, redemption and order (about ten rows per claim
    attempt); coupons and rows per second. Median of 3.
(c) A large world (default strategy, ~100M events) generated in a subprocess; peak
    resident memory from ``resource.getrusage`` in that subprocess. ``simulate`` stages
    a large run as Parquet files next to the database and loads each table with one
    INSERT, which DuckDB streams to the file; the engine keeps only compact per-attempt
    arrays and frees them before the second pass. Use ``--events 1e7`` on machines with
    less than ~4 GiB.

Writes ``benchmarks/results/world.json``. Run: ``python -m benchmarks.bench_world``
(``--events`` to change the size of (c), ``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lab
from benchmarks._common import write_result
from lab.world import Campaign, Stock, Strategy, claim_rush, simulate

SCRATCH = Path(__file__).parent / "scratch"
EVENTS_PER_DEFAULT_USER = 185  # measured: default strategy, 28 days

HEAVY = Strategy(
    "issuance_heavy",
    campaigns=(
        Campaign(
            "popup",
            "wechat",
            "mini_program",
            Stock(
                stock_type="no_threshold",
                transaction_minimum_fen=0,
                amount_fen=300,
                max_per_user=10_000,
                valid_days=3,
            ),
            frequency=3.0,
            risk_level="off",
        ),
        Campaign(
            "store",
            "meituan",
            "store_page",
            Stock(transaction_minimum_fen=2000, amount_fen=300, max_per_user=10_000, valid_days=3),
            frequency=3.0,
            risk_level="off",
        ),
    ),
    description="Pop-ups on every visit, no limits: as many claim attempts per delivery as the funnel allows.",
)


def rush(claims: int, users: int) -> dict:
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        store = lab.Store(Path(tmp) / "rush.duckdb")
        t0 = time.perf_counter()
        run = claim_rush(HEAVY, store=store, claims=claims, users=users, progress=False)
        wall = time.perf_counter() - t0
        outcomes = store.query(
            "SELECT status, count(*) AS n FROM coupons WHERE run_id = ? GROUP BY status", [run]
        ).set_index("status")["n"]
    return {
        "seconds": wall,
        "coupons": int(outcomes.sum()),
        "coupons_per_s": claims / wall,
        "outcomes": {k: int(v) for k, v in outcomes.items()},
    }


def world(users: int, days: int) -> dict:
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        store = lab.Store(Path(tmp) / "bench.duckdb")
        t0 = time.perf_counter()
        run = simulate(HEAVY, store=store, users=users, days=days, pre_days=1, progress=False)
        wall = time.perf_counter() - t0
        counts = store.describe_run(run).set_index("table")["rows"]
    rows = int(counts.sum())
    return {
        "seconds": wall,
        "coupons": int(counts["coupons"]),
        "rows": rows,
        "coupons_per_s": counts["coupons"] / wall,
        "rows_per_s": rows / wall,
    }


def child(users: int, days: int) -> None:
    """Run inside the subprocess: simulate, then report counts and peak memory as JSON."""
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        store = lab.Store(Path(tmp) / "big.duckdb")
        t0 = time.perf_counter()
        run = simulate("default", store=store, users=users, days=days, progress=False)
        wall = time.perf_counter() - t0
        counts = store.describe_run(run).set_index("table")["rows"]
        size = store.file_size()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "users": users,
                "days": days,
                "events": int(counts["events"]),
                "rows": int(counts.sum()),
                "seconds": wall,
                "peak_rss_bytes": peak,
                "db_bytes": size,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--events", type=float, default=100e6, help="target size of world (b) in events"
    )
    ap.add_argument(
        "--rush-claims", type=int, default=10_000_000, help="claim attempts of each rush in (a)"
    )
    ap.add_argument("--quick", action="store_true", help="small sizes, to check the script runs")
    ap.add_argument("--child", nargs=2, type=int, metavar=("USERS", "DAYS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    SCRATCH.mkdir(exist_ok=True)
    rush_claims = 200_000 if args.quick else args.rush_claims
    rushes = [rush(rush_claims, rush_claims // 10) for _ in range(3)]
    rush_med = statistics.median(r["coupons_per_s"] for r in rushes)
    print(f"(a) rush coupons/s: {[round(r['coupons_per_s']) for r in rushes]}", flush=True)

    heavy_users = 20_000 if args.quick else 100_000
    worlds = [world(heavy_users, 7) for _ in range(3)]
    print(f"(b) world coupons/s: {[round(r['coupons_per_s']) for r in worlds]}", flush=True)

    events = 2e6 if args.quick else args.events
    users = int(events / EVENTS_PER_DEFAULT_USER)
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_world", "--child", str(users), "28"],
        check=True,
        capture_output=True,
        text=True,
    )
    big = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"(c) {big['events']:,} events in {big['seconds']:.0f} s, "
        f"peak RSS {big['peak_rss_bytes'] / 2**30:.2f} GiB",
        flush=True,
    )

    figures = {
        "issuance_coupons_per_s_median": round(rush_med),
        "issuance_coupons_per_s_runs": [round(r["coupons_per_s"]) for r in rushes],
        "issuance_claims_per_run": rush_claims,
        "issuance_users": rush_claims // 10,
        "issuance_outcomes": rushes[0]["outcomes"],
        "issuance_target_coupons_per_s": 1_000_000,
        "world_coupons_per_s_median": round(statistics.median(r["coupons_per_s"] for r in worlds)),
        "world_rows_per_s_median": round(statistics.median(r["rows_per_s"] for r in worlds)),
        "world_coupons_per_run": worlds[0]["coupons"],
        "world_rows_per_run": worlds[0]["rows"],
        "big_world_events": big["events"],
        "big_world_rows": big["rows"],
        "big_world_users": big["users"],
        "big_world_seconds": round(big["seconds"], 1),
        "big_world_peak_rss_bytes": big["peak_rss_bytes"],
        "big_world_peak_rss_gib": round(big["peak_rss_bytes"] / 2**30, 3),
        "big_world_db_gib": round(big["db_bytes"] / 2**30, 3),
        "big_world_memory_limit_bytes": 3_000_000_000,
        "load_average_end": round(os.getloadavg()[0], 2),
    }
    print(f"wrote {write_result('world', figures)}")


if __name__ == "__main__":
    main()
