"""ClickHouse (a server through Ibis's ClickHouse backend).

ClickHouse has every lab type. Its ``quantile`` is approximate by design, so a model
that needs an exact median must call ``quantileExact`` here (no ported model does yet).
Untested in this lab: no server is reachable from the test machine (see docs/scale.md).
"""

from __future__ import annotations

import ibis.expr.datatypes as dt
import pyarrow as pa

NAME = "clickhouse"


def storage_type(dtype: dt.DataType) -> dt.DataType:
    """ClickHouse stores every lab type as written."""
    return dtype


def append(backend, table_name: str, data: pa.Table, *, database=None) -> None:
    """Append ``data`` (already in the table's column order and types) to ``table_name``."""
    backend.insert(table_name, data, database=database)


def arrow(backend, sql: str) -> pa.Table:
    """Run ``sql`` (compiled by Ibis for this engine) and return its rows as Arrow."""
    return backend.con.query_arrow(sql)
