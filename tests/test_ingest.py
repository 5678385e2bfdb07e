"""lab.ingest.import_logs: mapping of the Tianchi O2O log, the lab format, and every
validation error (message, and a database left exactly as it was)."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab import schema
from lab.ingest import LogImportError, import_logs
from lab.store import Store, StoreError

DATA = Path(__file__).parent / "data"
# the first 120 rows of the shared Tianchi file plus its first 12 rate-coupon rows (CRLF kept)
TIANCHI = DATA / "tianchi_o2o_sample.csv"
LAB_DIR = DATA / "lab_format"
FULL_TIANCHI = (
    Path(__file__).parents[2] / "shared/data/tianchi-o2o/ccf_offline_stage1_test_revised.csv"
)
TIANCHI_HEADER = "User_id,Merchant_id,Coupon_id,Discount_rate,Distance,Date_received"


def snapshot(store: Store) -> dict[str, int]:
    """Row count of every table, the runs table included."""
    with store.connect():
        return {
            t.name: int(store.query(f"SELECT count(*) AS n FROM {t.name}")["n"][0])
            for t in schema.TABLES
        }


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "lab.duckdb"
    import_logs(LAB_DIR, store=Store(path))
    return path


@pytest.fixture
def store(template, tmp_path):
    """A file store that already holds one run, so 'unchanged' means something."""
    return Store(shutil.copy(template, tmp_path / "lab.duckdb"))


def expected_cols(table: str) -> str:
    return ", ".join(c for c in schema.table(table).column_names if c != "run_id")


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def fails(store: Store, path: Path, message: str, **kwargs) -> LogImportError:
    """Import ``path``, expect exactly ``message``, and check nothing was written."""
    before = snapshot(store)
    with pytest.raises(LogImportError) as info:
        import_logs(path, store=store, **kwargs)
    assert str(info.value) == message
    assert snapshot(store) == before
    return info.value


# -- Tianchi O2O ---------------------------------------------------------------------
def tianchi_reference(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df["row"] = np.arange(1, len(df) + 1)
    df["dist"] = pd.to_numeric(df["Distance"].replace("null", np.nan))
    return df


def test_tianchi_sample_maps_every_table_like_a_pandas_reference():
    store = Store(":memory:")
    run = import_logs(TIANCHI, store=store)
    ref = tianchi_reference(TIANCHI)
    sha = hashlib.sha256(TIANCHI.read_bytes()).hexdigest()
    assert run == f"tianchi_o2o_sample-{sha[:8]}"
    meta = store.run(run)
    assert (meta["origin"], meta["source_sha256"], meta["n_users"]) == (
        "import",
        sha,
        ref["User_id"].nunique(),
    )
    dates = pd.to_datetime(ref["Date_received"], format="%Y%m%d")
    assert meta["start_date"].date() == dates.min().date()
    assert meta["days"] == (dates.max() - dates.min()).days + 1

    users = store.query("SELECT * FROM users WHERE run_id = ? ORDER BY user_id", [run])
    want = ref.groupby(ref["User_id"].astype("int64"))["dist"].min() * 0.5
    assert users["user_id"].tolist() == want.index.tolist()
    np.testing.assert_array_equal(
        users["distance_km"].to_numpy(float, na_value=np.nan), want.to_numpy()
    )
    assert set(users["primary_platform"]) == {"offline"}

    stocks = store.query(
        "SELECT * FROM stocks WHERE run_id = ? ORDER BY stock_id", [run]
    ).set_index("stock_id")
    first = ref.drop_duplicates("Coupon_id").set_index(
        ref.drop_duplicates("Coupon_id")["Coupon_id"].astype("int64")
    )
    assert stocks.index.tolist() == sorted(first.index)
    for cid, r in first.iterrows():
        s = stocks.loc[cid]
        assert s["merchant_id"] == int(r["Merchant_id"])
        if ":" in r["Discount_rate"]:
            x, y = (int(v) for v in r["Discount_rate"].split(":"))
            assert (s["stock_type"], s["transaction_minimum_fen"], s["amount_fen"]) == (
                "threshold",
                100 * x,
                100 * y,
            )
            assert pd.isna(s["discount_rate"])
        else:
            assert (s["stock_type"], s["transaction_minimum_fen"]) == ("discount", 0)
            assert pd.isna(s["amount_fen"]) and s["discount_rate"] == float(r["Discount_rate"])
    assert str(store.query("SELECT * FROM stocks")["amount_fen"].dtype).lower() == "int64"

    coupons = store.query("SELECT * FROM coupons WHERE run_id = ? ORDER BY coupon_id", [run])
    assert coupons["coupon_id"].tolist() == ref["row"].tolist()
    assert coupons["user_id"].tolist() == ref["User_id"].astype("int64").tolist()
    assert coupons["stock_id"].tolist() == ref["Coupon_id"].astype("int64").tolist()
    assert (coupons["claimed_at"] == dates).all() and (coupons["issued_at"] == dates).all()
    assert set(coupons["status"]) == {"issued"}
    threshold = ref["Discount_rate"].str.contains(":")
    face = ref["Discount_rate"].where(threshold, "0:0").str.split(":").str[1].astype(int) * 100
    assert coupons["amount_fen"][threshold.to_numpy()].tolist() == face[threshold].tolist()

    offers = store.query("SELECT * FROM offers WHERE run_id = ? ORDER BY offer_id", [run])
    assert offers["offer_id"].tolist() == offers["coupon_id"].tolist() == ref["row"].tolist()
    assert (offers["delivered_at"] == dates).all() and (offers["exposed_at"] == dates).all()
    events = store.query("SELECT * FROM events WHERE run_id = ? ORDER BY event_id", [run])
    assert (
        set(events["event_type"]) == {"claim"}
        and events["coupon_id"].tolist() == ref["row"].tolist()
    )
    assert (events["ts"] == dates).all()


@pytest.mark.skipif(not FULL_TIANCHI.exists(), reason="shared Tianchi sample not present")
def test_full_tianchi_file_matches_its_documented_counts():
    """Golden values from shared/data/tianchi-o2o/SOURCE.md."""
    store = Store(":memory:")
    run = import_logs(FULL_TIANCHI, store=store)
    counts = (
        store.query(
            "SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM stocks) AS stocks, "
            "(SELECT count(DISTINCT merchant_id) FROM stocks) AS merchants, "
            "(SELECT count(*) FILTER (WHERE amount_fen IS NOT NULL) FROM coupons) AS threshold, "
            "(SELECT count(*) FILTER (WHERE amount_fen IS NULL) FROM coupons) AS rate"
        )
        .iloc[0]
        .to_dict()
    )
    assert counts == {
        "users": 76309,
        "stocks": 2050,
        "merchants": 1559,
        "threshold": 111074,
        "rate": 2566,
    }
    assert (
        store.run(run)["source_sha256"]
        == "5cd01689facd54f7e4c6b27c4f164d827254d0611e3ab615eb863dbf9b14b140"
    )
    assert store.run(run)["days"] == 31
    # DuckDB reads the 4 MB file in parallel chunks: coupon ids must still follow file order
    ref = pd.read_csv(FULL_TIANCHI, usecols=["User_id", "Coupon_id"])
    got = store.query("SELECT user_id, stock_id FROM coupons ORDER BY coupon_id")
    assert got["user_id"].tolist() == ref["User_id"].tolist()
    assert got["stock_id"].tolist() == ref["Coupon_id"].tolist()


def test_same_bytes_twice_is_a_no_op_and_other_bytes_make_a_new_run(store, tmp_path):
    first = import_logs(TIANCHI, store=store)
    before = snapshot(store)
    copy = shutil.copy(TIANCHI, tmp_path / "renamed.csv")
    assert import_logs(copy, store=store, run_id="other") == first
    assert snapshot(store) == before
    changed = write(tmp_path, "changed.csv", TIANCHI.read_bytes() + b"1,2,3,30:5,1,20160701\r\n")
    second = import_logs(changed, store=store)
    assert second != first
    assert (
        store.describe_run(second).set_index("table")["rows"]["coupons"]
        == before["coupons"] - 2 + 1
    )


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        (
            "1,2,3,30-5,1,20160701",
            "Discount_rate",
            "malformed Discount_rate '30-5': expected 'x:y' (spend x yuan, save y yuan, 0 < y <= x) or a rate between 0 and 1 such as '0.95'",
        ),
        (
            "1,2,3,5:30,1,20160701",
            "Discount_rate",
            "malformed Discount_rate '5:30': expected 'x:y' (spend x yuan, save y yuan, 0 < y <= x) or a rate between 0 and 1 such as '0.95'",
        ),
        (
            "1,2,3,1.5,1,20160701",
            "Discount_rate",
            "malformed Discount_rate '1.5': expected 'x:y' (spend x yuan, save y yuan, 0 < y <= x) or a rate between 0 and 1 such as '0.95'",
        ),
        (
            "1,2,3,30:5,11,20160701",
            "Distance",
            "Distance 11 out of range 0-10 (units of 500 m; 10 means 5 km or more)",
        ),
        (
            "1,2,3,30:5,-1,20160701",
            "Distance",
            "Distance -1 out of range 0-10 (units of 500 m; 10 means 5 km or more)",
        ),
        (
            "1,2,3,30:5,far,20160701",
            "Distance",
            "malformed Distance 'far': expected a whole number 0-10 (units of 500 m) or null",
        ),
        (
            "1,2,3,30:5,1,20160732",
            "Date_received",
            "unparseable date '20160732' (expected yyyymmdd)",
        ),
        ("1,2,3,30:5,1,null", "Date_received", "missing value (the column is required)"),
        ("x1,2,3,30:5,1,20160701", "User_id", "not an id (a whole number): 'x1'"),
    ],
)
def test_tianchi_bad_fields(store, tmp_path, row, column, reason):
    path = write(
        tmp_path, "o2o.csv", f"{TIANCHI_HEADER}\r\n4129537,450,9983,30:5,1,20160712\r\n{row}\r\n"
    )
    err = fails(store, path, f"{path}:3: column {column}: {reason}")
    assert (err.file, err.line, err.column, err.reason) == (str(path), 3, column, reason)


def test_tianchi_coupon_that_changes_rate_or_merchant_names_both_lines(store, tmp_path):
    rows = ["7,450,9983,30:5,1,20160712", "8,450,1,20:5,1,20160712", "9,450,9983,20:5,0,20160713"]
    path = write(tmp_path, "o2o.csv", "\r\n".join([TIANCHI_HEADER, *rows]) + "\r\n")
    fails(
        store,
        path,
        f"{path}:4: column Discount_rate: Coupon_id 9983 has Discount_rate '20:5' here but "
        "'30:5' on line 2; one coupon id must keep one Discount_rate and one merchant",
    )
    rows[2] = "9,451,9983,30:5,0,20160713"
    path.write_text("\n".join([TIANCHI_HEADER, *rows]) + "\n")
    fails(
        store,
        path,
        f"{path}:4: column Merchant_id: Coupon_id 9983 has Merchant_id '451' here but "
        "'450' on line 2; one coupon id must keep one Discount_rate and one merchant",
    )


def test_tianchi_header_problems(store, tmp_path):
    want = TIANCHI_HEADER.replace(",", ", ")
    path = write(tmp_path, "train.csv", f"{TIANCHI_HEADER},Date\n1,2,3,30:5,1,20160701,20160705\n")
    fails(store, path, f"{path}:1: column Date: unexpected column (expected columns: {want})")
    path = write(
        tmp_path,
        "short.csv",
        "User_id,Merchant_id,Coupon_id,Discount_rate,Date_received\n1,2,3,30:5,20160701\n",
    )
    fails(store, path, f"{path}:1: column Distance: missing column (expected columns: {want})")
    path = write(tmp_path, "header.csv", f"{TIANCHI_HEADER}\r\n")
    fails(store, path, f"{path}:2: no data rows after the header")


# -- lab format ----------------------------------------------------------------------
def test_lab_directory_round_trips_every_value():
    store = Store(":memory:")
    run = import_logs(LAB_DIR, store=store, label="hand-written")
    assert store.run(run)["label"] == "hand-written"
    assert store.run(run)["n_users"] == 3
    for path in sorted(LAB_DIR.glob("*.csv")):
        spec = schema.table(path.stem)
        got = store.query(f"SELECT * EXCLUDE (run_id) FROM {spec.name} WHERE run_id = ?", [run])
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert list(got.columns) == [c for c in spec.column_names if c != "run_id"]
        assert len(got) == len(raw)
        for col in spec.columns[1:]:
            for value, text in zip(got[col.name].astype(object), raw[col.name], strict=True):
                if text == "":
                    assert pd.isna(value), (path.name, col.name)
                elif col.type == "BOOLEAN":
                    assert value == (text == "true")
                elif col.type in ("TIMESTAMP", "DATE"):
                    assert pd.Timestamp(value) == pd.Timestamp(text)
                elif col.type == "DOUBLE":
                    assert value == float(text)
                elif col.type == "VARCHAR":
                    assert value == text
                else:
                    assert value == int(text) and isinstance(value, int | np.integer)
    fen = store.query("SELECT amount_fen, discount_fen FROM orders")
    assert all(str(t).lower() == "int64" for t in fen.dtypes)


def test_lab_parquet_file_keeps_types_and_ignores_a_run_id_column(tmp_path):
    orders = pa.table(
        {
            "run_id": ["elsewhere", "elsewhere"],
            "order_id": pa.array([1, 2], pa.int64()),
            "user_id": pa.array([7, 8], pa.int32()),
            "ts": pa.array(
                [pd.Timestamp("2026-07-01 12:00"), pd.Timestamp("2026-07-03 08:30")],
                pa.timestamp("us"),
            ),
            "merchant_id": pa.array([None, 3], pa.int64()),
            "order_channel": ["dine_in", None],
            "platform": ["meituan", "wechat"],
            "amount_fen": pa.array([2550, 10000], pa.int64()),
            "discount_fen": pa.array([0.0, 500.0]),  # integral doubles are fine
            "coupon_id": pa.array([None, 11], pa.int64()),
        }
    )
    path = tmp_path / "orders.parquet"
    pq.write_table(orders, path)
    store = Store(":memory:")
    run = import_logs(path, store=store)
    got = store.query("SELECT * FROM orders ORDER BY order_id")
    assert set(got["run_id"]) == {run}
    assert (
        got["discount_fen"].tolist() == [0, 500]
        and str(got["discount_fen"].dtype).lower() == "int64"
    )
    assert got["ts"].tolist() == orders["ts"].to_pylist()
    assert store.run(run)["days"] == 3


def test_parquet_errors_name_the_row(store, tmp_path):
    path = tmp_path / "weather.parquet"
    pq.write_table(pa.table({"day": ["2026-07-01", "2026-07-02"], "rain": [True, None]}), path)
    fails(store, path, f"{path}:2: column rain: missing value (the column is required)")
    path = tmp_path / "orders.parquet"
    table = pa.table(
        {
            c: pa.array([1, 2], pa.int64())
            for c in ("order_id", "user_id", "merchant_id", "coupon_id", "discount_fen")
        }
    )
    table = table.append_column(
        "ts", pa.array([pd.Timestamp("2026-07-01")] * 2, pa.timestamp("us"))
    )
    table = table.append_column("order_channel", pa.array(["delivery", "delivery"]))
    table = table.append_column("platform", pa.array(["wechat", "wechat"]))
    pq.write_table(table.append_column("amount_fen", pa.array([100.0, 12.5])), path)
    fails(
        store,
        path,
        f"{path}:2: column amount_fen: fractional fen 12.5: money is integer fen (1 yuan = 100 fen)",
    )
    pq.write_table(table.append_column("amount_fen", pa.array([100, -5])), path)
    fails(store, path, f"{path}:2: column amount_fen: negative amount -5 fen")
    pq.write_table(table, path)
    fails(
        store,
        path,
        f"{path}: column amount_fen: missing column (expected columns: {expected_cols('orders')})",
    )


ORDERS_HEADER = (
    "order_id,user_id,ts,merchant_id,order_channel,platform,amount_fen,discount_fen,coupon_id"
)
GOOD_ORDER = "5000,1,2026-07-03 12:31:00,77,dine_in,wechat,4250,500,1000"


@pytest.mark.parametrize(
    ("bad_row", "column", "reason"),
    [
        (
            "5001,abc,2026-07-03 12:31:00,77,dine_in,wechat,4250,0,",
            "user_id",
            "not an integer: 'abc'",
        ),
        (
            "5001,1.5,2026-07-03 12:31:00,77,dine_in,wechat,4250,0,",
            "user_id",
            "not an integer: '1.5'",
        ),
        (
            "5001,,2026-07-03 12:31:00,77,dine_in,wechat,4250,0,",
            "user_id",
            "missing value (the column is required)",
        ),
        (
            "5001,1,2026-07-03 12:31:00,77,dine_in,wechat,-5,0,",
            "amount_fen",
            "negative amount -5 fen",
        ),
        (
            "5001,1,2026-07-03 12:31:00,77,dine_in,wechat,12.5,0,",
            "amount_fen",
            "fractional fen 12.5: money is integer fen (1 yuan = 100 fen)",
        ),
        (
            "5001,1,2026-07-03 12:31:00,77,dine_in,wechat,ten,0,",
            "amount_fen",
            "not a number: 'ten' (money is integer fen)",
        ),
        (
            "5001,1,2026-07-03 12:31:00,77,takeaway,wechat,4250,0,",
            "order_channel",
            "unknown value 'takeaway' (allowed: dine_in, delivery)",
        ),
        (
            "5001,1,2026-07-03 12:31:00,77,dine_in,douyin,4250,0,",
            "platform",
            "unknown value 'douyin' (allowed: wechat, alipay, meituan, offline)",
        ),
        (
            "5001,1,yesterday,77,dine_in,wechat,4250,0,",
            "ts",
            "unparseable timestamp 'yesterday' (expected YYYY-MM-DD HH:MM:SS)",
        ),
        (
            "5001,1,2026-02-30 10:00:00,77,dine_in,wechat,4250,0,",
            "ts",
            "unparseable timestamp '2026-02-30 10:00:00' (expected YYYY-MM-DD HH:MM:SS)",
        ),
        (
            "5001,1,2026-07-03 12:31:00,99999999999999999999,dine_in,wechat,4250,0,",
            "merchant_id",
            "out of range for BIGINT: '99999999999999999999'",
        ),
        (
            "5000,1,2026-07-03 12:31:00,77,dine_in,wechat,4250,0,",
            "order_id",
            "duplicate key (order_id=5000): already on line 2",
        ),
    ],
)
def test_lab_bad_values(store, tmp_path, bad_row, column, reason):
    path = write(tmp_path, "orders.csv", f"{ORDERS_HEADER}\n{GOOD_ORDER}\n{bad_row}\n")
    err = fails(store, path, f"{path}:3: column {column}: {reason}")
    assert (err.line, err.column, err.reason) == (3, column, reason)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "weather.csv",
            "day,rain\n2026-07-01,false\n2026-07-32,true\n",
            "3: column day: unparseable date '2026-07-32' (expected YYYY-MM-DD)",
        ),
        (
            "weather.csv",
            "day,rain\n2026-07-01,maybe\n",
            "2: column rain: not a boolean: 'maybe' (use true or false)",
        ),
        (
            "weather.csv",
            "day,rain\n2026-07-01,false\n2026-07-01,true\n",
            "3: column day: duplicate key (day=2026-07-01): already on line 2",
        ),
        (
            "weather.csv",
            "day,rain,wind\n2026-07-01,false,3\n",
            "1: column wind: unexpected column (expected columns: day, rain)",
        ),
        ("weather.csv", "day,day,rain\n", "1: column day: column appears twice in the header"),
        (
            "weather.csv",
            "rain\ntrue\n",
            "1: column day: missing column (expected columns: day, rain)",
        ),
        ("weather.csv", "", "1: empty file: expected a header line naming the columns"),
        (
            "weather.csv",
            "day,rain\n2026-07-01,false\n2026-07-02",
            "3: expected 2 fields as in the header, found 1 (truncated last line?)",
        ),
        (
            "weather.csv",
            "day,rain\n2026-07-01,false,x\n2026-07-02,true\n",
            "2: expected 2 fields as in the header, found 3",
        ),
        (
            "assignments.csv",
            "experiment,user_id,arm,assigned_at\nab,1,t,\nab,2,t,\nab,1,c,\n",
            "4: column experiment, user_id: duplicate key (experiment=ab, user_id=1): already on line 2",
        ),
    ],
)
def test_lab_file_level_problems(store, tmp_path, name, text, message):
    path = write(tmp_path, name, text)
    fails(store, path, f"{path}:{message}")


def test_out_of_range_small_integers(store, tmp_path):
    users = (LAB_DIR / "users.csv").read_text().splitlines()
    users[2] = users[2].replace(",2,2.5,new,", ",300,2.5,new,")
    path = write(tmp_path, "users.csv", "\n".join(users) + "\n")
    fails(store, path, f"{path}:3: column city_tier: out of range for TINYINT: '300'")


def test_undecodable_bytes_name_line_and_column(store, tmp_path):
    # 0xFF starts no character in UTF-8 nor in GB18030
    stocks = (LAB_DIR / "stocks.csv").read_bytes().replace(b"summer dinner", b"summer \xff")
    path = write(tmp_path, "stocks.csv", stocks)
    err = fails(
        store,
        path,
        f"{path}:3: column campaign: not valid UTF-8 (byte 0xFF at byte 11 of the line), "
        "nor gb18030 or UTF-16 with a BOM: save the file as UTF-8, or name its encoding "
        "(encoding=, --encoding)",
    )
    assert (err.line, err.column) == (3, "campaign")


def test_line_numbers_count_multiline_fields_and_blank_lines(store, tmp_path):
    stocks = (LAB_DIR / "stocks.csv").read_text().splitlines()
    stocks[1] = stocks[1].replace('"summer, lunch"', '"summer\nlunch"')  # lines 2-3
    bad = stocks[2].replace("11,summer dinner,discount", "12,x,coupon")
    path = write(
        tmp_path, "stocks.csv", "\n".join([*stocks, "", bad]) + "\n"
    )  # blank line 5, bad line 6
    fails(
        store,
        path,
        f"{path}:6: column stock_type: unknown value 'coupon' (allowed: threshold, no_threshold, discount, random)",
    )


def test_an_error_in_a_later_file_of_a_directory_writes_nothing(store, tmp_path):
    directory = shutil.copytree(LAB_DIR, tmp_path / "log")
    (directory / "weather.csv").write_text("day,rain\n2026-07-02,false\n2026-07-03,drizzle\n")
    fails(
        store,
        directory,
        f"{directory / 'weather.csv'}:3: column rain: not a boolean: 'drizzle' (use true or false)",
    )


def test_directory_refuses_runs_truth_and_doubled_tables(store, tmp_path):
    directory = shutil.copytree(LAB_DIR, tmp_path / "log")
    (directory / "truth_users.csv").write_text("user_id\n1\n")
    fails(
        store,
        directory,
        f"{directory / 'truth_users.csv'}: truth tables come only from the simulator; "
        "table files are users, stocks, offers, coupons, events, orders, assignments, weather, engine_metrics (.csv or .parquet)",
    )
    (directory / "truth_users.csv").unlink()
    pq.write_table(pa.table({"day": ["2026-07-09"], "rain": [True]}), directory / "weather.parquet")
    fails(
        store,
        directory,
        f"{directory / 'weather.parquet'}: table weather given twice (weather.csv and weather.parquet)",
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    err = fails(
        store,
        empty,
        f"{empty}: no table files; expected some of users, stocks, offers, coupons, events, "
        "orders, assignments, weather, engine_metrics (.csv or .parquet)",
    )
    assert err.line is None and err.column is None


def test_store_errors_and_bad_arguments_write_nothing(store, tmp_path):
    before = snapshot(store)
    with pytest.raises(StoreError, match="exists already"):
        import_logs(TIANCHI, store=store, run_id=store.runs()["run_id"][0])
    assert snapshot(store) == before
    with pytest.raises(ValueError, match="format must be one of auto, tianchi, lab; got 'csv'"):
        import_logs(TIANCHI, store=store, format="csv")
    with pytest.raises(ValueError, match="table must be one of"):
        import_logs(TIANCHI, store=store, format="lab", table="runs")
    missing = tmp_path / "nope.csv"
    fails(store, missing, f"{missing}: no such file or directory")
    odd = write(tmp_path, "log.csv", "a,b\n1,2\n")
    fails(
        store,
        odd,
        f"{odd}: cannot tell the format: expected the Tianchi O2O header ({TIANCHI_HEADER}) or a "
        "file named after a lab table (users, stocks, offers, coupons, events, orders, assignments, weather, "
        "engine_metrics); pass format= (and table=)",
    )
    path = store.path
    with pytest.raises(StoreError, match="read-only"):
        import_logs(TIANCHI, store=Store(path, read_only=True))
    assert snapshot(store) == before


def test_single_file_with_explicit_table(tmp_path):
    path = write(tmp_path, "rain_log.csv", "day,rain\n2026-07-01,TRUE\n2026-07-02,f\n")
    store = Store(":memory:")
    run = import_logs(path, store=store, format="lab", table="weather")
    got = store.query("SELECT day, rain FROM weather WHERE run_id = ? ORDER BY day", [run])
    assert got["rain"].tolist() == [True, False]
    assert store.run(run)["n_users"] == 0


@settings(max_examples=15, deadline=None)
@given(
    amounts=st.lists(st.integers(0, 10**12), min_size=1, max_size=30),
    bad=st.none() | st.tuples(st.integers(0, 29), st.sampled_from(["-7", "3.25", "x"])),
)
def test_money_round_trips_exactly_or_the_first_bad_row_is_named(tmp_path_factory, amounts, bad):
    """Property: valid fen survive exactly; one bad value is reported at its own line."""
    rows = [str(a) for a in amounts]
    if bad is not None:
        index = bad[0] % len(rows)
        rows[index] = bad[1]
    text = (
        ORDERS_HEADER
        + "\n"
        + "".join(f"{i},1,2026-07-01 10:00:00,,,,{a},0,\n" for i, a in enumerate(rows))
    )
    path = write(tmp_path_factory.mktemp("p"), "orders.csv", text)
    store = Store(":memory:")
    if bad is None:
        import_logs(path, store=store)
        assert (
            store.query("SELECT amount_fen FROM orders ORDER BY order_id")["amount_fen"].tolist()
            == amounts
        )
    else:
        with pytest.raises(LogImportError) as info:
            import_logs(path, store=store)
        assert (info.value.line, info.value.column) == (index + 2, "amount_fen")
        assert re.search(r"negative|fractional|not a number", info.value.reason)
        assert snapshot(store)["orders"] == 0


def test_failed_imports_leave_no_temporary_tables(tmp_path):
    store = Store(":memory:")  # one connection for the store's life: leftovers would show
    path = tmp_path / "weather.parquet"
    pq.write_table(pa.table({"day": ["2026-07-01"]}), path)
    with pytest.raises(LogImportError, match="missing column"):
        import_logs(path, store=store)
    bad = write(tmp_path, "o2o.csv", f"{TIANCHI_HEADER}\n1,2,3,30:5,12,20160701\n")
    with pytest.raises(LogImportError, match="out of range"):
        import_logs(bad, store=store)
    import_logs(TIANCHI, store=store)
    left = store.query(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '_lab_import%'"
    )
    assert left.empty


@pytest.mark.skipif(not FULL_TIANCHI.exists(), reason="shared Tianchi sample not present")
def test_error_deep_in_a_large_file_names_its_line(store, tmp_path):
    lines = FULL_TIANCHI.read_bytes().split(b"\r\n")
    lines[99_999] = lines[99_999].rsplit(b",", 1)[0] + b",2016-07-01"  # line 100,000
    path = write(tmp_path, "o2o.csv", b"\r\n".join(lines))
    fails(
        store,
        path,
        f"{path}:100000: column Date_received: unparseable date '2016-07-01' (expected yyyymmdd)",
    )
