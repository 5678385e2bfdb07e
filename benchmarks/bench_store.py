"""Bulk insert into the store: 10 million ``events`` rows from Arrow via ``Store.write``.

Run from the repository root: ``python -m benchmarks.bench_store [--rows N]``.
The measurement runs in a child process so its peak resident memory (``ru_maxrss``)
covers exactly one job: generate the rows with NumPy, build the Arrow table, then write
it three times, each into a fresh database file. Writes ``benchmarks/results/store.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa

from benchmarks._common import median_of, write_result

REPEATS = 3


def events_table(rows: int, *, seed: int = 0) -> pa.Table:
    """A plausible ``events`` table: ids, timestamps over 30 days, enums as dictionaries."""
    from lab import schema

    rng = np.random.default_rng(seed)
    start = np.datetime64("2026-07-01T00:00:00", "us")
    ts = np.sort(start + rng.integers(0, 30 * 86_400 * 10**6, rows).astype("timedelta64[us]"))
    users = rng.integers(1, rows // 10 + 2, rows)

    def enum(values) -> pa.DictionaryArray:
        codes = rng.integers(0, len(values), rows).astype(np.int8)
        return pa.DictionaryArray.from_arrays(codes, pa.array(values))

    def ids(high: int, null_share: float) -> pa.Array:
        return pa.array(rng.integers(1, high, rows), mask=rng.random(rows) < null_share)

    return pa.table(
        {
            "event_id": np.arange(rows, dtype=np.int64),
            "ts": ts,
            "user_id": users,
            "event_type": enum(schema.EVENT_TYPES),
            "platform": enum(schema.PLATFORMS),
            "entry": enum(("official_account", "mini_program", "pay_page", "card_wallet")),
            "stock_id": rng.integers(1, 50, rows),
            "offer_id": ids(rows, 0.0),
            "coupon_id": ids(rows, 0.6),
            "order_id": ids(rows, 0.9),
            "device_id": users * 7 + 3,
            "ip": rng.integers(0, 2**32, rows, dtype=np.uint32),
        }
    )


def child(rows: int) -> dict:
    """Generate, then time ``REPEATS`` writes into fresh files; report figures as a dict."""
    from lab.store import Store

    table = events_table(rows)
    with tempfile.TemporaryDirectory() as tmp:
        stores = [Store(Path(tmp) / f"bench{i}.duckdb") for i in range(REPEATS)]
        for store in stores:
            store.create_run("bench", origin="synthetic")
        pending = list(stores)
        seconds = median_of(lambda: pending.pop().write("events", table, run_id="bench"), REPEATS)
        db_mb = stores[0].file_size() / 2**20
    return {
        "rows": rows,
        "median_seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "arrow_table_mb": round(table.nbytes / 2**20),
        "db_file_mb": round(db_mb),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.rows)))
        return 0
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_store", "--child", "--rows", str(args.rows)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
    )
    figures = json.loads(done.stdout)
    figures["repeats"] = REPEATS
    path = write_result("store", figures)
    print(json.dumps(figures, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
