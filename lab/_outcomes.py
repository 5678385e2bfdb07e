"""Per-user experiment outcomes, materialised: the derived ``experiment_users`` table.

:func:`lab.analyze` needs, for every user assigned to an experiment, sums of the user's
orders over the run's campaign period and pre-period. Grouping every order by user on
every call costs seconds on a run of millions of users, so :func:`refresh_experiment_users`
computes those sums once per run into ``experiment_users`` (see :mod:`lab.schema`), and
``analyze`` reduces that table by arm in one scan.

The table is derived data, a pure function of the run's ``runs`` row, ``assignments`` and
``orders``. It lives in :mod:`lab`, not :mod:`lab.experiments`, because the code that
writes runs refreshes it (``lab.simulate`` and ``lab.import_logs``, inside their
transaction) and the world must not import a model. Staleness rule: a refresh records the
run's ``created_at`` and its row counts of ``orders`` and ``assignments`` in
``experiment_refreshes``, and a checksum of every one of those rows in ``lab_meta``;
:func:`experiment_users_status` compares them with the store, so rows appended, deleted
or edited in place (raw SQL included) make the table stale, and a reader then ignores it
and recomputes from ``orders``. The checksum reads the run's orders and assignments (about
5 ms on 250k orders): a read-only store computes it once per open connection
(:meth:`lab.Store.while_unchanged`), as no process can write the file under it.

Example
-------
>>> import lab
>>> from lab.world import simulate
>>> store = lab.Store(":memory:")
>>> run = simulate("aa_test", store=store, users=500, days=7, pre_days=7, progress=False)
>>> experiment_users_status(store, run)  # simulate refreshed it
'fresh'
>>> refresh_experiment_users(store, run)  # idempotent: one row per assignment (aa, holdout)
945
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from lab import schema
from lab._validate import check
from lab.engines import session
from lab.engines._per_user import order_sums
from lab.store import StoreError

__all__ = [
    "SUMS",
    "Period",
    "assigned_sums",
    "experiment_users_status",
    "refresh_experiment_users",
]

_USERS = schema.table("experiment_users")
_REFRESHES = schema.table("experiment_refreshes")
#: Per-user order sums, as the ``experiment_users`` columns after ``user_id`` and ``arm``.
SUMS: tuple[str, ...] = tuple(c.name for c in _USERS.columns[4:])


def assigned_sums(db, *, run: str, period, experiment: str | None = None):
    """Every assigned user of ``run`` (of ``experiment`` if given) with their order sums
    over ``period``, as an Ibis table: ``run_id``, ``experiment``, ``user_id``, ``arm``
    and :data:`SUMS` (NULL for a user without orders). ``analyze`` reduces it by arm and
    :func:`refresh_experiment_users` stores it."""
    assigned = db.table("assignments")
    assigned = assigned.filter(assigned.run_id == run)
    if experiment is not None:
        assigned = assigned.filter(assigned.experiment == experiment)
    sums = order_sums(
        db.table("orders"), run=run, start=period.start, end=period.end, pre_start=period.pre_start
    )
    return assigned.left_join(sums, assigned.user_id == sums.user_id).select(
        "run_id",
        "experiment",
        user_id=assigned.user_id,
        arm=assigned.arm,
        **{s: sums[s] for s in SUMS},
    )


@dataclass(frozen=True)
class Period:
    """Campaign and pre-period bounds of a run (half-open intervals)."""

    start: dt.datetime
    end: dt.datetime
    pre_start: dt.datetime | None

    @classmethod
    def of_run(cls, store, run: str) -> Period:
        info = store.run(run)
        start, days = info.get("start_date"), info.get("days")
        if start is None or pd.isna(start) or days is None or pd.isna(days):
            raise ValueError(
                f"run {run!r} has no campaign period (runs.start_date and runs.days are NULL)"
            )
        start = pd.Timestamp(start).to_pydatetime().replace(tzinfo=None)
        pre_days = info.get("pre_days")
        pre = None if pre_days is None or pd.isna(pre_days) or pre_days <= 0 else int(pre_days)
        return cls(
            start=start,
            end=start + dt.timedelta(days=int(days)),
            pre_start=None if pre is None else start - dt.timedelta(days=pre),
        )


def _fingerprint(con, run: str) -> tuple | None:
    """(created_at, orders rows, assignments rows, content checksum) of ``run`` now; None
    if it does not exist. The checksum sums a hash of every orders and assignments row,
    so an in-place UPDATE that keeps the row counts changes it too."""
    return con.execute(
        """
        SELECT created_at,
               (SELECT count(*) FROM orders WHERE run_id = $run),
               (SELECT count(*) FROM assignments WHERE run_id = $run),
               concat_ws('/',
                   (SELECT sum(CAST(hash(o) AS HUGEINT)) FROM orders AS o WHERE run_id = $run),
                   (SELECT sum(CAST(hash(a) AS HUGEINT)) FROM assignments AS a
                    WHERE run_id = $run))
        FROM runs WHERE run_id = $run
        """,
        {"run": run},
    ).fetchone()


def _checksum_key(run: str) -> str:
    # lab_meta keeps it: experiment_refreshes' columns are part of the schema version
    return f"experiment_sources_checksum:{run}"


def refresh_experiment_users(store, run: str) -> int:
    """(Re)build the ``experiment_users`` rows of ``run`` in one transaction.

    Deletes the run's rows (and those of runs no longer in the store), then inserts one
    row per ``assignments`` row of the run with the user's order sums over the run's
    periods (:class:`Period`), and records what they were built from in
    ``experiment_refreshes``. A run without a campaign period (``start_date`` or
    ``days`` NULL) gets no rows. Creates the derived tables if the store lacks them.
    Inside an open :meth:`lab.Store.transaction`, joins it.

    Parameters
    ----------
    store : lab.Store
        A writable store.
    run : str
        Run id.

    Returns
    -------
    int
        Number of rows written.

    Raises
    ------
    KeyError
        No such run.
    lab.StoreError
        The store is read-only.

    Example
    -------
    >>> import lab
    >>> from lab.world import simulate
    >>> store = lab.Store(":memory:")
    >>> run = simulate("aa_test", store=store, users=300, days=7, pre_days=7, progress=False)
    >>> refresh_experiment_users(store, run)  # the aa experiment's users and the holdout's
    567
    """
    check(locals())  # argument types and ranges, up front
    if store.read_only:
        raise StoreError(f"{store.path} is open read-only; open it with read_only=False to refresh")
    with store.transaction() as con:
        created = _fingerprint(con, run)
        if created is None:
            store.run(run)  # raises the KeyError naming the known runs
        for t in schema.DERIVED_TABLES:
            con.execute(t.ddl())
            con.execute(
                f"DELETE FROM {t.name} WHERE run_id = ? OR run_id NOT IN (SELECT run_id FROM runs)",
                [run],
            )
        try:
            period = Period.of_run(store, run)
        except ValueError:
            return 0  # no campaign period: nothing to analyse, and analyze says why
        with session(store) as db:
            users = assigned_sums(db, run=run, period=period)
            rows = users.select(
                "run_id",
                "experiment",
                "user_id",
                "arm",
                **{s: users[s].coalesce(0.0).cast("int64") for s in SUMS},
            )
            # INSERT ... SELECT inside the engine, in this transaction: no rows leave DuckDB
            db.backend.insert(_USERS.name, rows)
        written = con.execute(
            "SELECT count(*) FROM experiment_users WHERE run_id = ?", [run]
        ).fetchone()[0]
        con.execute(
            "INSERT INTO experiment_refreshes VALUES (?, ?, ?, ?, ?)",
            [run, *created[:3], dt.datetime.now()],
        )
        con.execute("DELETE FROM lab_meta WHERE key = ?", [_checksum_key(run)])
        con.execute("INSERT INTO lab_meta VALUES (?, ?)", [_checksum_key(run), created[3]])
    return written


def experiment_users_status(store, run: str) -> str:
    """Whether the ``experiment_users`` rows of ``run`` match its sources.

    Returns ``"fresh"`` (built by :func:`refresh_experiment_users` from the run as it is
    now), ``"stale"`` (built, but the run's orders, assignments or ``runs`` row changed
    since, rows added, removed or updated in place) or ``"missing"`` (never built, or a store without the derived tables).

    Example
    -------
    >>> import lab
    >>> store = lab.Store(":memory:")
    >>> _ = store.create_run("r", origin="import")
    >>> experiment_users_status(store, "r")
    'missing'
    """
    check(locals())  # argument types and ranges, up front
    if getattr(store, "ibis_session", None) is not None:
        # a store on another engine has no derived tables (copy_run and load_parquet
        # skip them): analyze groups its orders instead
        return "missing"
    # the checksum reads every orders and assignments row of the run (a third of a
    # CUPED readout): once per open read-only connection, under which nothing changes
    return store.while_unchanged(("experiment_users status", run), lambda: _status(store, run))


def _status(store, run: str) -> str:
    with store.connect() as con:
        exists = con.execute(
            "SELECT count(*) FROM duckdb_tables() "
            "WHERE database_name = current_database() AND schema_name = 'main' "
            "AND table_name = ?",
            [_REFRESHES.name],
        ).fetchone()[0]
        if not exists:
            return "missing"
        recorded = con.execute(
            "SELECT run_created_at, orders_rows, assignments_rows "
            "FROM experiment_refreshes WHERE run_id = ?",
            [run],
        ).fetchone()
        if recorded is None:
            return "missing"
        checksum = con.execute(
            "SELECT value FROM lab_meta WHERE key = ?", [_checksum_key(run)]
        ).fetchone()
        now = _fingerprint(con, run)
        same = checksum is not None and (*recorded, checksum[0]) == now
        return "fresh" if same else "stale"
