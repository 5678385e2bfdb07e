"""The store under faults: a writer holding the lock, killed writers, damaged files.

Issue 19, points 1, 2 and 6 (database errors). Timings here are generous bounds on
behaviour (a reader told within 2 s rather than after 30), not performance targets.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from lab.cli import main
from lab.store import (
    STAGING_PREFIX,
    SchemaVersionError,
    Store,
    StoreBusyError,
    StoreError,
    clean_staging,
    staging_folder,
)

ROOT = Path(__file__).resolve().parents[1]
HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
"""
# `lab generate` with staging forced on for a small world (it stages from 1M rows)
GENERATE = """
import sys
import lab.world._simulate as simulate
simulate.STAGE_MIN_ROWS = 0
from lab.cli import main
sys.exit(main(["generate", "--preset", "default", "--users", "20000", "--days", "28",
               "--seed", "1", "--db", sys.argv[1], "--run-id", "killed"]))
"""


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "lab.duckdb"
    store = Store(path)
    store.create_run("kept", origin="import", label="kept")
    return path


@pytest.fixture
def writer(db):
    """Another process holding the database's write lock for 8 seconds."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db), "8"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "holding"
    yield proc
    proc.kill()
    proc.wait()


def test_a_reader_is_told_within_a_second_that_a_writer_holds_the_file(db, writer):
    start = time.monotonic()
    store = Store(db, read_only=True)  # opening never fails because of a writer
    with pytest.raises(StoreBusyError) as err:
        store.runs()
    assert time.monotonic() - start < 2.0
    assert f"PID {writer.pid}" in err.value.holder
    assert str(db) in str(err.value) and "writing" in str(err.value)
    assert store.writer() is not None
    # the next reads within the second fail at once: a server is never held up
    start = time.monotonic()
    for _ in range(20):
        with pytest.raises(StoreBusyError):
            store.runs()
    assert time.monotonic() - start < 0.5


def test_the_reader_sees_the_file_again_once_the_writer_is_gone(db, writer):
    store = Store(db, read_only=True)
    with pytest.raises(StoreBusyError):
        store.runs()
    writer.kill()
    writer.wait()
    time.sleep(store.lock_timeout)
    assert store.writer() is None
    assert store.runs()["run_id"].tolist() == ["kept"]


def test_lab_info_names_the_writer_within_two_seconds(db, writer, capsys):
    start = time.monotonic()
    assert main(["info", "--db", str(db)]) == 2
    assert time.monotonic() - start < 2.0
    err = capsys.readouterr().err
    assert f"PID {writer.pid}" in err and "writing" in err and str(db) in err


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: b"", id="empty"),
        pytest.param(lambda data: b"not a database\n" * 100, id="garbage"),
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
    ],
)
@pytest.mark.parametrize("read_only", [True, False])
def test_a_damaged_file_gets_a_message_naming_it_and_what_to_do(tmp_path, db, damage, read_only):
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(damage(db.read_bytes()))
    if not read_only and not bad.stat().st_size:
        pytest.skip("DuckDB initialises an empty file opened for writing as a new database")
    with pytest.raises(StoreError) as err:
        Store(bad, read_only=read_only).runs()
    message = str(err.value)
    assert str(bad) in message
    assert "rebuild" in message and "another process" not in message


@pytest.mark.parametrize("cell", ["three", None])
def test_a_schema_version_that_is_not_a_number_is_a_clear_error(db, cell):
    con = duckdb.connect(str(db))
    con.execute("UPDATE lab_meta SET value = ? WHERE key = 'schema_version'", [cell])
    con.close()
    for read_only in (True, False):
        with pytest.raises(SchemaVersionError, match="not a number"):
            Store(db, read_only=read_only).runs()


def test_staging_of_a_dead_process_is_removed_and_a_live_one_kept(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = tmp_path / f"{STAGING_PREFIX}dead"
    stale.mkdir()
    (stale / "owner.pid").write_text(dead.stdout.strip())
    (stale / "users-000000.parquet").write_bytes(b"x" * 1000)
    with staging_folder(tmp_path) as live:
        Store(tmp_path / "lab.duckdb")  # a writable open cleans up
        assert live.exists()
        assert not stale.exists()
    assert not live.exists()
    assert clean_staging(tmp_path) == []


def _run_generate(db: Path, sig: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", GENERATE, str(db)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not list(db.parent.glob(f"{STAGING_PREFIX}*/*.parquet")):
        assert proc.poll() is None, "generate ended before staging anything"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, sig)
    proc.wait(timeout=60)


def test_sigterm_during_generate_leaves_no_staging(db):
    _run_generate(db, signal.SIGTERM)
    assert not list(db.parent.glob(f"{STAGING_PREFIX}*"))
    assert Store(db).runs()["run_id"].tolist() == ["kept"]


def test_kill_9_during_generate_is_cleaned_up_on_the_next_open(db):
    _run_generate(db, signal.SIGKILL)
    assert list(db.parent.glob(f"{STAGING_PREFIX}*")), "kill -9 left its staging"
    store = Store(db)
    assert not list(db.parent.glob(f"{STAGING_PREFIX}*"))
    assert store.runs()["run_id"].tolist() == ["kept"]


def test_cli_main_still_runs_outside_the_main_thread(tmp_path):
    import threading

    codes = []
    thread = threading.Thread(
        target=lambda: codes.append(main(["info", "--db", str(tmp_path / "x.duckdb")]))
    )
    thread.start()
    thread.join()
    assert codes == [2]  # no database there: a clear error, not a signal ValueError
