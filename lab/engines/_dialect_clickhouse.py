"""ClickHouse: a server through Ibis's ClickHouse backend, or chDB in process.

Tested on chDB (ClickHouse in this process, see docs/scale.md), never on a server. What
differs from DuckDB and Spark, and is settled here rather than in the models:

* A timestamp without a scale is a ``DateTime``, which keeps whole seconds: the lab's
  timestamps are stored as ``DateTime64(6)``.
* A left join fills the columns of an unmatched row with the type's default (0, '')
  instead of NULL unless ``join_use_nulls`` is set; the models' checks for a missing
  match need NULL, so every query runs with it.
* The lab's timestamps are wall-clock times without a zone; every query runs with
  ``session_timezone = 'UTC'`` so dates and literals are read as on DuckDB and Spark
  whatever the server's zone.
* Ibis's own ``to_pyarrow`` converts rows through Python objects and fails on a
  predicate such as ``IN``, which ClickHouse returns as ``UInt8``; rows come back in
  Arrow and are cast to the expression's schema instead. A ``DateTime`` (what
  truncating a timestamp gives) reaches Arrow as ``UInt32`` seconds since the epoch.

ClickHouse's ``quantile`` is approximate by design, so a model that needs an exact
median must call ``quantileExact`` here (no ported model does yet).
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import pyarrow as pa

from lab.engines._schema import as_schema

NAME = "clickhouse"
_SETTINGS = {"join_use_nulls": 1, "session_timezone": "UTC"}


def storage_type(dtype: dt.DataType) -> dt.DataType:
    """Keep timestamps to the microsecond; every other lab type is stored as written."""
    if dtype.is_timestamp() and dtype.scale is None:
        return dtype.copy(scale=6)
    return dtype


def append(backend, table_name: str, data: pa.Table, *, database=None) -> None:
    """Append ``data`` (already in the table's column order and types) to ``table_name``."""
    backend.insert(table_name, data, database=database)


def arrow(backend, sql: str, schema: ibis.Schema) -> pa.Table:
    """Run ``sql`` (compiled by Ibis for this engine); its rows as Arrow, in ``schema``
    (the compiled expression's)."""
    rows = backend.con.query_arrow(sql, settings=_SETTINGS)
    want = schema.to_pyarrow()
    columns = [
        _epoch_seconds(column)
        if pa.types.is_integer(column.type) and pa.types.is_timestamp(field.type)
        else column
        for column, field in zip(rows.columns, want, strict=True)
    ]
    return as_schema(pa.table(columns, names=rows.column_names), schema)


def to_arrow(backend, table: ibis.Table) -> pa.Table:
    """Run the Ibis expression ``table``; its rows as Arrow, in the expression's schema."""
    return arrow(backend, backend.compile(table), table.schema())


def _epoch_seconds(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A ``DateTime`` (whole seconds, which ClickHouse sends to Arrow as ``UInt32``
    seconds since the epoch) as an Arrow timestamp."""
    return column.cast(pa.int64()).cast(pa.timestamp("s"))
