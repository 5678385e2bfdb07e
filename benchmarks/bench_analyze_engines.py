"""CUPED ``analyze`` on DuckDB before and after the Ibis port, side by side in one run.

Run from the repository root: ``python -m benchmarks.bench_analyze_engines [--users N]``.

Uses the store of :mod:`benchmarks.bench_experiments` (built once into
``benchmarks/scratch/``), extracts the lab of ``--old`` (the last commit with
hand-written DuckDB SQL for ``analyze``) next to it with ``git archive``, and times
``analyze(store, run="bench", experiment="exp", covariate="pre_gmv")`` with each lab in
its own fresh process, alternating old and new for ``--rounds`` rounds. Each process
makes one warm-up call, then takes the median of ``--repeats`` calls (wall and CPU
seconds; the quietest round is reported), both through the
derived ``experiment_users`` table and forced onto the orders query. Both labs must give
the same GMV effect. Writes ``benchmarks/results/analyze_engines.json``; the ratio
new / old is the issue's "within 1.2x" check.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

from benchmarks._common import write_result
from benchmarks.bench_experiments import SCRATCH, build

ROOT = Path(__file__).resolve().parents[1]

# runs in a fresh interpreter whose working directory is the lab under test
_TIMER = """
import json, resource, statistics, sys, time
from unittest import mock
import lab
from lab.experiments import _analyze

store = lab.Store(sys.argv[1], read_only=True)
repeats = int(sys.argv[2])

def run():
    return _analyze.analyze(store, run="bench", experiment="exp", covariate="pre_gmv")

def cpu():
    use = resource.getrusage(resource.RUSAGE_SELF)  # DuckDB's threads included
    return use.ru_utime + use.ru_stime

def median(fn):
    result = fn()  # warm-up
    times, cpus = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), cpu()
        fn()
        times.append(time.perf_counter() - start)
        cpus.append(cpu() - start_cpu)
    return statistics.median(times), statistics.median(cpus), result

table, table_cpu, result = median(run)
with mock.patch.object(_analyze, "experiment_users_status", return_value="missing"):
    orders, orders_cpu, _ = median(run)
print(json.dumps({"table": table, "table_cpu": table_cpu, "orders": orders,
                  "orders_cpu": orders_cpu, "gmv": float(result.row("gmv")["effect"])}))
"""


def old_lab(commit: str) -> Path:
    """The ``lab`` package of ``commit``, extracted once under the scratch directory."""
    target = SCRATCH / f"lab-{commit}"
    if not (target / "lab" / "__init__.py").exists():
        archive = subprocess.run(
            ["git", "archive", commit, "lab"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    return target


def timed(root: Path, store: Path, repeats: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, "-c", _TIMER, str(store), str(repeats)],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--old", default="ae4a78d")
    args = parser.parse_args()

    SCRATCH.mkdir(parents=True, exist_ok=True)
    store = SCRATCH / f"experiments-{args.users}.duckdb"
    if not store.exists():
        print(f"building {store} ...")
        build(store, args.users)
    labs = {"old": old_lab(args.old), "new": ROOT}
    load = os.getloadavg()[0]
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for _ in range(args.rounds):
        for name, root in labs.items():
            runs[name].append(timed(root, store, args.repeats))
            print(name, runs[name][-1])
    gmv = {name: r[0]["gmv"] for name, r in runs.items()}
    if abs(gmv["new"] - gmv["old"]) > 1e-9 * abs(gmv["old"]):
        raise RuntimeError(f"old and new disagree: gmv effect {gmv}")

    def best(name: str, path: str) -> float:
        # the quietest round: on a shared machine the others mostly measure the load
        return min(r[path] for r in runs[name])

    figures = {
        "users": args.users,
        "old_commit": args.old,
        "analyze_cuped_old_seconds": round(best("old", "table"), 3),
        "analyze_cuped_new_seconds": round(best("new", "table"), 3),
        "analyze_cuped_from_orders_old_seconds": round(best("old", "orders"), 3),
        "analyze_cuped_from_orders_new_seconds": round(best("new", "orders"), 3),
        "ratio_new_over_old": round(best("new", "table") / best("old", "table"), 2),
        "ratio_from_orders_new_over_old": round(best("new", "orders") / best("old", "orders"), 2),
        # CPU seconds of the process: less sensitive than wall time to the other jobs
        "analyze_cuped_old_cpu_seconds": round(best("old", "table_cpu"), 3),
        "analyze_cuped_new_cpu_seconds": round(best("new", "table_cpu"), 3),
        "ratio_cpu_new_over_old": round(best("new", "table_cpu") / best("old", "table_cpu"), 2),
        "rounds": {
            name: [{k: round(v, 3) for k, v in r.items() if k != "gmv"} for r in rs]
            for name, rs in runs.items()
        },
        "median_of": args.repeats,
        "load_average_1min_before": round(load, 2),
        "load_average_1min_after": round(os.getloadavg()[0], 2),
        "gmv_effect": gmv["new"],
    }
    print(figures)
    print(f"wrote {write_result('analyze_engines', figures)}")


if __name__ == "__main__":
    main()
