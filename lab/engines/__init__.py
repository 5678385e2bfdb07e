"""Run the lab's models where the data lives: DuckDB (embedded default), Spark, ClickHouse.

Each ported model is one set of Ibis expressions; the engine returns small aggregates
and Python does the statistics. :func:`session` hands a model the tables of any store;
:class:`IbisStore` (opened with :meth:`lab.Store.from_ibis`) keeps the lab's tables in
an Ibis backend. docs/scale.md says how to point the lab at a cluster and which models
are ported.

Example
-------
>>> import ibis, lab
>>> store = lab.Store.from_ibis(ibis.duckdb.connect())
>>> store.create_schema()[:2]
['runs', 'users']
"""

from lab.engines._session import Session, dialect, session
from lab.engines._store import IbisStore, open_store, spark_session

__all__ = ["IbisStore", "Session", "dialect", "open_store", "session", "spark_session"]
