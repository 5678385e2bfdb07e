"""DuckDB: the embedded default. Ibis covers every model here; nothing to widen."""

from __future__ import annotations

import ibis.expr.datatypes as dt

NAME = "duckdb"


def storage_type(dtype: dt.DataType) -> dt.DataType:
    """DuckDB stores every lab type as written."""
    return dtype
