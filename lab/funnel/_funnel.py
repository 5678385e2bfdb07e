"""Conversion funnels over the store: counts per step, time to convert, trend, drop-outs.

Two ways to compute the same funnel
-----------------------------------
* **offers** (fast path): one row per offer with a timestamp per lifecycle step, so a
  funnel of offers in ``ordered`` mode is one scan of ``offers``.
* **events**: the raw log, for ``strict`` order, ``unit="user"``, logs imported without
  an ``offers`` table, or breakdowns by an event column that ``offers`` lacks.

``source="auto"`` picks ``offers`` only when the offers table represents the event
rules exactly: synthetic runs, whose offers and events come from the same facts with
one event per step, and imported logs whose events name no offer. An imported log with
both is read from its events, since a step may repeat there (a rule view before and
after the exposure) and the event rules below are the contract.

Matching rules (documented contract)
------------------------------------
* A *unit* is an offer (``unit="offer"``) or a user across all of their offers
  (``unit="user"``).
* Only events with ``start <= ts < end`` exist for the funnel (half-open range).
* ``entry="first"`` (default): the unit's **first** occurrence of the first step
  anchors the funnel (earliest ``ts``, ties broken by the smaller ``event_id``); later
  re-entries are ignored.
* ``entry="any"``: every occurrence of the first step is an entry; the steps are
  matched from each entry by the rules below and the entry that reaches the furthest
  step wins (ties: the earliest entry, by ``(ts, event_id)``). With ``ordered`` this is
  ClickHouse's ``windowFunnel`` (default mode) and PostHog's funnel; with no window
  it equals ``first``.
* The winning entry is the unit's anchor. Breakdown values of stock and event columns
  are read from the anchor's event (or offer), NULL included: a NULL is reported as
  ``"(none)"``, never as the value of a later event.
* ``ordered``: other events may come between steps; step *i* is the earliest event of
  its type with ``ts`` at or after the time matched for step *i-1*. Equal timestamps
  count as "after", whatever the event ids, so a claim logged in the same instant as its
  rule view converts.
* ``strict``: the unit's events are sorted by ``(ts, event_id)`` and consecutive
  repeats of one event type are collapsed to their first event; each step must then be
  the very next event after the previous step. Among equal timestamps the smaller
  ``event_id`` comes first.
* ``window``: every step must happen no later than ``window`` after the anchor
  (inclusive); ``None`` means no limit.
* Time to convert is the time between the first and the last step of the units that
  reached the last step.

Example
-------
>>> import lab
>>> from lab.funnel import funnel
>>> store = lab.Store(":memory:")
>>> _ = store.create_run("r", origin="import")
>>> funnel(store, run="r").to_frame()["count"].tolist()
[0, 0, 0, 0]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd

from lab import _filters, schema
from lab._validate import check
from lab.engines import session
from lab.engines._compiled import execute_compiled
from lab.funnel import _queries
from lab.funnel._queries import OTHER

DEFAULT_STEPS = ("exposure", "rule_view", "claim", "redeem")
DEFAULT_WINDOW = pd.Timedelta(days=7)
ORDERS = ("ordered", "strict")
ENTRIES = ("first", "any")
UNITS = ("offer", "user")
SOURCES = ("auto", "offers", "events")
INTERVALS = ("day", "week")
# time-to-convert histogram bin edges, seconds (the last bin is open-ended)
HISTOGRAM_EDGES = (
    0,
    60,
    300,
    900,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    2 * 86400,
    3 * 86400,
    7 * 86400,
    14 * 86400,
    30 * 86400,
)
HISTOGRAM_LABELS = (
    "<1m",
    "1-5m",
    "5-15m",
    "15m-1h",
    "1-3h",
    "3-6h",
    "6-12h",
    "12-24h",
    "1-2d",
    "2-3d",
    "3-7d",
    "7-14d",
    "14-30d",
    ">=30d",
)
QUANTILES = (0.25, 0.5, 0.75, 0.9)


@dataclass(frozen=True)
class _Spec:
    run: str
    steps: tuple[str, ...]
    order: str
    window: pd.Timedelta | None
    unit: str
    by: tuple[tuple[str, str, str], ...]
    start: object
    end: object
    source: str
    entry: str = "first"


def _offers_represent_events(db, run_row: dict) -> bool:
    """Whether the offers table can stand in for the event rules of the run ``run_row``.

    A synthetic run writes offers and events from the same facts, one event per
    lifecycle step of an offer, so both give the same funnel. An imported log may
    repeat a step (a rule view before and after the exposure) or carry offers
    timestamps that disagree with its events; the event rules are the contract, so
    such a log is read from its events. A log whose events name no offer has only
    its offers table to go by.
    """
    if run_row["origin"] == "synthetic":
        return True
    run = run_row["run_id"]

    def offer_events() -> ibis.Table:
        events = db.table("events")
        return events.filter(events.run_id == run, events.offer_id.notnull())

    return not _exists(db, ("events naming offers", run), offer_events)


def _has_offers(db, run: str) -> bool:
    def offers() -> ibis.Table:
        table = db.table("offers")
        return table.filter(table.run_id == run)

    return _exists(db, ("offers", run), offers)


def _exists(db, key, rows: Callable[[], ibis.Table]) -> bool:
    """Whether the table ``rows()`` has a row; built and compiled only the first time
    ``key`` is seen (both cost more than the query)."""
    found = execute_compiled(
        db, ("funnel.exists", key), lambda: rows().select(found=ibis.literal(1)).limit(1)
    )
    return not found.empty


def _spec(
    db, store, *, run, steps, order, window, unit, by, start, end, source, entry="first"
) -> _Spec:
    run_row = _filters.require_run(store, run)
    steps = (steps,) if isinstance(steps, str) else tuple(steps)
    if len(steps) < 2:
        raise ValueError(f"steps: give at least two steps, got {steps!r}")
    bad = [s for s in steps if s not in schema.EVENT_TYPES]
    if bad:
        raise ValueError(
            f"steps: unknown event type(s) {bad}; allowed: {', '.join(schema.EVENT_TYPES)}"
        )
    if len(set(steps)) != len(steps):
        raise ValueError(f"steps: each step may appear once, got {steps!r}")
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
    if entry not in ENTRIES:
        raise ValueError(f"entry must be one of {ENTRIES}, got {entry!r}")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if window is not None:
        window = pd.Timedelta(window)
        if window < pd.Timedelta(0):
            raise ValueError(f"window must be a non-negative duration or None, got {window!r}")
    breakdown = _filters.breakdowns(by)
    _filters.where(run=run, start=start, end=end)  # validates the range
    offers_ok = (
        unit == "offer"
        and order == "ordered"
        and all(t != "events" or c in schema.table("offers").column_names for _, t, c in breakdown)
    )
    if source == "offers" and not offers_ok:
        raise ValueError(
            "source='offers' needs unit='offer', order='ordered' and breakdowns from users, "
            "stocks or columns that offers also has; use source='events' or 'auto'"
        )
    if source == "auto":
        fast = offers_ok and store.while_unchanged(
            ("funnel reads offers", run),
            lambda: _has_offers(db, run) and _offers_represent_events(db, run_row),
        )
        source = "offers" if fast else "events"
    return _Spec(run, steps, order, window, unit, breakdown, start, end, source, entry)


def _check_top_n(top_n) -> int | None:
    if top_n is None:
        return None
    if isinstance(top_n, bool) or not isinstance(top_n, int | np.integer) or top_n < 1:
        raise ValueError(f"top_n must be a positive integer or None, got {top_n!r}")
    return int(top_n)


def _step_table(counts: pd.DataFrame, spec: _Spec, keys: list[str]) -> pd.DataFrame:
    """Wide ``n0..n{k}`` counts per group into the tidy per-step table."""
    n, g = len(spec.steps), len(counts)
    c = counts[[f"n{i}" for i in range(n)]].to_numpy(dtype="int64").reshape(g, n)
    prev = np.concatenate([c[:, :1], c[:, :-1]], axis=1)
    first = np.broadcast_to(c[:, :1], c.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        from_start = np.where(first > 0, c / first, np.nan)
        from_previous = np.where(prev > 0, c / prev, np.nan)
    return pd.DataFrame(
        {
            **_repeated(counts, keys, n),
            "step_index": np.tile(np.arange(n, dtype="int64"), g),
            "step": pd.Series(np.tile(np.array(spec.steps, dtype=object), g), dtype="str"),
            "count": c.ravel(),
            "conversion_from_start": from_start.ravel(),
            "conversion_from_previous": from_previous.ravel(),
            "dropoff": (prev - c).ravel(),
        }
    )


def _repeated(frame: pd.DataFrame, keys: list[str], times: int) -> dict[str, pd.Series]:
    """The ``keys`` columns of ``frame`` with each row ``times`` times, dtypes kept.

    Result frames are built from these in one constructor: adding columns one at a
    time cost a millisecond a call.
    """
    rows = np.repeat(np.arange(len(frame)), times)
    return {k: frame[k].iloc[rows].reset_index(drop=True) for k in keys}


def _durations(q: np.ndarray) -> np.ndarray:
    """Float microseconds (NaN for none) as ``timedelta64[us]``, rounded to the
    microsecond (interpolated quantiles can fall between two)."""
    out = np.full(q.shape, np.timedelta64("NaT"), dtype="m8[us]")
    ok = ~np.isnan(q)
    out[ok] = np.rint(q[ok]).astype("int64").astype("m8[us]")
    return out


@dataclass(frozen=True, eq=False)
class FunnelResult:
    """A funnel: per breakdown group and step, counts and conversion; time to convert.

    Attributes
    ----------
    table : DataFrame
        One row per group and step: the ``by`` columns, ``step_index``, ``step``,
        ``count``, ``conversion_from_start``, ``conversion_from_previous`` and
        ``dropoff`` (units lost since the previous step; 0 at the first step).
    time_to_convert : DataFrame
        One row per group: ``converted`` (units that reached the last step) and the
        ``p25``, ``median``, ``p75``, ``p90`` of the time from first to last step
        (``timedelta64[us]``; linear interpolation, as ``Series.quantile``, rounded to
        the microsecond).
    histogram : DataFrame
        Per group and bin of :data:`HISTOGRAM_EDGES`: ``bin`` label, ``lower`` and
        ``upper`` (Timedelta; upper is NaT for the last bin) and ``count``.
    """

    run: str
    steps: tuple[str, ...]
    order: str
    window: pd.Timedelta | None
    unit: str
    by: tuple[str, ...]
    source: str
    table: pd.DataFrame
    time_to_convert: pd.DataFrame
    histogram: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """The tidy per-group, per-step table."""
        return self.table.copy()

    def plot(self):
        """Bars of the count per step (grouped by the breakdown, if any)."""
        import holoviews as hv
        import holoviews.plotting.bokeh  # noqa: F401  (registers the backend .opts() needs)

        df = self.table.copy()
        if self.by:
            df["group"] = df[list(self.by)].astype(str).agg(" / ".join, axis=1)
            kdims = ["step", "group"]
        else:
            kdims = ["step"]
        return hv.Bars(df, kdims=kdims, vdims=["count", "conversion_from_start"]).opts(
            title=f"Funnel of {self.unit}s ({self.order})",
            tools=["hover"],
            xrotation=0,
            width=700,
            height=350,
            ylabel=f"{self.unit}s",
        )


def funnel(
    store,
    *,
    run: str,
    steps: Sequence[str] = DEFAULT_STEPS,
    order: str = "ordered",
    window=DEFAULT_WINDOW,
    by: str | Sequence[str] | None = None,
    top_n: int | None = 10,
    start=None,
    end=None,
    unit: str = "offer",
    source: str = "auto",
    entry: str = "first",
) -> FunnelResult:
    """Count the units that reach each step, with conversion, drop-off and time to convert.

    Parameters
    ----------
    store : lab.Store
    run : str
        Run to analyse.
    steps : sequence of str
        Two or more distinct event types (:data:`lab.schema.EVENT_TYPES`), in funnel order.
    order : {"ordered", "strict"}
        ``ordered`` allows other events between steps; ``strict`` needs the steps to be
        consecutive events of the unit (see the module docstring for the exact rules).
    window : Timedelta, str or None
        Every step must happen within ``window`` of the first step; None: no limit.
    by : str or sequence of str, optional
        Breakdown column(s), resolved by :func:`lab._filters.resolve_column`
        (``"platform"``, ``"entry"``, ``"segment"``, ``"arm"``, ``"users.city_tier"``...).
    top_n : int or None
        Keep the ``top_n`` breakdown groups with the most units at the first step
        (ties by value) and pool the rest as ``"other"``; None keeps every group.
    start, end : date-like, optional
        Only events with ``start <= ts < end`` count.
    unit : {"offer", "user"}
        What converts: each offer, or each user across all of their offers.
    source : {"auto", "offers", "events"}
        Table to compute from. ``auto`` uses ``offers`` for ordered offer funnels only
        where offers represent the event rules exactly (synthetic runs, or logs whose
        events name no offer) and the events otherwise; there both give the same
        counts. ``"offers"`` on an imported log reads the offers table's own timestamps.
    entry : {"first", "any"}
        ``first``: the unit's first first-step event anchors the funnel and later
        re-entries are ignored. ``any``: every first-step event is an entry and the
        unit counts the furthest step reached from any of them within ``window``
        (ClickHouse's ``windowFunnel``, PostHog); see the module docstring.

    Returns
    -------
    FunnelResult

    Example
    -------
    >>> import lab
    >>> from lab.funnel import funnel
    >>> store = lab.Store(":memory:")
    >>> _ = store.create_run("r", origin="import")
    >>> res = funnel(store, run="r", steps=("exposure", "claim"), unit="user")
    >>> res.table[["step", "count"]].values.tolist()
    [['exposure', 0], ['claim', 0]]
    """
    check(locals())  # argument types and ranges, up front
    edges_us = [e * 1_000_000 for e in HISTOGRAM_EDGES[1:]]
    with session(store) as db:
        spec = _spec(
            db,
            store,
            run=run,
            steps=steps,
            order=order,
            window=window,
            unit=unit,
            by=by,
            start=start,
            end=end,
            source=source,
            entry=entry,
        )
        top_n = _check_top_n(top_n)
        # Ranking the groups in the query joins the units to their group's rank, and the
        # engine builds the units twice: 0.59 s against 0.34 s by segment for a run of
        # 100k users. Skipped where the labels cannot make more than top_n groups.
        if top_n is not None and _queries.most_groups(db, spec) <= top_n:
            top_n = None
        out = execute_compiled(
            db,
            ("funnel.sums", spec, top_n, QUANTILES, tuple(edges_us)),
            lambda: _queries.funnel_sums(db, spec, top_n, quantiles=QUANTILES, edges_us=edges_us),
        )
    n, k = len(spec.steps), len(spec.by)
    keys = [name for name, _, _ in spec.by]
    out = out.rename(columns={f"g{i}": key for i, key in enumerate(keys)})
    if k:
        out = _ranked(out, keys)
        is_other = (out[keys] == OTHER).all(axis=1)
        out = pd.concat([out[~is_other], out[is_other]], ignore_index=True)
    table = _step_table(out, spec, keys)

    g, bins = len(out), len(HISTOGRAM_EDGES)
    converted = out[f"n{n - 1}"].to_numpy(dtype="int64")
    q = np.full((g, len(QUANTILES)), np.nan)
    has_q = (converted > 0) & out["q"].notna().to_numpy()
    if has_q.any():
        q[has_q] = np.array(out["q"][has_q].tolist(), dtype="float64")
    ttc = pd.DataFrame(
        {
            **_repeated(out, keys, 1),
            "converted": converted,
            **{name: _durations(q[:, j]) for j, name in enumerate(("p25", "median", "p75", "p90"))},
        }
    )
    # converted units below each edge, then per bin; the last bin is open-ended
    below = out[[f"below{j}" for j in range(bins - 1)]].to_numpy(dtype="int64").reshape(g, bins - 1)
    below = np.concatenate([np.zeros((g, 1), "int64"), below, converted[:, None]], axis=1)
    hist = np.diff(below, axis=1)
    edges = pd.to_timedelta(np.array(HISTOGRAM_EDGES), unit="s").astype("m8[us]").to_numpy()
    upper = np.append(edges[1:], np.timedelta64("NaT", "us"))
    histogram = pd.DataFrame(
        {
            **_repeated(out, keys, bins),
            "bin": pd.Series(np.tile(np.array(HISTOGRAM_LABELS, dtype=object), g), dtype="str"),
            "lower": np.tile(edges, g),
            "upper": np.tile(upper, g),
            "count": hist.ravel(),
        }
    )
    return FunnelResult(
        spec.run,
        spec.steps,
        spec.order,
        spec.window,
        spec.unit,
        tuple(keys),
        spec.source,
        table,
        ttc,
        histogram,
    )


def _ranked(sizes: pd.DataFrame, groups: list[str]) -> pd.DataFrame:
    """``sizes`` with the most units at the first step (``n0``) first, ties by label."""
    order = ["n0", *groups]
    return sizes.sort_values(order, ascending=[False] + [True] * len(groups), kind="stable")


def _pool_periods(out: pd.DataFrame, groups: list[str], top_n: int | None) -> pd.DataFrame:
    """Per-period counts with the groups outside the ``top_n`` (by units at the first step
    over every period, ties by label) added up as "other": counts of units add up."""
    if not groups or top_n is None:
        return out
    sizes = _ranked(out.groupby(groups, as_index=False)["n0"].sum(), groups)
    if len(sizes) <= top_n:
        return out
    kept = pd.MultiIndex.from_frame(sizes[groups].head(top_n))
    others = ~pd.MultiIndex.from_frame(out[groups]).isin(kept)
    out = out.copy()
    out.loc[others, groups] = OTHER
    counts = [c for c in out.columns if c.startswith("n")]
    return out.groupby(["period", *groups], as_index=False)[counts].sum()


@dataclass(frozen=True, eq=False)
class FunnelTrend:
    """Funnel counts per period of the first step.

    ``table`` has one row per period, group and step: ``period`` (start of the day or
    ISO week of the unit's first step), the ``by`` columns, ``step_index``, ``step``,
    ``count`` and ``conversion_from_start``.
    """

    run: str
    steps: tuple[str, ...]
    interval: str
    by: tuple[str, ...]
    source: str
    table: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def conversion(self) -> pd.DataFrame:
        """Conversion from the first to the last step per period (and group)."""
        last = self.table[self.table["step_index"] == len(self.steps) - 1]
        return last[["period", *self.by, "conversion_from_start"]].reset_index(drop=True)

    def plot(self):
        """Curves of first-to-last-step conversion over time, one per group."""
        import holoviews as hv
        import holoviews.plotting.bokeh  # noqa: F401  (registers the backend .opts() needs)

        conv = self.conversion()
        title = f"{self.steps[0]} → {self.steps[-1]} conversion by {self.interval}"
        if not self.by:
            return hv.Curve(conv, "period", "conversion_from_start").opts(title=title, width=700)
        conv["group"] = conv[list(self.by)].astype(str).agg(" / ".join, axis=1)
        curves = {
            g: hv.Curve(d, "period", "conversion_from_start", label=g)
            for g, d in conv.groupby("group", sort=False)
        }
        return hv.NdOverlay(curves, kdims="group").opts(title=title, width=700)


def funnel_trend(
    store,
    *,
    run: str,
    interval: str = "day",
    steps: Sequence[str] = DEFAULT_STEPS,
    order: str = "ordered",
    window=DEFAULT_WINDOW,
    by: str | Sequence[str] | None = None,
    top_n: int | None = 10,
    start=None,
    end=None,
    unit: str = "offer",
    source: str = "auto",
    entry: str = "first",
) -> FunnelTrend:
    """Funnel counts and conversion per day or ISO week of the unit's first step.

    Takes the options of :func:`funnel`; ``interval`` is ``"day"`` or ``"week"``
    (weeks start on Monday). Periods with no units are absent.

    Example
    -------
    >>> import lab
    >>> from lab.funnel import funnel_trend
    >>> store = lab.Store(":memory:")
    >>> _ = store.create_run("r", origin="import")
    >>> funnel_trend(store, run="r", interval="week").to_frame().empty
    True
    """
    check(locals())  # argument types and ranges, up front
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {INTERVALS}, got {interval!r}")
    with session(store) as db:
        spec = _spec(
            db,
            store,
            run=run,
            steps=steps,
            order=order,
            window=window,
            unit=unit,
            by=by,
            start=start,
            end=end,
            source=source,
            entry=entry,
        )
        top_n = _check_top_n(top_n)
        out = db.execute(_queries.trend_counts(db, spec, interval=interval))
    out = _pool_periods(out, [f"g{i}" for i in range(len(spec.by))], top_n)
    keys = [name for name, _, _ in spec.by]
    out = out.rename(columns={f"g{i}": key for i, key in enumerate(keys)})
    out = out.sort_values(["period", *keys], ignore_index=True)
    table = _step_table(out, spec, ["period", *keys])
    table = table.drop(columns=["conversion_from_previous", "dropoff"])
    return FunnelTrend(spec.run, spec.steps, interval, tuple(keys), spec.source, table)


def dropped_at(
    store,
    *,
    run: str,
    step: str,
    steps: Sequence[str] = DEFAULT_STEPS,
    order: str = "ordered",
    window=DEFAULT_WINDOW,
    start=None,
    end=None,
    unit: str = "offer",
    source: str = "auto",
    entry: str = "first",
) -> pd.DataFrame:
    """Users who reached the step before ``step`` but not ``step`` itself.

    With ``unit="offer"`` a user is listed if any of their offers dropped there (even
    if another offer converted). The result, one ``user_id`` column sorted ascending,
    can serve as a cohort.

    Example
    -------
    >>> import lab
    >>> from lab.funnel import dropped_at
    >>> store = lab.Store(":memory:")
    >>> _ = store.create_run("r", origin="import")
    >>> dropped_at(store, run="r", step="claim").columns.tolist()
    ['user_id']
    """
    check(locals())  # argument types and ranges, up front
    with session(store) as db:
        spec = _spec(
            db,
            store,
            run=run,
            steps=steps,
            order=order,
            window=window,
            unit=unit,
            by=None,
            start=start,
            end=end,
            source=source,
            entry=entry,
        )
        if step not in spec.steps[1:]:
            raise ValueError(
                f"step must be one of the steps after the first, {spec.steps[1:]}, got {step!r}"
            )
        users = db.execute(_queries.dropped_users(db, spec, spec.steps.index(step)))
    return users.sort_values("user_id", ignore_index=True)
