"""A bulk import shares the machine and the file with readers (issue 19, point 7).

An import parses and checks its files without the store's lock (readers in other
processes open the file meanwhile), runs DuckDB on every core but one, and ``python -m
lab import`` lowers its CPU priority; a dashboard store never sleeps on a writer's lock.
The load itself (20 sessions during a 10M-row import) is measured by
``benchmarks/bench_reliability.py``.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lab
from lab.ingest import _lab, _platform, _tianchi
from lab.store import STAGING_PREFIX, Store, bulk_threads

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
MAPPING = ROOT / "docs" / "mapping-example.yml"
ORDERS = (
    "order_id,user_id,ts,merchant_id,order_channel,platform,amount_fen,discount_fen,coupon_id\n"
    + "".join(
        f"{i},{i % 7 + 1},2026-07-01 08:{i % 60:02d}:00,77,dine_in,wechat,{1000 + i},0,\n"
        for i in range(1, 201)
    )
)
# exit status 0 when a read-only open of the file succeeds, 3 when a writer holds it
READER = """
import sys, duckdb
try:
    duckdb.connect(sys.argv[1], read_only=True).close()
except duckdb.IOException:
    sys.exit(3)
"""


def _reader_opens(db: Path) -> bool:
    return subprocess.run([sys.executable, "-c", READER, str(db)], timeout=60).returncode == 0


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "lab.duckdb"
    Store(path).create_run("kept", origin="import", label="kept")
    return path


@pytest.fixture
def orders_csv(tmp_path) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS)
    return path


def _reads_while_validating(db, monkeypatch) -> dict[str, bool]:
    """``{table: whether another process could open db read-only}``, filled as each
    table is validated (``_lab.validate``) by the import that follows."""
    seen = {}
    validate = _lab.validate

    def validate_and_read(source, table_name, **kwargs):
        seen[table_name] = _reader_opens(db)
        return validate(source, table_name, **kwargs)

    monkeypatch.setattr(_lab, "validate", validate_and_read)
    return seen


def test_another_process_reads_the_file_while_an_import_checks_its_rows(
    db, orders_csv, monkeypatch
):
    seen = _reads_while_validating(db, monkeypatch)
    store = Store(db)
    run = lab.ingest.import_logs(orders_csv, store=store)
    assert seen == {"orders": True}
    assert store.describe_run(run).set_index("table")["rows"]["orders"] == 200
    assert not list(db.parent.glob(f"{STAGING_PREFIX}*"))


def test_a_tianchi_log_is_checked_without_the_lock_too(db, monkeypatch):
    seen = []
    check = _tianchi.check_coupons

    def check_and_read(source):
        seen.append(_reader_opens(db))
        return check(source)

    monkeypatch.setattr(_tianchi, "check_coupons", check_and_read)
    store = Store(db)
    run = lab.ingest.import_logs(DATA / "tianchi_o2o_sample.csv", store=store)
    assert seen == [True]
    # coupon ids are the file's data rows, as before: the staged table kept file order
    rows = len((DATA / "tianchi_o2o_sample.csv").read_text().splitlines()) - 1
    coupons = (
        store.query(
            "SELECT min(coupon_id), max(coupon_id), count(*) FROM coupons WHERE run_id = ?", [run]
        )
        .iloc[0]
        .tolist()
    )
    assert coupons == [1, rows, rows]


def test_an_export_directory_is_checked_without_the_lock(db, orders_csv, tmp_path, monkeypatch):
    """``Store.import_parquet`` (``lab import`` of a ``lab export`` directory) loads and
    checks every table in the staging database, as a log import does."""
    store = Store(db)
    run = lab.ingest.import_logs(orders_csv, store=store)
    exported = tmp_path / "export"
    store.export_parquet(exported, run_id=run)
    seen = _reads_while_validating(db, monkeypatch)
    assert store.import_parquet(exported, run_id="copy") == "copy"
    assert "orders" in seen and set(seen.values()) == {True}, seen
    assert store.describe_run("copy").set_index("table")["rows"]["orders"] == 200
    assert not list(db.parent.glob(f"{STAGING_PREFIX}*"))


@pytest.fixture(scope="module")
def platform_exports(tmp_path_factory) -> Path:
    """A small run's WeChat Pay and Alipay exports."""
    root = tmp_path_factory.mktemp("platform")
    store = Store(root / "lab.duckdb")
    run = lab.simulate("default", store=store, users=60, days=3, pre_days=1, seed=5, progress=False)
    for fmt in ("wechatpay", "alipay"):
        lab.ingest.export_platform(store, run, root / fmt, format=fmt)
    return root


