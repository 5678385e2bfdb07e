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
# settings Ibis changes when it wraps a DuckDB connection; restored afterwards so the
# store's own SQL (and the other users of an in-memory store's connection) see no change
_DUCKDB_SETTINGS = ("TimeZone", "python_enable_replacements")


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
        return self.backend.to_pyarrow(expr.as_table()).to_pandas()


@contextlib.contextmanager
def _duckdb_session(store) -> Iterator[Session]:
    with store.connect() as con:
        saved = {
            name: con.execute("SELECT current_setting(?)", [name]).fetchone()[0]
            for name in _DUCKDB_SETTINGS
        }
        try:
            yield Session(ibis.duckdb.from_connection(con))
        finally:
            for name, value in saved.items():
                con.execute(f"SET {name} = ?", [value])


def session(store) -> contextlib.AbstractContextManager[Session]:
    """A :class:`Session` over the tables of ``store`` (a :class:`lab.Store` or a store
    opened with :meth:`lab.Store.from_ibis`)."""
    opener = getattr(store, "ibis_session", None)
    return opener() if opener is not None else _duckdb_session(store)
