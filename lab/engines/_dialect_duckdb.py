"""DuckDB: the embedded default. Ibis covers every model here; nothing to widen."""

from __future__ import annotations

import weakref

import ibis
import ibis.expr.datatypes as dt
import pyarrow as pa

from lab.engines._schema import as_schema

NAME = "duckdb"
# relations kept per Ibis backend object, by id: Ibis backends compare equal by database
# (every in-memory DuckDB is one key), and each has its own connection. An entry goes
# with its backend; as many as lab.engines._compiled keeps statements.
_RELATIONS: dict[int, dict] = {}
_RELATIONS_PER_BACKEND = 256


def prepare(backend) -> None:
    """Nothing to change on the backend: Ibis compiles every model as the lab needs."""


def storage_type(dtype: dt.DataType) -> dt.DataType:
    """DuckDB stores every lab type as written."""
    return dtype


def append(backend, table_name: str, data: pa.Table, *, database=None) -> None:
    """Append ``data`` (already in the table's column order and types) to ``table_name``."""
    backend.insert(table_name, data, database=database)


def arrow(backend, sql: str, schema: ibis.Schema) -> pa.Table:
    """Run ``sql`` (compiled by Ibis for this engine); its rows as Arrow, in ``schema``
    (the compiled expression's).

    The relation over ``sql`` is made once per backend: making one binds the statement
    to learn its columns (1-3 ms on a model's query, a tenth of a CUPED readout), and a
    relation runs its SQL afresh each time it is fetched, so new rows are always read.
    """
    relations = _RELATIONS.get(id(backend))
    if relations is None:
        relations = _RELATIONS[id(backend)] = {}
        weakref.finalize(backend, _RELATIONS.pop, id(backend), None)
    relation = relations.get(sql)
    if relation is None:
        if len(relations) >= _RELATIONS_PER_BACKEND:
            relations.clear()
        relation = relations[sql] = backend.con.sql(sql)
    return as_schema(relation.to_arrow_table(), schema)


def to_arrow(backend, table: ibis.Table) -> pa.Table:
    """Run the Ibis expression ``table``; its rows as Arrow, in the expression's schema."""
    return backend.to_pyarrow(table)
