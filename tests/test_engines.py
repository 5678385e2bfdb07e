"""The models ported to Ibis give the same answers on every engine.

One small world (a default run with a holdout, a Meituan run with pushes, a claim rush
that exhausts budgets, and a run with planted reconciliation faults) lives in the
embedded DuckDB store; the ``engine`` fixture copies it to a store reached through
``lab.Store.from_ibis`` (an Ibis-only DuckDB, Spark local mode and ClickHouse on chDB)
and each model must return the same tables there: counts and ids exactly, floats to
1e-9. Each model's own test module checks it against an independent pandas reference.
"""

from __future__ import annotations

import pandas as pd
import pytest
from engine_equality import same

import lab
from lab.engines import session
from lab.engines._compiled import execute_compiled
from lab.metrics import campaign_metrics, issuance_timeline, push_fatigue
from lab.risk import reconcile, risk_features
from lab.store import StoreError
from lab.world import Campaign, Stock, Strategy, claim_rush, simulate

RUNS = ("df", "mt", "rush", "bad")
# a budget that runs out a few hundred claims into the rush, and one that does not
BURST = Strategy(
    "burst",
    campaigns=(
        Campaign(
            "small",
            "wechat",
            "mini_program",
            Stock(
                stock_type="no_threshold",
                transaction_minimum_fen=0,
                amount_fen=500,
                max_per_user=2,
                total_budget_fen=100_000,
            ),
        ),
        Campaign("plenty", "alipay", "pay_page", Stock(amount_fen=300)),
    ),
)


@pytest.fixture(scope="module")
def world():
    store = lab.Store(":memory:")
    simulate(
        "default", store=store, users=500, days=7, pre_days=3, seed=1, run_id="df", progress=False
    )
    simulate(
        "platform_meituan",
        store=store,
        users=300,
        days=5,
        pre_days=0,
        seed=3,
        run_id="mt",
        progress=False,
    )
    claim_rush(
        BURST,
        store=store,
        claims=1500,
        users=400,
        seed=2,
        run_id="rush",
        progress=False,
    )
    simulate(
        "default", store=store, users=200, days=4, pre_days=0, seed=4, run_id="bad", progress=False
    )
    _plant_faults(store, "bad")
    yield store
    store.close()


@pytest.fixture(scope="module")
def other(world, engine):
    return engine(world, RUNS)


def _plant_faults(store, run):
    """A lost coupons row, a coupon counted twice, a refused-but-redeemed coupon."""
    issued = store.query(
        "SELECT coupon_id FROM coupons WHERE run_id = ? AND status = 'issued' "
        "ORDER BY coupon_id LIMIT 3",
        [run],
    )["coupon_id"].tolist()
    lost, dup, bad = issued
    store.query("DELETE FROM coupons WHERE run_id = ? AND coupon_id = ?", [run, lost])
    store.query(
        "INSERT INTO coupons SELECT * REPLACE ('refused' AS status, "
        "'rate_limited' AS refusal_reason) FROM coupons WHERE run_id = ? AND coupon_id = ?",
        [run, dup],
    )
    store.query(
        "UPDATE coupons SET status = 'refused', refusal_reason = NULL, "
        "redeemed_at = claimed_at WHERE run_id = ? AND coupon_id = ?",
        [run, bad],
    )


def test_the_copy_holds_every_run(world, other):
    assert sorted(other.runs()["run_id"]) == sorted(RUNS)
    assert other.run("df")["n_users"] == world.run("df")["n_users"]
    with pytest.raises(KeyError, match="no run 'nope'"):
        other.run("nope")
    with pytest.raises(StoreError, match="not yet ported to Ibis"):
        other.query("SELECT 1")


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"by": ("platform", "entry")},
        {"by": "segment", "treatment_arm": None},
        {"by": None, "start": "2026-03-03", "end": "2026-03-06"},
    ],
)
def test_campaign_metrics(world, other, kwargs):
    want = campaign_metrics(world, run="df", **kwargs)
    got = campaign_metrics(other, run="df", **kwargs)
    assert len(want.groups) >= 1 and want.total["issued"].iloc[0] > 0
    same(got.groups, want.groups)
    same(got.total, want.total)
    same(got.reported, want.reported)
    same(got.incremental.to_frame(), want.incremental.to_frame())


