"""Export a simulated run as WeChat Pay / Alipay files, import it back, and get the same
funnel, redemption cycle, campaign metrics and experiment readout as the run restricted
to what the format carries (``carried`` in conftest; docs/real-logs.md lists the limits).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from platform_helpers import KEY

import lab
from lab.ingest import export_platform, import_logs
from lab.store import Store

# Alipay writes times to the second; the run's times have microseconds
SECOND_IN_DAYS = 1 / 86400


def figures(store: Store, run: str) -> dict[str, pd.DataFrame]:
    metrics = lab.campaign_metrics(store, run=run)
    inc = metrics.incremental
    return {
        "funnel": lab.funnel(store, run=run, steps=("claim", "redeem"), window=None).to_frame(),
        "funnel_by_stock": lab.funnel(
            store, run=run, steps=("claim", "redeem"), by="stock_id", top_n=None
        ).to_frame(),
        "cycle": lab.redemption_cycle(store, run=run, by="stock_id").summary,
        # exposures are not carried (see docs/real-logs.md)
        "metrics": metrics.to_frame().drop(columns=["exposed_users", "claim_conversion"]),
        "incremental": pd.DataFrame(
            [
                {
                    k: getattr(inc, k)
                    for k in (
                        "treatment_users",
                        "holdout_users",
                        "incremental_gmv_fen",
                        "ci_low_fen",
                        "ci_high_fen",
                        "cost_fen",
                        "incremental_roi",
                        "p_value",
                    )
                }
            ]
        ),
        "readout": lab.analyze(store, run=run, experiment="holdout").to_frame(),
    }


def assert_same(got: dict, want: dict, *, time_tolerance_days: float = 0.0) -> None:
    for name in want:
        a, b = got[name].reset_index(drop=True), want[name].reset_index(drop=True)
        if name == "cycle" and time_tolerance_days:
            pd.testing.assert_frame_equal(
                a, b, check_dtype=False, atol=time_tolerance_days, rtol=0, obj=name
            )
        else:
            pd.testing.assert_frame_equal(a, b, check_dtype=False, obj=name)


@pytest.fixture(scope="module")
def imported(world):
    store = Store(world["db"])
    wx = import_logs(world["root"] / "wechatpay", store=store, format="wechatpay", apiv3_key=KEY)
    ali = import_logs(world["root"] / "alipay", store=store, format="alipay")
    return store, wx, ali


def test_wechatpay_round_trip_gives_the_carried_figures(world, imported):
    store, wx, _ = imported
    assert_same(figures(store, wx), figures(store, "carried"))
    # ids the platform keeps numeric come back unchanged; the period is the stocks' window
    original, back = store.run(world["run"]), store.run(wx)
    assert (back["start_date"], back["days"], back["pre_days"]) == (
        original["start_date"],
        original["days"],
        original["pre_days"],
    )
    ids = "SELECT stock_id, coupon_id, discount_fen FROM coupons WHERE run_id = ? ORDER BY 2"
    pd.testing.assert_frame_equal(store.query(ids, [wx]), store.query(ids, ["carried"]))


def test_alipay_round_trip_gives_the_carried_figures_to_the_second(world, imported):
    store, _, ali = imported
    assert_same(figures(store, ali), figures(store, "carried"), time_tolerance_days=SECOND_IN_DAYS)
    original, back = store.run(world["run"]), store.run(ali)
    assert (back["start_date"], back["days"], back["pre_days"]) == (
        original["start_date"],
        original["days"],
        original["pre_days"],
    )


def test_the_carried_copy_differs_from_the_original_only_where_documented(world, imported):
    """The comparison baseline is not vacuous: the original run has refused claims and
    exposures, which the platforms never see."""
    store, wx, _ = imported
    original = figures(store, world["run"])
    carried = figures(store, "carried")
    assert original["funnel"]["count"].iloc[0] > carried["funnel"]["count"].iloc[0]
    assert original["funnel"]["count"].iloc[1] == carried["funnel"]["count"].iloc[1]
    pd.testing.assert_frame_equal(original["readout"], carried["readout"])
    # exposures exist in the simulation, not in the import
    exposed = lab.campaign_metrics(store, run=wx, by=None).to_frame()["exposed_users"].iloc[0]
    assert exposed == 0


def test_callback_retries_are_imported_once(world, imported):
    store, wx, _ = imported
    lines = (world["root"] / "wechatpay" / "notifications.jsonl").read_text().splitlines()
    ids = [line.split('"id": "')[1].split('"')[0] for line in lines]
    assert len(ids) > len(set(ids))  # the export did retry some
    redeem = store.query(
        "SELECT count(*) AS n FROM events WHERE run_id = ? AND event_type = 'redeem'", [wx]
    )["n"][0]
    assert redeem == len(set(ids))


def test_same_bytes_twice_is_a_no_op(world, imported):
    store, wx, ali = imported
    before = store.describe_run(wx)
    assert (
        import_logs(world["root"] / "wechatpay", store=store, format="wechatpay", apiv3_key=KEY)
        == wx
    )
    assert import_logs(world["root"] / "alipay", store=store, format="alipay") == ali
    pd.testing.assert_frame_equal(store.describe_run(wx), before)


def test_plain_and_encrypted_callbacks_import_alike(small, tmp_path):
    store = Store(":memory:")
    enc = import_logs(small / "wechatpay", store=store, format="wechatpay", apiv3_key=KEY)
    plain = import_logs(small / "wechatpay_plain", store=store, format="wechatpay")
    sql = "SELECT * EXCLUDE (run_id) FROM coupons WHERE run_id = ? ORDER BY coupon_id"
    pd.testing.assert_frame_equal(store.query(sql, [enc]), store.query(sql, [plain]))
    # without the payment results and coupon objects, the callbacks alone still redeem
    only = tmp_path / "only"
    only.mkdir()
    for name in ("stocks.jsonl", "notifications.jsonl"):
        shutil.copy(small / "wechatpay" / name, only / name)
    with pytest.raises(lab.LogImportError, match="whose coupon is it"):
        import_logs(only, store=store, format="wechatpay", apiv3_key=KEY)


def test_timestamps_convert_to_shanghai_whatever_the_offset(small, tmp_path, monkeypatch):
    """A success_time in UTC lands on Shanghai's wall clock; the machine's TZ is irrelevant."""
    monkeypatch.setenv("TZ", "America/New_York")
    src = tmp_path / "wx"
    shutil.copytree(small / "wechatpay_plain", src)
    path = src / "payments.jsonl"
    lines = path.read_text().splitlines()
    import json

    first = json.loads(lines[0])
    local = dt.datetime.fromisoformat(first["success_time"])
    first["success_time"] = local.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lines[0] = json.dumps(first)
    path.write_text("\n".join(lines) + "\n")
    store = Store(":memory:")
    run = import_logs(src, store=store, format="wechatpay")
    ts = store.query("SELECT min(ts) AS ts FROM orders WHERE run_id = ?", [run])["ts"][0]
    assert ts <= pd.Timestamp(local.replace(tzinfo=None))
    got = store.query("SELECT ts FROM orders WHERE run_id = ? ORDER BY ts", [run])["ts"]
    assert pd.Timestamp(local.replace(tzinfo=None)) in set(got)


def test_cli_exports_and_imports_both_formats(small, tmp_path, capsys):
    from lab.cli import main

    db = str(tmp_path / "cli.duckdb")
    shutil.copy(small / "lab.duckdb", db)
    run = Store(db).runs()["run_id"].iloc[0]
    key = tmp_path / "apiv3.key"
    key.write_bytes(KEY + b"\n")
    out = tmp_path / "wx"
    assert (
        main(
            [
                "export",
                "--db",
                db,
                "--format",
                "wechatpay",
                "--apiv3-key-file",
                str(key),
                run,
                str(out),
            ]
        )
        == 0
    )
    assert main(["import", "--db", db, "--format", "wechatpay", str(out)]) == 2
    assert "pass the merchant's APIv3 key" in capsys.readouterr().err
    assert (
        main(
            ["import", "--db", db, "--format", "wechatpay", "--apiv3-key-file", str(key), str(out)]
        )
        == 0
    )
    assert (
        main(["export", "--db", db, "--format", "alipay", "--run", run, str(tmp_path / "ali")]) == 0
    )
    assert main(["import", "--db", db, "--format", "alipay", str(tmp_path / "ali")]) == 0
    root = Path(__file__).parents[2]
    mapped = ["import", "--db", db, "--format", "mapped", str(root / "tests" / "data" / "mapped")]
    assert main([*mapped, "--mapping", str(root / "docs" / "mapping-example.yml")]) == 0
    assert len(Store(db).runs()) == 4


# -- money: property-based ----------------------------------------------------------------
orders = st.lists(
    st.tuples(st.integers(0, 10**9), st.integers(0, 10**6), st.booleans()), min_size=1, max_size=20
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=orders, format=st.sampled_from(["wechatpay", "alipay"]))
def test_money_round_trips_exactly_through_fen_and_yuan(tmp_path_factory, rows, format):
    """Any fen amount survives the export (fen in WeChat Pay, yuan strings in Alipay)."""
    store = Store(":memory:")
    store.create_run("m", origin="synthetic", start_date=dt.date(2026, 3, 2), days=1)
    t0 = dt.datetime(2026, 3, 2, 9)
    store.write(
        "stocks",
        pa.table({"stock_id": [1], "stock_type": ["threshold"], "amount_fen": [100],
                  "transaction_minimum_fen": [200], "valid_from": [t0], "valid_until": [t0 + dt.timedelta(days=1)]}),
        run_id="m",
    )  # fmt: skip
    n = len(rows)
    with_coupon = [i for i, (_, _, c) in enumerate(rows) if c]
    store.write(
        "coupons",
        pa.table({
            "coupon_id": [i + 1 for i in with_coupon], "stock_id": [1] * len(with_coupon),
            "user_id": with_coupon, "claimed_at": [t0] * len(with_coupon),
            "issued_at": [t0] * len(with_coupon), "status": ["issued"] * len(with_coupon),
            "amount_fen": [100] * len(with_coupon), "transaction_minimum_fen": [200] * len(with_coupon),
            "valid_until": [t0 + dt.timedelta(days=1)] * len(with_coupon),
            "redeemed_at": [t0 + dt.timedelta(minutes=i + 1) for i in with_coupon],
            "order_id": [i + 1 for i in with_coupon],
            "discount_fen": [rows[i][1] for i in with_coupon],
        }),
        run_id="m",
    )  # fmt: skip
    store.write(
        "orders",
        pa.table({
            "order_id": list(range(1, n + 1)), "user_id": list(range(n)),
            "ts": [t0 + dt.timedelta(minutes=i + 1) for i in range(n)],
            "amount_fen": [a + d for a, d, _ in rows],
            "discount_fen": [d if c else 0 for _, d, c in rows],
            "coupon_id": [i + 1 if c else None for i, (_, _, c) in enumerate(rows)],
        }),
        run_id="m",
    )  # fmt: skip
    out = tmp_path_factory.mktemp("money")
    export_platform(store, "m", out, format=format)
    run = import_logs(out, store=store, format=format)
    sql = "SELECT amount_fen, discount_fen FROM orders WHERE run_id = ? ORDER BY ts"
    pd.testing.assert_frame_equal(store.query(sql, [run]), store.query(sql, ["m"]))
    sql = "SELECT coupon_id, discount_fen FROM coupons WHERE run_id = ? ORDER BY coupon_id"
    pd.testing.assert_frame_equal(store.query(sql, [run]), store.query(sql, ["m"]))
