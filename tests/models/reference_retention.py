"""A plain-Python cohort retention reference, read straight off the rules in
``lab/retention/_retention.py``: loops over users and their events, no SQL."""

from __future__ import annotations

import numpy as np
import pandas as pd

MISSING = "(none)"


def _trunc(ts: pd.Timestamp, period: str) -> pd.Timestamp:
    day = ts.normalize()
    if period == "day":
        return day
    if period == "week":
        return day - pd.Timedelta(days=day.weekday())
    return day.replace(day=1)


def _index(ts: pd.Series, period: str) -> pd.Series:
    """Calendar period number: consecutive periods differ by one."""
    if period == "month":
        return ts.dt.year * 12 + ts.dt.month
    days = (ts.dt.normalize() - pd.Timestamp("1970-01-05")) // pd.Timedelta(days=1)  # a Monday
    return days if period == "day" else days // 7


def _offset(period: str, n: int) -> pd.DateOffset:
    return {
        "day": pd.DateOffset(days=n),
        "week": pd.DateOffset(weeks=n),
        "month": pd.DateOffset(months=n),
    }[period]


def _rolling_index(anchor: pd.Timestamp, ts: pd.Timestamp, period: str) -> int:
    """Whole rolling periods from ``anchor`` to ``ts`` (``ts >= anchor``)."""
    k = 0
    while anchor + _offset(period, k + 1) <= ts:
        k += 1
    return k


def _source(logs, event, start, end, where=None) -> pd.DataFrame:
    if event == "order":
        df = logs["orders"].assign(id=logs["orders"]["order_id"])
    else:
        ev = logs["events"]
        df = ev[ev["event_type"] == event].assign(id=lambda d: d["event_id"])
        coupons = logs.get("coupons")
        if event == "claim" and coupons is not None and len(coupons):
            # refused attempts are not claims; claims with no coupon row stay
            failed = coupons.loc[~coupons["status"].isin(["issued", "compensated"]), "coupon_id"]
            df = df[~df["coupon_id"].isin(set(failed))]
    for col, value in (where or {}).items():
        # a column the log never wrote is NULL in the store, as store.write fills it
        values = df[col] if col in df else pd.Series(pd.NA, index=df.index, dtype=object)
        df = df[values.isna()] if value is None else df[values.eq(value).fillna(False).astype(bool)]
    if start is not None:
        df = df[df["ts"] >= pd.Timestamp(start)]
    if end is not None:
        df = df[df["ts"] < pd.Timestamp(end)]
    return df.sort_values(["ts", "id"])


def _with_index(df: pd.DataFrame, period: str) -> pd.DataFrame:
    return df.assign(pidx=_index(df["ts"], period) if len(df) else [])


def reference_retention(
    logs,
    *,
    start_event="claim",
    return_event="order",
    period="day",
    mode="exact",
    first_time=True,
    max_periods=14,
    by=(),
    start=None,
    end=None,
    run_end=None,
    start_where=None,
    buckets="calendar",
):
    """(table, curves, data_end); ``by`` is a sequence of ``(name, table, column)``.

    ``buckets="rolling"`` counts a return's period from the anchor's timestamp: the
    number of whole 24-hour days (7-day weeks, calendar months) between them.
    """
    starts = _with_index(_source(logs, start_event, start, end, start_where), period)
    returns = _with_index(_source(logs, return_event, start, end), period)
    users = logs["users"].set_index("user_id")
    stocks = logs["stocks"].set_index("stock_id")
    keys = [n for n, _, _ in by]

    members = {}
    for r in starts.to_dict("records"):
        key = r["user_id"] if first_time else (r["user_id"], r["pidx"])
        members.setdefault(key, r)  # rows are sorted: the first one anchors

    by_user: dict[int, list[dict]] = {}
    for r in returns[["user_id", "ts", "id", "pidx"]].to_dict("records"):
        by_user.setdefault(r["user_id"], []).append(r)
    cells: dict[tuple, dict] = {}
    for m in members.values():
        cohort = _trunc(m["ts"], period)
        group = []
        for _, table, col in by:
            v = (
                users[col].get(m["user_id"])
                if table == "users"
                else stocks[col].get(m["stock_id"])
                if table == "stocks"
                else m[col]
            )
            group.append(MISSING if v is None or pd.isna(v) else str(v))
        cell = cells.setdefault(
            (cohort, *group), {"size": 0, "ret": np.zeros(max_periods + 1, int)}
        )
        cell["size"] += 1
        ks = set()
        for r in by_user.get(m["user_id"], []):
            after = (
                (r["ts"], r["id"]) > (m["ts"], m["id"])
                if start_event == return_event
                else r["ts"] >= m["ts"]
            )
            if after:
                ks.add(
                    _rolling_index(m["ts"], r["ts"], period)
                    if buckets == "rolling"
                    else r["pidx"] - m["pidx"]
                )
        if mode == "exact":
            for k in ks:
                if k <= max_periods:
                    cell["ret"][k] += 1
        elif ks:
            cell["ret"][: min(max(ks), max_periods) + 1] += 1

    ends = [pd.Timestamp(x) for x in (end, run_end) if x is not None]
    if ends:
        data_end = min(ends)
    else:
        last = pd.concat([starts["ts"], returns["ts"]]).max()
        data_end = None if pd.isna(last) else last.normalize() + pd.Timedelta(days=1)

    rows = []
    for (cohort, *group), cell in sorted(cells.items()):
        for k in range(max_periods + 1):
            # a rolling period ends up to one cohort period after the calendar one
            last = k + 2 if buckets == "rolling" else k + 1
            complete = data_end is not None and cohort + _offset(period, last) <= data_end
            rows.append(
                {
                    "cohort": cohort,
                    **dict(zip(keys, group, strict=True)),
                    "period": k,
                    "cohort_size": cell["size"],
                    "retained": int(cell["ret"][k]),
                    "rate": cell["ret"][k] / cell["size"],
                    "complete": complete,
                }
            )
    table = pd.DataFrame(
        rows, columns=["cohort", *keys, "period", "cohort_size", "retained", "rate", "complete"]
    )
    curve_rows = []
    groups = sorted({tuple(g) for _, *g in cells}) if keys else [()]
    for g in groups:
        sel = table
        for k_, v in zip(keys, g, strict=True):
            sel = sel[sel[k_] == v]
        for k in range(max_periods + 1):
            done = sel[(sel["period"] == k) & sel["complete"]]
            size, ret = int(done["cohort_size"].sum()), int(done["retained"].sum())
            curve_rows.append(
                {
                    **dict(zip(keys, g, strict=True)),
                    "period": k,
                    "cohorts": len(done),
                    "cohort_size": size,
                    "retained": ret,
                    "rate": ret / size if size else np.nan,
                }
            )
    curves = pd.DataFrame(
        curve_rows, columns=[*keys, "period", "cohorts", "cohort_size", "retained", "rate"]
    )
    return table, curves, data_end
