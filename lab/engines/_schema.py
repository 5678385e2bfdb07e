"""The lab's schema as Ibis schemas, for stores on engines other than the embedded DuckDB.

:mod:`lab.schema` writes column types in DuckDB's names; this module maps them to Ibis
types once, so every engine creates the same tables. An engine without a type (Spark has
no unsigned integers) widens it in its dialect module (:func:`lab.engines.dialect`).

Example
-------
>>> from lab.engines._schema import ibis_schema
>>> ibis_schema("weather")["day"]
Date(nullable=False)
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import pyarrow as pa

from lab import schema

_TYPES = {
    "BIGINT": dt.int64,
    "INTEGER": dt.int32,
    "SMALLINT": dt.int16,
    "TINYINT": dt.int8,
    "UINTEGER": dt.uint32,
    "DOUBLE": dt.float64,
    "BOOLEAN": dt.boolean,
    "VARCHAR": dt.string,
    "DATE": dt.date,
    "TIMESTAMP": dt.timestamp,
}


def as_schema(rows: pa.Table, schema: ibis.Schema) -> pa.Table:
    """``rows`` (an engine's answer to an expression compiled by Ibis) with the
    expression's column names and types, so every engine returns the same dtypes."""
    return rows.rename_columns(list(schema.names)).cast(schema.to_pyarrow())


def ibis_schema(table_name: str) -> ibis.Schema:
    """Ibis schema of the lab table ``table_name`` (nullability as documented)."""
    spec = schema.table(table_name)
    return ibis.schema({c.name: _TYPES[c.type].copy(nullable=c.nullable) for c in spec.columns})