def test_push_fatigue(world, other):
    for kwargs in ({"platform": "meituan"}, {"start": "2026-03-03", "end": "2026-03-05"}):
        want = push_fatigue(world, run="mt", entry="app_push", **kwargs)
        got = push_fatigue(other, run="mt", entry="app_push", **kwargs)
        assert want.user_days > 100
        same(got.table, want.table)
        assert (got.users, got.user_days) == (want.users, want.user_days)
        for name in ("slope", "intercept", "slope_se", "p_value"):
            assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-9)


@pytest.mark.parametrize("bucket_seconds", [1, 3600])
def test_issuance_timeline(world, other, bucket_seconds):
    want = issuance_timeline(world, run="rush", bucket_seconds=bucket_seconds)
    got = issuance_timeline(other, run="rush", bucket_seconds=bucket_seconds)
    assert want.stocks["exhausted_at"].notna().any()
    same(got.table, want.table)
    same(got.stocks, want.stocks)


def test_reconcile(world, other):
    for run in ("bad", "df"):
        want = reconcile(world, run=run)
        got = reconcile(other, run=run)
        same(got.discrepancies, want.discrepancies)
        assert got.claims == want.claims
    assert want.ok
    found = reconcile(world, run="bad").counts()
    assert found[["claim_event_without_coupon", "duplicate_coupon", "refused_redeemed"]].min() >= 1


@pytest.mark.parametrize("run", ["df", "rush"])
def test_risk_features(world, other, run):
    want = risk_features(world, run=run)
    got = risk_features(other, run=run)
    assert want["n_claims"].sum() > 0 and want["accounts_per_ip_block"].max() > 1
    same(got, want)


def test_load_parquet_round_trip(world, other, tmp_path):
    world.export_parquet(tmp_path, run_id="mt")
    assert other.load_parquet(tmp_path, run_id="mt_parquet") == "mt_parquet"
    want = push_fatigue(world, run="mt")
    got = push_fatigue(other, run="mt_parquet")
    same(got.table, want.table)
    with pytest.raises(StoreError, match="exists already"):
        other.load_parquet(tmp_path, run_id="mt_parquet")


def test_views_over_warehouse_tables(other):
    import ibis

    # views go where the lab's tables are not: a new DuckDB, Spark's and chDB's default
    # database
    backend = ibis.duckdb.connect() if other.backend.name == "duckdb" else other.backend
    store = lab.Store.from_ibis(backend)
    raw = _warehouse_table(
        backend,
        "raw_weather",
        {
            "run": ["w", "w"],
            "dt": [pd.Timestamp("2026-03-02"), pd.Timestamp("2026-03-03")],
            "wet": [1, 0],
        },
    )
    try:
        view = store.create_view("weather", raw.rename(run_id="run", day="dt", rain="wet"))
        rows = store.backend.to_pyarrow(view.order_by("day")).to_pandas()
        assert rows["rain"].tolist() == [True, False]
        assert [str(d)[:10] for d in rows["day"]] == ["2026-03-02", "2026-03-03"]
        with pytest.raises(ValueError, match="unknown column"):
            store.create_view("weather", raw)
        # an unsigned column is served in the engine's type (Spark has no UINT)
        accounts = _warehouse_table(
            backend, "raw_accounts", {"run_id": ["w"], "user_id": [7], "ip": [3_232_235_777]}
        )
        users = store.backend.to_pyarrow(store.create_view("users", accounts)).to_pandas()
        assert users[["user_id", "ip"]].values.tolist() == [[7, 3_232_235_777]]
    finally:
        # Spark's views belong to the session: left behind, they would shadow the lab
        # tables of the next test module's database
        for name in ("weather", "users"):
            store.backend.raw_sql(f"DROP VIEW IF EXISTS {name}")
        if backend.name == "clickhouse":
            for name in ("raw_weather", "raw_accounts"):
                backend.raw_sql(f"DROP TABLE IF EXISTS {name}")