@pytest.mark.parametrize("fmt", ["wechatpay", "alipay", "mapped"])
def test_platform_files_are_checked_without_the_lock(db, platform_exports, monkeypatch, fmt):
    """WeChat Pay, Alipay and mapped files are read and checked in the staging database;
    the store's file is locked only while the run is written."""
    seen = []
    check = _platform.check

    def check_and_read(*args, **kwargs):
        seen.append(_reader_opens(db))
        return check(*args, **kwargs)

    monkeypatch.setattr(_platform, "check", check_and_read)
    store = Store(db)
    if fmt == "mapped":
        run = lab.ingest.import_logs(DATA / "mapped", store=store, format="mapped", mapping=MAPPING)
    else:
        run = lab.ingest.import_logs(platform_exports / fmt, store=store, format=fmt)
    assert seen and set(seen) == {True}, seen
    assert store.describe_run(run).set_index("table")["rows"]["orders"] > 0
    assert not list(db.parent.glob(f"{STAGING_PREFIX}*"))


def test_a_failed_import_leaves_the_store_and_no_staging(db, tmp_path):
    bad = tmp_path / "orders.csv"
    bad.write_text(ORDERS.replace(",1050,0,", ",1050,-5,"))
    store = Store(db)
    with pytest.raises(lab.ingest.LogImportError, match="negative amount"):
        lab.ingest.import_logs(bad, store=store)
    assert store.runs()["run_id"].tolist() == ["kept"]
    assert not list(db.parent.glob(f"{STAGING_PREFIX}*"))


@pytest.mark.parametrize("threads", [None, 1])
def test_an_import_runs_duckdb_on_every_core_but_one(db, orders_csv, monkeypatch, threads):
    used = {}
    validate, insert = _lab.validate, _lab.insert

    def record(step, source):
        used[step] = int(source.con.execute("SELECT current_setting('threads')").fetchone()[0])

    def validate_and_record(source, table_name, **kwargs):
        record("check", source)
        return validate(source, table_name, **kwargs)

    def insert_and_record(source, table_name, **kwargs):
        record("insert", source)
        return insert(source, table_name, **kwargs)

    monkeypatch.setattr(_lab, "validate", validate_and_record)
    monkeypatch.setattr(_lab, "insert", insert_and_record)
    lab.ingest.import_logs(orders_csv, store=Store(db), threads=threads)
    expected = bulk_threads() if threads is None else threads
    assert used == {"check": expected, "insert": expected}


def test_bulk_threads_leaves_a_core_free():
    cores = len(os.sched_getaffinity(0))
    assert bulk_threads() == max(1, cores - 1)


@pytest.mark.parametrize("threads", [0, -1, 1.5, "2"])
def test_a_wrong_thread_count_is_refused(db, orders_csv, threads):
    with pytest.raises(ValueError, match="threads"):
        lab.ingest.import_logs(orders_csv, store=Store(db), threads=threads)


def test_an_in_memory_store_imports_as_before(orders_csv):
    store = Store(":memory:")
    run = lab.ingest.import_logs(orders_csv, store=store)
    assert store.describe_run(run).set_index("table")["rows"]["orders"] == 200
    leftovers = store.query(
        "SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name LIKE '_lab_import%'"
    )
    assert leftovers.empty
    assert int(store.query("SELECT current_setting('threads') AS t")["t"][0]) == len(
        os.sched_getaffinity(0)
    )  # the setting is restored on the connection the store keeps


