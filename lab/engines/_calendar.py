"""Calendar arithmetic for Ibis expressions that means the same on every engine.

Ibis compiles ``date_diff('month', ...)`` to DuckDB's count of month boundaries crossed
but to Spark's count of whole months elapsed, so months are counted here through a month
index instead. Time differences go through Ibis's microsecond delta, which DuckDB and
Spark (``timestampdiff``) both compute exactly, fractions of a second included. Ibis
compiles no sub-second interval for ClickHouse, so a duration is added in whole seconds
where it has no fraction of one.

Example
-------
>>> import ibis
>>> from lab.engines._calendar import months_between, period_start
>>> t = ibis.table({"a": "timestamp", "b": "timestamp"}, name="t")
>>> expr = t.select(k=months_between(period_start(t.a, "month"), t.b.date()))
>>> expr.k.type().is_integer()
True
"""

from __future__ import annotations

import datetime as dt

import ibis

PERIODS = ("day", "week", "month")
# the unit Ibis truncates a date to for each period (weeks start on Monday everywhere)
_TRUNCATE = {"week": "W", "month": "M"}


def period_start(ts: ibis.Value, period: str) -> ibis.DateValue:
    """The first day of the calendar ``period`` (day, ISO week, month) holding ``ts``."""
    day = ts.date() if ts.type().is_timestamp() else ts
    return day if period == "day" else day.truncate(_TRUNCATE[period])


def month_index(value: ibis.Value) -> ibis.IntegerValue:
    """Months since year 0 of a date or timestamp: differences count month boundaries."""
    return value.year().cast("int64") * 12 + value.month().cast("int64")


def months_between(earlier: ibis.Value, later: ibis.Value) -> ibis.IntegerValue:
    """Calendar month boundaries crossed from ``earlier`` to ``later``."""
    return month_index(later) - month_index(earlier)


def days_between(earlier: ibis.DateValue, later: ibis.DateValue) -> ibis.IntegerValue:
    """Whole days from the date ``earlier`` to the date ``later``."""
    return later.delta(earlier, unit="day").cast("int64")


def microseconds_between(
    earlier: ibis.TimestampValue, later: ibis.TimestampValue
) -> ibis.IntegerValue:
    """``later - earlier`` in microseconds, exactly (sub-second parts included)."""
    return later.delta(earlier, unit="microsecond").cast("int64")


def plus(ts: ibis.TimestampValue, duration: dt.timedelta) -> ibis.TimestampValue:
    """``ts + duration``, in whole seconds unless ``duration`` has a fraction of one
    (which ClickHouse then refuses)."""
    seconds, micros = divmod(duration // dt.timedelta(microseconds=1), 1_000_000)
    if micros:
        return ts + ibis.interval(microseconds=seconds * 1_000_000 + micros)
    return ts + ibis.interval(seconds=seconds)
