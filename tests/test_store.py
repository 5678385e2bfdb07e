"""lab.store.Store: schema, round trips of every table, transactions, runs, Parquet,
read-only mode, schema versions, and a reader and a writer in two processes."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from lab import schema
from lab.store import SchemaVersionError, Store, StoreError

ARROW_TYPES = {
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "SMALLINT": pa.int16(),
    "TINYINT": pa.int8(),
    "UINTEGER": pa.uint32(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "VARCHAR": pa.string(),
    "TIMESTAMP": pa.timestamp("us"),
    "DATE": pa.date32(),
}


def sample_values(col: schema.Column, n: int) -> list:
    """``n`` distinct, type-stretching values of ``col``; the last is NULL when allowed."""
    day = dt.date(2026, 7, 1)
    by_type = {
        "BIGINT": [1, 2**53 + 1, 3, 4][:n]
        if col.name.endswith("_fen")
        else [10, 2**40, 12, 13][:n],
        "INTEGER": [1, 2**31 - 1, 3, 4][:n],
        "SMALLINT": [170, 32767, 186, 1][:n],
        "TINYINT": [1, 127, 3, 4][:n],
        "UINTEGER": [0, 2**32 - 1, 3232235777, 7][:n],
        "DOUBLE": [0.5, 1e-9, 2.25, 3.0][:n],
        "BOOLEAN": [True, False, True, False][:n],
        "VARCHAR": ["a", 'comma, and "quote"', "微信", "x"][:n],
        "TIMESTAMP": [
            dt.datetime(2026, 7, 1, 12, 0, 0, 123456) + dt.timedelta(days=i) for i in range(n)
        ],
        "DATE": [day + dt.timedelta(days=i) for i in range(n)],
    }
    values = list(col.values[:n]) if col.values else by_type[col.type]
    values += values[: n - len(values)]  # enums with fewer values than rows repeat
    if col.nullable:
        values[-1] = None
    return values


def sample_table(name: str, n: int = 3) -> pa.Table:
    spec = schema.table(name)
    cols = [c for c in spec.columns if c.name != "run_id"]
    return pa.table({c.name: pa.array(sample_values(c, n), ARROW_TYPES[c.type]) for c in cols})


def read_arrow(store: Store, name: str, run_id: str) -> pa.Table:
    with store.connect() as con:
        return con.sql(
            f"SELECT * EXCLUDE (run_id) FROM {name} WHERE run_id = $run", params={"run": run_id}
        ).to_arrow_table()


def counts(store: Store) -> dict[str, int]:
    with store.connect() as con:
        return {
            t.name: con.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0]
            for t in schema.TABLES
        }


def fill(store: Store, run_id: str) -> None:
    with store.transaction():
        store.create_run(run_id, origin="synthetic", label=run_id, seed=7, n_users=3, days=2)
        for name in schema.DATA_TABLES:
            store.write(name, sample_table(name), run_id=run_id)


def test_new_database_has_every_documented_table_and_column(tmp_path):
    store = Store(tmp_path / "lab.duckdb")
    for t in schema.TABLES:
        got = store.query(f"DESCRIBE {t.name}")
        assert got["column_name"].tolist() == list(t.column_names)
        assert got["column_type"].tolist() == [c.type for c in t.columns]
        assert got["null"].tolist() == ["YES" if c.nullable else "NO" for c in t.columns]
    version = store.query("SELECT value FROM lab_meta WHERE key = 'schema_version'")[
        "value"
    ].tolist()
    assert version == [str(schema.SCHEMA_VERSION)]


@pytest.mark.parametrize("name", schema.DATA_TABLES)
def test_every_table_round_trips_types_and_values(name):
    store = Store(":memory:")
    store.create_run("r", origin="synthetic")
    data = sample_table(name)
    assert store.write(name, data, run_id="r") == 3
    got = read_arrow(store, name, "r")
    assert got.schema == data.schema  # money stays int64, timestamps keep microseconds
    assert got.to_pylist() == data.to_pylist()


def test_money_reads_back_as_integers_in_pandas_too():
    store = Store(":memory:")
    store.create_run("r", origin="synthetic")
    store.write("orders", sample_table("orders"), run_id="r")
    df = store.query("SELECT amount_fen, discount_fen, coupon_id FROM orders")
    assert df["amount_fen"].tolist() == [1, 2**53 + 1, 3]  # exact beyond float precision
    assert all(str(t).lower() == "int64" for t in df.dtypes)


def test_write_fills_missing_columns_with_null_and_refuses_unknown_ones():
    store = Store(":memory:")
    store.create_run("r", origin="import")
    store.write("weather", pd.DataFrame({"day": [dt.date(2026, 7, 1)], "rain": [True]}), run_id="r")
    with pytest.raises(ValueError, match="weather: unknown column\\(s\\) wind"):
        store.write(
            "weather",
            pd.DataFrame({"day": [dt.date(2026, 7, 2)], "rain": [False], "wind": [3]}),
            run_id="r",
        )
    assert store.query("SELECT run_id, rain FROM weather").values.tolist() == [["r", True]]


def test_transaction_rolls_back_everything_on_error(tmp_path):
    store = Store(tmp_path / "lab.duckdb")
    fill(store, "kept")
    before = counts(store)
    with pytest.raises(RuntimeError, match="boom"), store.transaction():
        store.create_run("lost", origin="synthetic")
        store.write("orders", sample_table("orders"), run_id="lost")
        raise RuntimeError("boom")
    assert counts(store) == before
    assert not store.has_run("lost")


def test_delete_run_removes_one_run_from_every_table(tmp_path):
    store = Store(tmp_path / "lab.duckdb")
    fill(store, "a")
    fill(store, "b")
    store.delete_run("a")
    assert store.runs()["run_id"].tolist() == ["b"]
    for t in schema.TABLES:
        assert store.query(f"SELECT DISTINCT run_id FROM {t.name}")["run_id"].tolist() == ["b"], (
            t.name
        )
    with pytest.raises(KeyError, match="no run 'a'"):
        store.delete_run("a")
    assert store.describe_run("b").set_index("table")["rows"].to_dict() == dict.fromkeys(
        schema.DATA_TABLES, 3
    )


def test_create_run_refuses_duplicates_and_unknown_origins():
    store = Store(":memory:")
    store.create_run("r", origin="import", strategy={"b": 1, "a": 2})
    assert store.run("r")["strategy_json"] == '{"a": 2, "b": 1}'
    with pytest.raises(StoreError, match="exists already"):
        store.create_run("r", origin="import")
    with pytest.raises(ValueError, match="origin must be one of"):
        store.create_run("s", origin="real")


def test_arrow_returns_the_query_as_an_arrow_table():
    store = Store(":memory:")
    assert store.arrow("SELECT ? AS x", [5]).to_pylist() == [{"x": 5}]


def test_parquet_export_import_round_trip(tmp_path):
    source = Store(tmp_path / "a.duckdb")
    fill(source, "r")
    source.export_parquet(tmp_path / "out", run_id="r")
    target = Store(tmp_path / "b.duckdb")
    assert target.import_parquet(tmp_path / "out", run_id="copy") == "copy"
    for name in schema.DATA_TABLES:
        assert read_arrow(target, name, "copy") == read_arrow(source, name, "r")
    assert target.run("copy")["seed"] == 7


def test_read_only_store_refuses_every_write(tmp_path):
    path = tmp_path / "lab.duckdb"
    fill(Store(path), "r")
    ro = Store(path, read_only=True)
    assert ro.runs()["run_id"].tolist() == ["r"]
    for attempt in (
        lambda: ro.create_run("s", origin="import"),
        lambda: ro.write("weather", sample_table("weather"), run_id="r"),
        lambda: ro.delete_run("r"),
        lambda: ro.import_parquet(tmp_path, run_id="s"),
    ):
        with pytest.raises(
            StoreError, match="is open read-only; open it with read_only=False to write"
        ):
            attempt()
    assert counts(Store(path)) == {t.name: 1 if t.name == "runs" else 3 for t in schema.TABLES}


def test_answers_from_the_data_hold_while_a_read_only_connection_is_open(tmp_path):
    path = tmp_path / "lab.duckdb"
    fill(Store(path), "r")
    ro, calls = Store(path, read_only=True), []

    def answer():
        calls.append(1)
        return len(calls)

    with ro.connect():
        assert [ro.while_unchanged("k", answer) for _ in range(3)] == [1, 1, 1]
        first = ro.run("r")
        first["label"] = "changed by the caller"
        assert ro.run("r")["label"] != "changed by the caller"  # each call gets a copy
    assert ro.while_unchanged("k", answer) == 2  # closed: computed afresh
    # a writable store may change its data on its own connection: computed every time
    rw = Store(path)
    with rw.connect() as con:
        assert [rw.while_unchanged("k", answer) for _ in range(2)] == [3, 4]
        con.execute("UPDATE runs SET label = 'new' WHERE run_id = 'r'")
        assert rw.run("r")["label"] == "new"


def test_read_only_store_needs_an_existing_file(tmp_path):
    with pytest.raises(
        StoreError, match="no database here. Build one with `python -m lab generate`"
    ):
        Store(tmp_path / "missing.duckdb", read_only=True)


@pytest.mark.parametrize("read_only", [False, True])
def test_other_schema_version_says_how_to_rebuild(tmp_path, read_only):
    path = tmp_path / "old.duckdb"
    Store(path)
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE lab_meta SET value = '0' WHERE key = 'schema_version'")
    with pytest.raises(SchemaVersionError) as info:
        Store(path, read_only=read_only)
    message = str(info.value)
    assert (
        f"written with schema version 0, this lab uses version {schema.SCHEMA_VERSION}" in message
    )
    assert "Rebuild it (delete the file and run `python -m lab generate`)" in message


WRITER = textwrap.dedent(
    """
    import sys, time
    import pyarrow as pa
    from lab.store import Store
    store = Store(sys.argv[1])
    n, batches = int(sys.argv[2]), int(sys.argv[3])
    print("ready", flush=True)
    for b in range(batches):
        with store.transaction():
            store.write("weather", pa.table({"day": pa.array(range(b * n, (b + 1) * n), pa.int32()).cast(pa.date32()),
                                             "rain": [True] * n}), run_id="w")
        time.sleep(0.02)
    """
)


def test_reader_in_another_process_waits_for_the_writer(tmp_path):
    """A read-only Store retries while another process holds the write lock, and only
    ever sees whole transactions."""
    path = tmp_path / "shared.duckdb"
    Store(path).create_run("w", origin="synthetic")
    n, batches = 10_000, 10
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(n), str(batches)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[1],
    )
    try:
        assert writer.stdout.readline().strip() == "ready"
        seen = []
        deadline = time.monotonic() + 60
        while writer.poll() is None and time.monotonic() < deadline:
            reader = Store(path, read_only=True, lock_timeout=30)
            seen.append(int(reader.query("SELECT count(*) AS n FROM weather")["n"][0]))
            time.sleep(0.05)  # a dashboard refreshing; a reader in a tight loop starves the writer
        assert writer.wait(timeout=60) == 0
    finally:
        if writer.poll() is None:
            writer.kill()
    final = Store(path, read_only=True).query("SELECT count(*) AS n FROM weather")["n"][0]
    assert final == n * batches
    assert seen, "the reader never got in"
    assert all(c % n == 0 for c in seen), seen  # never half a transaction
    assert seen == sorted(seen)


def test_nested_transactions_join_the_outer_one():
    store = Store(":memory:")
    with pytest.raises(RuntimeError), store.transaction():
        store.create_run("outer", origin="import")
        with store.transaction():
            store.create_run("inner", origin="import")
        raise RuntimeError("abort the outer block")
    assert store.runs().empty


def test_info_has_the_same_columns_with_and_without_runs():
    store = Store(":memory:")
    empty_columns = list(store.info().columns)
    store.create_run("r", origin="import")
    assert list(store.info().columns) == empty_columns


def test_runs_are_listed_in_creation_order_even_within_one_second():
    store = Store(":memory:")
    for run_id in ("zeta", "alpha", "mid"):
        store.create_run(run_id, origin="import")
    assert store.runs()["run_id"].tolist() == ["zeta", "alpha", "mid"]


def test_duckdb_draws_no_progress_bar_on_stdout(tmp_path):
    # a progress bar on stdout would corrupt `calibrate --json` and notebook outputs
    for store in (Store(":memory:"), Store(tmp_path / "p.duckdb")):
        assert not store.query("SELECT current_setting('enable_progress_bar') AS p")["p"][0]
