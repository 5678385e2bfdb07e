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

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lab import _filters, schema
from lab._validate import check

PERIODS = ("day", "week", "month")
BUCKETS = ("calendar", "rolling")
# length of a rolling day or week, microseconds (rolling months add calendar months)
_ROLLING_US = {"day": 86_400_000_000, "week": 7 * 86_400_000_000}
MODES = ("exact", "on_or_after")
MISSING = "(none)"
ORDER = "order"
CLAIM = "claim"

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def _bind(sql: str, params: dict) -> dict:
    used = set(_PARAM.findall(sql))
    return {k: v for k, v in params.items() if k in used}


def _source(event: str, *, name: str, params: dict, key: str, where: str = "") -> str:
    """SELECT of ``user_id, ts, id[, stock_id, event columns]`` for an event kind.

    ``where`` is extra SQL (``AND ...``) over the source table's checked columns.
    """
    rng = "".join(
        f" AND ts {op} ${b}" for op, b in ((">=", "lo"), ("<", "hi")) if params[b] is not None
    )
    if event == ORDER:
        return f"SELECT *, order_id AS id FROM orders WHERE run_id = $run{rng}{where}"
    if event not in schema.EVENT_TYPES:
        raise ValueError(
            f"{name} must be 'order' or one of {', '.join(schema.EVENT_TYPES)}, got {event!r}"
        )
    params[key] = event
    if event == CLAIM:
        # a refused attempt gave the user no coupon: it is not a claim (see the module doc)
        where += (
            " AND NOT EXISTS (SELECT 1 FROM coupons c WHERE c.run_id = $run"
            " AND c.coupon_id = events.coupon_id AND c.status NOT IN ('issued', 'compensated'))"
        )
    return (
        f"SELECT *, event_id AS id FROM events WHERE run_id = $run AND event_type = ${key}"
        f"{rng}{where}"
    )