# `lab import` as run from a terminal (`main()` reads sys.argv), reporting the process that
# imports, its session, niceness and autogroup niceness ("-" without autogroups, or in the
# kernel's default autogroup, whose file reads empty: CI starts its jobs from there), and
# then the process the command was started in
REPORTING_IMPORT = """
import os, sys
from pathlib import Path
from lab import ingest
from lab.cli import main
group = Path("/proc/self/autogroup")
import_logs = ingest.import_logs
def reporting(*args, **kwargs):
    fields = group.read_text().split() if group.exists() else []
    niced = fields[-1] if fields else "-"
    print("import", os.getpid(), os.getsid(0), os.nice(0), niced, flush=True)
    return import_logs(*args, **kwargs)
ingest.import_logs = reporting
sys.argv = ["lab", "import", *sys.argv[1:]]
status = main()
print("main", os.getpid(), os.getsid(0), os.nice(0), status, flush=True)
"""
AUTOGROUPS = Path("/proc/self/autogroup").exists()
needs_autogroups = pytest.mark.skipif(not AUTOGROUPS, reason="no /proc/self/autogroup")


def _python(script: str, *args: str, **popen) -> subprocess.Popen:
    """``python -c script *args`` from the repository's root, its stdout read as text."""
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        text=True,
        **popen,
    )


def _lab_import(*args: str) -> subprocess.Popen:
    return _python(REPORTING_IMPORT, *args, stderr=subprocess.PIPE)


def _reports(stdout: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in stdout.splitlines() if line.strip()}


@pytest.mark.parametrize(
    ("flags", "lowered"), [((), 10), (("--nice", "3"), 3), (("--nice", "0"), 0)]
)
def test_lab_import_lowers_its_cpu_priority(db, orders_csv, flags, lowered):
    """With autogroups, nice counts only within a session: a lowered import runs in a child
    of its own session whose autogroup is lowered too; --nice 0 stays one process."""
    out, err = _lab_import(str(orders_csv), "--db", str(db), *flags).communicate(timeout=120)
    reports = _reports(out)
    assert {"import", "main"} <= reports.keys(), f"stdout:\n{out}\nstderr:\n{err}"
    pid, sid, nice, niced = reports["import"]
    main_pid, main_sid, main_nice, status = reports["main"]
    assert status == "0", err
    # niceness stops at 19: a test run already niced that far sees less
    assert int(nice) - int(main_nice) == min(lowered, 19 - int(main_nice))
    own_session = lowered > 0 and AUTOGROUPS
    assert (pid != main_pid, sid != main_sid) == (own_session, own_session)
    assert sid == (pid if own_session else main_sid)
    if own_session:
        assert niced == str(lowered)


# `lab import` that stops inside its transaction (prints "writing" and its PID, then sleeps)
INTERRUPTED_IMPORT = """
import os, sys, time
from lab.cli import main
from lab.store import Store
create_run = Store.create_run
def slow(self, *args, **kwargs):
    created = create_run(self, *args, **kwargs)
    print("writing", os.getpid(), flush=True)
    time.sleep(60)
    return created
Store.create_run = slow
sys.argv = ["lab", "import", sys.argv[1], "--db", sys.argv[2], "--run-id", "interrupted"]
sys.exit(main())
"""


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@needs_autogroups
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_of_lab_import_cancels_its_child_and_rolls_back(db, orders_csv, signum):
    proc = _python(INTERRUPTED_IMPORT, str(orders_csv), str(db))
    try:
        word, child = proc.stdout.readline().split()
        assert word == "writing" and int(child) != proc.pid
        proc.send_signal(signum)  # to the parent alone, as the terminal's Ctrl-C does
        assert proc.wait(timeout=60) == 128 + signum
    finally:
        proc.kill()
        proc.wait()
    assert _gone(int(child))  # the parent waited for it: no orphan, not even a zombie
    assert Store(db).runs()["run_id"].tolist() == ["kept"]
    assert not list(db.parent.glob(f"{STAGING_PREFIX}*"))


