"""format="mapped": the shipped example mapping reads the Meituan-style fixture exactly
(checked against pandas), and each bad input names the user's file, line and column."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from platform_helpers import fails

from lab.ingest import import_logs
from lab.store import Store

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "docs" / "mapping-example.yml"
DATA = ROOT / "tests" / "data" / "mapped"


def test_example_mapping_reads_the_fixture_like_pandas():
    store = Store(":memory:")
    run = import_logs(DATA, store=store, format="mapped", mapping=EXAMPLE)
    ref = pd.read_csv(DATA / "orders.csv", encoding="gb18030", dtype=str, keep_default_na=False)
    fen = [int(Decimal(v) * 100) for v in ref["订单金额(元)"]]
    got = store.query(
        "SELECT order_id, amount_fen, ts FROM orders WHERE run_id = ? ORDER BY order_id", [run]
    )
    assert got["order_id"].tolist() == [int(v) for v in ref["订单号"]]
    assert got["amount_fen"].tolist() == fen
    assert got["ts"].tolist() == pd.to_datetime(ref["下单时间"], format="%Y/%m/%d %H:%M").tolist()
    coupons = pd.read_csv(
        DATA / "coupons.csv", encoding="gb18030", dtype=str, keep_default_na=False
    )
    stored = store.query(
        "SELECT status, discount_fen FROM coupons WHERE run_id = ? ORDER BY coupon_id", [run]
    )
    assert set(stored["status"]) == {"issued"}
    assert stored["discount_fen"].fillna(-1).tolist() == [
        int(Decimal(v) * 100) if v else -1 for v in coupons["优惠(元)"]
    ]
    types = store.query("SELECT stock_type FROM stocks WHERE run_id = ? ORDER BY stock_id", [run])
    assert types["stock_type"].tolist() == ["threshold", "no_threshold", "threshold"]
    assert import_logs(DATA, store=store, format="mapped", mapping=EXAMPLE) == run


@pytest.fixture
def data(tmp_path):
    return Path(shutil.copytree(DATA, tmp_path / "mapped"))


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "lab.duckdb")
    import_logs(DATA, store=store, format="mapped", mapping=EXAMPLE)
    return store


def edit(path: Path, line: int, column: str, value: str) -> None:
    lines = path.read_bytes().decode("gb18030").splitlines()
    header = lines[0].split(",")
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells)
    path.write_bytes(("\n".join(lines) + "\n").encode("gb18030"))


def test_unparseable_date_in_the_mapping_format(store, data):
    edit(data / "orders.csv", 4, "下单时间", "03/02/2026 19:05")
    fails(
        store,
        data,
        f"{data / 'orders.csv'}:4: column 下单时间: unparseable date '03/02/2026 19:05' (the "
        "mapping's format is %Y/%m/%d %H:%M)",
        format="mapped",
        mapping=EXAMPLE,
    )


def test_value_the_mapping_does_not_know(store, data):
    edit(data / "coupons.csv", 3, "状态", "已冻结")
    fails(
        store,
        data,
        f"{data / 'coupons.csv'}:3: column 状态: unknown value '已冻结' for status (the mapping "
        "knows: 未使用, 已使用, 已过期)",
        format="mapped",
        mapping=EXAMPLE,
    )


def test_yuan_with_more_than_two_decimals(store, data):
    edit(data / "orders.csv", 2, "订单金额(元)", "46.505")
    fails(
        store,
        data,
        f"{data / 'orders.csv'}:2: column 订单金额(元): '46.505' has more than 2 decimals: yuan "
        "amounts are whole fen (0.01 yuan)",
        format="mapped",
        mapping=EXAMPLE,
    )


def test_fractional_fen_when_the_mapping_says_fen(store, data, tmp_path):
    mapping = tmp_path / "fen.yml"
    mapping.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace("money: yuan", "money: fen"), encoding="utf-8"
    )
    fails(
        store,
        data,
        f"{data / 'orders.csv'}:2: column 订单金额(元): fractional fen 46.50: money is integer fen "
        "(1 yuan = 100 fen)",
        format="mapped",
        mapping=mapping,
    )


def test_wrong_encoding(store, data, tmp_path):
    mapping = tmp_path / "utf8.yml"
    mapping.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace("encoding: gb18030", "encoding: utf-8"),
        encoding="utf-8",
    )
    fails(
        store,
        data,
        f"{data / 'stocks.csv'}:1: not valid utf-8 (byte 0xBB): set 'encoding' in the mapping "
        "(gb18030 for GBK, utf-16)",
        format="mapped",
        mapping=mapping,
    )


def test_missing_column(store, data):
    path = data / "coupons.csv"
    path.write_bytes(
        path.read_bytes().replace("领取时间".encode("gb18030"), "领券时间".encode("gb18030"), 1)
    )
    fails(
        store,
        data,
        f"{path}:1: column 领取时间: missing column (the mapping reads it as coupons.claimed_at)",
        format="mapped",
        mapping=EXAMPLE,
    )


def test_mapping_that_leaves_a_required_column_unmapped(store, data, tmp_path):
    mapping = tmp_path / "bad.yml"
    mapping.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace(
            "      user_id: 用户ID\n      claimed_at", "      claimed_at", 1
        ),
        encoding="utf-8",
    )
    fails(
        store,
        data,
        f"{mapping}: column tables.coupons.columns: user_id is required in coupons: map a column to it",
        format="mapped",
        mapping=mapping,
    )


def test_duplicate_key_names_both_lines(store, data):
    edit(data / "orders.csv", 5, "订单号", "5001")
    fails(
        store,
        data,
        f"{data / 'orders.csv'}:5: column 订单号: duplicate key: the same order_id as line 2",
        format="mapped",
        mapping=EXAMPLE,
    )
