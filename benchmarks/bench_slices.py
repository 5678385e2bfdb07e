"""What a new slice costs: the dashboard's models broken down, this tree against a git ref.

The dashboard computes a breakdown (segment, city tier, entry, platform) the first time
someone picks it. This times those calls on the dashboard benchmark's world (4 runs x
``--users`` users, built once by :mod:`benchmarks.bench_dashboard`): per model and
breakdown, the median of ``--repeats`` calls on one run after a warm-up, each lab (this
tree's and ``--baseline``'s, extracted with ``git archive``) in its own child process,
the two alternating over ``--rounds``; the figure is the median of the rounds' medians.
Both must give the same numbers.

Run from the repository root::

    python -m benchmarks.bench_slices [--baseline 9c0e498] [--rounds 3]

Writes ``benchmarks/results/slices.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from benchmarks._common import write_result
from benchmarks.bench_dashboard import build_world
from benchmarks.bench_engines import ROOT, baseline_tree

RUN = "default-s0"
MODELS = ("campaign_metrics", "daily_trend", "funnel", "retention")
BREAKDOWNS = ((), ("segment",), ("city_tier", "entry"))

# one child: every (model, breakdown) case, its median seconds and a digest of its answer
CHILD = """
import json, statistics, sys, time
import pandas as pd
import lab
db, run, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
models, breakdowns = json.loads(sys.argv[4]), json.loads(sys.argv[5])

def answer(result):
    frame = result.to_frame() if hasattr(result, "to_frame") else result.table
    numbers = frame.select_dtypes("number")
    return [len(frame), round(float(numbers.fillna(0).to_numpy().sum()), 3)]

store = lab.Store(db, read_only=True)
out = {}
with store.connect():
    for model in models:
        call = getattr(lab, model)
        for by in breakdowns:
            kwargs = {"by": tuple(by) or None}
            digest = answer(call(store, run=run, **kwargs))
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                call(store, run=run, **kwargs)
                times.append(time.perf_counter() - start)
            out[f"{model} by {'+'.join(by) or 'none'}"] = [statistics.median(times), digest]
print(json.dumps(out))
"""


def _time(pythonpath, db, repeats: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    cmd = [sys.executable, "-c", CHILD, str(db), RUN, str(repeats)]
    cmd += [json.dumps(MODELS), json.dumps(BREAKDOWNS)]
    done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, cwd=pythonpath)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--baseline", default="9c0e498", help="git ref of the lab to compare with")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    db = build_world(args.users, args.days)
    load_start = os.getloadavg()[0]
    rounds: dict[str, dict[str, list]] = {"baseline": {}, "lab": {}}
    with baseline_tree(args.baseline) as old_root:
        roots = {"baseline": old_root, "lab": ROOT}
        for r in range(args.rounds):
            for impl in ("baseline", "lab") if r % 2 == 0 else ("lab", "baseline"):
                for case, (seconds, digest) in _time(roots[impl], db, args.repeats).items():
                    rounds[impl].setdefault(case, []).append((seconds, digest))
    cases = {}
    for case, runs in rounds["lab"].items():
        old = rounds["baseline"][case]
        if old[0][1] != runs[0][1]:
            raise AssertionError(f"{case}: baseline answers {old[0][1]}, this tree {runs[0][1]}")
        new_s = statistics.median(s for s, _ in runs)
        old_s = statistics.median(s for s, _ in old)
        cases[case] = {
            "lab_s": round(new_s, 3),
            "baseline_s": round(old_s, 3),
            "lab_vs_baseline": round(new_s / old_s, 2),
            "rounds_lab_s": [round(s, 3) for s, _ in runs],
            "rounds_baseline_s": [round(s, 3) for s, _ in old],
        }
        print(f"{case:40s} baseline {old_s:6.3f} s  lab {new_s:6.3f} s  ({new_s / old_s:.2f}x)")
    write_result(
        "slices",
        {
            "world": f"4 runs x {args.users:,} users, {args.days} days; timed on run {RUN}",
            "baseline_ref": args.baseline,
            "repeats": args.repeats,
            "rounds": args.rounds,
            "cases": cases,
            "load_average_start": round(load_start, 1),
            "load_average_end": round(os.getloadavg()[0], 1),
        },
    )


if __name__ == "__main__":
    main()
