"""Compile a model's Ibis expression once per set of arguments, and reuse the SQL.

Building and compiling an expression costs tens of milliseconds of Python on every
call (about 50 ms for retention), which on the embedded DuckDB store is as much as the
query itself on millions of events. A model that is called again with the same
arguments (a dashboard redrawing, a notebook re-run) runs the SQL compiled the first
time, through the engine's own client (``arrow`` of the per-engine module), and gets the
expression's column types back as :meth:`Session.execute` gives them. The SQL depends only on the engine, the database the tables live in and the
model's arguments, never on the data, so a store's new rows are always read.

Example
-------
>>> import lab
>>> from lab.engines import session
>>> from lab.engines._compiled import execute_compiled
>>> store = lab.Store(":memory:")
>>> with session(store) as db:
...     runs = lambda: db.table("runs").count().name("n").as_table()
...     execute_compiled(db, ("doc", "runs"), runs)["n"].tolist()
[0]
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import ibis
import pandas as pd
import pyarrow as pa

from lab.engines._session import Session

# a handful of argument sets per model is what a dashboard cycles through
_LIMIT = 256
_compiled: OrderedDict[Hashable, tuple[str, ibis.Schema]] = OrderedDict()
_lock = threading.Lock()


def execute_compiled(db: Session, key: Hashable, build: Callable[[], ibis.Expr]) -> pd.DataFrame:
    """``db.execute(build())``, with ``build`` called and compiled only the first time
    ``key`` (the model's name and every argument the expression depends on) is seen on
    this engine and database."""
    return arrow_compiled(db, key, build).to_pandas()


def arrow_compiled(db: Session, key: Hashable, build: Callable[[], ibis.Expr]) -> pa.Table:
    """:func:`execute_compiled`'s rows as Arrow, for a model that reads a few values
    (pandas' conversion costs more than a small query's answer is worth)."""
    full_key = (db.engine, db.database, key)
    with _lock:
        found = _compiled.get(full_key)
        if found is not None:
            _compiled.move_to_end(full_key)
    if found is None:
        expr = build().as_table()
        found = (db.backend.compile(expr), expr.schema())
        with _lock:
            _compiled[full_key] = found
            while len(_compiled) > _LIMIT:
                _compiled.popitem(last=False)
    sql, schema = found
    # straight to the engine: wrapping the SQL in an Ibis table would parse it again
    return db.dialect.arrow(db.backend, sql, schema)
