"""Shared fixtures of the platform-format tests: a simulated run and its exports."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from platform_helpers import KEY, carried

import lab
from lab.ingest import export_platform
from lab.store import Store


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    """A simulated run with a holdout (the default campaigns), its carried copy, and its
    WeChat Pay (encrypted, retried callbacks) and Alipay exports, in one database file."""
    root = tmp_path_factory.mktemp("platforms")
    store = Store(root / "lab.duckdb")
    run = lab.simulate(
        "default", store=store, users=1500, days=14, pre_days=7, seed=3, progress=False
    )
    carried(store, run, "carried")
    export_platform(store, run, root / "wechatpay", format="wechatpay", apiv3_key=KEY, retries=2)
    export_platform(store, run, root / "alipay", format="alipay")
    return {"root": root, "db": root / "lab.duckdb", "run": run}


@pytest.fixture(scope="session")
def small(tmp_path_factory):
    """A small run's exports (for the bad-input tests) and a store holding one run."""
    root = tmp_path_factory.mktemp("small")
    store = Store(root / "lab.duckdb")
    run = lab.simulate(
        "default", store=store, users=120, days=5, pre_days=2, seed=5, progress=False
    )
    export_platform(store, run, root / "wechatpay", format="wechatpay", apiv3_key=KEY)
    export_platform(store, run, root / "wechatpay_plain", format="wechatpay")
    export_platform(store, run, root / "alipay", format="alipay")
    return root


@pytest.fixture
def store(small, tmp_path):
    """A file store that already holds one run, so 'unchanged' means something."""
    return Store(shutil.copy(small / "lab.duckdb", tmp_path / "lab.duckdb"))


@pytest.fixture
def wx(small, tmp_path):
    """A writable copy of the small run's WeChat Pay export (encrypted callbacks)."""
    return Path(shutil.copytree(small / "wechatpay", tmp_path / "wechatpay"))


@pytest.fixture
def wx_plain(small, tmp_path):
    return Path(shutil.copytree(small / "wechatpay_plain", tmp_path / "wechatpay_plain"))


@pytest.fixture
def ali(small, tmp_path):
    return Path(shutil.copytree(small / "alipay", tmp_path / "alipay"))
