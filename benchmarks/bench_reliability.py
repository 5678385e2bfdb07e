"""Reliability benchmark: dashboard sessions during a large import, and killed writers.

1. **sessions under a writer**: serves ``dashboards/app.py`` over a small world, starts
   ``python -m lab import`` of a lab-format ``orders.csv`` of ``--rows`` rows (10M by
   default; the import holds the database's write lock throughout), and runs 20 sessions
   for ``--seconds`` seconds. Each session loops: ``GET /app`` (the server builds a whole
   session: App, views, model results), the Bokeh websocket of that page (connect with
   the page's token and wait for the server's first message), and a static file, then
   pauses 3 s. The
   same load runs first without a writer, so the writer's share of the latency shows.
   Records every request's latency, failures, and whether the writer held the lock for
   the whole window. (Opening a new session per request is far heavier than clicking in
   an open one, which ``bench_dashboard`` times.)
2. **kill -9**: ``--kills`` times, starts ``python -m lab generate`` (staging forced on)
   and kills it with SIGKILL at a random moment; then checks that the database opens,
   the killed run is absent or whole (row counts equal a complete reference run of the
   same settings), and no staging folder is left after that open.

Run from the repository root: ``python -m benchmarks.bench_reliability`` (``--rows``,
``--seconds``, ``--kills`` to scale down on a loaded machine). Figures go to
``benchmarks/results/reliability.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

import lab  # noqa: E402
from benchmarks._common import write_result  # noqa: E402
from dashboards.local import serve  # noqa: E402
from lab.store import STAGING_PREFIX  # noqa: E402
from lab.world import simulate  # noqa: E402

SCRATCH = ROOT / "benchmarks" / "scratch" / "reliability"
SESSIONS = 20
TIMEOUT = 180.0  # seconds a request may take before it counts as unanswered
THINK = 3.0  # seconds a session pauses between page loads, as a person reading would
# `lab generate` with staging forced on, so every kill can leave a staging folder
GENERATE = """
import sys
import lab.world._simulate as simulate
simulate.STAGE_MIN_ROWS = 0
from lab.cli import main
sys.exit(main(["generate", "--preset", "default", "--users", sys.argv[3], "--days", "14",
               "--pre-days", "7", "--seed", "1", "--db", sys.argv[1], "--run-id", sys.argv[2]]))
"""
ORDERS_SQL = """
COPY (
    SELECT 10000000 + i AS order_id, i % 5000 + 1 AS user_id,
           TIMESTAMP '2026-07-01 08:00:00' + to_seconds(i % 2000000) AS ts,
           77 AS merchant_id, 'dine_in' AS order_channel, 'wechat' AS platform,
           1000 + i % 9000 AS amount_fen, 0 AS discount_fen, NULL AS coupon_id
    FROM range(?) AS t(i)
) TO '{path}' (HEADER, DELIMITER ',')
"""


def _orders_csv(rows: int) -> Path:
    path = SCRATCH / f"import-{rows}" / "orders.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect()
        con.execute(ORDERS_SQL.format(path=str(path).replace("'", "''")), [rows])
        con.close()
    return path


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _websocket(base: str, html: str, timeout: float) -> None:
    """Open the page's Bokeh websocket with its token and wait for the first message."""
    import asyncio

    from tornado import httpclient, websocket

    token = re.search(r'"token":\s*"([^"]+)"', html) or re.search(r"token=([\w.-]+)", html)
    if token is None:
        raise RuntimeError("no session token in the page")
    parts = urllib.parse.urlsplit(base)
    url = f"ws://{parts.netloc}/app/ws"

    async def talk() -> None:
        request = httpclient.HTTPRequest(
            url,
            headers={"Origin": f"http://{parts.netloc}"},
            connect_timeout=timeout,
            request_timeout=timeout,
        )
        conn = await asyncio.wait_for(
            websocket.websocket_connect(request, subprotocols=["bokeh", token.group(1)]), timeout
        )
        try:
            message = await asyncio.wait_for(conn.read_message(), timeout)
            if message is None:
                raise RuntimeError("websocket closed before the server's first message")
        finally:
            conn.close()

    asyncio.run(talk())


def _session(url: str, until: float, out: dict, lock: threading.Lock) -> None:
    static = url.rsplit("/app", 1)[0] + "/static/js/bokeh.min.js"
    while time.monotonic() < until:
        for kind in ("page", "static"):
            start = time.monotonic()
            try:
                if kind == "page":
                    with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
                        html = r.read().decode()
                    _websocket(url, html, timeout=TIMEOUT)
                else:
                    with urllib.request.urlopen(static, timeout=TIMEOUT) as r:
                        r.read()
            except Exception as exc:  # every failure is a figure, not a crash
                with lock:
                    out["errors"].append(f"{kind}: {type(exc).__name__}: {exc}"[:200])
                continue
            with lock:
                out[kind].append(time.monotonic() - start)
        time.sleep(THINK)


