"""Helpers shared by the benchmark scripts: time a call, describe the machine, save figures.

Run a benchmark from the repository root as a module, ``python -m benchmarks.bench_store``,
so that ``from benchmarks._common import median_of, write_result`` resolves.

Example
-------
>>> from benchmarks._common import median_of, write_result
>>> seconds = median_of(lambda: sum(range(10**6)), 3)
>>> write_result("example", {"sum_seconds": seconds})  # doctest: +SKIP
PosixPath('.../benchmarks/results/example.json')
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).parent / "results"

__all__ = ["RESULTS", "machine", "median_of", "write_result"]


def median_of(fn: Callable[[], object], repeats: int) -> float:
    """Call ``fn()`` ``repeats`` times and return the median wall-clock time in seconds."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine() -> str:
    """One line: cores, memory, CPU model, Python and DuckDB versions."""
    import duckdb

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass  # not Linux: keep platform's name
    return (
        f"{os.cpu_count()} cores, {memory:.1f} GiB, {cpu}, "
        f"Python {platform.python_version()}, DuckDB {duckdb.__version__}"
    )


def write_result(name: str, figures: dict) -> Path:
    """Write ``benchmarks/results/<name>.json``: name, figures, machine, and today's date (UTC)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    record = {
        "name": name,
        "figures": figures,
        "machine": machine(),
        "date": dt.datetime.now(dt.UTC).date().isoformat(),
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path
