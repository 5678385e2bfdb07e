"""ClickHouse: a server through Ibis's ClickHouse backend, or chDB in process.

Tested on chDB (ClickHouse in this process, see docs/scale.md), never on a server. What
differs from DuckDB and Spark, and is settled here rather than in the models:

* A timestamp without a scale is a ``DateTime``, which keeps whole seconds, and one
  without a zone is read in the server's (or session's) zone: the lab's timestamps,
  wall-clock times without a zone, are stored as ``DateTime64(6, 'UTC')`` and come back
  without the zone, as on DuckDB and Spark.
* A left join fills the columns of an unmatched row with the type's default (0, '')
  instead of NULL unless ``join_use_nulls`` is set; the models' checks for a missing
  match need NULL, so every query runs with it.
* Every query runs with ``session_timezone = 'UTC'``, so a literal such as a funnel's
  ``start`` is read in the zone the timestamps are stored in.
* Ibis's own ``to_pyarrow`` converts rows through Python objects and fails on a
  predicate such as ``IN``, which ClickHouse returns as ``UInt8``; rows come back in
  Arrow and are cast to the expression's schema instead. A ``DateTime`` (what
  truncating a timestamp gives) reaches Arrow as ``UInt32`` seconds since the epoch.

* ``quantile`` samples 8,192 values, so its answer is approximate above that: the
  store's backend compiles Ibis's quantiles to ``quantileExactInclusive``, the linear
  interpolation DuckDB's ``quantile_cont`` and pandas compute (the funnel's time to
  convert).
* ``leadInFrame``/``lagInFrame`` (Ibis's ``lead``/``lag``) give the type's default,
  not NULL, past the ends of a partition on a column that is not ``Nullable``; the
  strict funnel compares them with step names and guards their times, so both read
  alike there.
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import pyarrow as pa
from ibis.backends.sql.compilers.clickhouse import ClickHouseCompiler

NAME = "clickhouse"
_SETTINGS = {"join_use_nulls": 1, "session_timezone": "UTC"}


class _ExactQuantiles(ClickHouseCompiler):
    """Ibis's ClickHouse compiler with exact, linearly interpolated quantiles."""

    def visit_Quantile(self, op, *, arg, quantile, where):
        return self._visit_quantile("quantileExactInclusive", arg, quantile, where)

    def visit_MultiQuantile(self, op, *, arg, quantile, where):
        return self._visit_quantile("quantilesExactInclusive", arg, quantile, where)


_COMPILER = _ExactQuantiles()


def prepare(backend) -> None:
    """Compile exact quantiles on ``backend`` (the store's own; Ibis's other users of
    the backend get them too)."""
    backend.compiler = _COMPILER


def storage_type(dtype: dt.DataType) -> dt.DataType:
    """Timestamps as ``DateTime64(6, 'UTC')``; every other lab type as written."""
    if dtype.is_timestamp():
        return dtype.copy(scale=6, timezone="UTC")
    return dtype


def append(backend, table_name: str, data: pa.Table, *, database=None) -> None:
    """Append ``data`` (already in the table's column order and types) to ``table_name``."""
    backend.insert(table_name, data, database=database)


def arrow(backend, sql: str, schema: ibis.Schema) -> pa.Table:
    """Run ``sql`` (compiled by Ibis for this engine); its rows as Arrow, in ``schema``
    (the compiled expression's), timestamps without a zone."""
    rows = backend.con.query_arrow(sql, settings=_SETTINGS)
    fields = [_wall_clock(field) for field in schema.to_pyarrow()]
    columns = [
        _epoch_seconds(column)
        if pa.types.is_integer(column.type) and pa.types.is_timestamp(field.type)
        else column
        for column, field in zip(rows.columns, fields, strict=True)
    ]
    return pa.table(columns, names=schema.names).cast(pa.schema(fields))


def to_arrow(backend, table: ibis.Table) -> pa.Table:
    """Run the Ibis expression ``table``; its rows as Arrow, in the expression's schema."""
    return arrow(backend, backend.compile(table), table.schema())


def _wall_clock(field: pa.Field) -> pa.Field:
    """``field`` with a timestamp's zone dropped (the values stay those of UTC)."""
    if pa.types.is_timestamp(field.type) and field.type.tz is not None:
        return field.with_type(pa.timestamp(field.type.unit))
    return field


def _epoch_seconds(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A ``DateTime`` (whole seconds, which ClickHouse sends to Arrow as ``UInt32``
    seconds since the epoch) as an Arrow timestamp."""
    return column.cast(pa.int64()).cast(pa.timestamp("s"))
