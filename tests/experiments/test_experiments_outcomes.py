"""The derived ``experiment_users`` table: contents, analyze through it, staleness, fallback."""

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lab
from lab import _outcomes as outcomes
from lab.engines import session
from lab.experiments import _analyze as analyze_module
from lab.experiments import _queries, analyze, experiment_users_status, refresh_experiment_users
from lab.experiments._queries import user_metrics
from lab.world import simulate

START = dt.datetime(2026, 3, 2)
DAYS = PRE_DAYS = 7
SIZE = dict(users=3000, days=DAYS, pre_days=PRE_DAYS, start_date=START.date(), progress=False)
SUMS = ["orders", "gmv", "redeemed_amount", "redeemed_orders", "pre_gmv", "pre_orders"]
ALL_METRICS = ("redeemed", "orders", "gmv", "redeemed_amount", "aov")


def _world(store=None):
    store = store or lab.Store(":memory:")
    return store, simulate("denomination_split", store=store, **SIZE)


@pytest.fixture(scope="module")
def world():
    return _world()


def _rows(store, run):
    return store.query(
        "SELECT * EXCLUDE (run_id) FROM experiment_users WHERE run_id = ? "
        "ORDER BY experiment, user_id",
        [run],
    )


def _reference(store, run, *, start=START, days=DAYS, pre_days=PRE_DAYS):
    """experiment_users of ``run`` in plain pandas, from assignments and orders."""
    a = store.query("SELECT experiment, user_id, arm FROM assignments WHERE run_id = ?", [run])
    o = store.query("SELECT * FROM orders WHERE run_id = ?", [run])
    end, lo = start + dt.timedelta(days=days), start - dt.timedelta(days=pre_days)
    post = o[(o.ts >= start) & (o.ts < end)]
    pre = o[(o.ts >= lo) & (o.ts < start)]
    coupon = post.coupon_id.notna()
    sums = pd.DataFrame(
        {
            "orders": post.groupby("user_id").size(),
            "gmv": (post.amount_fen - post.discount_fen).groupby(post.user_id).sum(),
            "redeemed_amount": post.amount_fen.where(coupon, 0).groupby(post.user_id).sum(),
            "redeemed_orders": coupon.groupby(post.user_id).sum(),
            "pre_gmv": (pre.amount_fen - pre.discount_fen).groupby(pre.user_id).sum(),
            "pre_orders": pre.groupby("user_id").size(),
        }
    )
    out = a.join(sums, on="user_id").fillna(0)
    out[SUMS] = out[SUMS].astype("int64")
    out[["experiment", "arm"]] = out[["experiment", "arm"]].astype(object)
    return out.sort_values(["experiment", "user_id"], ignore_index=True)


def _from_orders(monkeypatch, store, **kwargs):
    """analyze forced onto the orders query (as if the table were never built)."""
    with monkeypatch.context() as m:
        m.setattr(analyze_module, "experiment_users_status", lambda store, run: "missing")
        return analyze(store, **kwargs)


def _assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    numeric = a.select_dtypes("number").columns
    pd.testing.assert_frame_equal(
        a.drop(columns=numeric).astype(object), b.drop(columns=numeric).astype(object)
    )
    np.testing.assert_allclose(
        a[numeric].to_numpy(float), b[numeric].to_numpy(float), rtol=1e-9, atol=1e-12
    )


def _hand_copy(source, run, path=":memory:"):
    """A store holding ``run``'s tables written with Store.write only (never refreshed)."""
    store = lab.Store(path)
    info = source.run(run)
    with store.transaction():
        store.create_run(
            run,
            origin="import",
            days=int(info["days"]),
            pre_days=int(info["pre_days"]),
            start_date=info["start_date"],
        )
        for name in ("users", "assignments", "orders"):
            data = source.arrow(f"SELECT * EXCLUDE (run_id) FROM {name} WHERE run_id = ?", [run])
            store.write(name, data, run_id=run)
    return store


