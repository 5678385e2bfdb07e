"""Ibis building blocks the ported models share: run/date-range filters and time buckets.

They mirror :mod:`lab._filters` (the same half-open ``start <= ts < end`` rule, the same
parsing and errors) for Ibis expressions, so a model means the same rows on every engine.

Example
-------
>>> import ibis
>>> from lab.engines._expr import in_window
>>> offers = ibis.table({"run_id": "string", "delivered_at": "timestamp"}, name="offers")
>>> len(in_window(offers, run="r", start="2026-03-01", ts_col="delivered_at"))
2
"""

from __future__ import annotations

import datetime as dt

import ibis

from lab import _filters, schema

# DuckDB's time_bucket aligns second-based widths to 2000-01-03 00:00; bucketing from the
# same origin keeps every engine's buckets (and the documented alignment) identical
BUCKET_ORIGIN = dt.datetime(2000, 1, 3)
_ORIGIN_SECONDS = int((BUCKET_ORIGIN - dt.datetime(1970, 1, 1)).total_seconds())


def in_window(
    table: ibis.Table, *, run: str, start=None, end=None, ts_col: str | None = None
) -> list[ibis.BooleanValue]:
    """Predicates ``run_id == run`` [and ``start <= ts_col < end``] for ``table.filter``.

    Validated as :func:`lab._filters.where` validates them.
    """
    if not isinstance(run, str) or not run:
        raise ValueError(f"run: pass the run_id as a non-empty string, got {run!r}")
    lo = _filters.to_datetime(start, name="start")
    hi = _filters.to_datetime(end, name="end")
    if lo is not None and hi is not None and lo >= hi:
        raise ValueError(f"start ({lo}) must be before end ({hi})")
    predicates = [table.run_id == run]
    if lo is not None:
        predicates.append(table[ts_col] >= lo)
    if hi is not None:
        predicates.append(table[ts_col] < hi)
    return predicates


def time_bucket(ts: ibis.TimestampValue, seconds: int) -> ibis.TimestampValue:
    """Start of the ``seconds``-wide bucket holding ``ts``, buckets aligned to 2000-01-03.

    Through whole epoch seconds, which DuckDB, Spark and ClickHouse all compile (Ibis's
    own ``bucket`` has no Spark rule).
    """
    offset = ts.truncate("s").epoch_seconds() - _ORIGIN_SECONDS
    return ((offset // seconds) * seconds + _ORIGIN_SECONDS).as_timestamp("s")


def with_breakdowns(
    db, src: ibis.Table, *, src_table: str, by: tuple[tuple[str, str, str], ...], **keep
) -> ibis.Table:
    """``src`` reduced to ``keep`` (name -> expression on ``src``) plus one column per
    breakdown, named by the breakdown.

    ``by`` comes from :func:`lab._filters.breakdowns`. As in the DuckDB models, the names
    in ``lab.cycle``'s ``OWN_COLUMNS`` and breakdowns resolved to ``events`` are read
    from ``src`` itself (a ``src_table`` row with ``run_id``, ``user_id`` and
    ``stock_id``); others come from ``users`` or ``stocks`` (left joins, so rows without
    a match keep a NULL group).
    """
    from lab.cycle._cycle import OWN_COLUMNS

    own = schema.table(src_table).column_names
    values, joined = {}, src
    lookups = {"users": "user_id", "stocks": "stock_id"}
    for table_name, key in lookups.items():
        wanted = {n: c for n, t, c in by if t == table_name and not (n in OWN_COLUMNS and n in own)}
        if not wanted:
            continue
        other = db.table(table_name)
        # private names, so a breakdown named like a column of src cannot collide
        alias = {n: f"_lab_{table_name}_{i}" for i, n in enumerate(wanted)}
        other = other.select(
            _lab_run=other.run_id,
            _lab_key=other[key],
            **{alias[n]: other[c] for n, c in wanted.items()},
        )
        joined = joined.left_join(
            other, [joined.run_id == other._lab_run, joined[key] == other._lab_key]
        )
        values.update({n: joined[alias[n]] for n in wanted})
    for name, _, column in by:
        if name in values:
            continue
        if column not in own:
            raise ValueError(
                f"by: {name!r} is an events column that {src_table} lacks; break down "
                f"by a column of users, stocks or {src_table} ({', '.join(own)})"
            )
        values[name] = joined[column]
    return joined.select(**keep, **{name: values[name] for name, _, _ in by})


def union(left: ibis.Table, right: ibis.Table, *, distinct: bool = False) -> ibis.Table:
    """``left`` UNION [ALL] ``right`` for tables that differ only in which columns may be
    NULL (Ibis wants equal schemas; a NOT NULL key against a nullable one is common)."""
    common = ibis.schema({n: t.copy(nullable=True) for n, t in left.schema().items()})
    return left.cast(common).union(right.cast(common), distinct=distinct)
