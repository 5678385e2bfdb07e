"""Shared filters for the models: breakdown columns and run/date-range WHERE clauses.

Every model takes ``run``, ``start``, ``end`` and ``by`` keywords. This module turns
them into SQL safely: breakdown names are checked against :mod:`lab.schema` before they
reach SQL, and every value is a bound parameter (``?``).

Date ranges are half-open: ``start <= ts < end``. A date (or a date string) means its
midnight, so ``end="2026-01-08"`` keeps everything up to the end of 7 January.

Example
-------
>>> from lab import _filters
>>> _filters.resolve_column("segment")
('users', 'segment')
>>> _filters.where(run="r1", start="2026-01-01", ts_col="e.ts", run_col="e.run_id")
('e.run_id = ? AND e.ts >= ?', ['r1', datetime.datetime(2026, 1, 1, 0, 0)])
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

import pandas as pd

from lab import schema

# Names that exist in several tables resolve to the table that describes the offer
# itself (a stock's platform and entry are the offer's), so funnels over `offers` and
# over `events` break down by the same value.
ALIASES: dict[str, tuple[str, str]] = {
    "platform": ("stocks", "platform"),
    "entry": ("stocks", "entry"),
    "arm": ("stocks", "arm"),
    "experiment": ("stocks", "experiment"),
    "campaign": ("stocks", "campaign"),
    "stock_type": ("stocks", "stock_type"),
    "mechanic": ("stocks", "mechanic"),
    "risk_level": ("stocks", "risk_level"),
    "segment": ("users", "segment"),
    "credit_tier": ("users", "credit_tier"),
    "city_tier": ("users", "city_tier"),
    "primary_platform": ("users", "primary_platform"),
}
# Tables a breakdown may come from, searched in this order for names not in ALIASES.
BREAKDOWN_TABLES = ("users", "stocks", "events")

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def resolve_column(name: str) -> tuple[str, str]:
    """Return the ``(table, column)`` a breakdown name comes from.

    ``name`` is an alias (``"platform"``, ``"entry"``, ``"segment"``, ``"arm"``,
    ``"credit_tier"``, ``"stock_type"``...; see :data:`ALIASES`), a qualified
    ``"table.column"`` of one of :data:`BREAKDOWN_TABLES`, or a bare column name,
    looked up in ``users``, then ``stocks``, then ``events``.

    Raises
    ------
    ValueError
        If the name matches no documented column.

    Example
    -------
    >>> resolve_column("platform"), resolve_column("events.entry")
    (('stocks', 'platform'), ('events', 'entry'))
    """
    if not isinstance(name, str):
        raise ValueError(f"by: breakdown names must be strings, got {name!r}")
    if name in ALIASES:
        return ALIASES[name]
    if "." in name:
        table_name, column = name.split(".", 1)
        if table_name not in BREAKDOWN_TABLES:
            raise ValueError(
                f"by: {name!r} names table {table_name!r}; breakdowns come from "
                f"{', '.join(BREAKDOWN_TABLES)}"
            )
        if column not in schema.table(table_name).column_names:
            raise ValueError(
                f"by: table {table_name!r} has no column {column!r}; its columns are "
                f"{', '.join(schema.table(table_name).column_names)}"
            )
        return table_name, column
    for table_name in BREAKDOWN_TABLES:
        if name in schema.table(table_name).column_names:
            return table_name, name
    raise ValueError(
        f"by: unknown breakdown {name!r}; use one of {', '.join(ALIASES)}, a column of "
        f"{', '.join(BREAKDOWN_TABLES)}, or 'table.column'"
    )


def breakdowns(by: str | Sequence[str] | None) -> tuple[tuple[str, str, str], ...]:
    """Normalise ``by`` into ``((name, table, column), ...)``; ``None`` gives ``()``.

    Example
    -------
    >>> breakdowns(["segment", "platform"])
    (('segment', 'users', 'segment'), ('platform', 'stocks', 'platform'))
    """
    if by is None:
        return ()
    names = [by] if isinstance(by, str) else list(by)
    if len(set(names)) != len(names):
        raise ValueError(f"by: breakdown names repeat: {names}")
    return tuple((n, *resolve_column(n)) for n in names)


def to_datetime(value, *, name: str) -> dt.datetime | None:
    """Parse a ``start``/``end`` value (str, date, datetime, Timestamp) into a datetime."""
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot read {value!r} as a date or time ({exc})") from None
    if ts is pd.NaT:
        raise ValueError(f"{name}: got a missing value; pass None for no bound")
    if ts.tzinfo is not None:
        raise ValueError(
            f"{name}: timestamps in the store are local time; pass {value!r} without a time zone"
        )
    return ts.to_pydatetime()


def where(
    *,
    run: str,
    start=None,
    end=None,
    ts_col: str = "ts",
    run_col: str = "run_id",
) -> tuple[str, list]:
    """Build ``run_col = ? [AND ts_col >= ?] [AND ts_col < ?]`` and its parameters.

    ``ts_col`` and ``run_col`` are SQL column references written by the calling model
    (``"e.ts"``), never user input; they are checked to be plain identifiers.

    Example
    -------
    >>> where(run="r1", end=dt.date(2026, 1, 8))
    ('run_id = ? AND ts < ?', ['r1', datetime.datetime(2026, 1, 8, 0, 0)])
    """
    for col in (ts_col, run_col):
        if not _IDENT.match(col):
            raise ValueError(f"not a column reference: {col!r}")
    if not isinstance(run, str) or not run:
        raise ValueError(f"run: pass the run_id as a non-empty string, got {run!r}")
    lo, hi = to_datetime(start, name="start"), to_datetime(end, name="end")
    if lo is not None and hi is not None and lo >= hi:
        raise ValueError(f"start ({lo}) must be before end ({hi})")
    clauses, params = [f"{run_col} = ?"], [run]
    if lo is not None:
        clauses.append(f"{ts_col} >= ?")
        params.append(lo)
    if hi is not None:
        clauses.append(f"{ts_col} < ?")
        params.append(hi)
    return " AND ".join(clauses), params


def require_run(store, run: str) -> dict:
    """Return the ``runs`` row of ``run``; ``KeyError`` naming the known runs if absent."""
    if not isinstance(run, str) or not run:
        raise ValueError(f"run: pass the run_id as a non-empty string, got {run!r}")
    return store.run(run)
