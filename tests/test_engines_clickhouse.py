"""What lab/engines/_dialect_clickhouse.py settles, on chDB (ClickHouse in this process).

The models' answers on ClickHouse are checked with the other engines' by the
``clickhouse`` case of the ``engine`` fixture (tests/conftest.py); these tests cover what
a small world does not reach: more values than ClickHouse's ``quantile`` samples, and a
server whose time zone is not UTC.
"""

from __future__ import annotations

import ibis
import numpy as np
import pyarrow as pa
import pytest
from engine_equality import same

import lab
from lab.engines import session
from lab.funnel import funnel_trend
from lab.metrics import campaign_metrics
from lab.world import simulate

pytest.importorskip("chdb", reason="chdb is not installed: no ClickHouse to test on")
clickhouse_connect = pytest.importorskip(
    "clickhouse_connect", reason="clickhouse-connect is not installed: Ibis cannot reach chDB"
)


def _store(client, database: str) -> lab.engines.IbisStore:
    client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    return lab.Store.from_ibis(ibis.clickhouse.from_connection(client), database=database)


def test_quantiles_are_exact_past_clickhouse_sample(chdb_client):
    # ClickHouse's quantile keeps a sample of 8,192 values
    store = _store(chdb_client, "lab_quantiles")
    values = np.random.default_rng(3).exponential(size=20_000)
    durations = ibis.schema({"x": "float64"})
    store.backend.create_table("durations", schema=durations, database=store.database)
    store.backend.insert("durations", pa.table({"x": values}), database=store.database)
    quantiles = [0.1, 0.5, 0.9]
    with session(store) as db:
        x = db.table("durations").x
        got = db.execute(x.quantile(quantiles).name("q"))["q"].iloc[0]
        median = db.execute(x.quantile(0.5).name("m"))["m"].iloc[0]
    assert list(got) == pytest.approx(np.quantile(values, quantiles), rel=1e-12)
    assert median == pytest.approx(np.median(values), rel=1e-12)


def test_a_server_in_another_time_zone_reads_the_same_times():
    """A session whose zone is Shanghai (as a server there would have) must bucket days
    and read ``start``/``end`` as wall-clock times, like DuckDB."""
    world = lab.Store(":memory:")
    simulate(
        "default", store=world, users=120, days=3, pre_days=0, seed=9, run_id="z", progress=False
    )
    client = clickhouse_connect.get_client(
        dsn="chdb://memory", settings={"session_timezone": "Asia/Shanghai"}
    )
    try:
        other = _store(client, "lab_shanghai")
        other.copy_runs(world, ["z"])
        for interval in ("day", "week"):
            same(
                funnel_trend(other, run="z", interval=interval).table,
                funnel_trend(world, run="z", interval=interval).table,
            )
        window = {
            "run": "z",
            "by": "platform",
            "start": "2026-03-02 20:00",
            "end": "2026-03-03 04:00",
        }
        want = campaign_metrics(world, **window)
        assert want.total["issued"].iloc[0] > 0
        same(campaign_metrics(other, **window).groups, want.groups)
    finally:
        client.close()
