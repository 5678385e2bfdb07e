"""Retention through Ibis against the hand-written DuckDB SQL it replaced, side by side.

The old implementation is read from git (``--baseline``, default ``ae4a78d``, the last
commit before the port) into a module of its own, so both run in one process on the
same store (``benchmarks.bench_models``'s synthetic world, built once in
``benchmarks/scratch``), alternating old and new, medians of ``--repeats``. Both must
return the same table. Issue 16 asks that the Ibis version stay within 1.2x of the old.

``new`` is a repeated call (the expression compiled by an earlier call with the same
arguments, as a dashboard redraws); ``new_first_call`` builds and compiles it first.

Run from the repository root::

    python -m benchmarks.bench_retention_ibis --events 3000000

Writes ``benchmarks/results/retention_ibis.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from benchmarks._common import write_result
from benchmarks.bench_models import MAX_PERIODS, ensure_store

ROOT = Path(__file__).parent.parent
CASES = {
    "claim_to_order_daily": {},
    "claim_to_order_by_segment": {"by": "segment"},
    "recurring_orders_weekly_on_or_after": {
        "start_event": "order",
        "first_time": False,
        "period": "week",
        "mode": "on_or_after",
    },
    "claim_to_order_rolling": {"buckets": "rolling"},
}


def old_module(commit: str, path: str, name: str):
    """The module at ``path`` as of ``commit``, importable next to the current lab."""
    source = subprocess.run(
        ["git", "show", f"{commit}:{path}"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    exec(compile(source, f"{commit}:{path}", "exec"), module.__dict__)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", default="ae4a78d")
    args = parser.parse_args()

    import lab
    from lab.engines import _compiled as compiled
    from lab.retention import retention

    old = old_module(args.baseline, "lab/retention/_retention.py", "_old_retention")
    db, counts = ensure_store(args.events)
    store = lab.Store(db, read_only=True)
    figures: dict = {
        "baseline": args.baseline,
        "repeats": args.repeats,
        "store": counts,
        # the machine is shared: the 1-minute load average says how busy it was
        "load_average_start": round(os.getloadavg()[0], 1),
    }
    with store.connect():  # one connection for the whole run, as a notebook holds it
        for name, kwargs in CASES.items():
            kwargs = {"run": "bench", "max_periods": MAX_PERIODS, **kwargs}
            times = {"old": [], "new_first_call": [], "new": []}
            results = {}
            old.retention(store, **kwargs), retention(store, **kwargs)  # warm the caches
            for _ in range(args.repeats):
                for label in times:
                    if label == "new_first_call":
                        compiled._compiled.clear()  # build and compile the expression again
                    fn = old.retention if label == "old" else retention
                    start = time.perf_counter()
                    results[label] = fn(store, **kwargs)
                    times[label].append(time.perf_counter() - start)
            pd.testing.assert_frame_equal(results["new"].table, results["old"].table)
            seconds = {k: statistics.median(v) for k, v in times.items()}
            figures[name] = {f"{k}_seconds": round(v, 3) for k, v in seconds.items()}
            figures[name]["ratio"] = round(seconds["new"] / seconds["old"], 2)
            figures[name]["ratio_first_call"] = round(seconds["new_first_call"] / seconds["old"], 2)
            print(name, figures[name], flush=True)
    figures["load_average_end"] = round(os.getloadavg()[0], 1)
    print(write_result("retention_ibis", figures))


if __name__ == "__main__":
    main()