def _start_filter(start_where, start_event: str, params: dict) -> str:
    """``AND col = $swN ...`` for ``start_where``; columns checked against lab.schema."""
    if start_where is None:
        return ""
    if not isinstance(start_where, Mapping):
        raise ValueError(
            f"start_where must be a mapping of column to value or None, got {start_where!r}"
        )
    table = "orders" if start_event == ORDER else "events"
    allowed = [c for c in schema.table(table).column_names if c != "run_id"]
    sql = ""
    for i, (col, value) in enumerate(start_where.items()):
        if col not in allowed:
            raise ValueError(
                f"start_where: {col!r} is not a column of {table} (start_event="
                f"{start_event!r}); allowed keys are {', '.join(allowed)}"
            )
        if value is None:
            sql += f" AND {col} IS NULL"
        else:
            params[f"sw{i}"] = value
            sql += f" AND {col} = $sw{i}"
    return sql


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
    params: dict = {
        "run": run,
        "lo": _filters.to_datetime(start, name="start"),
        "hi": _filters.to_datetime(end, name="end"),
        "max_k": max_periods,
    }
    where = _start_filter(start_where, start_event, params)
    st = _source(start_event, name="start_event", params=params, key="start_type", where=where)
    ret = _source(return_event, name="return_event", params=params, key="return_type")

    keys = [name for name, _, _ in breakdown]
    gexpr, joins = [], []
    if any(t == "users" for _, t, _ in breakdown):
        joins.append("LEFT JOIN users u ON u.run_id = $run AND u.user_id = m.user_id")
    if any(t == "stocks" for _, t, _ in breakdown):
        joins.append("LEFT JOIN stocks s ON s.run_id = $run AND s.stock_id = m.stock_id")
    for i, (_, t, c) in enumerate(breakdown):
        col = {"users": "u", "stocks": "s", "events": "m"}[t] + f".{c}"
        gexpr.append(f"coalesce(CAST({col} AS VARCHAR), '{MISSING}') AS g{i}")
    gs = "".join(f", g{i}" for i in range(len(keys)))

    # Periods are counted on DATE values (whole days), cheaper to bucket and subtract than
    # timestamps. period is one of PERIODS (checked above), so it is safe as a literal.
    def cohort_of(ts: str) -> str:
        day = f"CAST({ts} AS DATE)"
        return day if period == "day" else f"CAST(date_trunc('{period}', {day}) AS DATE)"

    ret_day = "CAST(r.ts AS DATE)"
    if buckets == "rolling" and period == "month":
        # month boundaries crossed, less one if the anchor's day-of-month is not reached
        crossed = "date_diff('month', m.ts, r.ts)"
        k_expr = f"({crossed} - CASE WHEN m.ts + to_months({crossed}) > r.ts THEN 1 ELSE 0 END)"
    elif buckets == "rolling":
        # a return is never before its anchor: // (which truncates) floors
        k_expr = f"((epoch_us(r.ts) - epoch_us(m.ts)) // {_ROLLING_US[period]})"
    elif period == "month":
        k_expr = f"date_diff('month', m.cohort, {ret_day})"
    else:
        # a return is never before its cohort's first day: // (which truncates) floors
        k_expr = f"({ret_day} - m.cohort)" + ("" if period == "day" else " // 7")
    after = (
        "(r.ts > m.ts OR (r.ts = m.ts AND r.id > m.id))"
        if start_event == return_event
        else "r.ts >= m.ts"
    )
    if mode == "exact":
        # returns after period max_k cannot count: bound the join (k <= max_k exactly)
        if buckets == "rolling" and period == "month":
            horizon = "m.ts + to_months($max_k + 1)"
        elif buckets == "rolling":
            horizon = f"m.ts + to_days(($max_k + 1) * {7 if period == 'week' else 1})"
        elif period == "month":
            horizon = "m.cohort + to_months($max_k + 1)"
        else:
            horizon = f"m.cohort + ($max_k + 1) * {7 if period == 'week' else 1}"
        counted = (
            f"SELECT cohort{gs}, k, count(*) AS n FROM (SELECT DISTINCT m.user_id, m.cohort{gs}, "
            f"{k_expr} AS k FROM mem m JOIN ret r ON r.user_id = m.user_id AND {after} "
            f"AND r.ts < {horizon}) GROUP BY ALL"
        )
    else:
        counted = (
            f"SELECT cohort{gs}, k, count(*) AS n FROM (SELECT m.user_id, m.cohort{gs}, "
            f"least(max({k_expr}), $max_k) AS k FROM mem m JOIN ret r "
            f"ON r.user_id = m.user_id AND {after} GROUP BY m.user_id, m.cohort{gs}) GROUP BY ALL"
        )
    # The anchor is the earliest start event by (ts, id). An aggregate finds it faster
    # than a window sort; the HUGEINT key orders by ts, then id, for any BIGINT id.
    # arg_min skips NULL values, so each value rides in a struct: a NULL breakdown of
    # the anchor stays NULL instead of taking a later event's value.
    key = "epoch_us(ts)::HUGEINT * 18446744073709551616 + id + 9223372036854775808"
    carried = ["id"] if start_event == return_event else []
    if any(t == "stocks" for _, t, _ in breakdown):
        carried.append("stock_id")
    carried += [
        c for _, t, c in breakdown if t == "events" and c not in ("user_id", "ts", *carried)
    ]
    group = "user_id" if first_time else f"user_id, {cohort_of('ts')}"
    anchored = "".join(f", arg_min({{'v': {c}}}, {key}).v AS {c}" for c in carried)
    sql = (
        f"WITH st AS ({st}), ret AS ({ret}), "
        f"anchor AS (SELECT user_id, min(ts) AS ts"
        f"{anchored} FROM st GROUP BY {group}), "
        f"mem AS MATERIALIZED (SELECT m.user_id, m.ts{', m.id' if 'id' in carried else ''}, "
        f"{cohort_of('m.ts')} AS cohort{''.join(', ' + g for g in gexpr)} "
        f"FROM anchor m {' '.join(joins)}) "
        f"SELECT cohort{gs}, -1 AS k, count(*) AS n FROM mem GROUP BY ALL "
        f"UNION ALL {counted}"
    )
    raw = store.query(sql, _bind(sql, params)).rename(
        columns={f"g{i}": key for i, key in enumerate(keys)}
    )
    data_end = _data_end(store, info, params, st, ret)

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


def _data_end(store, info: dict, params: dict, st: str, ret: str) -> pd.Timestamp | None:
    ends = []
    if params["hi"] is not None:
        ends.append(pd.Timestamp(params["hi"]))
    start_date, days = info.get("start_date"), info.get("days")
    if (
        start_date is not None
        and not pd.isna(start_date)
        and days is not None
        and not pd.isna(days)
    ):
        ends.append(pd.Timestamp(start_date) + pd.Timedelta(days=int(days)))
    if ends:
        return min(ends)
    sql = f"SELECT greatest((SELECT max(ts) FROM ({st})), (SELECT max(ts) FROM ({ret}))) AS m"
    last = store.query(sql, _bind(sql, params))["m"].iloc[0]
    return None if pd.isna(last) else pd.Timestamp(last).floor("D") + pd.Timedelta(days=1)
