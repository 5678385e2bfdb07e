"""The generic "lab" format: one CSV or Parquet file per schema table."""

from __future__ import annotations

from lab import schema
from lab.ingest._errors import LogImportError
from lab.ingest._source import Check, Source

# tables a log may bring: everything but the runs table and the simulator's truth
TABLES = tuple(n for n in schema.DATA_TABLES if not schema.table(n).is_truth)
_INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UINTEGER")
_BOOLEANS = ("true", "false", "t", "f", "1", "0")
#: dates and timestamps outside these are refused (a typo such as 99991231, or 1900)
DATE_RANGE = ("1990-01-01", "2099-12-31")
# a time of day followed by a UTC offset or Z: the value names its own time zone
_OFFSET = r"[0-9]:[0-9]{2}(:[0-9]{2}(\.[0-9]*)?)?\s*([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)$"
_TZ_TYPE = "TIMESTAMP WITH TIME ZONE"


def expected_columns(table_name: str) -> tuple[str, ...]:
    """Columns a file for ``table_name`` must have (``run_id`` is optional and ignored)."""
    return tuple(c for c in schema.table(table_name).column_names if c != "run_id")


def checks(source: Source, table_name: str) -> list[Check]:
    """Per-column rules of ``table_name`` (types, required values, money, enums)."""
    out: list[Check] = []
    for col in schema.table(table_name).columns:
        if col.name == "run_id":
            continue
        q, text = f'"{col.name}"', source.types[col.name] == "VARCHAR"
        if not col.nullable:
            out.append(
                Check(col.name, f"{q} IS NULL", lambda v: "missing value (the column is required)")
            )
        if col.name.endswith("_fen"):
            num = f"TRY_CAST({q} AS DOUBLE)"
            out += [
                Check(
                    col.name,
                    f"{q} IS NOT NULL AND {num} IS NULL",
                    lambda v: f"not a number: {v!r} (money is integer fen)",
                ),
                Check(
                    col.name,
                    f"{num} <> floor({num})",
                    lambda v: f"fractional fen {v}: money is integer fen (1 yuan = 100 fen)",
                ),
                Check(col.name, f"{num} < 0", lambda v: f"negative amount {v} fen"),
            ]
        elif col.type in _INTEGERS:
            whole = (
                f"NOT regexp_full_match(trim({q}), '[+-]?[0-9]+')"
                if text
                else f"TRY_CAST({q} AS DOUBLE) <> floor(TRY_CAST({q} AS DOUBLE))"
            )
            out.append(
                Check(col.name, f"{q} IS NOT NULL AND {whole}", lambda v: f"not an integer: {v!r}")
            )
        if col.type in _INTEGERS:
            out.append(
                Check(
                    col.name,
                    f"{q} IS NOT NULL AND TRY_CAST({q} AS {col.type}) IS NULL",
                    lambda v, t=col.type: f"out of range for {t}: {v!r}",
                )
            )
        elif col.type == "BOOLEAN" and text:
            out.append(
                Check(
                    col.name,
                    f"lower(trim({q})) NOT IN ({', '.join('?' * len(_BOOLEANS))})",
                    lambda v: f"not a boolean: {v!r} (use true or false)",
                    _BOOLEANS,
                )
            )
        elif col.type != "VARCHAR":
            example = {"TIMESTAMP": "YYYY-MM-DD HH:MM:SS", "DATE": "YYYY-MM-DD"}.get(col.type)
            what = {"TIMESTAMP": "timestamp", "DATE": "date", "DOUBLE": "number"}.get(
                col.type, col.type
            )
            hint = f" (expected {example})" if example else ""
            out.append(
                Check(
                    col.name,
                    f"{q} IS NOT NULL AND TRY_CAST({q} AS {col.type}) IS NULL",
                    lambda v, w=what, h=hint: f"unparseable {w} {v!r}{h}",
                )
            )
        if col.type in ("TIMESTAMP", "DATE"):
            first, last = DATE_RANGE
            out.append(
                Check(
                    col.name,
                    f"CAST(TRY_CAST({q} AS TIMESTAMP) AS DATE) NOT BETWEEN ? AND ?",
                    lambda v, a=first, b=last: f"date out of range: {v!r} (expected {a} to {b})",
                    (first, last),
                )
            )
        if col.type == "DOUBLE":
            num = f"TRY_CAST({q} AS DOUBLE)"
            out.append(
                Check(col.name, f"NOT isfinite({num})", lambda v: f"not a finite number: {v!r}")
            )
            if col.name.endswith("_km"):
                out.append(Check(col.name, f"{num} < 0", lambda v: f"negative distance {v} km"))
        if col.values:
            allowed = ", ".join(col.values)
            out.append(
                Check(
                    col.name,
                    f"CAST({q} AS VARCHAR) NOT IN ({', '.join('?' * len(col.values))})",
                    lambda v, a=allowed: f"unknown value {v!r} (allowed: {a})",
                    col.values,
                )
            )
    return out


