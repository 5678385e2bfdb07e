"""Where an import parses and checks its files: a staging database beside the store.

DuckDB lets one process write a database file or many read it, never both at once, so
every second an import holds the store's file is a second no dashboard or notebook can
open it. Parsing and checking a large file (most of an import's time) need no lock: they
run in a private DuckDB file in a staging folder beside the store
(:func:`lab.store.staging_folder`, removed on any exit, and by the next writable open
after a ``kill -9``). Only the insert of the checked rows takes the store's lock; the
store's connection attaches the staging file read-only and copies from it, in one
transaction. An in-memory store (no other process can read it) stages in its own
connection's temporary tables.

Both connections run at most :func:`lab.store.bulk_threads` DuckDB threads unless the
import names another number, so a bulk import leaves a core to interactive readers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import duckdb

from lab.ingest._source import Source
from lab.store import Store, staging_folder, use_threads

#: name under which the store's connection attaches the staging database
ATTACHED = "_lab_stage"


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
        self, store: Store, sources: Mapping[str, Source]
    ) -> Iterator[tuple[duckdb.DuckDBPyConnection, dict[str, Source]]]:
        """One transaction of ``store``, with ``sources`` readable from its connection.

        Yields the store's connection and the sources re-pointed at it. The store's lock
        is taken here, not before.
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
            before = _temp_tables(con)
            try:
                yield Stage(con, Path(workdir), None, threads)
            finally:
                for name in _temp_tables(con) - before:
                    con.execute(f"DROP TABLE IF EXISTS {name}")
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


def _temp_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        row[0]
        for row in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name LIKE '\\_lab\\_import\\_%' ESCAPE '\\'"
        ).fetchall()
    }