def _run_sessions(url: str, seconds: float) -> dict:
    out: dict = {"page": [], "static": [], "errors": []}
    lock = threading.Lock()
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=_session, args=(url, until, out, lock)) for _ in range(SESSIONS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "page_requests": len(out["page"]),
        "static_requests": len(out["static"]),
        "errors": len(out["errors"]),
        "first_errors": out["errors"][:5],
        "page_p50_s": round(statistics.median(out["page"]), 3) if out["page"] else None,
        "page_p95_s": round(_percentile(out["page"], 0.95), 3),
        "page_max_s": round(max(out["page"], default=float("nan")), 3),
        "static_p50_s": round(statistics.median(out["static"]), 3) if out["static"] else None,
        "static_p95_s": round(_percentile(out["static"], 0.95), 3),
        "static_max_s": round(max(out["static"], default=float("nan")), 3),
    }


def sessions_under_writer(rows: int, seconds: float) -> dict:
    """The same 20-session load without and then with an import holding the lock."""
    db = SCRATCH / "dashboard.duckdb"
    if db.exists():
        db.unlink()
    store = lab.Store(db)
    simulate("default", store=store, users=20_000, days=14, pre_days=7, progress=False)
    csv = _orders_csv(rows)
    proc, url = serve(db, log=SCRATCH / "panel.log", timeout=180)
    try:
        urllib.request.urlopen(url, timeout=TIMEOUT).read()  # warm the model caches
        without = _run_sessions(url, seconds)
        writer = subprocess.Popen(
            [sys.executable, "-m", "lab", "import", str(csv), "--db", str(db)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started = time.monotonic()
        with_writer = _run_sessions(url, seconds)
        writer_rc = writer.wait()
        import_seconds = time.monotonic() - started
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {
        "rows_imported": rows,
        "sessions": SESSIONS,
        "seconds": seconds,
        "import_seconds": round(import_seconds, 1),
        "import_exit_code": writer_rc,
        "writer_held_the_whole_window": import_seconds >= seconds,
        "without_writer": without,
        "with_writer": with_writer,
        "page_p95_added_by_writer_s": round(with_writer["page_p95_s"] - without["page_p95_s"], 3),
    }


def _counts(store: lab.Store, run_id: str) -> dict:
    return dict(store.describe_run(run_id).itertuples(index=False, name=None))


def kill_writers(kills: int, users: int, seed: int) -> dict:
    db = SCRATCH / "kills.duckdb"
    if db.exists():
        db.unlink()
    lab.Store(db).create_run("kept", origin="import", label="kept")
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def generate(run_id: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-c", GENERATE, str(db), run_id, str(users)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    start = time.monotonic()
    assert generate("reference").wait() == 0
    full_seconds = time.monotonic() - start
    store = lab.Store(db)
    reference = _counts(store, "reference")
    rng = random.Random(seed)
    results = []
    for k in range(kills):
        run_id = f"killed-{k}"
        proc = generate(run_id)
        moment = rng.uniform(0.1, 1.1) * full_seconds
        time.sleep(moment)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        left_before = len(list(db.parent.glob(f"{STAGING_PREFIX}*")))
        try:
            store = lab.Store(db)  # a writable open cleans dead staging
            opened = True
            present = store.has_run(run_id)
            whole = (not present) or _counts(store, run_id) == {t: n for t, n in reference.items()}
        except lab.StoreError as exc:
            opened, present, whole = False, None, False
            print(f"kill {k}: {exc}", file=sys.stderr)
        results.append(
            {
                "killed_after_s": round(moment, 2),
                "database_opens": opened,
                "run_present": present,
                "run_whole_or_absent": whole,
                "staging_left_by_kill": left_before,
                "staging_left_after_open": len(list(db.parent.glob(f"{STAGING_PREFIX}*"))),
            }
        )
        print(json.dumps(results[-1]))
    return {
        "kills": kills,
        "users": users,
        "complete_generate_s": round(full_seconds, 1),
        "all_opened": all(r["database_opens"] for r in results),
        "no_partial_run": all(r["run_whole_or_absent"] for r in results),
        "no_staging_left": all(r["staging_left_after_open"] == 0 for r in results),
        "runs_landed": sum(bool(r["run_present"]) for r in results),
        "moments": results,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the import")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the session run")
    parser.add_argument("--kills", type=int, default=10, help="writers killed with SIGKILL")
    parser.add_argument("--kill-users", type=int, default=20_000, help="users per killed world")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="recorded with the figures")
    args = parser.parse_args(argv)
    SCRATCH.mkdir(parents=True, exist_ok=True)
    figures = {"note": args.note}
    figures["sessions_under_writer"] = sessions_under_writer(args.rows, args.seconds)
    print(json.dumps(figures["sessions_under_writer"], indent=2))
    figures["kill_9"] = kill_writers(args.kills, args.kill_users, args.seed)
    print(write_result("reliability", figures))


if __name__ == "__main__":
    main()
