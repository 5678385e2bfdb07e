"""The embedded DuckDB store that every run lives in.

A :class:`Store` is a path plus a mode. It opens a DuckDB connection only for the
duration of an operation (``with store.connect() as con``), so a dashboard that reads
and a notebook that writes can share one file: DuckDB lets one process write or many
read, and short-lived connections let them take turns. Writers retry for a while when
another process holds the file; readers never wait long: a read-only open that finds a
writer retries for at most ``lock_timeout`` (1 s by default), then raises
:class:`StoreBusyError` naming the writer; for the next second, readers of that file in
the process do not wait again, so a server answering many requests is never held up
(docs/reliability.md).

Example
-------
>>> import lab
>>> store = lab.Store(":memory:")
>>> store.runs().empty
True
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lab import schema

T = TypeVar("T")
DEFAULT_PATH = Path("data") / "lab.duckdb"
#: seconds a reader retries while a writer holds the file, and then refuses at once
READER_LOCK_TIMEOUT = 1.0
WRITER_LOCK_TIMEOUT = 30.0
#: prefix of the staging folders writers keep beside the database file
STAGING_PREFIX = ".simulate-"
_STAGING_OWNER = "owner.pid"
_HOLDER = re.compile(r"Conflicting lock is held in (.+?)(?: by user \S+)?\.? See also", re.S)
# path -> (until when read-only opens do not wait, lock holder), shared by the
# process's stores: a server opening one Store per session waits once, not per session
_BUSY: dict[str, tuple[float, str | None]] = {}
# DuckDB's words for a file that is not a whole database (empty, garbage, truncated)
_CORRUPT = ("not a valid DuckDB database", "Could not read enough bytes", "checksum", "Corrupt")


def _connect(path: str, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(path, read_only=read_only)
    # DuckDB draws its own progress bar on stdout for slow queries, which would corrupt
    # machine-readable CLI output and notebook outputs; the lab shows its own bars
    con.execute("SET enable_progress_bar = false")
    return con


def bulk_threads() -> int:
    """DuckDB threads for bulk work (imports): every core this process may use but one.

    A bulk import in DuckDB's default (one thread per core) takes the whole machine; one
    core left free keeps a dashboard or notebook on the same machine answering
    (docs/reliability.md). At least 1.

    Example
    -------
    >>> bulk_threads() >= 1
    True
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def check_threads(threads: object) -> None:
    """Raise ``ValueError`` unless ``threads`` is a whole number of at least 1."""
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a whole number of at least 1; got {threads!r}")


@contextlib.contextmanager
def use_threads(con: duckdb.DuckDBPyConnection, threads: int) -> Iterator[None]:
    """Run the block with DuckDB's ``threads`` setting at ``threads``, then restore it."""
    check_threads(threads)
    before = con.execute("SELECT current_setting('threads')").fetchone()[0]
    con.execute(f"SET threads = {threads}")
    try:
        yield
    finally:
        con.execute(f"SET threads = {int(before)}")


def _insert_select(table_name: str, names: Sequence[str]) -> str:
    """SELECT list that casts source columns ``names`` (as ``src``) to ``table_name``'s schema.

    Columns matched by name; schema columns missing from ``names`` are NULL; ``run_id``
    is the first bound parameter; a name that is not a column of the table is an error.
    """
    spec = schema.table(table_name)
    extra = sorted(set(names) - set(spec.column_names))
    if extra:
        raise ValueError(f"{table_name}: unknown column(s) {', '.join(extra)}")
    return ", ".join(
        "CAST(? AS VARCHAR) AS run_id"
        if c.name == "run_id"
        else (f'CAST(src."{c.name}" AS {c.type})' if c.name in names else f"CAST(NULL AS {c.type})")
        for c in spec.columns
    )


class StoreError(RuntimeError):
    """A store operation failed; the message says what to do."""


class SchemaVersionError(StoreError):
    """The database was written by another schema version."""


