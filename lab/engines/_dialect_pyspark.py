"""Apache Spark (PySpark local, standalone or Spark Connect).

Spark has no unsigned integers: a ``UINTEGER`` column is stored as ``BIGINT`` (the
values fit, and every model reads it as a number). Ibis compiles ``TimestampBucket``
for DuckDB but not for Spark, so models bucket time through epoch seconds, which both
compile. The lab's timestamps are wall-clock times without a zone; Ibis sets the
session's time zone to UTC, so Spark neither shifts them nor applies daylight saving.
"""

from __future__ import annotations

import ibis.expr.datatypes as dt

NAME = "pyspark"


def storage_type(dtype: dt.DataType) -> dt.DataType:
    """Widen unsigned integers to the next signed type; keep the rest."""
    if dtype.is_unsigned_integer():
        wider = {8: dt.int16, 16: dt.int32, 32: dt.int64}.get(dtype.nbytes * 8, dt.int64)
        return wider.copy(nullable=dtype.nullable)
    return dtype