@needs_autogroups
def test_the_import_child_ends_with_a_killed_parent(db, orders_csv):
    proc = _python(INTERRUPTED_IMPORT, str(orders_csv), str(db))
    try:
        child = int(proc.stdout.readline().split()[1])
        ended = os.pidfd_open(child)  # readable once the child has ended
    finally:
        proc.kill()
        proc.wait()
    try:
        assert select.select([ended], [], [], 60)[0] == [ended]
    finally:
        os.close(ended)
    # the child was told by SIGTERM, so it unwound: rolled back, staging removed
    assert not list(db.parent.glob(f"{STAGING_PREFIX}*"))
    assert Store(db).runs()["run_id"].tolist() == ["kept"]


@needs_autogroups
def test_a_failing_lab_import_passes_its_error_and_status_through(db, tmp_path):
    bad = tmp_path / "orders.csv"
    bad.write_text(ORDERS.replace(",1001,0,", ",-1,0,"))
    out, err = _lab_import(str(bad), "--db", str(db)).communicate(timeout=120)
    reports = _reports(out)
    assert reports["import"][0] != reports["main"][0]  # it failed in the child
    assert reports["main"][-1] == "2"
    assert err == f"error: {bad}:2: column amount_fen: negative amount -1 fen\n"


HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(60)
"""


class _SleepsRecorded:
    """The ``time`` module as one module sees it, with ``sleep`` recorded, not slept."""

    def __init__(self, slept: list) -> None:
        self.sleep = slept.append

    def __getattr__(self, name: str):
        return getattr(time, name)


def test_a_dashboard_read_never_sleeps_on_a_writer(db, orders_csv, monkeypatch):
    """The dashboard's reads run in the server's event loop: a writer's lock is answered
    from the last consistent state at once, never by sleeping until it is released."""
    from dashboards.store import DataStore

    lab.ingest.import_logs(orders_csv, store=Store(db), run_id="shop")
    ds = DataStore(db)
    before = ds.runs()
    info = ds.run_info("shop")
    writer = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE, text=True
    )
    slept = []
    try:
        assert writer.stdout.readline().strip() == "holding"
        # the file changes, as under an importing writer: cached results no longer match
        os.utime(db)
        # only lab.store's sleeps are recorded: patching time.sleep itself also caught
        # other threads of the test process (135,540 calls in one full run)
        monkeypatch.setattr(lab.store, "time", _SleepsRecorded(slept))
        during = ds.runs()
        assert ds.writer() is not None and f"PID {writer.pid}" in ds.writer()
        assert ds.run_info("shop") == info
    finally:
        writer.kill()
        writer.wait()
    assert slept == []
    assert during.equals(before)


# `lab import` that stops (prints "checking" and sleeps) while it checks the rows
SLOW_IMPORT = """
import sys, time
from lab.ingest import _lab
from lab.cli import main
validate = _lab.validate
def slow(source, table_name, **kwargs):
    print("checking", flush=True)
    time.sleep(60)
    return validate(source, table_name, **kwargs)
_lab.validate = slow
sys.exit(main(["import", sys.argv[1], "--db", sys.argv[2], "--run-id", "killed"]))
"""


def test_kill_9_of_an_import_leaves_no_run_and_its_staging_goes_on_the_next_open(db, orders_csv):
    proc = _python(SLOW_IMPORT, str(orders_csv), str(db))
    try:
        assert proc.stdout.readline().strip() == "checking"
        assert len(list(db.parent.glob(f"{STAGING_PREFIX}*"))) == 1
        assert _reader_opens(db)  # the store's file was free all along
    finally:
        proc.kill()
        proc.wait()
    store = Store(db)  # a writable open removes a dead writer's staging
    assert not list(db.parent.glob(f"{STAGING_PREFIX}*"))
    assert store.runs()["run_id"].tolist() == ["kept"]
