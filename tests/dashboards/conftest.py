"""Fixtures: a small database for the dashboard tests and a served app for browser tests."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import lab
from dashboards.local import serve
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


@dataclass(frozen=True)
class Served:
    url: str
    log: Path  # the server's stdout and stderr


@pytest.fixture(scope="session")
def served_app(test_db, scratch_dir):
    """Serve dashboards/app.py over ``test_db`` on a free localhost port; yield its URL and log."""
    log = scratch_dir / "panel.log"
    proc, url = serve(test_db, log=log, timeout=60)
    yield Served(url, log)
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
