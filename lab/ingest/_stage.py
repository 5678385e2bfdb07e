"""Where an import parses and checks its files: a staging database beside the store.

DuckDB lets one process write a database file or many read it, never both at once, so
every second an import holds the store's file is a second no dashboard or notebook can
open it. Parsing and checking a large file (most of an import's time) need no lock: they
run in a private DuckDB file in a staging folder beside the store
(:func:`lab.store.staging_folder`, removed on any exit, and by the next writable open
after a ``kill -9``). Only the insert of the checked rows takes the store's lock; the
store's connection attaches the staging file read-only and copies from it, in one
transaction. An in-memory store (no other process can read it) stages in its own
connection's temporary tables, dropped when the import ends.

Every import path stages this way: log files (:func:`lab.ingest.import_logs`), the
platform formats (:mod:`lab.ingest._platforms`) and ``lab export`` directories
(:meth:`lab.Store.import_parquet`).

Both connections run at most :func:`lab.store.bulk_threads` DuckDB threads unless the
import names another number, so a bulk import leaves a core to interactive readers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TypeVar

import duckdb

from lab.store import Store, staging_folder, use_threads

#: name under which the store's connection attaches the staging database
ATTACHED = "_lab_stage"
T = TypeVar("T")  # a staged table: a dataclass with ``con`` and ``name``


@dataclasses.dataclass
class Stage:
    """A connection to load and check files in, and a folder for converted copies."""

    con: duckdb.DuckDBPyConnection
    workdir: Path
    path: Path | None  # the staging database file; None: the store's own connection
    threads: int

    @property
    def temporary(self) -> bool:
        """Whether staged tables are temporary (staged in the store's own connection)."""
        return self.path is None

    @contextlib.contextmanager
    def publish(
        self, store: Store, sources: Mapping[str, T]
    ) -> Iterator[tuple[duckdb.DuckDBPyConnection, dict[str, T]]]:
        """One transaction of ``store``, with ``sources`` readable from its connection.

        ``sources`` are dataclasses with ``con`` and ``name``: a
        :class:`lab.ingest._source.Source`, or any staged table created with
        ``temporary=self.temporary``. Yields the store's connection and the sources
        re-pointed at it. The store's lock is taken here, not before.
        """
        if self.path is None:
            with store.transaction() as con:
                yield con, dict(sources)
            return
        self.con.close()  # a DuckDB file is attached by one database instance at a time
        with store.connect() as con, use_threads(con, self.threads):
            con.execute(f"ATTACH ? AS {ATTACHED} (READ_ONLY)", [str(self.path)])
            try:
                moved = {
                    name: dataclasses.replace(source, con=con, name=f"{ATTACHED}.{source.name}")
                    for name, source in sources.items()
                }
                with store.transaction():
                    yield con, moved
            finally:
                con.execute(f"DETACH {ATTACHED}")


@contextlib.contextmanager
def staging(store: Store, *, threads: int) -> Iterator[Stage]:
    """A :class:`Stage` for one import into ``store``; removed when the block exits."""
    if store.in_memory:
        with (
            store.connect() as con,
            use_threads(con, threads),
            tempfile.TemporaryDirectory(prefix="lab-import-") as workdir,
        ):
            before = _temp_objects(con)
            try:
                yield Stage(con, Path(workdir), None, threads)
            finally:
                # views first: a view may read a staged table
                for kind, name in sorted(_temp_objects(con) - before, reverse=True):
                    con.execute(f"DROP {kind} IF EXISTS {name}")
        return
    with staging_folder(Path(store.path).resolve().parent) as folder:
        path = folder / "stage.duckdb"
        con = duckdb.connect(str(path))
        try:
            con.execute("SET enable_progress_bar = false")
            con.execute("SET temp_directory = ?", [str(folder / "spill")])
            con.execute(f"SET threads = {int(threads)}")
            yield Stage(con, folder, path, threads)
        finally:
            con.close()


def _temp_objects(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """(``TABLE`` or ``VIEW``, name) of the connection's temporary tables and views."""
    return {
        (kind, name)
        for kind, name in con.execute(
            "SELECT 'TABLE', table_name FROM duckdb_tables() WHERE temporary "
            "UNION ALL SELECT 'VIEW', view_name FROM duckdb_views() WHERE temporary AND NOT internal"
        ).fetchall()
    }