class UnknownRunError(KeyError, ValueError):
    """No such run: a ``KeyError`` (as ``Store.run`` always raised) and a ``ValueError``
    (a wrong ``run=`` argument); the message names the runs there are."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""  # KeyError would add quotes


class StoreBusyError(StoreError):
    """Another process holds the write lock; ``holder`` names it when DuckDB says."""

    def __init__(self, message: str, *, holder: str | None = None) -> None:
        super().__init__(message)
        self.holder = holder


def _lock_holder(exc: Exception) -> str | None:
    found = _HOLDER.search(str(exc))
    return found.group(1).strip() if found else None


def _is_lock_error(exc: Exception) -> bool:
    return "lock" in str(exc).lower()


def _corrupt_error(path: str, exc: Exception) -> StoreError:
    reason = str(exc).strip().splitlines()[0]
    return StoreError(
        f"{path}: not a readable lab database ({reason}). The file is empty, truncated or "
        "not a DuckDB file (a copy cut short, a disk that filled up). Restore it from a "
        "copy, or move it away and rebuild it with `python -m lab generate` / "
        "`python -m lab import`."
    )


def _process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (Linux), so a reused PID is not mistaken for ours."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(owner: str) -> bool:
    try:
        pid_text, start = (owner.split() + [""])[:2]
        pid = int(pid_text)
    except ValueError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not start or _process_start(pid) in (None, start)


def clean_staging(parent: str | Path, *, grace_seconds: float = 60.0) -> list[Path]:
    """Remove staging folders in ``parent`` whose writer is dead; return the ones removed.

    A folder names its owner in ``owner.pid`` (PID and start time); one still in use is
    never touched. A folder with no owner file is removed once older than
    ``grace_seconds`` (its writer died before writing it, or it predates owner files).
    """
    removed = []
    for folder in Path(parent).glob(f"{STAGING_PREFIX}*"):
        if not folder.is_dir():
            continue
        owner_file = folder / _STAGING_OWNER
        try:
            owner = owner_file.read_text()
        except OSError:
            try:
                stale = time.time() - folder.stat().st_mtime > grace_seconds
            except OSError:
                continue
            if not stale:
                continue
        else:
            if _alive(owner):
                continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


@contextlib.contextmanager
def staging_folder(parent: str | Path) -> Iterator[Path]:
    """A private folder beside the database for a writer's temporary files.

    Removed when the block exits, however it exits (a SIGTERM too, when the process turns
    it into ``SystemExit`` as ``python -m lab`` does); after a kill -9, the next writable
    open of the store removes it (:func:`clean_staging`).
    """
    folder = Path(tempfile.mkdtemp(dir=parent, prefix=STAGING_PREFIX))
    try:
        pid = os.getpid()
        (folder / _STAGING_OWNER).write_text(f"{pid} {_process_start(pid) or ''}")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class Store:
    """A DuckDB file holding runs of coupon logs.

    Parameters
    ----------
    path : str or Path, optional
        Database file (created with the schema if missing), or ``":memory:"``.
        Defaults to ``data/lab.duckdb``.
    read_only : bool, keyword-only
        Open read-only (the dashboard does). Fails if the file does not exist.
    lock_timeout : float, keyword-only
        Seconds to keep retrying while another process holds the write lock; default
        1 s for readers, 30 s for writers. Then :class:`StoreBusyError`, naming the
        process that holds the lock; a reader then refuses at once for the next
        ``lock_timeout`` seconds.

    Examples
    --------
    >>> store = Store(":memory:")
    >>> store.create_run("demo", origin="import", label="example")
    'demo'
    >>> store.runs()["run_id"].tolist()
    ['demo']
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        read_only: bool = False,
        lock_timeout: float | None = None,
    ) -> None:
        self.path = str(DEFAULT_PATH if path is None else path)
        self.read_only = read_only
        default = READER_LOCK_TIMEOUT if read_only else WRITER_LOCK_TIMEOUT
        self.lock_timeout = default if lock_timeout is None else float(lock_timeout)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._depth = 0
        # answers computed from the data while a read-only connection is open
        self._snapshot: dict = {}
        # objects wrapping the open connection (an Ibis backend), made once per connection
        self._wrappers: dict = {}
        self._in_transaction = False
        self._version_checked = False
        if self.in_memory:
            # an in-memory database lives only as long as its connection: keep one
            self._con = _connect(":memory:", read_only=False)
            self._ensure_schema(self._con)
        elif read_only:
            if not Path(self.path).exists():
                raise StoreError(
                    f"{self.path}: no database here. Build one with `python -m lab generate` "
                    "or `make data`."
                )
            # a writer may hold the file now: ask once, without waiting; the version is
            # checked on the first open
            with contextlib.suppress(StoreBusyError), self.connect(wait=False):
                pass
        else:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            with self.connect() as con:
                self._ensure_schema(con)
            clean_staging(Path(self.path).resolve().parent)

    @classmethod
    def from_ibis(cls, con, *, database: str | tuple[str, str] | None = None):
        """Open a store whose tables live in an Ibis backend (Spark, ClickHouse, DuckDB).

        ``con`` is a connected Ibis backend or a URL (``sc://host:15002``,
        ``spark://host:7077``, ``local[2]``, ``clickhouse://...``); ``database`` names
        where the lab's tables are. Returns a :class:`lab.engines.IbisStore`, which the
        models ported to Ibis read like this store (see docs/scale.md).

        Example
        -------
        >>> import ibis
        >>> store = Store.from_ibis(ibis.duckdb.connect())
        >>> store.create_schema()[0], store.runs().empty
        ('runs', True)
        """
        from lab.engines import open_store

        return open_store(con, database=database)

    # -- connections -------------------------------------------------------------------
    @property
    def in_memory(self) -> bool:
        return self.path == ":memory:"

    @contextlib.contextmanager
    def connect(self, *, wait: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """Yield a connection, opened for this block (nested blocks share it).

        ``wait=False``: do not retry while another process holds the lock.
        """
        if self._con is not None:
            self._depth += 1
            try:
                yield self._con
            finally:
                self._depth -= 1
            return
        con = self._open(wait=wait)
        self._con, self._depth = con, 1
        self._snapshot, self._wrappers = {}, {}
        try:
            if not self._version_checked and self.read_only:
                self._check_version(con)
            self._version_checked = True
            yield con
        except duckdb.Error as exc:
            if any(marker in str(exc) for marker in _CORRUPT):
                raise _corrupt_error(self.path, exc) from exc
            raise
        finally:
            self._depth -= 1
            self._con = None
            self._snapshot, self._wrappers = {}, {}
            con.close()

    def while_unchanged(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, computed once per ``key`` while this read-only store holds its
        connection open (a ``with store.connect():`` block), and on every call otherwise.

        DuckDB lets no process open a file for writing while a read-only connection holds
        it, and a read-only connection writes nothing, so the data cannot change under an
        open read-only connection: an answer that depends only on the data (a run's row,
        a checksum of its sources) holds until the connection closes. A writable or
        in-memory store computes every time, as its own connection may change the data.

        Example
        -------
        >>> store = Store(":memory:")
        >>> store.while_unchanged("k", lambda: 1)
        1
        """
        if not self.read_only or self._con is None:
            return compute()
        if key not in self._snapshot:
            self._snapshot[key] = compute()
        return self._snapshot[key]

    def wrapper(self, key: Hashable, wrap: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """``wrap(con)`` of the open connection ``con``, made once per connection and
        ``key`` (an Ibis backend over it, say); call it inside ``with store.connect():``.

        Example
        -------
        >>> store = Store(":memory:")
        >>> with store.connect():
        ...     store.wrapper("id", id) == store.wrapper("id", lambda con: None)
        True
        """
        if self._con is None:
            raise StoreError(
                "wrapper() needs an open connection: call it in `with store.connect():`"
            )
        if key not in self._wrappers:
            self._wrappers[key] = wrap(self._con)
        return self._wrappers[key]

    def writer(self) -> str | None:
        """The process holding this file's write lock (as DuckDB names it), or None.

        Only meaningful for a read-only store; asks without waiting.

        Example
        -------
        >>> Store(":memory:").writer() is None
        True
        """
        if self.in_memory or not self.read_only:
            return None
        try:
            _connect(self.path, read_only=True).close()
        except duckdb.IOException as exc:
            if _is_lock_error(exc):
                return _lock_holder(exc) or "another process"
        return None

    def _open(self, *, wait: bool = True) -> duckdb.DuckDBPyConnection:
        busy_until, _ = _BUSY.get(self.path, (0.0, None))
        # a writer was seen within the last second: ask once, without waiting again (a
        # reader that asked to wait longer than the default does wait)
        impatient = self.read_only and self.lock_timeout <= READER_LOCK_TIMEOUT
        if impatient and time.monotonic() < busy_until:
            wait = False
        deadline = time.monotonic() + (self.lock_timeout if wait else 0.0)
        delay = 0.05
        while True:
            try:
                return _connect(self.path, read_only=self.read_only)
            except duckdb.IOException as exc:
                if not _is_lock_error(exc):
                    if any(marker in str(exc) for marker in _CORRUPT):
                        raise _corrupt_error(self.path, exc) from exc
                    raise StoreError(f"{self.path}: cannot open the database ({exc})") from exc
                if time.monotonic() > deadline:
                    holder = _lock_holder(exc)
                    if self.read_only:
                        _BUSY[self.path] = (time.monotonic() + max(self.lock_timeout, 1.0), holder)
                    raise self._busy(holder) from exc
                # jitter, and a low cap, so a reader polling in a loop cannot starve a writer
                time.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 0.2)

    def _busy(self, holder: str | None) -> StoreBusyError:
        who = f" ({holder})" if holder else ""
        return StoreBusyError(
            f"{self.path}: another process{who} is writing to the database and holds its "
            "lock; readers see the new data once that write commits. Retry in a moment.",
            holder=holder,
        )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Yield a connection inside one transaction: all of the block lands, or nothing.

        A nested block joins the outer transaction (DuckDB has no savepoints), so
        a caller can wrap several operations that each use a transaction.
        """
        with self.connect() as con:
            if self._in_transaction:
                yield con
                return
            con.execute("BEGIN TRANSACTION")
            self._in_transaction = True
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            else:
                con.execute("COMMIT")
            finally:
                self._in_transaction = False

    def close(self) -> None:
        """Release an in-memory database (file stores hold no connection between calls)."""
        if self._con is not None and self.in_memory:
            self._con.close()
            self._con = None
            self._wrappers = {}

    # -- schema ----------------------------------------------------------------------
    def _ensure_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute("CREATE TABLE IF NOT EXISTS lab_meta (key VARCHAR, value VARCHAR)")
        found = con.execute("SELECT value FROM lab_meta WHERE key = 'schema_version'").fetchone()
        if found is None:
            for t in schema.TABLES:
                con.execute(t.ddl())
            con.execute(
                "INSERT INTO lab_meta VALUES ('schema_version', ?)", [str(schema.SCHEMA_VERSION)]
            )
        else:
            self._check_version(con)

    def _check_version(self, con: duckdb.DuckDBPyConnection) -> None:
        try:
            found = con.execute(
                "SELECT value FROM lab_meta WHERE key = 'schema_version'"
            ).fetchone()
        except duckdb.CatalogException:
            found = None
        cell = found[0] if found else None
        if found is not None and (cell is None or not str(cell).strip().isdigit()):
            raise SchemaVersionError(
                f"{self.path}: lab_meta's schema_version is {cell!r}, not a number; the "
                "file was not written by the lab or was edited by hand. Rebuild it (delete "
                "the file and run `python -m lab generate`)."
            )
        version = int(cell) if found is not None else None
        if version != schema.SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self.path} was written with schema version {version}, this lab uses "
                f"version {schema.SCHEMA_VERSION}. Rebuild it (delete the file and run "
                "`python -m lab generate`), or export its runs with an older lab "
                "(`python -m lab export`) and import the Parquet files here."
            )

    # -- reading ---------------------------------------------------------------------
    def query(self, sql: str, params: Sequence | Mapping | None = None) -> pd.DataFrame:
        """Run ``sql`` with bound ``params`` and return a DataFrame."""
        with self.connect() as con:
            return con.execute(sql, params or []).df()

    def arrow(self, sql: str, params: Sequence | Mapping | None = None) -> pa.Table:
        """Run ``sql`` with bound ``params`` and return an Arrow table."""
        with self.connect() as con:
            return con.sql(sql, params=params or []).to_arrow_table()

    def runs(self) -> pd.DataFrame:
        """All runs, oldest first."""
        return self.query("SELECT * FROM runs ORDER BY created_at, run_id")

    def has_run(self, run_id: str) -> bool:
        return bool(self.query("SELECT count(*) AS n FROM runs WHERE run_id = ?", [run_id])["n"][0])

    def run(self, run_id: str) -> dict:
        """The `runs` row of ``run_id`` as a dict; :class:`UnknownRunError` (a ``KeyError``)
        naming the known runs."""

        def read() -> dict | None:
            df = self.query("SELECT * FROM runs WHERE run_id = ?", [run_id])
            return None if df.empty else df.iloc[0].to_dict()

        row = self.while_unchanged(("runs row", run_id), read)
        if row is None:
            known = ", ".join(self.runs()["run_id"]) or "none"
            raise UnknownRunError(f"no run {run_id!r} in {self.path} (runs: {known})")
        return dict(row)  # a copy: the caller may change it

    def describe_run(self, run_id: str) -> pd.DataFrame:
        """Row counts per table of one run."""
        self.run(run_id)
        with self.connect() as con:
            counts = [
                (
                    name,
                    con.execute(
                        f"SELECT count(*) FROM {name} WHERE run_id = ?", [run_id]
                    ).fetchone()[0],
                )
                for name in schema.DATA_TABLES
            ]
        return pd.DataFrame(counts, columns=["table", "rows"])

    def info(self) -> pd.DataFrame:
        """One row per run with its origin, label, size and row counts of the main tables."""
        runs = self.runs()
        with self.connect() as con:
            for name in ("users", "offers", "coupons", "events", "orders"):
                counts = (
                    con.execute(f"SELECT run_id, count(*) AS n FROM {name} GROUP BY run_id")
                    .df()
                    .set_index("run_id")["n"]
                )
                runs[name] = runs["run_id"].map(counts).fillna(0).astype("int64")
        return runs[
            [
                "run_id",
                "origin",
                "label",
                "seed",
                "n_users",
                "days",
                "users",
                "offers",
                "coupons",
                "events",
                "orders",
                "created_at",
            ]
        ]

    def file_size(self) -> int:
        """Size of the database file in bytes (0 in memory)."""
        return 0 if self.in_memory else Path(self.path).stat().st_size

    # -- writing ---------------------------------------------------------------------
    def _require_writable(self) -> None:
        if self.read_only:
            raise StoreError(
                f"{self.path} is open read-only; open it with read_only=False to write"
            )

    def create_run(
        self,
        run_id: str,
        *,
        origin: str,
        label: str | None = None,
        strategy: Mapping | str | None = None,
        seed: int | None = None,
        n_users: int | None = None,
        days: int | None = None,
        pre_days: int | None = None,
        start_date: dt.date | None = None,
        source_path: str | None = None,
        source_sha256: str | None = None,
    ) -> str:
        """Record a new run; raise ``StoreError`` if ``run_id`` exists already."""
        from lab import __version__

        self._require_writable()
        if origin not in schema.ORIGINS:
            raise ValueError(f"origin must be one of {schema.ORIGINS}, got {origin!r}")
        if self.has_run(run_id):
            raise StoreError(f"run {run_id!r} exists already in {self.path}; delete it first")
        strategy_json = (
            strategy
            if isinstance(strategy, str) or strategy is None
            else json.dumps(strategy, sort_keys=True)
        )
        with self.connect() as con:
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    origin,
                    label,
                    strategy_json,
                    seed,
                    n_users,
                    days,
                    pre_days,
                    start_date,
                    source_path,
                    source_sha256,
                    __version__,
                    schema.SCHEMA_VERSION,
                    dt.datetime.now(),  # microseconds keep creation order
                ],
            )
        return run_id

    def write(self, table_name: str, data: pa.Table | pd.DataFrame, *, run_id: str) -> int:
        """Append ``data`` to ``table_name`` for ``run_id``; return the number of rows.

        Columns are matched by name; columns missing from ``data`` are NULL, extra
        columns are an error. ``run_id`` is filled in. Use inside
        :meth:`transaction` to make several writes atomic.
        """
        self._require_writable()
        names = list(data.column_names if isinstance(data, pa.Table) else data.columns)
        select = _insert_select(table_name, names)
        with self.connect() as con:
            con.register("_lab_src", data)
            try:
                con.execute(
                    f"INSERT INTO {table_name} SELECT {select} FROM _lab_src AS src", [run_id]
                )
            finally:
                con.unregister("_lab_src")
        return len(data)

    def write_parquet(self, table_name: str, paths: Sequence[str | Path], *, run_id: str) -> int:
        """Append the rows of the Parquet files ``paths`` to ``table_name``; return the count.

        Like :meth:`write` (columns matched by name and cast to the schema, missing
        columns NULL, extra columns an error, ``run_id`` filled in), but DuckDB reads
        the files itself in one INSERT, in file order and row order, so a large load
        streams to the database file instead of passing through Python memory. The
        files must share one schema. Use inside :meth:`transaction` to make several
        writes atomic.

        Example
        -------
        >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
        >>> store = Store(":memory:")
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     pq.write_table(pa.table({"day": [dt.date(2026, 3, 2)], "rain": [0.5]}),
        ...                    f"{tmp}/w.parquet")
        ...     store.write_parquet("weather", [f"{tmp}/w.parquet"], run_id="r")
        1
        """
        self._require_writable()
        files = [str(p) for p in paths]
        if not files:
            raise ValueError("paths must name at least one Parquet file")
        select = _insert_select(table_name, pq.read_schema(files[0]).names)
        with self.connect() as con:
            return con.execute(
                f"INSERT INTO {table_name} SELECT {select} FROM read_parquet(?) AS src",
                [run_id, files],
            ).fetchone()[0]

    def delete_run(self, run_id: str) -> None:
        """Delete a run from every table, in one transaction."""
        self._require_writable()
        self.run(run_id)
        with self.transaction() as con:
            for t in schema.TABLES:
                con.execute(f"DELETE FROM {t.name} WHERE run_id = ?", [run_id])

    # -- Parquet ---------------------------------------------------------------------
    def export_parquet(self, directory: str | Path, *, run_id: str) -> list[Path]:
        """Write one Parquet file per table of ``run_id`` into ``directory``."""
        self.run(run_id)
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        with self.connect() as con:
            for t in schema.TABLES:
                path = out / f"{t.name}.parquet"
                sql = f"SELECT * FROM {t.name} WHERE run_id = ?"
                pq.write_table(con.sql(sql, params=[run_id]).to_arrow_table(), path)
                written.append(path)
        return written

    def import_parquet(self, directory: str | Path, *, run_id: str | None = None) -> str:
        """Load a directory written by :meth:`export_parquet` as one run (one transaction).

        ``run_id`` renames the run; by default the exported id is kept. Every table is
        validated like any import (:func:`lab.ingest.import_logs`): bad values raise
        :class:`lab.ingest.LogImportError` naming file, row and column, and nothing is
        written.
        """
        from lab.ingest._import import import_export  # the ingest package imports Store

        self._require_writable()
        return import_export(Path(directory), store=self, run_id=run_id)
