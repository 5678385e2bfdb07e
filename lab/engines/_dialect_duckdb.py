"""DuckDB: the embedded default. Ibis covers every model here; nothing to widen."""

from __future__ import annotations

import ibis.expr.datatypes as dt
import pyarrow as pa

NAME = "duckdb"


def storage_type(dtype: dt.DataType) -> dt.DataType:
    """DuckDB stores every lab type as written."""
    return dtype


def append(backend, table_name: str, data: pa.Table, *, database=None) -> None:
    """Append ``data`` (already in the table's column order and types) to ``table_name``."""
    backend.insert(table_name, data, database=database)


def arrow(backend, sql: str) -> pa.Table:
    """Run ``sql`` (compiled by Ibis for this engine) and return its rows as Arrow."""
    return backend.con.sql(sql).to_arrow_table()
