"""Large runs are staged as Parquet and loaded in one transaction: same tables, same atomicity."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lab
from lab import schema
from lab.store import Store, StoreError
from lab.world import _simulate, simulate

SIZE = dict(users=1_200, days=6, pre_days=3, seed=5, progress=False)


@pytest.fixture
def staged(monkeypatch):
    """Force staging for any file store, with several chunks (so several files per table)."""
    monkeypatch.setattr(_simulate, "STAGE_MIN_ROWS", 0)
    monkeypatch.setattr(_simulate, "CHUNK_USERS", 500)
    calls = []
    original = Store.write_parquet

    def spy(self, table_name, paths, *, run_id):
        calls.append((table_name, len(paths)))
        return original(self, table_name, paths, run_id=run_id)

    monkeypatch.setattr(Store, "write_parquet", spy)
    return calls


def rows(store, name, run_id):
    # rowid order is insertion order: the comparison covers row order too
    return store.query(
        f"SELECT * EXCLUDE (run_id) FROM {name} WHERE run_id = ? ORDER BY rowid", [run_id]
    )


def test_staged_file_run_equals_in_memory_run(tmp_path, staged):
    mem = lab.Store(":memory:")
    simulate("default", store=mem, **SIZE)
    assert staged == []  # in-memory stores never stage
    disk = lab.Store(tmp_path / "w.duckdb")
    run = simulate("default", store=disk, **SIZE)
    tables = dict(staged)
    assert tables["events"] == 3 and tables["offers"] == 3  # one file per chunk
    assert set(tables) == {t for t in schema.DATA_TABLES if t != "runs"}
    for name in schema.DATA_TABLES:
        a, b = rows(mem, name, run), rows(disk, name, run)
        assert len(a) > 0, name
        pd.testing.assert_frame_equal(a, b, obj=name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.duckdb"]  # staging removed


def test_failure_mid_load_leaves_no_run_and_no_files(tmp_path, staged, monkeypatch):
    store = lab.Store(tmp_path / "w.duckdb")
    loaded = []
    spy = Store.write_parquet

    def failing(self, table_name, paths, *, run_id):
        if table_name == "orders":
            raise OSError("disk full (injected)")
        loaded.append(table_name)
        return spy(self, table_name, paths, run_id=run_id)

    monkeypatch.setattr(Store, "write_parquet", failing)
    with pytest.raises(OSError, match="injected"):
        simulate("default", store=store, **SIZE)
    assert {"users", "coupons", "offers"} <= set(loaded)  # it failed mid-load
    assert store.runs().empty
    for name in schema.DATA_TABLES:
        assert store.query(f"SELECT count(*) AS n FROM {name}")["n"][0] == 0, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.duckdb"]
    # the database is usable and the memory limit of the load did not stick
    monkeypatch.setattr(Store, "write_parquet", spy)
    run = simulate("default", store=store, **SIZE)
    assert store.describe_run(run).set_index("table")["rows"]["events"] > 0
    default = lab.Store(tmp_path / "other.duckdb").query(
        "SELECT current_setting('memory_limit') AS m"
    )["m"][0]
    assert store.query("SELECT current_setting('memory_limit') AS m")["m"][0] == default


def test_existing_run_fails_before_simulating(tmp_path, staged, monkeypatch):
    store = lab.Store(tmp_path / "w.duckdb")
    store.create_run("default-s5", origin="import")

    def boom(*args, **kwargs):
        raise AssertionError("simulated although the run exists")

    monkeypatch.setattr(_simulate, "_build_chunk", boom)
    with pytest.raises(StoreError, match="exists already"):
        simulate("default", store=store, **SIZE)


def test_write_parquet_casts_like_write(tmp_path):
    """Reference: Store.write of the same Arrow tables (cast, NULL-filled, in order).

    weather.rain is BOOLEAN: int8 0/1 in the files must be cast.
    """
    store = lab.Store(tmp_path / "w.duckdb")
    parts = [
        pa.table(
            {
                "rain": pa.array([1, 0], pa.int8()),
                "day": pa.array([dt.date(2026, 3, 2), dt.date(2026, 3, 3)]),
            }
        ),
        pa.table({"rain": pa.array([1], pa.int8()), "day": [dt.date(2026, 3, 1)]}),
    ]
    paths = []
    for i, t in enumerate(parts):
        paths.append(tmp_path / f"w{i}.parquet")
        pq.write_table(t, paths[-1])
    assert store.write_parquet("weather", paths, run_id="pq") == 3
    for t in parts:
        store.write("weather", t, run_id="ref")
    pd.testing.assert_frame_equal(rows(store, "weather", "pq"), rows(store, "weather", "ref"))
    got = rows(store, "weather", "pq")
    assert got["rain"].tolist() == [True, False, True]
    assert got["day"].astype(str).tolist() == ["2026-03-02", "2026-03-03", "2026-03-01"]

    # missing columns are NULL, as in write
    pq.write_table(pa.table({"user_id": pa.array([7], pa.int32())}), tmp_path / "u.parquet")
    store.write_parquet("users", [tmp_path / "u.parquet"], run_id="pq")
    got = store.query("SELECT user_id, segment FROM users WHERE run_id = 'pq'")
    assert got["user_id"].tolist() == [7] and got["segment"].isna().all()

    pq.write_table(pa.table({"day": [dt.date(2026, 3, 1)], "bogus": [1]}), tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="bogus"):
        store.write_parquet("weather", [tmp_path / "x.parquet"], run_id="pq")
    with pytest.raises(ValueError, match="paths"):
        store.write_parquet("weather", [], run_id="pq")
