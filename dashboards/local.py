"""Serve the app on a free localhost port, and the Chromium that drives it headless.

Shared by the browser tests (``tests/dashboards``) and the dashboard benchmark, so both
start the server and the browser the same way. ``make dashboard`` serves for people the same way.

Example
-------
>>> from dashboards.local import serve  # doctest: +SKIP
>>> proc, url = serve("data/lab.duckdb", log=Path("panel.log"))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Debian's chromium package (``make chromium``): nothing is downloaded at run time.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: Serving options of ``make dashboard`` for speed (docs/dashboard-speed.md): two worker
#: processes, each starting with the model caches warmed before its first request.
SPEED_FLAGS = ("--num-procs", "2", "--warm")


def serve(
    db: str | Path, *, log: Path, timeout: float = 60, flags: tuple[str, ...] = ()
) -> tuple[subprocess.Popen, str]:
    """Start ``python dashboards/app.py`` over ``db`` on 127.0.0.1; return it and its URL.

    The server's output goes to ``log`` (a file, not a pipe: an unread pipe fills up and
    blocks the server). Returns once the app answers; RuntimeError with the log if the
    server exits or does not answer within ``timeout`` seconds. The caller stops it, with
    :func:`stop` (the server runs in a process group of its own).
    ``flags`` are extra options of ``dashboards/app.py`` (e.g. :data:`SPEED_FLAGS`).
    """
    port = free_port()
    # the app's own entry point: it refuses foreign Host headers (DNS rebinding)
    cmd = [
        sys.executable,
        "dashboards/app.py",
        "--address",
        "127.0.0.1",
        "--port",
        str(port),
        *flags,
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=dict(os.environ, LAB_DB=str(db)),
            stdout=out,
            stderr=subprocess.STDOUT,
            # its own process group: `stop` ends the workers `--num-procs` forks too
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/app"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=min(timeout, 60)):
                return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc, timeout=5)
                raise RuntimeError(f"the dashboard did not start:\n{log.read_text()}") from None
            time.sleep(0.3)


def stop(proc: subprocess.Popen, *, timeout: float = 15) -> None:
    """End a server started by :func:`serve` and every worker process it forked.

    ``proc.terminate()`` alone ends only the first process: with ``--num-procs`` its
    workers kept running (and holding their warmed caches, ~0.5 GB each) after a
    benchmark.
    """
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def app_tracebacks(log: str) -> int:
    r"""Tracebacks in the server log, leaving out those of pages the benchmark's own browser
    closed: Tornado's reports of writes to a closed websocket, and Bokeh's assertion that a
    connection still has its session when a message or a second close arrives after the
    page's websocket has gone (not the app's errors).

    Example
    -------
    >>> app_tracebacks("ERROR:app:boom\nTraceback (most recent call last):\nValueError")
    1
    """
    # an entry starts at a line with a timestamp (Panel's format) or a level name
    # (Python's default one, which the app's server uses); its traceback follows
    entries = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|[A-Z]+:\S)", log)
    return sum(1 for e in entries if "Traceback" in e and not _from_a_closed_page(e))


def _from_a_closed_page(entry: str) -> bool:
    if "WebSocketClosedError" in entry or "StreamClosedError" in entry:
        return True
    return "assert self._session is not None" in entry and entry.rstrip().endswith("AssertionError")