def _warehouse_table(backend, name: str, columns: dict):
    """``columns`` as a table of the warehouse: an in-memory table, or on ClickHouse a
    real one (Ibis sends in-memory tables to ClickHouse as external data, which chDB
    does not take)."""
    import ibis

    raw = ibis.memtable(columns)
    if backend.name != "clickhouse":
        return raw
    backend.create_table(name, schema=raw.schema(), overwrite=True)
    backend.insert(name, raw.to_pyarrow())
    return backend.table(name)


def test_cli_export_to_another_engine(tmp_path, capsys):
    from lab import cli

    db = str(tmp_path / "lab.duckdb")
    source = lab.Store(db)
    simulate(
        "default", store=source, users=100, days=2, pre_days=0, seed=5, run_id="s", progress=False
    )
    target = tmp_path / "warehouse.duckdb"
    code = cli.main(["export", "--run", "s", "--to", f"duckdb://{target}", "--db", db])
    out, _ = capsys.readouterr()
    assert code == 0 and "copied run s" in out
    copy = lab.Store.from_ibis(f"duckdb://{target}")
    same(reconcile(copy, run="s").discrepancies, reconcile(source, run="s").discrepancies)
    assert copy.run("s")["n_users"] == 100
    assert cli.main(["export", "--run", "s", "--db", db]) == 2
    assert "a directory for the files" in capsys.readouterr().err


def test_a_started_process_writes_its_console_to_the_log(tmp_path, capfd):
    """What spark_session(log_path=...) does to the driver it starts: the child's stderr
    goes to the file, this process's comes back afterwards."""
    import subprocess
    import sys

    from lab.engines._store import _stderr_to

    log = tmp_path / "driver.log"
    with _stderr_to(log):
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('jvm warning')"])
    sys.stderr.write("after")
    assert log.read_text() == "jvm warning"
    assert capfd.readouterr().err == "after"


def test_two_stores_on_one_engine_each_read_their_own_rows():
    # Ibis backends of two in-memory DuckDBs compare equal; the SQL a model compiled
    # once must still run on each store's own connection
    stores = [lab.Store(":memory:") for _ in range(2)]
    for n, store in enumerate(stores, start=1):
        for i in range(n):
            store.create_run(f"r{i}", origin="import")

    def count_runs(store) -> int:
        with session(store) as db:
            runs = execute_compiled(
                db, ("test", "runs"), lambda: db.table("runs").count().name("n")
            )
            return int(runs["n"].iloc[0])

    for _ in range(2):  # the second round runs what the first compiled
        assert [count_runs(store) for store in stores] == [1, 2]


def test_a_read_only_store_keeps_its_own_settings_while_a_model_reads(tmp_path):
    # a read-only store's models read through a cursor with Ibis's settings, so the
    # store's connection is never switched (and switched back) around a model call
    path = tmp_path / "lab.duckdb"
    lab.Store(path).create_run("r", origin="import")
    store = lab.Store(path, read_only=True)
    with store.connect() as con:
        con.execute("SET TimeZone = 'Asia/Shanghai'")
        for _ in range(2):  # the second session reuses the first one's cursor
            with session(store) as db:
                runs = execute_compiled(
                    db, ("test", "runs"), lambda db=db: db.table("runs").count().name("n")
                )
                assert int(runs["n"].iloc[0]) == 1
                setting = "SELECT current_setting('TimeZone') AS tz"
                assert db.backend.con.execute(setting).fetchall() == [("UTC",)]
                assert store.query(setting)["tz"].iloc[0] == "Asia/Shanghai"
