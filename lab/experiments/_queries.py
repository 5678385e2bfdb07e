"""The engine side of ``analyze``: per-user metrics and per-arm sufficient statistics.

:mod:`lab.experiments._analyze` turns the small per-arm table into tests; here is only
what the engine (DuckDB, Spark, ClickHouse) computes over the logs, written once as Ibis
expressions. Metric definitions are in that module's docstring.

Example
-------
>>> import lab
>>> from lab.engines import session
>>> from lab.experiments._analyze import Period
>>> from lab.world import simulate
>>> store = lab.Store(":memory:")
>>> run = simulate("aa_test", store=store, users=300, days=7, pre_days=7, progress=False)
>>> sums = arm_sums(store, run=run, experiment="aa", period=Period.of_run(store, run),
...                 metrics=("gmv",), covariate="pre_gmv")
>>> sums["arm"].tolist()
['a', 'b']
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import pandas as pd
import pyarrow as pa

from lab import schema
from lab._outcomes import SUMS, Period, assigned_sums
from lab.engines import session
from lab.engines._compiled import arrow_compiled

__all__ = [
    "BY_COLUMNS",
    "KINDS",
    "SOURCES",
    "arm_records",
    "arm_sums",
    "check_by",
    "experiments_of",
    "user_metrics",
]

#: Metric name -> kind; the labels are in :data:`lab.experiments._analyze.METRICS`.
KINDS = {
    "redeemed": "proportion",
    "orders": "mean",
    "gmv": "mean",
    "redeemed_amount": "mean",
    "aov": "ratio",
}
#: Where per-user order sums come from: grouped from ``orders``, or the derived table.
SOURCES = ("orders", "experiment_users")
# users columns that make sense as a breakdown: categorical, few values
_BY_TYPES = ("VARCHAR", "BOOLEAN", "TINYINT")
BY_COLUMNS = tuple(
    c.name
    for c in schema.table("users").columns
    if c.type in _BY_TYPES and c.name not in ("run_id", "user_id")
)


def check_by(by: str) -> str:
    """``by`` if it is a breakdown column of ``users``, else a ``ValueError``."""
    if by not in BY_COLUMNS:
        raise ValueError(f"by must be None or one of the users columns {BY_COLUMNS}, got {by!r}")
    return by


def user_metrics(
    db,
    *,
    run: str,
    experiment: str,
    period: Period,
    by: str | None = None,
    source: str = "orders",
) -> ibis.Table:
    """One row per user assigned to ``experiment`` with every metric and covariate.

    Columns ``user_id``, ``arm``, ``by_value`` (only with ``by``), then the float64
    per-user values ``redeemed`` (0/1), ``orders``, ``gmv``, ``redeemed_amount``,
    ``redeemed_orders``, ``pre_gmv``, ``pre_orders`` (0 without orders).

    ``source="orders"`` groups the run's orders by user; ``"experiment_users"`` reads the
    same sums from the derived table (the caller checks it is fresh).
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if source == "experiment_users":
        stored = db.table("experiment_users")
        stored = stored.filter(stored.run_id == run, stored.experiment == experiment)
        # stored as BIGINT; float sums of squares cannot overflow and aggregate fastest
        users = stored.select("user_id", "arm", **{s: stored[s].cast("float64") for s in SUMS})
    else:
        users = assigned_sums(db, run=run, period=period, experiment=experiment)
        users = users.select("user_id", "arm", *SUMS)
    values = {s: users[s].coalesce(0.0) for s in SUMS}
    redeemed = (values["redeemed_orders"] > 0).cast("float64")
    if by is not None:
        profile = db.table("users")
        profile = profile.filter(profile.run_id == run).select(
            _lab_user=profile.user_id, by_value=profile[check_by(by)]
        )
        users = users.left_join(profile, users.user_id == profile._lab_user)
        values = {s: users[s].coalesce(0.0) for s in SUMS}
        redeemed = (values["redeemed_orders"] > 0).cast("float64")
        return users.select("user_id", "arm", "by_value", redeemed=redeemed, **values)
    return users.select("user_id", "arm", redeemed=redeemed, **values)


def _aggregates(users: ibis.Table, metrics: Sequence[str], covariate: str | None) -> dict:
    """The sufficient statistics the metrics need, named ``<value>__s`` (sum), ``__ss``
    (sum of squares), ``aov__sp`` (ratio cross-product), ``x__s``/``x__ss`` (covariate)
    and ``<metric>__sx`` (metric times covariate)."""
    out = {"n": users.count()}
    needed: list[str] = []
    for m in metrics:
        needed += ["redeemed_amount", "redeemed_orders"] if m == "aov" else [m]
    for v in dict.fromkeys(needed):
        out[f"{v}__s"] = users[v].sum()
        if v != "redeemed":
            out[f"{v}__ss"] = (users[v] * users[v]).sum()
    if "aov" in metrics:
        out["aov__sp"] = (users.redeemed_amount * users.redeemed_orders).sum()
    if covariate is not None:
        x = users[covariate]
        out.update(x__s=x.sum(), x__ss=(x * x).sum())
        for m in metrics:
            if KINDS[m] == "mean":
                out[f"{m}__sx"] = (users[m] * x).sum()
    return out


def arm_sums(
    store,
    *,
    run: str,
    experiment: str,
    period: Period,
    metrics: Sequence[str],
    covariate: str | None = None,
    by: str | None = None,
    source: str = "orders",
) -> pd.DataFrame:
    """Per arm (and breakdown value) of ``experiment``: ``n`` and the sums of
    :func:`_aggregates`, sorted by arm and ``by_value`` (NULL last; all NULL without
    ``by``). Empty when the experiment has no assignments in the run."""
    return _arm_table(store, run, experiment, period, metrics, covariate, by, source).to_pandas()


def arm_records(
    store,
    *,
    run: str,
    experiment: str,
    period: Period,
    metrics: Sequence[str],
    covariate: str | None = None,
    by: str | None = None,
    source: str = "orders",
) -> list[dict]:
    """:func:`arm_sums` as one dict per row (the Python values, NULL as None): what
    ``analyze`` reads, without pandas' conversions (a fifth of a CUPED readout)."""
    return _arm_table(store, run, experiment, period, metrics, covariate, by, source).to_pylist()


def _arm_table(store, run, experiment, period, metrics, covariate, by, source) -> pa.Table:
    keys = ["arm"] if by is None else ["arm", "by_value"]

    def build() -> ibis.Table:
        users = user_metrics(
            db, run=run, experiment=experiment, period=period, by=by, source=source
        )
        # without a breakdown, grouping by an all-NULL column too costs a third more
        return users.group_by(keys).aggregate(**_aggregates(users, metrics, covariate))

    key = ("experiments.arm_sums", run, experiment, period, tuple(metrics), covariate, by, source)
    with session(store) as db:
        sums = arrow_compiled(db, key, build)
    if by is None:
        sums = sums.add_column(1, "by_value", pa.nulls(sums.num_rows))
    # Arrow's sort is stable and puts NULL last
    return sums.sort_by([(k, "ascending") for k in keys])


def experiments_of(store, run: str) -> list[str]:
    """Names of the experiments with assignments in ``run``, sorted."""
    with session(store) as db:
        assigned = db.table("assignments")
        names = assigned.filter(assigned.run_id == run).select("experiment").distinct()
        return sorted(db.execute(names)["experiment"].tolist())
