"""Warm the dashboard's model caches before the server takes its first request.

``python dashboards/app.py --warm`` (``make dashboard``) runs this once per server start,
before the worker processes fork (``--num-procs``), so every process starts with
each run's default results (funnel, retention, redemption cycle, money, daily trend,
risk scores, experiments) in :func:`panel.cache`, and the first open of a tab reads
them instead of scanning the event log. Slices (dates, breakdowns, a platform) are
computed on first use and then cached the same way.

Example
-------
>>> warm("data/lab.duckdb")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from dashboards.store import DEFAULT_DB, MAX_SELECTED  # noqa: E402


def warm(db_path: str | Path) -> float:
    """Open every tab of a session over each group of up to four runs; return seconds."""
    from dashboards.app import App

    start = time.perf_counter()
    app = App(db_path)
    run_ids = app.store.run_ids()
    for i in range(0, len(run_ids), MAX_SELECTED):
        app.store.selected = run_ids[i : i + MAX_SELECTED] or run_ids[:1]
        for view in app.views.values():
            view.shown = True
            view.fresh()
    return time.perf_counter() - start


def warm_default() -> None:
    """Warm the caches for the database the app serves (``LAB_DB``), if it exists."""
    path = os.environ.get("LAB_DB", str(DEFAULT_DB))
    if Path(path).exists():
        print(f"warmed the caches for {path} in {warm(path):.1f} s", flush=True)
