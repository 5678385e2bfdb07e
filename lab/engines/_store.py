"""A lab store whose tables live in an Ibis backend: Spark, ClickHouse or a DuckDB server.

:class:`IbisStore` reads runs like :class:`lab.Store` and serves every model ported to
Ibis (see docs/scale.md). It is filled from the lab's schema in one of three ways:
:meth:`IbisStore.copy_run` from another store, :meth:`IbisStore.load_parquet` from a
``python -m lab export`` directory, or :meth:`IbisStore.create_view` over a warehouse
table whose columns are renamed to the lab's.

Example
-------
>>> import ibis, lab
>>> from lab.engines import IbisStore
>>> source = lab.Store(":memory:")
>>> _ = source.create_run("r", origin="import")
>>> target = lab.Store.from_ibis(ibis.duckdb.connect())
>>> target.copy_run(source, "r")["runs"]
1
>>> target.runs()["run_id"].tolist()
['r']
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lab import schema
from lab.engines._schema import ibis_schema
from lab.engines._session import Session, dialect
from lab.store import SchemaVersionError, StoreError


class IbisStore:
    """Runs of coupon logs in the tables of an Ibis backend.

    Parameters
    ----------
    backend : ibis.BaseBackend
        A connected backend: ``ibis.pyspark.connect(spark_session)``,
        ``ibis.clickhouse.connect(...)``, ``ibis.duckdb.connect(...)``.
    database : str or tuple, optional, keyword-only
        Database (or ``(catalog, database)``) holding the lab's tables; ``None``: the
        backend's current one.

    Use :meth:`lab.Store.from_ibis` (which also takes a URL) rather than this class.
    """

    def __init__(self, backend, *, database: str | tuple[str, str] | None = None) -> None:
        dialect(backend.name).prepare(backend)  # fails early on an engine the lab lacks
        self.backend = backend
        self.database = database
        self.read_only = False
        self.path = f"{backend.name}:{database or 'default'}"

    def __repr__(self) -> str:
        return f"IbisStore({self.path})"

    @contextlib.contextmanager
    def ibis_session(self) -> Iterator[Session]:
        yield Session(self.backend, self.database)

    def query(self, sql, params=None):
        raise StoreError(
            f"{self.path}: this model still runs DuckDB SQL and is not yet ported to Ibis "
            "(docs/scale.md lists what is); run it on a DuckDB store (lab.Store)"
        )

    arrow = query

    def while_unchanged(self, key, compute):
        """``compute()``, on every call: another client may change a warehouse's
        tables at any time (:meth:`lab.Store.while_unchanged` keeps answers while a
        read-only connection is open)."""
        return compute()

    # -- schema ----------------------------------------------------------------------
    def _exists(self, table_name: str) -> bool:
        # a lookup rather than list_tables(), which Ibis 12 cannot run on DuckDB 2
        try:
            self.backend.table(table_name, database=self.database)
        except ibis.common.exceptions.TableNotFound:
            return False
        return True

    def create_schema(self) -> list[str]:
        """Create the lab's tables that are missing, in the engine's types; return them."""
        storage = dialect(self.backend.name).storage_type
        created = []
        for spec in schema.TABLES:
            if self._exists(spec.name):
                continue
            columns = ibis_schema(spec.name)
            self.backend.create_table(
                spec.name,
                schema=ibis.schema({n: storage(t) for n, t in columns.items()}),
                database=self.database,
            )
            created.append(spec.name)
        return created

    def create_view(self, table_name: str, source: ibis.Table) -> ibis.Table:
        """Serve the lab table ``table_name`` from ``source``, a table of the warehouse.

        ``source`` must already carry the lab's column names (rename with
        ``t.rename(...)``); lab columns it lacks are NULL, each column is cast to the
        lab's type, and ``run_id`` is required. Views go where the lab's tables are not
        (a table of the same name is an error). On Spark the view is a temporary view of
        the session, which belongs to no database: open that store with
        ``database=None``.

        Example
        -------
        >>> import ibis, lab
        >>> store = lab.Store.from_ibis(ibis.duckdb.connect())
        >>> raw = ibis.memtable({"run": ["w"], "wx_day": ["2026-03-02"], "wet": [1]})
        >>> view = store.create_view(
        ...     "weather", raw.rename(run_id="run", day="wx_day", rain="wet"))
        >>> store.backend.to_pyarrow(view).column("rain").to_pylist()
        [True]
        """
        spec = schema.table(table_name)
        extra = sorted(set(source.columns) - set(spec.column_names))
        if extra:
            raise ValueError(
                f"{table_name}: unknown column(s) {', '.join(extra)}; rename the source's "
                f"columns to the lab's ({', '.join(spec.column_names)})"
            )
        if "run_id" not in source.columns:
            raise ValueError(f"{table_name}: the source needs a run_id column")
        # in the engine's own types, as create_schema makes tables (Spark has no UINT)
        storage = dialect(self.backend.name).storage_type
        view = source.select(
            **{
                name: (source[name] if name in source.columns else ibis.null()).cast(storage(dtype))
                for name, dtype in ibis_schema(table_name).items()
            }
        )
        return self.backend.create_view(table_name, view, database=self.database, overwrite=True)

    # -- reading ---------------------------------------------------------------------
    def _runs(self, run_id: str | None = None) -> pd.DataFrame:
        runs = self.backend.table("runs", database=self.database)
        if run_id is not None:
            runs = runs.filter(runs.run_id == run_id)
        ordered = runs.order_by(["created_at", "run_id"])
        return dialect(self.backend.name).to_arrow(self.backend, ordered).to_pandas()

    def runs(self) -> pd.DataFrame:
        """All runs, oldest first."""
        return self._runs()

    def has_run(self, run_id: str) -> bool:
        return not self._runs(run_id).empty

    def run(self, run_id: str) -> dict:
        """The ``runs`` row of ``run_id`` as a dict; ``KeyError`` naming the known runs."""
        df = self._runs(run_id)
        if df.empty:
            known = ", ".join(self.runs()["run_id"]) or "none"
            raise KeyError(f"no run {run_id!r} in {self.path} (runs: {known})")
        return df.iloc[0].to_dict()

    # -- filling ---------------------------------------------------------------------
    def _append(self, table_name: str, data: pa.Table) -> int:
        if data.num_rows:
            storage = dialect(self.backend.name).storage_type
            target = ibis.schema(
                {n: storage(t) for n, t in ibis_schema(table_name).items()}
            ).to_pyarrow()
            dialect(self.backend.name).append(
                self.backend,
                table_name,
                data.select(target.names).cast(target),
                database=self.database,
            )
        return data.num_rows

    def _check_new(self, run_id: str) -> None:
        if self.has_run(run_id):
            raise StoreError(f"run {run_id!r} exists already in {self.path}; delete it first")

    def copy_run(self, source, run_id: str) -> dict[str, int]:
        """Copy run ``run_id`` of ``source`` (a :class:`lab.Store`) here; rows per table.

        The lab's tables are created first when missing. The rows pass through Arrow
        in memory, one table at a time: fine for a sample or a test world; load a large
        run with :meth:`load_parquet` or point views at it (:meth:`create_view`).
        """
        return self.copy_runs(source, [run_id])

    def copy_runs(self, source, run_ids: Sequence[str]) -> dict[str, int]:
        """Copy several runs of ``source`` at once (one append per table); rows per table."""
        run_ids = list(run_ids)
        for run_id in run_ids:
            source.run(run_id)
        self.create_schema()
        for run_id in run_ids:
            self._check_new(run_id)
        return {
            spec.name: self._append(
                spec.name,
                source.arrow(
                    f"SELECT * FROM {spec.name} WHERE list_contains(CAST(? AS VARCHAR[]), run_id)",
                    [run_ids],
                ),
            )
            for spec in _data_first()
        }

    def load_parquet(self, directory: str | Path, *, run_id: str | None = None) -> str:
        """Load a directory written by ``python -m lab export`` as one run; its id.

        ``run_id`` renames the run; by default the exported id is kept.
        """
        src = Path(directory)
        runs_file = src / "runs.parquet"
        if not runs_file.exists():
            raise StoreError(f"{src}: no runs.parquet; is this a directory written by export?")
        runs = pq.read_table(runs_file)
        if runs.num_rows != 1:
            raise StoreError(f"{runs_file}: expected one run, found {runs.num_rows}")
        version = runs.column("schema_version")[0].as_py()
        if version != schema.SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{runs_file}: written with schema version {version}, this lab reads "
                f"version {schema.SCHEMA_VERSION}"
            )
        new_id = run_id or runs.column("run_id")[0].as_py()
        self.create_schema()
        self._check_new(new_id)
        for spec in _data_first():
            path = src / f"{spec.name}.parquet"
            if path.exists():
                data = pq.read_table(path)
                ids = pa.array([new_id] * data.num_rows, pa.string())
                self._append(spec.name, data.set_column(0, "run_id", ids))
        return new_id


def _data_first() -> list[schema.Table]:
    """The lab's tables with ``runs`` last, so a run is listed only once its data is in
    (engines like Spark have no multi-table transaction)."""
    return [t for t in schema.TABLES if t.name != "runs"] + [schema.table("runs")]


def open_store(target, *, database: str | tuple[str, str] | None = None) -> IbisStore:
    """An :class:`IbisStore` on ``target``: an Ibis backend, or a URL.

    URLs: ``sc://host:15002`` (Spark Connect), ``spark://host:7077`` (a standalone
    Spark master), ``local[N]`` (Spark in this process), ``yarn``, or any URL
    ``ibis.connect`` takes (``clickhouse://user:pass@host:9000/db``,
    ``duckdb:///path/lab.duckdb``).

    Example
    -------
    >>> open_store("duckdb://").path
    'duckdb:default'
    """
    if not isinstance(target, str):
        return IbisStore(target, database=database)
    if target.startswith(("sc://", "spark://", "local", "yarn")):
        return IbisStore(ibis.pyspark.connect(spark_session(target)), database=database)
    return IbisStore(ibis.connect(target), database=database)


def spark_session(
    master: str, *, config: Mapping[str, str] | None = None, log_path: str | Path | None = None
):
    """A SparkSession for ``master`` (``sc://`` URLs go through Spark Connect).

    The console progress bar is off, as the lab's output is machine-readable.

    Parameters
    ----------
    master : str
        ``local[N]``, ``spark://host:7077``, ``yarn`` or ``sc://host:15002``.
    config : mapping, optional, keyword-only
        Spark settings (``spark.sql.shuffle.partitions``...).
    log_path : str or Path, optional, keyword-only
        File that receives the console output of the Spark driver this call starts (its
        start-up warnings and log), e.g. to keep a notebook's output clean. ``None``
        leaves it on this process's standard error. No effect when a session runs
        already or with Spark Connect (no local driver is started).

    Example
    -------
    >>> spark_session("local[1]", log_path="/tmp/spark.log").conf.get("spark.master")  # doctest: +SKIP
    'local[1]'
    """
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("coupon-lab")
    builder = builder.remote(master) if master.startswith("sc://") else builder.master(master)
    defaults = {
        "spark.ui.showConsoleProgress": "false",
        # Arrow moves rows between Python and the JVM without a per-row pickle
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    for key, value in {**defaults, **(config or {})}.items():
        builder = builder.config(key, value)
    if log_path is None:
        return builder.getOrCreate()
    with _stderr_to(Path(log_path)):
        return builder.getOrCreate()


@contextlib.contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Point file descriptor 2 at ``path`` while a block runs: a process started inside
    (the Spark driver's JVM) keeps writing there, this process gets its stderr back."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with path.open("ab") as log:
            os.dup2(log.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
