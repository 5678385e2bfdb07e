"""The funnel through Ibis against the hand-written DuckDB SQL it replaced, side by side.

One run times both: the old ``lab`` (``git archive ae4a78d lab`` unpacked into
``--old``) and this tree's, each in its own child process on the same store, warm
(one call first), medians of ``--repeats``. Each case also checks that old and new
count the same units per step.

Usage::

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_funnel_ibis.py \
        --db /tmp/bench.duckdb --old /tmp/old_lab_root

Writes ``benchmarks/results/funnel_ibis.json``. Target (issue 16): new <= 1.2x old.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    "offer funnel (offers path)": {},
    "offer funnel by segment": {"by": "segment"},
    "offer funnel (events path)": {"source": "events"},
    "per-user funnel": {"unit": "user"},
    "strict offer funnel": {"order": "strict"},
}

CHILD = """
import json, statistics, sys, time
import lab
from lab.funnel import funnel
db, run, repeats, cases = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
store = lab.Store(db, read_only=True)
out = {}
for name, kwargs in cases.items():
    res = funnel(store, run=run, **kwargs)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        funnel(store, run=run, **kwargs)
        times.append(time.perf_counter() - t)
    out[name] = {"median_s": statistics.median(times), "counts": res.table["count"].tolist()}
print(json.dumps(out))
"""


def _time(root: Path, db: str, run: str, repeats: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root)}
    args = [sys.executable, "-c", CHILD, db, run, str(repeats), json.dumps(CASES)]
    done = subprocess.run(args, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--old", required=True, help="directory holding the old lab package")
    parser.add_argument("--run", default="bench")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    old = _time(Path(args.old), args.db, args.run, args.repeats)
    new = _time(ROOT, args.db, args.run, args.repeats)
    rows = {}
    for name in CASES:
        assert old[name]["counts"] == new[name]["counts"], name
        ratio = new[name]["median_s"] / old[name]["median_s"]
        rows[name] = {
            "old_s": round(old[name]["median_s"], 3),
            "new_s": round(new[name]["median_s"], 3),
            "ratio": round(ratio, 2),
        }
        print(f"{name:32s} old {old[name]['median_s']:.3f} s  new {new[name]['median_s']:.3f} s")
    out = ROOT / "benchmarks" / "results" / "funnel_ibis.json"
    out.write_text(json.dumps({"db": args.db, "repeats": args.repeats, "cases": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
