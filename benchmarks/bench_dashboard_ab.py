"""Later changes on the dashboard, this tree beside a git ref, servers taking turns.

This machine's speed drifts by half within an hour (Money's change p50 was 296 ms at one
hour and 381-670 ms with the same code the next), so a change to the app is judged by
serving both versions in turns within one run: per round, each version's server is
started (``make dashboard``'s options, over :mod:`benchmarks.bench_dashboard`'s world)
and timed by that benchmark's ``latency`` (platform filter changes on Funnel and Money,
in headless Chromium), with ``--sessions``, by its ``concurrency`` (that many
sessions clicking for ``--seconds``, ``--think`` seconds between an update and the next
click) or, with ``--first-opens``, by its ``first_opens`` (that many fresh pages per
round: the first table, then each chart tab clicked as soon as the last showed). The
figures are the medians over the rounds.

Run from the repository root::

    python -m benchmarks.bench_dashboard_ab --baseline 8169a3b [--rounds 3]
    python -m benchmarks.bench_dashboard_ab --baseline 8169a3b --sessions 20 --think 3
    python -m benchmarks.bench_dashboard_ab --baseline 8169a3b --first-opens 3

Writes ``benchmarks/results/dashboard_ab.json`` (``dashboard_ab_concurrency.json`` with
``--sessions``, ``dashboard_ab_first_opens.json`` with ``--first-opens``,
``dashboard_ab_first_opens_link.json`` with ``--link-mbps`` too).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._common import write_result
from benchmarks.bench_dashboard import build_world
from benchmarks.bench_engines import ROOT, baseline_tree

FIRST_OPEN_KEYS = (
    "first_table_median_ms",
    "tab_first_open_p50_ms",
    "tab_first_open_p95_ms",
    "funnel_first_open_median_ms",
    "retention_first_open_median_ms",
    "redemption_first_open_median_ms",
    "money_first_open_median_ms",
)
KEYS = ("p50_ms", "p95_ms", "funnel_p50_ms", "funnel_p95_ms", "money_p50_ms", "money_p95_ms")
CONCURRENT_KEYS = (
    "updates",
    "errors",
    "late_updates",
    "update_p50_ms",
    "update_p95_ms",
    "settled_update_p50_ms",
    "settled_update_p95_ms",
    "server_cores_used",
    "chromium_cores_used",
)

# one server of the tree in argv[1] (its lab and dashboards), timed by this tree's benchmark
CHILD = """
import asyncio, json, os, sys
from pathlib import Path
tree, bench_root, db, log, what = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), json.loads(sys.argv[5])
sys.path[:0] = [tree, bench_root]
os.chdir(tree)
import dashboards.local as local
from benchmarks.bench_dashboard import concurrency, first_opens, latency

async def main():
    from playwright.async_api import async_playwright
    proc, url = local.serve(db, log=log, timeout=1800, flags=local.SPEED_FLAGS)
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path=local.CHROMIUM, args=list(local.CHROMIUM_ARGS)
            )
            if what["first_opens"]:
                figures = await first_opens(
                    browser, url, what["first_opens"], link_mbps=what["link_mbps"]
                )
            elif what["sessions"]:
                figures = await concurrency(
                    browser, url, what["sessions"], what["seconds"], what["think"]
                )
            else:
                figures = await latency(browser, url, what["changes"])
            print(json.dumps(figures))
            await browser.close()
    finally:
        local.stop(proc)

asyncio.run(main())
"""


def _measure(tree: Path, db: Path, log: Path, what: dict) -> dict:
    """The ``latency`` or ``concurrency`` figures (``what``: the options) of one server of
    ``tree``; its output goes to ``log``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [sys.executable, "-c", CHILD, str(tree), str(ROOT), str(db), str(log), json.dumps(what)]
    done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median(values: list) -> float | None:
    known = [v for v in values if v is not None]  # a run with no settled update has none
    return round(statistics.median(known), 1) if known else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="git ref of the app to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--changes", type=int, default=24)
    parser.add_argument(
        "--sessions", type=int, default=0, help="time this many concurrent sessions instead"
    )
    parser.add_argument(
        "--first-opens", type=int, default=0, help="time this many fresh pages' first opens instead"
    )
    parser.add_argument(
        "--link-mbps",
        type=float,
        default=None,
        help="with --first-opens: each page on an emulated link of this many Mbit/s",
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--think", type=float, default=3.0)
    args = parser.parse_args()
    what = {
        k: vars(args)[k]
        for k in ("changes", "sessions", "seconds", "think", "first_opens", "link_mbps")
    }
    keys = FIRST_OPEN_KEYS if args.first_opens else CONCURRENT_KEYS if args.sessions else KEYS

    db = build_world(100_000, 28)
    load_start = os.getloadavg()[0]
    runs: dict[str, list[dict]] = {"baseline": [], "lab": []}
    with (
        baseline_tree(args.baseline, paths=("lab", "dashboards")) as old_root,
        tempfile.TemporaryDirectory(prefix="dashboard-ab-") as logs,
    ):
        trees = {"baseline": old_root, "lab": ROOT}
        for r in range(args.rounds):
            for name in ("baseline", "lab") if r % 2 == 0 else ("lab", "baseline"):
                log = Path(logs) / f"{name}-{r}.log"
                runs[name].append(_measure(trees[name], db, log, what))
                print(name, {k: runs[name][-1][k] for k in keys}, flush=True)
    medians = {
        name: {k: _median([run[k] for run in rs]) for k in keys} for name, rs in runs.items()
    }
    print(json.dumps(medians, indent=1))
    if args.first_opens:
        name = "dashboard_ab_first_opens" + ("_link" if args.link_mbps else "")
        measured = {"pages_per_round": args.first_opens, "link_mbps": args.link_mbps}
    elif args.sessions:
        name = "dashboard_ab_concurrency"
        measured = {"sessions": args.sessions, "seconds": args.seconds, "think_seconds": args.think}
    else:
        name, measured = "dashboard_ab", {"changes_per_round": args.changes}
    write_result(
        name,
        {
            # the commit, not a name such as HEAD that moves on
            "baseline_ref": subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short", args.baseline],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip(),
            "rounds": args.rounds,
            **measured,
            "median_of_rounds": medians,
            "rounds_ms": {n: [{k: run[k] for k in keys} for run in rs] for n, rs in runs.items()},
            "target_p95_ms": 1000 if args.first_opens else 1500 if args.sessions else 300,
            "load_average_start": round(load_start, 1),
            "load_average_end": round(os.getloadavg()[0], 1),
        },
    )


if __name__ == "__main__":
    main()
