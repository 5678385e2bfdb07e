"""The generic "lab" format: one CSV or Parquet file per schema table."""

from __future__ import annotations

from lab import schema
from lab.ingest._source import Check, Source

# tables a log may bring: everything but the runs table and the simulator's truth
TABLES = tuple(n for n in schema.DATA_TABLES if not schema.table(n).is_truth)
_INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UINTEGER")
_BOOLEANS = ("true", "false", "t", "f", "1", "0")


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


def insert(source: Source, table_name: str, *, run_id: str) -> None:
    """Append the validated rows of ``source`` to ``table_name`` as ``run_id``."""
    spec = schema.table(table_name)
    cols = []
    for c in spec.columns:
        if c.name == "run_id":
            cols.append("?")
        elif c.type == "BOOLEAN" and source.types[c.name] == "VARCHAR":
            cols.append(f'CAST(lower(trim("{c.name}")) AS BOOLEAN)')
        else:
            cols.append(f'CAST("{c.name}" AS {c.type})')
    source.con.execute(
        f"INSERT INTO {table_name} SELECT {', '.join(cols)} FROM {source.name} ORDER BY rowid",
        [run_id],
    )
