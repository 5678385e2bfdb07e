"""Imports of real-world files: encodings, line endings, time zones, bad values, odd files.

Issue 19, points 3, 5 and 6 (import errors). Each import is compared with the same data
imported from a plain UTF-8, LF file, so "read right" means "read exactly the same".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lab import Store
from lab.ingest import LogImportError, import_logs

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
TIANCHI = DATA / "tianchi_o2o_sample.csv"
LAB_DIR = DATA / "lab_format"
TABLES = ("users", "stocks", "coupons", "events")


def _tables(store: Store, run_id: str) -> dict[str, pd.DataFrame]:
    return {
        t: store.query(
            f"SELECT * EXCLUDE (run_id) FROM {t} WHERE run_id = ? ORDER BY ALL", [run_id]
        )
        for t in TABLES
    }


def _same_data(store: Store, a: str, b: str) -> None:
    left, right = _tables(store, a), _tables(store, b)
    for t in TABLES:
        pd.testing.assert_frame_equal(left[t], right[t], check_dtype=False)


@pytest.mark.parametrize(
    "encoding,bom",
    [
        ("utf-8", b"\xef\xbb\xbf"),
        ("gbk", b""),
        ("gb18030", b""),
        ("utf-16-le", b"\xff\xfe"),
        ("utf-16-be", b"\xfe\xff"),
    ],
)
def test_chinese_text_reads_the_same_in_every_encoding(tmp_path, encoding, bom):
    text = (LAB_DIR / "stocks.csv").read_text().replace("summer dinner", "夏季晚餐，满减")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "stocks.csv").write_text(text)
    coded = tmp_path / encoding
    coded.mkdir()
    (coded / "stocks.csv").write_bytes(bom + text.encode(encoding))
    store = Store(":memory:")
    a = import_logs(plain / "stocks.csv", store=store)
    b = import_logs(coded / "stocks.csv", store=store)
    assert a != b
    left = store.query("SELECT * EXCLUDE (run_id) FROM stocks WHERE run_id = ?", [a])
    right = store.query("SELECT * EXCLUDE (run_id) FROM stocks WHERE run_id = ?", [b])
    pd.testing.assert_frame_equal(left, right)
    assert "夏季晚餐，满减" in set(right["campaign"])


def test_excel_unicode_text_is_tab_separated_utf16(tmp_path):
    lines = TIANCHI.read_text().splitlines()
    tsv = "\r\n".join(line.replace(",", "\t") for line in lines) + "\r\n"
    path = tmp_path / "o2o.txt.csv"
    path.write_bytes(b"\xff\xfe" + tsv.encode("utf-16-le"))
    store = Store(":memory:")
    _same_data(store, import_logs(TIANCHI, store=store), import_logs(path, store=store))


def test_an_encoding_can_be_named(tmp_path):
    # Big5 bytes decode as GB18030 too (to other characters): only the name reads them right
    text = (LAB_DIR / "stocks.csv").read_text().replace("summer dinner", "夏季晚餐")
    path = tmp_path / "stocks.csv"
    path.write_bytes(text.encode("big5"))
    store = Store(":memory:")
    run = import_logs(path, store=store, encoding="big5")
    assert "夏季晚餐" in set(
        store.query("SELECT campaign FROM stocks WHERE run_id = ?", [run])["campaign"]
    )
    with pytest.raises(ValueError, match="encoding must be a text encoding.*'klingon'"):
        import_logs(path, store=Store(":memory:"), encoding="klingon")


def test_mixed_line_endings_are_read(tmp_path):
    lines = TIANCHI.read_text().splitlines()
    mixed = "".join(line + ("\r\n" if i % 2 else "\n") for i, line in enumerate(lines))
    path = tmp_path / "mixed.csv"
    path.write_bytes(mixed.encode())
    store = Store(":memory:")
    _same_data(store, import_logs(TIANCHI, store=store), import_logs(path, store=store))


def test_an_error_in_a_converted_file_names_the_original_line(tmp_path):
    lines = TIANCHI.read_text().splitlines()
    lines[6] = lines[6].rsplit(",", 1)[0] + ",2016x712"
    mixed = "".join(line + ("\r\n" if i % 2 else "\n") for i, line in enumerate(lines))
    path = tmp_path / "mixed.csv"
    path.write_bytes(mixed.encode("gbk"))
    with pytest.raises(LogImportError) as err:
        import_logs(path, store=Store(":memory:"))
    assert (err.value.file, err.value.line, err.value.column) == (str(path), 7, "Date_received")


def test_a_date_out_of_range_is_a_clear_error(tmp_path):
    lines = TIANCHI.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",99991231"
    path = tmp_path / "far.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(LogImportError) as err:
        import_logs(path, store=Store(":memory:"))
    assert (err.value.line, err.value.column) == (4, "Date_received")
    assert "out of range: '99991231'" in err.value.reason


# -- time zones -------------------------------------------------------------------------
def _orders_with(tmp_path: Path, ts: list[str]) -> Path:
    rows = [f"{5000 + i},1,{t},77,dine_in,wechat,4250,500," for i, t in enumerate(ts)]
    header = (LAB_DIR / "orders.csv").read_text().splitlines()[0]
    path = tmp_path / "orders.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _stored_ts(tz_env: str, path: Path, **kwargs) -> list[str]:
    """Import ``path`` in a process whose TZ is ``tz_env``; the stored order timestamps."""
    script = (
        "import sys, lab; from lab.ingest import import_logs; s = lab.Store(':memory:');"
        f"r = import_logs(sys.argv[1], store=s, **{kwargs!r});"
        "print(*s.query('SELECT ts FROM orders ORDER BY order_id')['ts'].astype(str), sep='|')"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=dict(os.environ, TZ=tz_env),
    )
    return out.stdout.strip().split("|")


def test_offsets_in_csv_become_the_runs_local_time_whatever_the_machine_tz(tmp_path):
    path = _orders_with(
        tmp_path,
        [
            "2026-07-03 12:31:00+08:00",
            "2026-07-03 12:31:00-05:00",
            "2026-07-03T04:31:00Z",
            "2026-07-03 12:31:00",
        ],
    )
    expected = [
        "2026-07-03 12:31:00",
        "2026-07-04 01:31:00",
        "2026-07-03 12:31:00",
        "2026-07-03 12:31:00",
    ]
    for tz in ("UTC", "Asia/Shanghai", "America/New_York"):
        assert _stored_ts(tz, path) == expected
    # another local time zone (New York is UTC-4 in July): offsets convert to it, naive
    # times are taken as it
    assert _stored_ts("UTC", path, timezone="America/New_York") == [
        "2026-07-03 00:31:00",
        "2026-07-03 13:31:00",
        "2026-07-03 00:31:00",
        "2026-07-03 12:31:00",
    ]


def test_tz_aware_parquet_becomes_the_runs_local_time_whatever_the_machine_tz(tmp_path):
    csv = pd.read_csv(LAB_DIR / "orders.csv").head(1)
    csv["ts"] = pd.Timestamp("2026-07-03 12:31:00", tz="Asia/Shanghai")
    path = tmp_path / "orders.parquet"
    pq.write_table(pa.Table.from_pandas(csv, preserve_index=False), path)
    for tz in ("UTC", "Asia/Shanghai", "America/New_York"):
        assert _stored_ts(tz, path) == ["2026-07-03 12:31:00"]


def test_an_unknown_time_zone_is_refused(tmp_path):
    with pytest.raises(ValueError, match="timezone must be an IANA time zone.*'Mars/Olympus'"):
        import_logs(LAB_DIR, store=Store(":memory:"), timezone="Mars/Olympus")


# -- bad values and odd files -----------------------------------------------------------
def _lab_copy(tmp_path: Path) -> Path:
    target = tmp_path / "logs"
    shutil.copytree(LAB_DIR, target)
    return target


def _replace(path: Path, line: int, column: str, value: str) -> None:
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    fields = lines[line - 1].split(",")
    fields[header.index(column)] = value
    lines[line - 1] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "table,line,column,value,reason",
    [
        ("users", 2, "distance_km", "nan", "not a finite number: 'nan'"),
        ("users", 3, "distance_km", "inf", "not a finite number: 'inf'"),
        ("users", 2, "distance_km", "-1.5", "negative distance -1.5 km"),
        ("orders", 2, "discount_fen", "5000", "discount 5000 fen is more than amount_fen"),
        ("orders", 2, "ts", "9999-12-31 00:00:00", "date out of range: '9999-12-31 00:00:00'"),
    ],
)
def test_impossible_values_are_errors_naming_file_line_and_column(
    tmp_path, table, line, column, value, reason
):
    logs = _lab_copy(tmp_path)
    _replace(logs / f"{table}.csv", line, column, value)
    store = Store(":memory:")
    with pytest.raises(LogImportError) as err:
        import_logs(logs, store=store)
    assert (err.value.file, err.value.line, err.value.column) == (
        str(logs / f"{table}.csv"),
        line,
        column,
    )
    assert err.value.reason.startswith(reason)
    assert store.runs().empty


def _make_fifo(path: Path) -> None:
    os.mkfifo(path)


@pytest.mark.parametrize(
    "make,reason",
    [
        (lambda p: p.symlink_to(p.parent / "nowhere.csv"), "dangling"),
        (lambda p: p.symlink_to(p), "cannot read the table file"),
        (_make_fifo, "not a regular file"),
    ],
    ids=["dangling", "loop", "fifo"],
)
def test_an_unreadable_table_file_is_an_error_not_a_missing_table(tmp_path, make, reason):
    logs = _lab_copy(tmp_path)
    (logs / "stocks.csv").unlink()
    make(logs / "stocks.csv")
    with pytest.raises(LogImportError, match=reason) as err:
        import_logs(logs, store=Store(":memory:"))
    assert err.value.file == str(logs / "stocks.csv")


def test_a_header_only_file_is_an_error(tmp_path):
    path = tmp_path / "users.csv"
    path.write_text((LAB_DIR / "users.csv").read_text().splitlines()[0] + "\n")
    store = Store(":memory:")
    with pytest.raises(LogImportError, match="no data rows after the header") as err:
        import_logs(path, store=store)
    assert err.value.line == 2
    assert store.runs().empty


# -- exported directories ---------------------------------------------------------------
@pytest.fixture
def exported(tmp_path) -> Path:
    store = Store(":memory:")
    run = import_logs(LAB_DIR, store=store)
    store.export_parquet(tmp_path / "export", run_id=run)
    return tmp_path / "export"


def _edit(path: Path, column: str, row: int, value) -> None:
    table = pq.read_table(path).to_pandas()
    table[column] = table[column].astype(object)
    table.loc[row, column] = value
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), path)


@pytest.mark.parametrize(
    "table,column,row,value,reason",
    [
        ("orders", "amount_fen", 1, -5, "negative amount -5 fen"),
        ("events", "event_type", 0, "hack", "unknown value 'hack'"),
        ("orders", "order_id", 1, 5000, "duplicate key (order_id=5000)"),
    ],
)
def test_an_exported_directory_is_validated_like_any_import(
    exported, table, column, row, value, reason
):
    _edit(exported / f"{table}.parquet", column, row, value)
    store = Store(":memory:")
    with pytest.raises(LogImportError) as err:
        store.import_parquet(exported, run_id="copy")
    assert err.value.file == str(exported / f"{table}.parquet")
    assert err.value.line == row + 1 and column in err.value.column
    assert err.value.reason.startswith(reason)
    assert store.runs().empty


def test_an_exported_run_with_an_unknown_origin_is_refused(exported):
    _edit(exported / "runs.parquet", "origin", 0, "hack")
    store = Store(":memory:")
    with pytest.raises(ValueError, match="origin must be one of"):
        store.import_parquet(exported, run_id="copy")
    assert store.runs().empty


# -- relative effects -------------------------------------------------------------------
@pytest.mark.parametrize("control", [[-3.0, -1.0], [0.0, 0.0], [1e-300, 2e-300]])
def test_a_relative_effect_needs_a_positive_control_mean(control):
    from lab.experiments import MeanStats, compare

    with pytest.raises(ValueError, match="needs a positive control mean.*difference='absolute'"):
        compare(
            MeanStats.from_values(control),
            MeanStats.from_values([1.0, 2.0]),
            difference="relative",
        )
