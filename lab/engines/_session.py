"""One way for a model to reach its tables on any engine: :func:`session`.

A model builds Ibis expressions on ``db.table(name)`` and calls ``db.execute(expr)``,
which returns a small pandas DataFrame: the engine computes the aggregates, Python the
statistics. For the embedded :class:`lab.Store` the session wraps the store's own
DuckDB connection (so an in-memory store and an open transaction are seen); for a
store opened with :meth:`lab.Store.from_ibis` it is that store's backend.

Example
-------
>>> import lab
>>> from lab.engines import session
>>> store = lab.Store(":memory:")
>>> with session(store) as db:
...     db.execute(db.table("runs").count().as_table())["CountStar(runs)"].tolist()
[0]
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import ibis
import pandas as pd

from lab.engines import _dialect_clickhouse, _dialect_duckdb, _dialect_pyspark

_DIALECTS = {d.NAME: d for d in (_dialect_duckdb, _dialect_pyspark, _dialect_clickhouse)}
# settings Ibis gives a DuckDB connection it wraps (its _post_connect), set for every
# session on a writable store's connection and restored afterwards so the store's own SQL
# (and the other users of an in-memory store's connection) see no change
_DUCKDB_SETTINGS = {"TimeZone": "UTC", "python_enable_replacements": False}


def dialect(backend_name: str) -> ModuleType:
    """The per-engine module of escape hatches for an Ibis backend name."""
    try:
        return _DIALECTS[backend_name]
    except KeyError:
        raise ValueError(
            f"engine {backend_name!r} is not supported; the lab runs on "
            f"{', '.join(sorted(_DIALECTS))}"
        ) from None


@dataclass(frozen=True)
class Session:
    """The tables of one store on one engine, for the duration of a ``with`` block.

    Attributes
    ----------
    backend : ibis.BaseBackend
        The Ibis backend the expressions run on.
    database : str or tuple, optional
        Where the lab's tables live on that backend (``None``: its current database).
    """

    backend: Any
    database: str | tuple[str, str] | None = None

    @property
    def engine(self) -> str:
        """Backend name: ``"duckdb"``, ``"pyspark"`` or ``"clickhouse"``."""
        return self.backend.name

    @property
    def dialect(self) -> ModuleType:
        return dialect(self.engine)

    def table(self, name: str) -> ibis.Table:
        """The lab table ``name`` as an Ibis table expression."""
        return self.backend.table(name, database=self.database)

    def execute(self, expr: ibis.Expr) -> pd.DataFrame:
        """Run ``expr`` and return its (small) result with the same dtypes on every engine.

        The result passes through Arrow with the expression's own schema, so a count is
        ``int64`` and a timestamp ``datetime64[us]`` whichever engine computed it.
        """
        return self.dialect.to_arrow(self.backend, expr.as_table()).to_pandas()


@contextlib.contextmanager
def _duckdb_session(store) -> Iterator[Session]:
    with store.connect() as con:
        if store.read_only:
            # a read-only store has no transaction to share, so its models read through a
            # cursor of their own (same database, own settings), given Ibis's settings
            # once: saving and restoring them on the store's connection were three
            # statements a call, a tenth of a CUPED readout
            yield Session(store.wrapper("ibis cursor backend", _cursor_backend))
            return
        # one statement each way: a session opens on every model call
        reads = ", ".join(f"current_setting('{name}')" for name in _DUCKDB_SETTINGS)
        values = con.execute(f"SELECT {reads}").fetchall()[0]
        saved = dict(zip(_DUCKDB_SETTINGS, values, strict=True))
        # one Ibis backend per connection: wrapping it anew on every model call cost
        # half a millisecond (Ibis reads the duckdb package's metadata each time)
        backend = store.wrapper("ibis backend", ibis.duckdb.from_connection)
        con.execute(_set_statement(_DUCKDB_SETTINGS))  # Ibis set them only the first time
        try:
            yield Session(backend)
        finally:
            con.execute(_set_statement(saved))


def _cursor_backend(con):
    """An Ibis backend over a new cursor of ``con`` (closed with ``con``)."""
    return ibis.duckdb.from_connection(con.cursor())


def _set_statement(settings: dict[str, str | bool]) -> str:
    """``SET`` statements for ``settings``, in one string (a multi-statement takes no
    parameters, so the values are written as SQL literals)."""
    return "; ".join(f"SET {name} = {_sql_literal(value)}" for name, value in settings.items())


def _sql_literal(value: str | bool) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "'" + str(value).replace("'", "''") + "'"


def session(store) -> contextlib.AbstractContextManager[Session]:
    """A :class:`Session` over the tables of ``store`` (a :class:`lab.Store` or a store
    opened with :meth:`lab.Store.from_ibis`)."""
    opener = getattr(store, "ibis_session", None)
    return opener() if opener is not None else _duckdb_session(store)
