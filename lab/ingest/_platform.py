"""Shared machinery of the platform formats (WeChat Pay, Alipay): typed JSON loading,
validation rules that name file, line or JSON path, field and reason, local time, and
the writer that turns platform records into a lab run.

Each platform reader fills four staging tables with string keys, the *canonical*
records (:data:`CANONICAL`, created by :func:`create_empty` in the import's staging
database, :mod:`lab.ingest._stage`); :func:`write_run` maps the keys onto the lab's
integer ids and writes ``users``, ``stocks``, ``offers``, ``coupons``, ``events``,
``orders`` and ``assignments`` in the caller's transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from lab.ingest._errors import LogImportError

#: The run's local time zone: platform timestamps (RFC 3339, any offset) are converted
#: to its wall-clock time, whatever the machine's own time zone.
LOCAL_TZ = "Asia/Shanghai"
RFC3339 = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
# canonical staging tables, filled by the readers, read by write_run
CANONICAL = {
    "stocks": "_lab_plat_stocks",
    "coupons": "_lab_plat_coupons",
    "orders": "_lab_plat_orders",
    "assignments": "_lab_plat_assignments",
}
_DIGITS = "[0-9]{1,18}"


@dataclass(frozen=True)
class Table:
    """A staged table by name, as :meth:`lab.ingest._stage.Stage.publish` re-points it."""

    con: duckdb.DuckDBPyConnection
    name: str


def canonical(con: duckdb.DuckDBPyConnection) -> dict[str, Table]:
    """The canonical tables of ``con``, keyed as :data:`CANONICAL`."""
    return {key: Table(con, name) for key, name in CANONICAL.items()}


def local_time(expr: str) -> str:
    """SQL: an RFC 3339 string as a naive timestamp in :data:`LOCAL_TZ`."""
    return f"timezone('{LOCAL_TZ}', CAST({expr} AS TIMESTAMPTZ))"


# -- JSON files ------------------------------------------------------------------------
# A spec describes a JSON record: field -> "str" | "int" | "bool" | nested spec (object)
# | [nested spec] (array of objects) | ["str"] (array of strings). Integers load as
# DOUBLE so that a fractional amount is seen and named rather than rounded.
_DUCK = {"str": "VARCHAR", "int": "DOUBLE", "bool": "BOOLEAN"}


def duck_type(spec) -> str:
    if isinstance(spec, str):
        return _DUCK[spec]
    if isinstance(spec, list):
        return f"{duck_type(spec[0])}[]"
    return "STRUCT(" + ", ".join(f'"{k}" {duck_type(v)}' for k, v in spec.items()) + ")"


def type_problem(value, spec, path: str) -> tuple[str, str] | None:
    """(path, reason) of the first value in ``value`` whose JSON type ``spec`` rejects."""
    if value is None:
        return None
    if isinstance(spec, str):
        ok = {
            "str": isinstance(value, str | int) and not isinstance(value, bool),
            "int": isinstance(value, int | float) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
        }[spec]
        want = {"str": "a string", "int": "a number", "bool": "true or false"}[spec]
        return None if ok else (path, f"expected {want}, found {json.dumps(value)[:40]}")
    if isinstance(spec, list):
        if not isinstance(value, list):
            return path, f"expected an array, found {json.dumps(value)[:40]}"
        for i, item in enumerate(value):
            if found := type_problem(item, spec[0], f"{path}[{i}]"):
                return found
        return None
    if not isinstance(value, dict):
        return path, f"expected an object, found {json.dumps(value)[:40]}"
    for key, sub in spec.items():
        if found := type_problem(value.get(key), sub, f"{path}.{key}"):
            return found
    return None


@dataclass
class JsonFile:
    """One JSON file: JSON lines, an array, or one object (a list response's ``data``)."""

    path: Path
    layout: str  # "lines" (one object per line) or "array" (elements at prefix[i])
    prefix: str = "$"  # JSON path of the array holding the records ("array" layout)
    records: list | None = None  # parsed records of an "array" file
    _lines: list[int] | None = field(default=None, repr=False)

    def where(self, row: int) -> tuple[int | None, str]:
        """(line, JSON path of the record) of the 0-based record ``row``."""
        if self.layout == "array":
            return None, f"{self.prefix}[{row}]"
        if self._lines is None:
            with open(self.path, "rb") as f:
                self._lines = [n for n, raw in enumerate(f, start=1) if raw.strip()]
        return self._lines[row], "$"

    def error(self, row: int, field_path: str, reason: str) -> LogImportError:
        line, base = self.where(row)
        return LogImportError(str(self.path), reason, line=line, column=f"{base}{field_path}")

    def iter_records(self) -> Iterator[tuple[int, object]]:
        """(row, parsed record), raising a located error on malformed JSON."""
        if self.layout == "array":
            yield from enumerate(self.records)
            return
        row = 0
        with open(self.path, "rb") as f:
            for number, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                try:
                    yield row, json.loads(raw)
                except UnicodeDecodeError:
                    raise _encoding_error(self.path, raw, number) from None
                except ValueError as exc:
                    raise LogImportError(
                        str(self.path), f"malformed JSON: {exc}", line=number
                    ) from None
                row += 1


def open_json(path: Path) -> JsonFile:
    """Sniff the layout of ``path``; arrays and single objects are parsed here (small)."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    text = head.lstrip()
    if not text:
        return JsonFile(path, "lines")  # empty: no records
    if text.startswith(b"["):
        records, prefix = _parse_whole(path), "$"
    else:
        try:  # JSON lines: the first line is a whole object
            first = text.split(b"\n", 1)[0]
            json.loads(first)
            return JsonFile(path, "lines")
        except UnicodeDecodeError:
            raise _encoding_error(path, first, 1) from None
        except ValueError:
            records, prefix = _parse_whole(path), "$"
    if isinstance(records, dict):
        if isinstance(records.get("data"), list):  # a WeChat Pay list response
            records, prefix = records["data"], "$.data"
        else:
            return JsonFile(path, "array", "$", [records])
    if not isinstance(records, list):
        raise LogImportError(str(path), "expected JSON objects (lines, an array or an object)")
    return JsonFile(path, "array", prefix, records)


def _encoding_error(path: Path, raw: bytes, line: int) -> LogImportError:
    """Name the line and, when the line still parses, the JSON path of the bad string."""
    column = None
    with contextlib.suppress(ValueError):
        column = _replaced(json.loads(raw.decode("utf-8", "replace")), "$")
    return LogImportError(
        str(path),
        "not valid UTF-8 (GBK or another encoding?): JSON is UTF-8",
        line=line,
        column=column,
    )


def _replaced(value, path: str) -> str | None:
    """JSON path of the first string holding U+FFFD (an undecodable byte)."""
    if isinstance(value, str):
        return path if "\ufffd" in value else None
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        sub = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"
        if found := _replaced(item, sub):
            return found
    return None


def _parse_whole(path: Path):
    raw = path.read_bytes()
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise LogImportError(str(path), "not valid UTF-8 (JSON is UTF-8)") from None
    except ValueError as exc:
        line = raw[: max(getattr(exc, "pos", 0), 0)].count(b"\n") + 1
        raise LogImportError(str(path), f"malformed JSON: {exc}", line=line) from None


def first_record(file: JsonFile) -> dict | None:
    for _, record in file.iter_records():
        return record if isinstance(record, dict) else {}
    return None


def load_json(
    con: duckdb.DuckDBPyConnection, files: Sequence[JsonFile], spec: dict, *, name: str
) -> None:
    """Load ``files`` into the temporary table ``name``: the spec's fields, ``_file``
    (index into ``files``) and ``_row`` (record within the file), in file order.

    DuckDB parses JSON lines itself (fast, parallel); when it refuses a file, the file
    is scanned in Python to name the offending line and JSON path.
    """
    columns = {k: duck_type(v) for k, v in spec.items()}
    parts = []
    with tempfile.TemporaryDirectory(prefix="lab_json_") as tmp:
        for i, file in enumerate(files):
            source = file.path
            if file.layout == "array":
                for row, record in file.iter_records():
                    if not isinstance(record, dict):
                        raise file.error(row, "", "expected an object")
                source = Path(tmp) / f"{i}.jsonl"
                with open(source, "w", encoding="utf-8") as out:
                    for record in file.records:
                        out.write(json.dumps(record, ensure_ascii=False) + "\n")
            parts.append((i, source, file))
        try:
            for i, source, _ in parts:
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE {name}_{i} AS SELECT * FROM read_json(?, "
                    "format = 'newline_delimited', records = true, "
                    f"columns = {_struct_literal(columns)}, maximum_object_size = 16777216)",
                    [str(source)],
                )
        except duckdb.Error as exc:
            for _, _, file in parts:
                _scan_types(file, spec)
            raise LogImportError(
                str(parts[0][2].path), f"cannot read JSON: {str(exc).strip().splitlines()[0]}"
            ) from None
    # rowid numbers a table's rows in insertion (file) order; a view saves copying them
    selects = [f"SELECT {i} AS _file, rowid AS _row, * FROM {name}_{i}" for i in range(len(parts))]
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {' UNION ALL '.join(selects)}")


def _struct_literal(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{k}': '{v}'" for k, v in columns.items()) + "}"


def _scan_types(file: JsonFile, spec: dict) -> None:
    for row, record in file.iter_records():
        if not isinstance(record, dict):
            raise file.error(row, "", "expected an object")
        found = type_problem(record, spec, "")
        if found:
            raise file.error(row, found[0], found[1])


# -- validation rules --------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """Rows of a staging table where ``condition`` holds are bad.

    ``field`` is what the message names (a JSON path below the record, or a CSV column);
    ``value`` is the SQL of the offending value (default: the condition's subject);
    ``reason`` turns that value into the message's reason.
    """

    field: str
    condition: str
    reason: Callable[[object], str]
    value: str = "NULL"
    params: tuple = ()


def check(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rules: Sequence[Rule],
    locate: Callable[[int, int, str, str], LogImportError],
    *,
    item: str | None = None,
) -> None:
    """Raise for the earliest bad record (by file, then record; ties: first rule).

    ``locate(file, row, field, reason)`` builds the error; with ``item`` (the column
    holding an array index) ``{k}`` in a rule's field is replaced by that index.
    """
    if not rules:
        return
    order = "(_file, _row" + (f", {item})" if item else ")")
    select = ", ".join(f"min({order}) FILTER (WHERE {r.condition})" for r in rules)
    params = [p for r in rules for p in r.params]
    firsts = con.execute(f"SELECT {select} FROM {table}", params).fetchone()
    bad = [
        (tuple(pos.values()) if isinstance(pos, dict) else tuple(pos), i)
        for i, pos in enumerate(firsts)
        if pos is not None
    ]
    if not bad:
        return
    pos, i = min(bad)
    rule = rules[i]
    where = "_file = ? AND _row = ?" + (f" AND {item} = ?" if item else "")
    value = con.execute(
        f"SELECT {rule.value} FROM {table} WHERE {where} LIMIT 1", list(pos)
    ).fetchone()[0]
    name = rule.field.replace("{k}", str(pos[2])) if item else rule.field
    raise locate(pos[0], pos[1], name, rule.reason(value))


def required(field_path: str, sql: str) -> Rule:
    return Rule(field_path, f"{sql} IS NULL", lambda v: "missing value (the field is required)")


def fen_rules(field_path: str, sql: str, *, needed: bool = True) -> list[Rule]:
    """A money field in fen: present (if ``needed``), whole and not negative."""
    out = [required(field_path, sql)] if needed else []
    return out + [
        Rule(
            field_path,
            f"{sql} <> floor({sql})",
            lambda v: f"fractional fen {v:g}: money is a whole number of fen (1 yuan = 100 fen)",
            sql,
        ),
        Rule(field_path, f"{sql} < 0", lambda v: f"negative amount {v:g} fen", sql),
    ]


def id_rule(field_path: str, sql: str) -> Rule:
    return Rule(
        field_path,
        f"NOT regexp_full_match({sql}, '{_DIGITS}')",
        lambda v: f"not a numeric id (1-18 digits): {v!r}",
        sql,
    )


def enum_rule(field_path: str, sql: str, allowed: Sequence[str], *, what: str = "") -> Rule:
    listed = ", ".join(allowed)
    return Rule(
        field_path,
        f"{sql} NOT IN ({', '.join('?' * len(allowed))})",
        lambda v: f"unknown value {v!r}{what} (known: {listed})",
        sql,
        tuple(allowed),
    )


def time_rule(field_path: str, sql: str) -> Rule:
    return Rule(
        field_path,
        f"{sql} IS NOT NULL AND (NOT regexp_full_match({sql}, '{RFC3339}') "
        f"OR try_cast({sql} AS TIMESTAMPTZ) IS NULL)",
        lambda v: f"unparseable time {v!r} (expected RFC 3339, such as 2026-03-02T10:15:00+08:00)",
        sql,
    )


def yuan_rules(field_path: str, sql: str, *, needed: bool = True) -> list[Rule]:
    """A money field as a yuan string: present (if ``needed``), at most 2 decimals, >= 0."""
    out = [required(field_path, sql)] if needed else []
    return out + [
        Rule(
            field_path,
            f"NOT regexp_full_match(trim({sql}), '[+-]?[0-9]+(\\.[0-9]*)?')",
            lambda v: f"not an amount in yuan: {v!r}",
            sql,
        ),
        Rule(
            field_path,
            f"regexp_full_match(trim({sql}), '[+-]?[0-9]+\\.[0-9]{{3,}}')",
            lambda v: f"{v!r} has more than 2 decimals: yuan amounts are whole fen (0.01 yuan)",
            sql,
        ),
        Rule(
            field_path,
            f"regexp_full_match(trim({sql}), '-[0-9]+(\\.[0-9]*)?') AND "
            f"CAST(trim({sql}) AS DECIMAL(20, 2)) < 0",
            lambda v: f"negative amount {v!r} yuan",
            sql,
        ),
    ]


def yuan_to_fen(sql: str) -> str:
    """SQL: a checked yuan string as integer fen, exactly (decimal, not float)."""
    return f"CAST(CAST(trim({sql}) AS DECIMAL(20, 2)) * 100 AS BIGINT)"


# -- canonical records -> a lab run ---------------------------------------------------------
def _key_to_id(con, values_sql: str, key: str) -> str:
    """SQL of a (key, id) mapping: the number itself when every key is a numeric id that
    fits BIGINT, else a dense rank in key order (string ids, such as openids)."""
    numeric = con.execute(
        f"SELECT coalesce(bool_and(regexp_full_match({key}, '{_DIGITS}')), true) FROM ({values_sql})"
    ).fetchone()[0]
    if numeric:
        return f"SELECT DISTINCT {key} AS key, CAST({key} AS BIGINT) AS id FROM ({values_sql})"
    return (
        f"SELECT key, dense_rank() OVER (ORDER BY length(key), key) AS id "
        f"FROM (SELECT DISTINCT {key} AS key FROM ({values_sql}) WHERE {key} IS NOT NULL)"
    )


def write_run(
    con: duckdb.DuckDBPyConnection, tables: dict[str, Table], *, run_id: str, platform: str
) -> dict:
    """Write the canonical staging tables as run ``run_id``; return its size and dates.

    ``tables`` (keyed as :data:`CANONICAL`) are readable from ``con`` and have the columns:
    stocks(stock_key, stock columns of the schema but ``stock_id``), coupons(coupon_key,
    stock_key, user_key, claimed_at, amount_fen, transaction_minimum_fen, valid_until,
    redeemed_at, txn_key, discount_fen, expired_at), orders(txn_key, user_key, ts,
    amount_fen, discount_fen, coupon_key, merchant_id), assignments(experiment, user_key,
    arm, assigned_at).
    """
    s, c, o, a = (tables[k].name for k in ("stocks", "coupons", "orders", "assignments"))
    maps = {
        "_lab_plat_user_ids": _key_to_id(
            con,
            f"SELECT user_key FROM {c} UNION ALL SELECT user_key FROM {o} "
            f"UNION ALL SELECT user_key FROM {a}",
            "user_key",
        ),
        "_lab_plat_stock_ids": _key_to_id(
            con, f"SELECT stock_key FROM {s} UNION ALL SELECT stock_key FROM {c}", "stock_key"
        ),
        "_lab_plat_coupon_ids": _key_to_id(
            con, f"SELECT coupon_key FROM {c} UNION ALL SELECT coupon_key FROM {o}", "coupon_key"
        ),
    }
    for name, sql in maps.items():
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _lab_plat_order_ids AS
        SELECT txn_key AS key, row_number() OVER (ORDER BY ts, txn_key) AS id FROM {o}"""
    )
    uid, sid, cid, oid = (
        "_lab_plat_user_ids",
        "_lab_plat_stock_ids",
        "_lab_plat_coupon_ids",
        "_lab_plat_order_ids",
    )
    con.execute(
        f"INSERT INTO users (run_id, user_id, primary_platform, uses_{platform}) "
        f"SELECT ?, id, ?, true FROM {uid} ORDER BY id",
        [run_id, platform],
    )
    stock_cols = [
        "campaign",
        "stock_type",
        "transaction_minimum_fen",
        "amount_fen",
        "total_budget_fen",
        "daily_budget_fen",
        "max_coupons",
        "max_per_user",
        "natural_person_limit",
        "valid_from",
        "valid_until",
        "goods_tag",
        "merchant_id",
    ]
    con.execute(
        f"INSERT INTO stocks (run_id, stock_id, platform, {', '.join(stock_cols)}) "
        f"SELECT ?, m.id, ?, {', '.join('s.' + x for x in stock_cols)} "
        f"FROM {s} s JOIN {sid} m ON m.key = s.stock_key ORDER BY m.id",
        [run_id, platform],
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _lab_plat_c AS
        SELECT ci.id AS coupon_id, si.id AS stock_id, ui.id AS user_id, c.claimed_at,
               c.amount_fen, c.transaction_minimum_fen, c.valid_until, c.redeemed_at,
               oi.id AS order_id, c.discount_fen, c.expired_at
        FROM {c} c JOIN {cid} ci ON ci.key = c.coupon_key
        JOIN {sid} si ON si.key = c.stock_key JOIN {uid} ui ON ui.key = c.user_key
        LEFT JOIN {oid} oi ON oi.key = c.txn_key"""
    )
    con.execute(
        """INSERT INTO offers (run_id, offer_id, user_id, stock_id, platform, delivered_at,
                                claimed_at, coupon_id, redeemed_at, expired_at)
        SELECT ?, coupon_id, user_id, stock_id, ?, claimed_at, claimed_at, coupon_id,
               redeemed_at, expired_at
        FROM _lab_plat_c ORDER BY coupon_id""",
        [run_id, platform],
    )
    con.execute(
        """INSERT INTO coupons (run_id, coupon_id, stock_id, user_id, offer_id, platform,
                                 claimed_at, status, issued_at, amount_fen,
                                 transaction_minimum_fen, valid_until, redeemed_at, order_id,
                                 discount_fen, expired_at)
        SELECT ?, coupon_id, stock_id, user_id, coupon_id, ?, claimed_at, 'issued', claimed_at,
               amount_fen, transaction_minimum_fen, valid_until, redeemed_at, order_id,
               discount_fen, expired_at
        FROM _lab_plat_c ORDER BY coupon_id""",
        [run_id, platform],
    )
    con.execute(
        """INSERT INTO events (run_id, event_id, ts, user_id, event_type, platform, stock_id,
                                offer_id, coupon_id, order_id)
        SELECT ?, row_number() OVER (ORDER BY ts, coupon_id, k), ts, user_id, event_type, ?,
               stock_id, coupon_id, coupon_id, order_id
        FROM (
            SELECT claimed_at AS ts, 0 AS k, 'claim' AS event_type, user_id, stock_id,
                   coupon_id, NULL::BIGINT AS order_id FROM _lab_plat_c
            UNION ALL
            SELECT redeemed_at, 1, 'redeem', user_id, stock_id, coupon_id, order_id
            FROM _lab_plat_c WHERE redeemed_at IS NOT NULL
            UNION ALL
            SELECT expired_at, 2, 'expire', user_id, stock_id, coupon_id, NULL
            FROM _lab_plat_c WHERE expired_at IS NOT NULL
        ) ORDER BY ts, coupon_id, k""",
        [run_id, platform],
    )
    con.execute(
        f"""INSERT INTO orders (run_id, order_id, user_id, ts, merchant_id, platform,
                                amount_fen, discount_fen, coupon_id)
        SELECT ?, oi.id, ui.id, o.ts, o.merchant_id, ?, o.amount_fen, o.discount_fen, ci.id
        FROM {o} o JOIN {oid} oi ON oi.key = o.txn_key JOIN {uid} ui ON ui.key = o.user_key
        LEFT JOIN {cid} ci ON ci.key = o.coupon_key ORDER BY oi.id""",
        [run_id, platform],
    )
    con.execute(
        f"""INSERT INTO assignments (run_id, experiment, user_id, arm, assigned_at)
        SELECT ?, a.experiment, ui.id, a.arm, a.assigned_at
        FROM {a} a JOIN {uid} ui ON ui.key = a.user_key ORDER BY a.experiment, ui.id""",
        [run_id],
    )
    n_users = con.execute(f"SELECT count(*) FROM {uid}").fetchone()[0]
    size = _period(con, s, o, c)
    for name in (uid, sid, cid, oid, "_lab_plat_c"):
        con.execute(f"DROP TABLE IF EXISTS {name}")
    return {"n_users": n_users, **size}


def _period(con, stocks: str, orders: str, coupons: str) -> dict:
    """The campaign period: the stocks' availability window when the format carries it,
    else from the first claim's day to the end of the day of the last claim or order.
    Orders before it make the pre-period (for CUPED)."""
    begin, end = con.execute(f"SELECT min(valid_from), max(valid_until) FROM {stocks}").fetchone()
    first_claim, last_claim = con.execute(
        f"SELECT min(claimed_at), max(claimed_at) FROM {coupons}"
    ).fetchone()
    first_order, last_order = con.execute(f"SELECT min(ts), max(ts) FROM {orders}").fetchone()
    if begin is None:
        begin = first_claim or first_order
        if begin is None:
            return {}
        begin = dt.datetime.combine(begin.date(), dt.time())
        last = max(t for t in (last_claim, last_order) if t is not None)
        end = dt.datetime.combine(last.date(), dt.time()) + dt.timedelta(days=1)
    start = begin.date()
    span = end - dt.datetime.combine(start, dt.time())
    out = {"start_date": start, "days": max(1, math.ceil(span / dt.timedelta(days=1)))}
    if first_order is not None and first_order.date() < start:
        out["pre_days"] = (start - first_order.date()).days
    return out


def create_empty(con: duckdb.DuckDBPyConnection, *, temporary: bool = True) -> None:
    """Create the canonical tables empty (a format without some of them leaves them so).

    ``temporary=False``: as tables of a staging database, which the store's connection
    attaches to write the run (the readers' other tables stay temporary).
    """
    kind = "TEMP TABLE" if temporary else "TABLE"
    con.execute(
        f"""CREATE OR REPLACE {kind} {CANONICAL["stocks"]} (stock_key VARCHAR,
            campaign VARCHAR, stock_type VARCHAR, transaction_minimum_fen BIGINT,
            amount_fen BIGINT, total_budget_fen BIGINT, daily_budget_fen BIGINT,
            max_coupons BIGINT, max_per_user INTEGER, natural_person_limit BOOLEAN,
            valid_from TIMESTAMP, valid_until TIMESTAMP, goods_tag VARCHAR, merchant_id BIGINT)"""
    )
    con.execute(
        f"""CREATE OR REPLACE {kind} {CANONICAL["coupons"]} (coupon_key VARCHAR,
            stock_key VARCHAR, user_key VARCHAR, claimed_at TIMESTAMP, amount_fen BIGINT,
            transaction_minimum_fen BIGINT, valid_until TIMESTAMP, redeemed_at TIMESTAMP,
            txn_key VARCHAR, discount_fen BIGINT, expired_at TIMESTAMP)"""
    )
    con.execute(
        f"""CREATE OR REPLACE {kind} {CANONICAL["orders"]} (txn_key VARCHAR,
            user_key VARCHAR, ts TIMESTAMP, amount_fen BIGINT, discount_fen BIGINT,
            coupon_key VARCHAR, merchant_id BIGINT)"""
    )
    con.execute(
        f"""CREATE OR REPLACE {kind} {CANONICAL["assignments"]} (experiment VARCHAR,
            user_key VARCHAR, arm VARCHAR, assigned_at TIMESTAMP)"""
    )


def read_assignments(con: duckdb.DuckDBPyConnection, path: Path, *, user_col: str) -> None:
    """Fill the canonical assignments from a UTF-8 CSV ``experiment, <user_col>, arm``
    (optional ``assigned_at``, ``YYYY-MM-DD HH:MM:SS`` local time): the team's own
    experiment assignment, keyed by the platform's user id."""
    import csv

    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise LogImportError(
            str(path), "not valid UTF-8: save the file as UTF-8", line=line
        ) from None
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if not header:
        raise LogImportError(str(path), "empty file: expected a header line", line=1)
    for col in ("experiment", user_col, "arm"):
        if col not in header:
            raise LogImportError(
                str(path),
                f"missing column (expected experiment, {user_col}, arm)",
                line=1,
                column=col,
            )
    idx = {c: header.index(c) for c in header}
    rows, seen = [], {}
    for line, record in enumerate(reader, start=2):
        if not record:
            continue
        if len(record) != len(header):
            raise LogImportError(
                str(path),
                f"expected {len(header)} fields as in the header, found {len(record)}",
                line=line,
            )
        values = {c: record[i].strip() for c, i in idx.items()}
        for col in ("experiment", user_col, "arm"):
            if not values[col]:
                raise LogImportError(
                    str(path), "missing value (the column is required)", line=line, column=col
                )
        key = (values["experiment"], values[user_col])
        if key in seen:
            raise LogImportError(
                str(path),
                f"{user_col} {key[1]} is assigned twice in {key[0]} (first on line {seen[key]})",
                line=line,
                column=user_col,
            )
        seen[key] = line
        at = values.get("assigned_at") or None
        if at is not None:
            try:
                at = dt.datetime.fromisoformat(at)
            except ValueError:
                raise LogImportError(
                    str(path),
                    f"unparseable timestamp {at!r} (expected YYYY-MM-DD HH:MM:SS)",
                    line=line,
                    column="assigned_at",
                ) from None
        rows.append((values["experiment"], values[user_col], values["arm"], at))
    if rows:
        import pyarrow as pa

        names = ("experiment", "user_key", "arm", "assigned_at")
        table = pa.table(
            {n: [r[i] for r in rows] for i, n in enumerate(names)},
            schema=pa.schema(
                [
                    *(pa.field(n, pa.string()) for n in names[:3]),
                    pa.field("assigned_at", pa.timestamp("us")),
                ]
            ),
        )
        con.register("_lab_plat_assign_src", table)
        con.execute(f"INSERT INTO {CANONICAL['assignments']} SELECT * FROM _lab_plat_assign_src")
        con.unregister("_lab_plat_assign_src")