def test_simulate_builds_rows_equal_to_a_pandas_reference(world):
    store, run = world
    assert experiment_users_status(store, run) == "fresh"
    got = _rows(store, run)
    # every preset keeps a holdout experiment beside its own
    assert sorted(got["experiment"].astype(object).unique()) == ["denomination", "holdout"]
    pd.testing.assert_frame_equal(
        got.astype({"experiment": object, "arm": object}), _reference(store, run)
    )
    assert got["pre_orders"].sum() > 0 and got["redeemed_orders"].sum() > 0


@settings(max_examples=25, deadline=None)
@given(
    offsets=st.lists(
        st.tuples(
            st.integers(1, 4),  # user
            # seconds from the campaign start, dense at the period bounds
            st.sampled_from(
                [-PRE_DAYS * 86400 - 1, -PRE_DAYS * 86400, -1, 0, 1, DAYS * 86400 - 1]
                + [DAYS * 86400, DAYS * 86400 + 5]
            ),
            st.integers(100, 10**9),  # amount, fen
            st.booleans(),  # paid with a coupon
        ),
        max_size=20,
    ),
    pre_days=st.sampled_from([0, PRE_DAYS]),
)
def test_period_bounds_match_the_reference(offsets, pre_days):
    store = lab.Store(":memory:")
    store.create_run("r", origin="import", days=DAYS, pre_days=pre_days, start_date=START.date())
    store.write(
        "assignments",
        pd.DataFrame({"experiment": "e", "user_id": [1, 2, 3], "arm": ["a", "b", "a"]}),
        run_id="r",
    )
    orders = pd.DataFrame(
        {
            "order_id": np.arange(len(offsets)),
            "user_id": [u for u, *_ in offsets],
            "ts": [START + dt.timedelta(seconds=s) for _, s, *_ in offsets],
            "amount_fen": [a for *_, a, _ in offsets],
            "discount_fen": [a // 10 if c else 0 for *_, a, c in offsets],
            "coupon_id": [i if c else None for i, (*_, c) in enumerate(offsets)],
        },
    ).astype({"coupon_id": "Int64", "ts": "datetime64[us]"})
    store.write("orders", orders, run_id="r")
    assert refresh_experiment_users(store, "r") == 3
    pd.testing.assert_frame_equal(
        _rows(store, "r").astype({"experiment": object, "arm": object}),
        _reference(store, "r", pre_days=pre_days),
    )


@pytest.mark.parametrize("covariate", [None, "pre_gmv", "pre_orders"])
@pytest.mark.parametrize("by", [None, "segment"])
def test_analyze_from_the_table_equals_analyze_from_orders(world, monkeypatch, covariate, by):
    store, run = world
    kwargs = dict(
        run=run, experiment="denomination", metrics=ALL_METRICS, covariate=covariate, by=by
    )
    sources = []
    real = _queries.user_metrics

    def spy(db, **kw):
        sources.append(kw["source"])
        return real(db, **kw)

    monkeypatch.setattr(_queries, "user_metrics", spy)
    fast = analyze(store, **kwargs)
    slow = _from_orders(monkeypatch, store, **kwargs)
    assert sources == ["experiment_users", "orders"]
    _assert_same(fast.table, slow.table)
    assert fast.srm == slow.srm
    assert len(fast.table) == len(ALL_METRICS) * (1 if by is None else 3)


def test_user_metrics_sources_agree_user_by_user(world):
    store, run = world
    kwargs = dict(
        run=run, experiment="denomination", period=analyze_module.Period.of_run(store, run)
    )
    with session(store) as db:
        table, orders = (
            db.execute(user_metrics(db, by="segment", source=source, **kwargs))
            .sort_values("user_id")
            .reset_index(drop=True)
            for source in ("experiment_users", "orders")
        )
        with pytest.raises(ValueError, match="source must be one of"):
            user_metrics(db, source="cache", **kwargs)
    pd.testing.assert_frame_equal(table, orders)
    assert len(table) == len(_reference(store, run).query("experiment == 'denomination'"))


def test_refresh_is_idempotent(world):
    store, run = world
    before = _rows(store, run)
    n = store.query("SELECT count(*) AS n FROM assignments WHERE run_id = ?", [run])["n"][0]
    assert refresh_experiment_users(store, run) == n
    assert refresh_experiment_users(store, run) == n
    pd.testing.assert_frame_equal(_rows(store, run), before)
    assert store.query("SELECT count(*) AS n FROM experiment_refreshes")["n"][0] == 1
    assert experiment_users_status(store, run) == "fresh"


def test_a_run_never_refreshed_analyses_from_orders(world):
    store, run = world
    hand = _hand_copy(store, run)
    assert experiment_users_status(hand, run) == "missing"
    kwargs = dict(run=run, experiment="denomination", metrics=ALL_METRICS, covariate="pre_gmv")
    _assert_same(analyze(hand, **kwargs).table, analyze(store, **kwargs).table)
    refresh_experiment_users(hand, run)
    assert experiment_users_status(hand, run) == "fresh"
    pd.testing.assert_frame_equal(_rows(hand, run), _rows(store, run))


def _append_order(store, run):
    """One big campaign-period order by an assigned user, appended after the refresh."""
    user = int(
        store.query(
            "SELECT min(user_id) AS u FROM assignments WHERE run_id = ? AND experiment = 'denomination'",
            [run],
        )["u"][0]
    )
    store.write(
        "orders",
        pd.DataFrame(
            {
                "order_id": [10**12],
                "user_id": [user],
                "ts": [START + dt.timedelta(hours=30)],
                "amount_fen": [10**8],
                "discount_fen": [0],
            }
        ),
        run_id=run,
    )


def _append_assignment(store, run):
    user = int(store.query("SELECT max(user_id) AS u FROM users WHERE run_id = ?", [run])["u"][0])
    store.write(
        "assignments",
        pd.DataFrame({"experiment": ["denomination"], "user_id": [user + 1], "arm": ["split"]}),
        run_id=run,
    )


@pytest.mark.parametrize("append", [_append_order, _append_assignment])
def test_appends_after_a_refresh_make_it_stale_and_analyze_recomputes(monkeypatch, append):
    store, run = _world()
    kwargs = dict(run=run, experiment="denomination", metrics=("gmv", "orders"))
    before = analyze(store, **kwargs).table
    append(store, run)
    assert experiment_users_status(store, run) == "stale"
    with pytest.warns(RuntimeWarning, match=r"refresh_experiment_users\(store, 'denomination"):
        stale = analyze(store, **kwargs).table
    truth = _from_orders(monkeypatch, store, **kwargs).table
    _assert_same(stale, truth)
    with pytest.raises(AssertionError):  # the appended row counts
        _assert_same(stale, before)
    refresh_experiment_users(store, run)
    with warnings.catch_warnings():
        # no staleness warning (Ibis on DuckDB 2 may emit DeprecationWarnings of its own)
        warnings.simplefilter("error", RuntimeWarning)
        _assert_same(analyze(store, **kwargs).table, truth)


def test_a_run_deleted_and_written_again_is_stale_and_orphans_are_removed(tmp_path):
    store = lab.Store(tmp_path / "lab.duckdb")
    _, run = _world(store)
    other = simulate("denomination_split", store=store, run_id="other", **SIZE)
    snapshot = _hand_copy(store, run)  # the same rows, to write again
    store.delete_run(run)
    assert experiment_users_status(store, run) == "stale"  # its derived rows outlived it
    with store.transaction():
        store.create_run(
            run, origin="import", days=DAYS, pre_days=PRE_DAYS, start_date=START.date()
        )
        for name in ("users", "assignments", "orders"):
            store.write(name, snapshot.arrow(f"SELECT * EXCLUDE (run_id) FROM {name}"), run_id=run)
    # same row counts, but another run: the created_at differs
    assert experiment_users_status(store, run) == "stale"
    store.delete_run(run)
    refresh_experiment_users(store, other)  # clears rows of runs that no longer exist
    for name in ("experiment_users", "experiment_refreshes"):
        left = store.query(f"SELECT DISTINCT run_id FROM {name}")["run_id"].tolist()
        assert left == ["other"], name


def test_read_only_stores(world, tmp_path):
    store, run = world
    kwargs = dict(run=run, experiment="denomination", metrics=ALL_METRICS, covariate="pre_gmv")
    expected = analyze(store, **kwargs).table
    # a file written by simulate: the table is there and fresh
    path = tmp_path / "sim.duckdb"
    simulate("denomination_split", store=lab.Store(path), **SIZE)
    ro = lab.Store(path, read_only=True)
    assert experiment_users_status(ro, run) == "fresh"
    _assert_same(analyze(ro, **kwargs).table, expected)
    with pytest.raises(lab.StoreError, match="read-only"):
        refresh_experiment_users(ro, run)
    # a file that never saw a refresh has no derived tables at all
    old = tmp_path / "old.duckdb"
    _hand_copy(store, run, old)
    ro = lab.Store(old, read_only=True)
    assert experiment_users_status(ro, run) == "missing"
    _assert_same(analyze(ro, **kwargs).table, expected)


def test_a_read_only_connection_checks_its_sources_once_and_a_new_one_sees_changes(
    tmp_path, monkeypatch
):
    path = tmp_path / "lab.duckdb"
    writer = lab.Store(path)
    run = simulate("aa_test", store=writer, users=300, days=7, pre_days=7, progress=False)
    checks = []
    fingerprint = outcomes._fingerprint
    monkeypatch.setattr(outcomes, "_fingerprint", lambda *a: checks.append(1) or fingerprint(*a))
    ro = lab.Store(path, read_only=True)
    with ro.connect():
        # no process can write the file while this connection is open
        assert [experiment_users_status(ro, run) for _ in range(3)] == ["fresh"] * 3
        assert len(checks) == 1
    # closed: a writer may change the sources in place, and the next connection sees it
    writer = lab.Store(path)
    writer.query("UPDATE orders SET amount_fen = amount_fen + 1 WHERE run_id = ?", [run])
    with ro.connect():
        assert experiment_users_status(ro, run) == "stale"
    assert experiment_users_status(ro, run) == "stale"  # one connection per call
    assert len(checks) == 3


def test_imports_refresh_the_run():
    store = lab.Store(":memory:")
    run = lab.import_logs("tests/data/lab_format", store=store)
    assert experiment_users_status(store, run) == "fresh"
    n = store.query("SELECT count(*) AS n FROM assignments WHERE run_id = ?", [run])["n"][0]
    assert n > 0
    info = store.run(run)
    got = _rows(store, run).astype({"experiment": object, "arm": object})
    ref = _reference(
        store,
        run,
        start=pd.Timestamp(info["start_date"]).to_pydatetime(),
        days=info["days"],
        pre_days=0,
    )
    pd.testing.assert_frame_equal(got, ref)
    tianchi = lab.import_logs("tests/data/tianchi_o2o_sample.csv", store=store)
    assert experiment_users_status(store, tianchi) == "fresh"  # no assignments: no rows


def test_refresh_errors_and_runs_without_a_period():
    store = lab.Store(":memory:")
    with pytest.raises(KeyError, match="no run 'nope'"):
        refresh_experiment_users(store, "nope")
    store.create_run("r", origin="import")
    store.write(
        "assignments", pd.DataFrame({"experiment": "e", "user_id": [1], "arm": ["a"]}), run_id="r"
    )
    assert refresh_experiment_users(store, "r") == 0
    assert experiment_users_status(store, "r") == "missing"
    with pytest.raises(ValueError, match="has no campaign period"):
        analyze(store, run="r", experiment="e")


def test_derived_tables_follow_the_schema(world):
    store, _ = world
    for t in lab.schema.DERIVED_TABLES:
        got = store.query(f"DESCRIBE {t.name}")
        assert got["column_name"].tolist() == list(t.column_names)
        assert got["column_type"].tolist() == [c.type for c in t.columns]
        assert t.derived and lab.schema.table(t.name) is t
        assert t.name not in lab.schema.DATA_TABLES  # not imported, exported or staged
