"""Apache Spark (PySpark local, standalone or Spark Connect).

Spark has no unsigned integers: a ``UINTEGER`` column is stored as ``BIGINT`` (the
values fit, and every model reads it as a number). Ibis compiles ``TimestampBucket``
for DuckDB but not for Spark, so models bucket time through epoch seconds, which both
compile. The lab's timestamps are wall-clock times without a zone; Ibis sets the
session's time zone to UTC, so Spark neither shifts them nor applies daylight saving.
Rows are appended from Arrow directly: Ibis's generic insert goes through pandas, where
an integer column with NULLs turns to floats that Spark then drops.
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import pyarrow as pa

from lab.engines._schema import as_schema

NAME = "pyspark"


def prepare(backend) -> None:
    """Nothing to change on the backend: Ibis compiles every model as the lab needs."""


def storage_type(dtype: dt.DataType) -> dt.DataType:
    """Widen unsigned integers to the next signed type; keep the rest."""
    if dtype.is_unsigned_integer():
        wider = {8: dt.int16, 16: dt.int32, 32: dt.int64}.get(dtype.nbytes * 8, dt.int64)
        return wider.copy(nullable=dtype.nullable)
    return dtype


def append(backend, table_name: str, data: pa.Table, *, database=None) -> None:
    """Append ``data`` (already in the table's column order and types) to ``table_name``."""
    session = backend._session  # Ibis keeps the SparkSession there; no public accessor
    target = table_name if database is None else f"{database}.{table_name}"
    session.createDataFrame(data).write.insertInto(target)


def arrow(backend, sql: str, schema: ibis.Schema) -> pa.Table:
    """Run ``sql`` (compiled by Ibis for this engine); its rows as Arrow, in ``schema``
    (the compiled expression's)."""
    return as_schema(backend._session.sql(sql).toArrow(), schema)


def to_arrow(backend, table: ibis.Table) -> pa.Table:
    """Run the Ibis expression ``table``; its rows as Arrow, in the expression's schema."""
    return backend.to_pyarrow(table)