def validate(source: Source, table_name: str, *, allow_empty: bool = False) -> None:
    """Every rule for one table file: data rows present, columns, keys, rows."""
    if allow_empty and not source.n_rows:
        return
    if not source.n_rows:
        raise LogImportError(
            str(source.path),
            "no data rows after the header (leave the file out if the table is empty)",
            line=2 if source.kind == "csv" else None,
        )
    source.check(checks(source, table_name))
    check_keys(source, table_name)
    names = schema.table(table_name).column_names
    if "discount_fen" in names and "amount_fen" in names:
        source.check(
            [
                Check(
                    "discount_fen",
                    'TRY_CAST("discount_fen" AS DOUBLE) > TRY_CAST("amount_fen" AS DOUBLE)',
                    lambda v: f"discount {v} fen is more than amount_fen",
                )
            ]
        )


def check_keys(source: Source, table_name: str) -> None:
    """Raise on the first row whose key repeats an earlier row's key."""
    spec = schema.table(table_name)
    key = [c for c in spec.key if c != "run_id"]
    part = ", ".join(f'CAST("{c}" AS {spec.column(c).type})' for c in key)
    found = source.con.execute(
        f"SELECT rowid, first FROM (SELECT rowid, min(rowid) OVER (PARTITION BY {part}) AS first, "
        f"row_number() OVER (PARTITION BY {part} ORDER BY rowid) AS k FROM {source.name}) "
        "WHERE k = 2 ORDER BY rowid LIMIT 1"
    ).fetchone()
    if found:
        rowid, first = found
        lines = source.lines([rowid, first])
        values = ", ".join(f"{c}={source.value(rowid, c)}" for c in key)
        raise source.error(
            f"duplicate key ({values}): already on {'row' if source.kind == 'parquet' else 'line'} "
            f"{lines[first]}",
            rowid=rowid,
            column=", ".join(key),
        )


def insert(source: Source, table_name: str, *, run_id: str, timezone: str) -> None:
    """Append the validated rows of ``source`` to ``table_name`` as ``run_id``.

    Timestamps with an offset (text ``+08:00``/``Z``, or a tz-aware Parquet column) become
    local time in ``timezone``; those without one are local time already. DuckDB's
    session time zone (the machine's ``TZ``) plays no part.
    """
    spec = schema.table(table_name)
    cols, params = [], []
    for c in spec.columns:
        q, kind = f'"{c.name}"', source.types.get(c.name)
        if c.name == "run_id":
            cols.append("?")
            params.append(run_id)
        elif c.type == "BOOLEAN" and kind == "VARCHAR":
            cols.append(f"CAST(lower(trim({q})) AS BOOLEAN)")
        elif c.type == "TIMESTAMP" and kind == _TZ_TYPE:
            cols.append(f"timezone(?, {q})")
            params.append(timezone)
        elif c.type == "TIMESTAMP" and kind == "VARCHAR":
            cols.append(
                f"CASE WHEN regexp_matches(trim({q}), ?) "
                f"THEN timezone(?, CAST(trim({q}) AS {_TZ_TYPE})) ELSE CAST({q} AS TIMESTAMP) END"
            )
            params += [_OFFSET, timezone]
        else:
            cols.append(f"CAST({q} AS {c.type})")
    source.con.execute(
        f"INSERT INTO {table_name} SELECT {', '.join(cols)} FROM {source.name} ORDER BY rowid",
        params,
    )
