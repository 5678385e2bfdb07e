"""Cohort retention: who comes back after a start event, period by period.

Rules (documented contract)
---------------------------
* Only events with ``start <= ts < end`` exist (half-open range); cohorts and returns
  are both read inside it.
* **Cohorts.** ``first_time=True``: a user joins the cohort of the period (calendar day,
  ISO week starting Monday, or calendar month) of their first start event.
  ``first_time=False`` (recurring): every period in which a user has a start event is a
  cohort membership of its own, anchored at the user's first start event of that
  period; a user can belong to several cohorts. The anchor is the earliest event, ties
  broken by the smaller ``event_id`` (``order_id`` for orders), and breakdown values of
  stock and event columns are read from it.
* **Claims are successful claims.** A ``claim`` event (as start or return event)
  counts only if its coupon (``coupons`` joined on ``coupon_id``) was issued: status
  ``issued`` or ``compensated``. A ``refused`` attempt gave the user no coupon, so from
  their point of view it is not a claim. Claim events without a coupon row are kept
  (the logs record no refusal for them).
* **Start filter.** ``start_where`` keeps only start events whose columns equal the
  given values (e.g. WeChat pay-page claims); the first *matching* event anchors.
* **Returns.** A return is a return event at or after the anchor's timestamp; when the
  start and return events are the same kind (``"order"`` → ``"order"``), it must come
  strictly after the anchor in ``(ts, id)`` order, so the anchor is not its own return.
  Its period index ``k`` depends on ``buckets``:

  - ``"calendar"`` (default): the number of calendar periods between the anchor's
    period and the return's period (``k = 0``: the same period, after the anchor). A
    claim at 23:59 and an order at 00:01 the next day is a day-1 return.
  - ``"rolling"``: periods are counted from the anchor's own timestamp, as Mixpanel
    does by default: period ``k`` is ``[anchor + k P, anchor + (k + 1) P)`` with ``P``
    24 hours, 7 × 24 hours or one calendar month (``anchor + k months``). The 23:59
    claim and 00:01 order is then a period-0 return. Cohorts are still the calendar
    period of the anchor.
* ``mode="exact"``: retained in period ``k`` if the user returned in period ``k``
  (N-day retention). ``mode="on_or_after"``: retained in ``k`` if the user returned in
  period ``k`` or later (unbounded retention).
* **Completeness.** The data end is ``end`` or the run's last day
  (``runs.start_date + runs.days``), whichever is earlier; if neither is known, the
  midnight after the latest start or return event. Period ``k`` of a cohort is complete
  when the data end is at or after the end of that period
  (``cohort + (k + 1) periods``; with rolling buckets ``cohort + (k + 2) periods``,
  since the cohort's last anchor may come just before the cohort period ends). The curves average over complete cohorts only,
  weighting each cohort by its size (returned users ÷ cohort users, pooled).

Example
-------
>>> import lab
>>> from lab.retention import retention
>>> store = lab.Store(":memory:")
>>> _ = store.create_run("r", origin="import")
>>> retention(store, run="r").table.empty
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd

from lab import _filters, schema
from lab._validate import check
from lab.engines import session
from lab.engines._calendar import (
    days_between,
    microseconds_between,
    months_between,
    period_start,
)
from lab.engines._compiled import execute_compiled
from lab.engines._expr import in_window, union

PERIODS = ("day", "week", "month")
BUCKETS = ("calendar", "rolling")
# length of a rolling day or week, microseconds (rolling months add calendar months)
_ROLLING_US = {"day": 86_400_000_000, "week": 7 * 86_400_000_000}
MODES = ("exact", "on_or_after")
MISSING = "(none)"
ORDER = "order"
CLAIM = "claim"

_ISSUED = ("issued", "compensated")


def _source(
    db, event: str, *, name: str, run: str, lo, hi, columns: Sequence[str], where=None
) -> ibis.Table:
    """``user_id, ts, id`` and ``columns`` of the events of one kind in ``lo <= ts < hi``
    (and matching ``where``, a function of the table to predicates).

    ``id`` is ``order_id`` for orders and ``event_id`` for events.
    """
    if event == ORDER:
        table, id_col = db.table("orders"), "order_id"
    elif event in schema.EVENT_TYPES:
        table, id_col = db.table("events"), "event_id"
    else:
        raise ValueError(
            f"{name} must be 'order' or one of {', '.join(schema.EVENT_TYPES)}, got {event!r}"
        )
    kept = table.filter(*in_window(table, run=run, start=lo, end=hi, ts_col="ts"))
    if event != ORDER:
        kept = kept.filter(kept.event_type == event)
    predicates = where(kept) if where is not None else []
    if predicates:
        kept = kept.filter(*predicates)
    if event == CLAIM:
        # a refused attempt gave the user no coupon: it is not a claim (see the module doc).
        # NOT IN is NULL for a NULL status, so such a coupon does not refuse its claim
        coupons = db.table("coupons")
        refused = coupons.filter(coupons.run_id == run, ~coupons.status.isin(_ISSUED))
        kept = kept.anti_join(refused.select("coupon_id"), "coupon_id")
    return kept.select("user_id", "ts", *columns, id=kept[id_col])


def _start_filter(start_where, start_event: str):
    """``start_where`` as a function of the start table to its predicates; columns are
    checked against lab.schema."""
    if start_where is None:
        return None
    if not isinstance(start_where, Mapping):
        raise ValueError(
            f"start_where must be a mapping of column to value or None, got {start_where!r}"
        )
    table_name = "orders" if start_event == ORDER else "events"
    allowed = [c for c in schema.table(table_name).column_names if c != "run_id"]
    for col in start_where:
        if col not in allowed:
            raise ValueError(
                f"start_where: {col!r} is not a column of {table_name} (start_event="
                f"{start_event!r}); allowed keys are {', '.join(allowed)}"
            )
    conditions = dict(start_where)
    return lambda table: [
        table[col].isnull() if value is None else table[col] == value
        for col, value in conditions.items()
    ]


def _period_end(cohort: pd.Series, k: pd.Series, period: str) -> np.ndarray:
    """End of period ``k`` of cohorts starting at ``cohort``: ``cohort + (k + 1) periods``."""
    c = cohort.to_numpy().astype("datetime64[us]")
    n = k.to_numpy().astype("int64") + 1
    if period == "month":
        return (c.astype("datetime64[M]") + n).astype("datetime64[us]")
    days = 7 * n if period == "week" else n
    return c + days.astype("timedelta64[D]")


@dataclass(frozen=True, eq=False)
class RetentionResult:
    """A retention analysis.

    Attributes
    ----------
    table : DataFrame
        One row per cohort, breakdown group and period ``0..max_periods``: ``cohort``
        (start of the cohort's period), the ``by`` columns, ``period``,
        ``cohort_size``, ``retained``, ``rate`` and ``complete`` (the period has been
        fully observed; counts of incomplete periods are partial).
    curves : DataFrame
        One row per group and period: ``cohorts`` (complete cohorts averaged),
        ``cohort_size`` and ``retained`` summed over them, and ``rate`` (NaN when no
        cohort is complete).
    data_end : Timestamp or None
        End of the observed data used for completeness.
    """

    run: str
    start_event: str
    return_event: str
    period: str
    mode: str
    first_time: bool
    by: tuple[str, ...]
    data_end: pd.Timestamp | None
    table: pd.DataFrame
    curves: pd.DataFrame
    buckets: str = "calendar"

    def to_frame(self) -> pd.DataFrame:
        """The tidy cohort × period table."""
        return self.table.copy()

    def plot(self):
        """Heatmap of the rate per cohort and period, above the average retention curves."""
        import holoviews as hv
        import holoviews.plotting.bokeh  # noqa: F401  (registers the backend .opts() needs)

        df = self.table.copy()
        df["cohort"] = df["cohort"].dt.strftime("%Y-%m-%d")
        curves = self.curves.copy()
        if self.by:
            df["cohort"] = (
                df["cohort"] + " | " + df[list(self.by)].astype(str).agg(" / ".join, axis=1)
            )
            curves["group"] = curves[list(self.by)].astype(str).agg(" / ".join, axis=1)
        else:
            curves["group"] = "all"
        heat = hv.HeatMap(df, ["period", "cohort"], ["rate", "retained", "cohort_size"]).opts(
            title=f"{self.start_event} → {self.return_event} retention by {self.period} ({self.mode})",
            tools=["hover"],
            colorbar=True,
            cmap="Blues",
            width=700,
            height=400,
            invert_yaxis=True,
        )
        lines = hv.NdOverlay(
            {
                g: hv.Curve(d, "period", "rate", label=g)
                for g, d in curves.groupby("group", sort=False)
            },
            kdims="group",
        ).opts(title="Average over complete cohorts", width=700, height=300)
        return (heat + lines).cols(1)


def retention(
    store,
    *,
    run: str,
    start_event: str = "claim",
    return_event: str = ORDER,
    period: str = "day",
    mode: str = "exact",
    first_time: bool = True,
    max_periods: int = 14,
    by: str | Sequence[str] | None = None,
    start=None,
    end=None,
    start_where: Mapping[str, object] | None = None,
    buckets: str = "calendar",
) -> RetentionResult:
    """Cohort retention table and curves.

    Parameters
    ----------
    store : lab.Store
        Or a store on another engine (:meth:`lab.Store.from_ibis`).
    run : str
        Run to analyse.
    start_event, return_event : str
        ``"order"`` (the ``orders`` table) or an event type of
        :data:`lab.schema.EVENT_TYPES` (the ``events`` table). Default: cohorts by
        claim, any order counts as a return.
    period : {"day", "week", "month"}
        Cohort and return period (calendar; weeks start on Monday).
    mode : {"exact", "on_or_after"}
        Returned in period k exactly, or in period k or any later one.
    first_time : bool
        Cohort by each user's first start event (True) or by every period with a
        start event (False, recurring); see the module docstring.
    max_periods : int
        Report periods ``0..max_periods``.
    by : str or sequence of str, optional
        Breakdown column(s) (:func:`lab._filters.resolve_column`). Stock and event
        columns need an event ``start_event`` (orders carry no stock).
    start, end : date-like, optional
        Only events with ``start <= ts < end`` exist.
    start_where : mapping of str to value, optional
        Only start events whose columns equal these values start a cohort, e.g.
        ``{"platform": "wechat", "entry": "pay_page"}``. Keys are columns of ``events``
        (of ``orders`` when ``start_event="order"``); ``None`` matches NULL. Return
        events are not filtered.
    buckets : {"calendar", "rolling"}
        How return periods are counted: calendar periods (days from midnight, weeks
        from Monday, months from the 1st) or rolling ones measured from the anchor's
        timestamp (24-hour days, as Mixpanel's default); see the module docstring.

    Returns
    -------
    RetentionResult

    Example
    -------
    >>> import lab
    >>> from lab.retention import retention
    >>> store = lab.Store(":memory:")
    >>> _ = store.create_run("r", origin="import")
    >>> res = retention(store, run="r", period="week", mode="on_or_after")
    >>> res.curves["period"].tolist()[:3]
    [0, 1, 2]
    """
    check(locals())  # argument types and ranges, up front
    info = _filters.require_run(store, run)
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, got {period!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if buckets not in BUCKETS:
        raise ValueError(f"buckets must be one of {BUCKETS}, got {buckets!r}")
    if not isinstance(first_time, bool | np.bool_):
        raise ValueError(f"first_time must be True or False, got {first_time!r}")
    if (
        isinstance(max_periods, bool)
        or not isinstance(max_periods, int | np.integer)
        or max_periods < 0
    ):
        raise ValueError(f"max_periods must be a non-negative integer, got {max_periods!r}")
    max_periods = int(max_periods)
    breakdown = _filters.breakdowns(by)
    if start_event == ORDER and any(t != "users" for _, t, _ in breakdown):
        raise ValueError(
            f"by: with start_event='order' only user columns can break cohorts down, got {by!r}"
        )
    _filters.where(run=run, start=start, end=end)  # validates the range
    lo = _filters.to_datetime(start, name="start")
    hi = _filters.to_datetime(end, name="end")
    keys = [name for name, _, _ in breakdown]
    raw, last_ts = _cohort_counts(
        store,
        run=run,
        start_event=start_event,
        return_event=return_event,
        start_where=start_where,
        period=period,
        buckets=buckets,
        mode=mode,
        first_time=bool(first_time),
        max_periods=max_periods,
        breakdown=breakdown,
        lo=lo,
        hi=hi,
        need_last=_run_end(info, hi) is None,
    )
    raw = raw.rename(columns={f"g{i}": key for i, key in enumerate(keys)})
    data_end = _run_end(info, hi)
    if data_end is None and last_ts is not None:
        data_end = last_ts.floor("D") + pd.Timedelta(days=1)

    sizes = raw[raw["k"] == -1].drop(columns="k").rename(columns={"n": "cohort_size"})
    hits = raw[raw["k"] >= 0].rename(columns={"k": "period", "n": "retained"})
    idx = ["cohort", *keys]
    grid = sizes.merge(pd.DataFrame({"period": np.arange(max_periods + 1)}), how="cross")
    table = grid.merge(hits, how="left", on=[*idx, "period"])
    table["retained"] = table["retained"].fillna(0).astype("int64")
    if mode == "on_or_after":
        # counted by last return period: returned in period k or later is a reverse cumsum
        table = table.sort_values([*idx, "period"], ascending=[True] * len(idx) + [False])
        table["retained"] = table.groupby(idx, sort=False)["retained"].cumsum()
    table["cohort"] = pd.to_datetime(table["cohort"]).astype("datetime64[us]")
    table["cohort_size"] = table["cohort_size"].astype("int64")
    table["rate"] = table["retained"] / table["cohort_size"]
    # a rolling period k ends up to one cohort period later than the calendar one
    shift = 1 if buckets == "rolling" else 0
    table["complete"] = (
        _period_end(table["cohort"], table["period"] + shift, period) <= data_end
        if data_end is not None
        else False
    )
    table = table.sort_values([*idx, "period"], ignore_index=True)[
        ["cohort", *keys, "period", "cohort_size", "retained", "rate", "complete"]
    ]

    done = table[table["complete"]]
    curves = done.groupby([*keys, "period"], sort=True)[["cohort_size", "retained"]].sum()
    curves["cohorts"] = done.groupby([*keys, "period"], sort=True).size()
    groups = table[keys].drop_duplicates() if keys else pd.DataFrame(index=[0])
    frame = groups.merge(pd.DataFrame({"period": np.arange(max_periods + 1)}), how="cross")
    curves = frame.merge(curves.reset_index(), how="left", on=[*keys, "period"])
    for c in ("cohorts", "cohort_size", "retained"):
        curves[c] = curves[c].fillna(0).astype("int64")
    curves["rate"] = curves["retained"] / curves["cohort_size"].where(curves["cohort_size"] > 0)
    curves = curves.sort_values([*keys, "period"], ignore_index=True)[
        [*keys, "period", "cohorts", "cohort_size", "retained", "rate"]
    ]
    return RetentionResult(
        run,
        start_event,
        return_event,
        period,
        mode,
        bool(first_time),
        tuple(keys),
        data_end,
        table,
        curves,
        buckets,
    )


def _run_end(info: dict, hi) -> pd.Timestamp | None:
    """The earlier of ``end`` and the run's last day, or None if neither is known."""
    ends = []
    if hi is not None:
        ends.append(pd.Timestamp(hi))
    start_date, days = info.get("start_date"), info.get("days")
    if (
        start_date is not None
        and not pd.isna(start_date)
        and days is not None
        and not pd.isna(days)
    ):
        ends.append(pd.Timestamp(start_date) + pd.Timedelta(days=int(days)))
    return min(ends) if ends else None


def _return_period(pair: ibis.Table, *, period: str, buckets: str) -> ibis.IntegerValue:
    """Period index ``k`` of the return at ``pair.r_ts`` for the anchor at ``pair.ts`` of
    the cohort starting ``pair.cohort`` (see the module docstring)."""
    m = r = pair
    if buckets == "rolling" and period == "month":
        # month boundaries crossed, less one if the anchor's day and time are not reached
        crossed = months_between(m.ts, r.r_ts)
        return crossed - ibis.ifelse(m.ts + crossed.as_interval("M") > r.r_ts, 1, 0)
    if buckets == "rolling":
        # a return is never before its anchor, so // (floor) needs no sign care
        return microseconds_between(m.ts, r.r_ts) // _ROLLING_US[period]
    if period == "month":
        return months_between(m.cohort, r.r_ts.date())
    days = days_between(m.cohort, r.r_ts.date())
    return days if period == "day" else days // 7


def _cohort_counts(
    store, *, start_where, need_last: bool, **spec
) -> tuple[pd.DataFrame, pd.Timestamp | None]:
    """The engine's part: rows ``cohort, g0.., k, n`` (``k = -1``: the cohort's size;
    ``k >= 0``: users counted in period ``k``, by last return period for
    ``on_or_after``), and the latest start or return time when ``need_last``.

    ``spec`` holds the arguments of :func:`_counts_expr` but the start filter, which
    comes from ``start_where``. The expression is compiled once per set of arguments.
    """
    start_filter = _start_filter(start_where, spec["start_event"])
    where_key = None if start_where is None else repr(sorted(start_where.items(), key=repr))
    key = ("retention", where_key, *sorted(spec.items()))
    with session(store) as db:
        raw = execute_compiled(db, key, lambda: _counts_expr(db, start_filter=start_filter, **spec))
        if not need_last:
            return raw, None
        sources = _sources(db, start_filter=start_filter, carried=[], **spec)
        latest = union(*(t.select("ts") for t in sources)).ts.max()
        value = db.execute(latest.name("ts").as_table())["ts"].iloc[0]
    return raw, None if pd.isna(value) else pd.Timestamp(value)


def _carried(start_event: str, return_event: str, breakdown) -> list[str]:
    """Columns the anchor carries from its start event: its id when returns are the same
    kind of event, its stock for stock breakdowns, its own breakdown columns."""
    carried = ["id"] if start_event == return_event else []
    if any(t == "stocks" for _, t, _ in breakdown):
        carried.append("stock_id")
    return carried + [
        c for _, t, c in breakdown if t == "events" and c not in ("user_id", "ts", *carried)
    ]


def _sources(
    db, *, run, start_event, return_event, start_filter, carried, lo, hi, **_
) -> tuple[ibis.Table, ibis.Table]:
    """The start events (with the ``carried`` columns) and the return events."""
    st = _source(
        db,
        start_event,
        name="start_event",
        run=run,
        lo=lo,
        hi=hi,
        columns=[c for c in carried if c != "id"],
        where=start_filter,
    )
    ret = _source(db, return_event, name="return_event", run=run, lo=lo, hi=hi, columns=[])
    return st, ret


def _counts_expr(
    db,
    *,
    run: str,
    start_event: str,
    return_event: str,
    start_filter,
    period: str,
    buckets: str,
    mode: str,
    first_time: bool,
    max_periods: int,
    breakdown: tuple[tuple[str, str, str], ...],
    lo,
    hi,
) -> ibis.Table:
    """The rows of :func:`_cohort_counts` as one Ibis expression."""
    same_kind = start_event == return_event
    carried = _carried(start_event, return_event, breakdown)
    st, ret = _sources(
        db,
        run=run,
        start_event=start_event,
        return_event=return_event,
        start_filter=start_filter,
        carried=carried,
        lo=lo,
        hi=hi,
    )

    # The anchor is the earliest start event by (ts, id): the minimum of a struct
    # that orders by ts, then id, and carries the anchor's own values (NULLs too)
    group = {"user_id": st.user_id}
    if not first_time:
        group["cohort"] = period_start(st.ts, period)
    if carried:
        # id always orders ties in ts, also when the anchor need not carry it
        fields = {"ts": st.ts, "id": st.id, **{c: st[c] for c in carried if c != "id"}}
        first = ibis.struct(fields).min()
        anchor = st.group_by(**group).agg(_lab_first=first)
        anchor = anchor.select("user_id", **{c: anchor._lab_first[c] for c in ("ts", *carried)})
    else:
        anchor = st.group_by(**group).agg(ts=st.ts.min()).select("user_id", "ts")

    values, m = {}, anchor
    for table_name, key in (("users", "user_id"), ("stocks", "stock_id")):
        wanted = [(i, c) for i, (_, t, c) in enumerate(breakdown) if t == table_name]
        if not wanted:
            continue
        other = db.table(table_name)
        other = other.filter(other.run_id == run).select(
            **{f"_lab_{table_name}_key": other[key]},
            **{f"_lab_g{i}": other[c] for i, c in wanted},
        )
        m = m.left_join(other, m[key] == other[f"_lab_{table_name}_key"])
        values.update({i: m[f"_lab_g{i}"] for i, _ in wanted})
    for i, (_, t, c) in enumerate(breakdown):
        if t == "events":
            values[i] = m[c]
    gs = [f"g{i}" for i in range(len(breakdown))]
    mem = m.select(
        "user_id",
        "ts",
        *(["id"] if same_kind else []),
        cohort=period_start(m.ts, period),
        **{f"g{i}": values[i].cast("string").fill_null(MISSING) for i in values},
    )

    r = ret.select(r_user=ret.user_id, r_ts=ret.ts, r_id=ret.id)
    after = (
        (r.r_ts > mem.ts) | ((r.r_ts == mem.ts) & (r.r_id > mem.id))
        if same_kind
        else r.r_ts >= mem.ts
    )
    # mem on the right: a join chain on its left would be extended and its joins
    # inlined twice, once here and once for the cohort sizes
    pairs = r.join(mem, [r.r_user == mem.user_id, after])
    pairs = pairs.select(
        "user_id", "cohort", *gs, k=_return_period(pairs, period=period, buckets=buckets)
    )
    if mode == "exact":
        # returns after period max_periods cannot count; each user once per period
        per_user = pairs.filter(pairs.k <= max_periods).distinct()
    else:
        per_user = pairs.group_by("user_id", "cohort", *gs).agg(
            k=ibis.least(pairs.k.max(), max_periods)
        )
    counted = per_user.group_by("cohort", *gs, "k").agg(n=per_user.count())
    sizes = mem.group_by("cohort", *gs).agg(k=ibis.literal(-1, "int64"), n=mem.count())
    return union(sizes, counted.select("cohort", *gs, "k", "n"))
