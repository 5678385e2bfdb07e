"""Fixtures: a small database for the dashboard tests and a served app for browser tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

import lab
from lab.world import simulate

ROOT = Path(__file__).resolve().parents[2]


# Small worlds of the presets the views compare: a holdout (default), two platform
# styles and an A/B test (denomination split); 2,000 users over 14 days build in seconds.
PRESETS = ("default", "platform_wechat", "platform_meituan", "denomination_split")
USERS, DAYS = 2_000, 14


def build_test_db(path: Path) -> Path:
    """Simulate the test presets into ``path`` (seed 0) and return it."""
    store = lab.Store(path)
    for name in PRESETS:
        simulate(name, store=store, users=USERS, days=DAYS, pre_days=DAYS, seed=0, progress=False)
    return path


@pytest.fixture(scope="session")
def scratch_dir():
    """A private directory: pytest's own basetemp can be pruned by concurrent pytest runs."""
    path = Path(tempfile.mkdtemp(prefix="lab-dashboard-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def test_db(scratch_dir) -> Path:
    return build_test_db(scratch_dir / "lab.duckdb")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Served:
    url: str
    log: Path  # the server's stdout and stderr


@pytest.fixture(scope="session")
def served_app(test_db, scratch_dir):
    """Serve dashboards/app.py over ``test_db`` on a free localhost port; yield its URL and log."""
    port = _free_port()
    env = dict(os.environ, LAB_DB=str(test_db))
    log = scratch_dir / "panel.log"
    cmd = [
        str(Path(sys.executable).parent / "panel"),
        "serve",
        "dashboards/app.py",
        "--address",
        "127.0.0.1",
        "--port",
        str(port),
        f"--allow-websocket-origin=127.0.0.1:{port}",
    ]
    # to a file, not a pipe: an unread pipe fills up and blocks the server
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/app"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"panel serve did not start: {log.read_text()}") from None
            time.sleep(0.3)
    yield Served(url, log)
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
