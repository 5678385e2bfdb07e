"""Fixtures shared by every test folder: one Spark session and one chDB per test run,
and the ``engine`` fixture that runs a ported model on DuckDB, Spark and ClickHouse.

Spark tests carry the ``spark`` marker: ``make unit`` runs them (Java 17 from the machine
or ``make java``); ``pytest -m "not spark"`` leaves them out. ClickHouse is chDB, the
ClickHouse engine in this process (the ``chdb`` and ``clickhouse-connect`` packages);
its cases are skipped where those are not installed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import ibis
import pytest

import lab


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """One local SparkSession (2 cores, 2 shuffle partitions) for the whole test run."""
    from lab.engines import spark_session

    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    session = spark_session(
        "local[2]",
        config={
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.ui.enabled": "false",
            "spark.sql.warehouse.dir": str(warehouse),
            "spark.driver.memory": "1g",
        },
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def chdb_client():
    """One in-process ClickHouse (chDB, in memory) for the whole test run, as a
    clickhouse-connect client: the client Ibis's ClickHouse backend wraps."""
    pytest.importorskip("chdb", reason="chdb is not installed: no ClickHouse to test on")
    clickhouse_connect = pytest.importorskip(
        "clickhouse_connect", reason="clickhouse-connect is not installed: Ibis cannot reach chDB"
    )
    return clickhouse_connect.get_client(dsn="chdb://memory")


@pytest.fixture(
    scope="module",
    params=["duckdb", pytest.param("spark", marks=pytest.mark.spark), "clickhouse"],
)
def engine(request) -> Callable[[lab.Store, Sequence[str]], object]:
    """``engine(source, runs)``: a store on the engine under test holding ``runs`` of the
    DuckDB store ``source``, copied through :meth:`lab.engines.IbisStore.copy_runs`.

    ``duckdb`` is a separate in-memory DuckDB reached only through Ibis, so it checks the
    same path (``Store.from_ibis``) the Spark store takes. ``clickhouse`` is chDB through
    Ibis's ClickHouse backend, as a server would be reached; each module has its own
    database there, as on Spark.
    """
    if request.param == "duckdb":
        target = lab.Store.from_ibis(ibis.duckdb.connect())
    elif request.param == "spark":
        spark = request.getfixturevalue("spark")
        database = "lab_" + re.sub(r"\W", "_", request.module.__name__)
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
        target = lab.Store.from_ibis(ibis.pyspark.connect(spark), database=database)
    else:
        client = request.getfixturevalue("chdb_client")
        database = "lab_" + re.sub(r"\W", "_", request.module.__name__)
        client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
        target = lab.Store.from_ibis(ibis.clickhouse.from_connection(client), database=database)

    def fill(source: lab.Store, runs: Sequence[str]):
        target.copy_runs(source, runs)
        return target

    return fill
