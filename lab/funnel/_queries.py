"""The engine side of the funnel: one row per unit and its step times, as Ibis expressions.

:mod:`lab.funnel._funnel` holds the matching rules (its module docstring) and turns the
small tables computed here (counts per group and step, duration quantiles, cumulative
duration counts) into the funnel's tables. Written once for DuckDB, Spark and
ClickHouse.
"""

from __future__ import annotations

import ibis

from lab import _filters, schema
from lab.engines._calendar import plus
from lab.engines._compiled import execute_compiled
from lab.engines._expr import in_window

OTHER = "other"
MISSING = "(none)"
# offers column holding the time of each lifecycle step
OFFER_COLUMNS = {
    "delivery": "delivered_at",
    "exposure": "exposed_at",
    "rule_view": "rule_viewed_at",
    "share": "shared_at",
    "claim": "claimed_at",
    "redeem": "redeemed_at",
    "expire": "expired_at",
}


def _null_ts() -> ibis.TimestampValue:
    return ibis.null().cast("timestamp")


def _within(spec, ts: ibis.TimestampValue, t0: ibis.TimestampValue) -> ibis.BooleanValue:
    """``ts`` no later than ``window`` after the anchor (always true without a window)."""
    if spec.window is None:
        return ibis.literal(True)
    return ts <= _deadline(spec, t0)


def _deadline(spec, t0: ibis.TimestampValue) -> ibis.TimestampValue:
    """The last instant a step may happen: ``window`` after the anchor ``t0``."""
    return plus(t0, spec.window)


def _in_range(spec, ts: ibis.TimestampValue) -> list[ibis.BooleanValue]:
    """Predicates ``start <= ts < end``, for the bounds the funnel has."""
    lo = _filters.to_datetime(spec.start, name="start")
    hi = _filters.to_datetime(spec.end, name="end")
    predicates = []
    if lo is not None:
        predicates.append(ts >= lo)
    if hi is not None:
        predicates.append(ts < hi)
    return predicates


def _event_columns(spec) -> list[str]:
    return [c for _, t, c in spec.by if t == "events"]


def _with_groups(db, spec, units: ibis.Table) -> ibis.Table:
    """``units`` (``unit_id``, ``at*`` and the columns of :func:`_carried`) reduced to
    ``unit_id``, ``user_id``, the breakdown labels ``g0, g1...`` and the step times ``at0, at1...``.

    Users and stocks columns are left-joined (a unit without a match is ``"(none)"``);
    events columns were read from the anchor. Every label is text, NULL as "(none)".
    """
    joined, values = units, {}
    user = "unit_id" if spec.unit == "user" else "user_id"
    lookups = (("users", "user_id", user), ("stocks", "stock_id", "stock_id"))
    for table_name, key, unit_key in lookups:
        wanted = sorted({c for _, t, c in spec.by if t == table_name})
        if not wanted:
            continue
        other = db.table(table_name)
        alias = {c: f"_lab_{table_name}_{c}" for c in wanted}
        other = other.filter(other.run_id == spec.run).select(
            _lab_key=other[key], **{alias[c]: other[c] for c in wanted}
        )
        joined = joined.left_join(other, joined[unit_key] == other._lab_key)
        values.update({(table_name, c): joined[alias[c]] for c in wanted})
    values.update({("events", c): joined[f"e_{c}"] for c in _event_columns(spec)})
    labels = {
        f"g{i}": values[(t, c)].cast("string").coalesce(MISSING)
        for i, (_, t, c) in enumerate(spec.by)
    }
    times = [f"at{i}" for i in range(len(spec.steps))]
    return joined.select(joined.unit_id, joined[user].name("user_id"), *times, **labels)


def _offer_units(db, spec) -> ibis.Table:
    """Offers path: one row per offer that reached the first step, steps from its columns."""
    offers = db.table("offers")
    cols = [OFFER_COLUMNS[s] for s in spec.steps]
    offers = offers.filter(
        *in_window(offers, run=spec.run, start=spec.start, end=spec.end, ts_col=cols[0]),
        offers[cols[0]].notnull(),
    )
    t0 = offers[cols[0]]
    deadline = {} if spec.window is None else {"_lab_deadline": _deadline(spec, t0)}
    units = offers.select(
        unit_id=offers.offer_id,
        user_id=offers.user_id,
        stock_id=offers.stock_id,
        **{f"e_{c}": offers[c] for c in _event_columns(spec)},
        at0=t0,
        **{f"_lab_c{i}": offers[c] for i, c in enumerate(cols[1:], start=1)},
        **deadline,
    )
    # One projection per step over the previous one, so step i compares with step i-1's
    # time as a column: every comparison runs once per row (DuckDB shares no
    # subexpression inside CASE or AND, and a chain repeated in every step's CASE took
    # twice as long as the scan) and the SQL grows linearly with the steps. A NULL
    # previous time makes the comparison NULL, which stops the chain there.
    for i in range(1, len(cols)):
        # a view: Ibis would otherwise inline the previous step's CASE into this one
        units = units.view()
        ts = units[f"_lab_c{i}"]
        reached = [*_in_range(spec, ts), ts >= units[f"at{i - 1}"]]
        if spec.window is not None:
            reached.append(ts <= units._lab_deadline)
        units = units.mutate(**{f"at{i}": ibis.ifelse(ibis.and_(*reached), ts, _null_ts())})
    units = units.drop(*(f"_lab_c{i}" for i in range(1, len(cols))), *deadline)
    return _with_groups(db, spec, units)


def _events(db, spec) -> ibis.Table:
    events = db.table("events")
    predicates = in_window(events, run=spec.run, start=spec.start, end=spec.end, ts_col="ts")
    if spec.unit == "offer":
        predicates.append(events.offer_id.notnull())
    if spec.order == "ordered":
        predicates.append(events.event_type.isin(spec.steps))
    events = events.filter(*predicates)
    return events.select(
        unit_id=events.offer_id if spec.unit == "offer" else events.user_id,
        user_id=events.user_id,
        event_id=events.event_id,
        ts=events.ts,
        event_type=events.event_type,
        stock_id=events.stock_id,
        **{f"e_{c}": events[c] for c in _event_columns(spec)},
    )


def _carried(spec) -> list[str]:
    """Columns a unit reads from its anchor event: the user of an offer (a user unit is
    its own user), the stock for a stocks breakdown, the events columns of the breakdown."""
    carried = [] if spec.unit == "user" else ["user_id"]
    if any(t == "stocks" for _, t, _ in spec.by):
        carried.append("stock_id")
    return [*carried, *(f"e_{c}" for c in _event_columns(spec))]


def _ordered_units(db, spec) -> ibis.Table:
    """Events path, ``ordered``: step *i* is the earliest event of its type at or after
    step *i-1* (and within the window of the anchor)."""
    n = len(spec.steps)
    ev = _events(db, spec)
    firsts = ev.filter(ev.event_type == spec.steps[0])
    carried = _carried(spec)
    if spec.entry == "first":
        # one entry per unit, so the unit is the key of its steps
        keys = ["unit_id"]
        entries = firsts.group_by("unit_id").aggregate(ts=firsts.ts.min())
        if carried:
            # the earliest first-step event by (ts, event_id); its values ride in a
            # struct, so a NULL breakdown of the anchor stays NULL instead of a later
            # event's value. Only when a breakdown reads them: the struct's arg-min
            # takes longer than the steps' joins.
            anchor = ibis.struct({c: firsts[c] for c in carried}).argmin(
                ibis.struct({"ts": firsts.ts, "event_id": firsts.event_id})
            )
            entries = firsts.group_by("unit_id").aggregate(_lab_anchor=anchor, ts=firsts.ts.min())
            entries = entries.select(
                "unit_id", "ts", **{c: entries._lab_anchor[c] for c in carried}
            )
    else:
        keys = ["unit_id", "entry_id"]
        entries = firsts.select("unit_id", "ts", *carried, entry_id=firsts.event_id)
    reached = entries.select(*keys, at0="ts", t="ts")
    matched = []
    for step in spec.steps[1:]:
        nxt = ev.filter(ev.event_type == step).select(_lab_unit="unit_id", _lab_ts="ts")
        pairs = reached.join(
            nxt,
            [
                reached.unit_id == nxt._lab_unit,
                nxt._lab_ts >= reached.t,
                _within(spec, nxt._lab_ts, reached.at0),
            ],
        )
        reached = pairs.group_by([*keys, "at0"]).aggregate(t=pairs._lab_ts.min())
        matched.append(reached)
    chosen = entries.mutate(at0=entries.ts)
    for i, m in enumerate(matched, start=1):
        m = m.select(**{f"_lab_{k}": k for k in keys}, **{f"at{i}": "t"})
        chosen = chosen.left_join(m, [(k, f"_lab_{k}") for k in keys]).drop(
            *(f"_lab_{k}" for k in keys)
        )
    if spec.entry == "any":
        chosen = _best_entry(chosen, n, tie=["ts", "entry_id"])
    return _with_groups(db, spec, chosen)


def _best_entry(entries: ibis.Table, n: int, *, tie: list[str]) -> ibis.Table:
    """Per unit, the entry reaching the furthest step; ties go to the earliest entry."""
    reached = sum(entries[f"at{i}"].notnull().cast("int32") for i in range(1, n))
    w = ibis.window(group_by="unit_id", order_by=[ibis.desc(reached), *tie])
    ranked = entries.mutate(_lab_rank=ibis.row_number().over(w))
    return ranked.filter(ranked._lab_rank == 0).drop("_lab_rank")


def _strict_units(db, spec) -> ibis.Table:
    """Events path, ``strict``: consecutive repeats collapsed, each step the very next
    event of the unit after the previous one."""
    n = len(spec.steps)
    ev = _events(db, spec)
    w = ibis.window(group_by="unit_id", order_by=["ts", "event_id"])
    lagged = ev.mutate(_lab_prev=ev.event_type.lag().over(w))
    collapsed = lagged.filter(
        lagged._lab_prev.isnull() | (lagged._lab_prev != lagged.event_type)
    ).drop("_lab_prev")
    seq = collapsed.mutate(
        **{f"_lab_n{k}": collapsed.event_type.lead(k).over(w) for k in range(1, n)},
        **{f"_lab_nt{k}": collapsed.ts.lead(k).over(w) for k in range(1, n)},
    )
    entries = seq.filter(seq.event_type == spec.steps[0])
    if spec.entry == "first":
        entries = entries.mutate(_lab_rank=ibis.row_number().over(w))
        entries = entries.filter(entries._lab_rank == 0).drop("_lab_rank")
    times = {"at0": entries.ts}
    for k in range(1, n):
        nt = entries[f"_lab_nt{k}"]
        ok = (
            times[f"at{k - 1}"].notnull()
            & (entries[f"_lab_n{k}"] == spec.steps[k])
            & _within(spec, nt, entries.ts)
        )
        times[f"at{k}"] = ibis.ifelse(ok, nt, _null_ts())
    steps = entries.select("unit_id", "ts", "event_id", *_carried(spec), **times)
    if spec.entry == "any":
        steps = _best_entry(steps, n, tie=["ts", "event_id"])
    return _with_groups(db, spec, steps)


def units(db, spec) -> ibis.Table:
    """One row per unit that reached the first step: ``unit_id``, ``user_id``, the
    breakdown labels ``g0...`` and the matched step times ``at0...`` (NULL: not reached)."""
    if spec.source == "offers":
        return _offer_units(db, spec)
    if spec.order == "ordered":
        return _ordered_units(db, spec)
    return _strict_units(db, spec)


def most_groups(db, spec) -> int:
    """An upper bound on the number of breakdown groups: per breakdown, the schema's
    allowed values or else the distinct values in the run's lookup table, each plus the
    missing label."""
    bound = 1
    for _, table_name, column in spec.by:
        allowed = {c.name: c.values for c in schema.table(table_name).columns}.get(column)
        if allowed is None:

            def count(table_name=table_name, column=column):
                lookup = db.table(table_name)
                lookup = lookup.filter(lookup.run_id == spec.run)
                return lookup.aggregate(n=lookup[column].nunique())

            key = ("funnel.distinct", spec.run, table_name, column)
            distinct = int(execute_compiled(db, key, count)["n"].iloc[0])
        else:
            distinct = len(allowed)
        bound *= distinct + 1
    return bound


def labelled(db, spec, top_n: int | None) -> ibis.Table:
    """:func:`units` with the ``top_n`` groups by units at the first step kept (ties by
    label) and the rest pooled as "other"."""
    ent = units(db, spec)
    groups = [f"g{i}" for i in range(len(spec.by))]
    if not groups or top_n is None:
        return ent
    sizes = ent.group_by(groups).aggregate(_lab_units=ent.count())
    ranked = sizes.select(
        _lab_rank=ibis.row_number().over(order_by=[ibis.desc(sizes._lab_units), *groups]),
        **{f"_lab_{g}": sizes[g] for g in groups},
    )
    # a view, so Ibis tells the two sides of this self-join apart
    ent = ent.view()
    joined = ent.join(ranked, [(g, f"_lab_{g}") for g in groups])
    kept = joined._lab_rank < top_n
    return joined.select(
        *(c for c in ent.columns if c not in groups),
        **{g: ibis.ifelse(kept, joined[g], OTHER) for g in groups},
    )


def _grouped(table: ibis.Table, groups: list, aggregates: dict) -> ibis.Table:
    return (
        table.group_by(groups).aggregate(**aggregates) if groups else table.aggregate(**aggregates)
    )


def funnel_sums(db, spec, top_n: int | None, *, quantiles, edges_us) -> ibis.Table:
    """Per group ``g*``: units per step ``n0...``, the ``quantiles`` of the time from
    first to last step in microseconds (``q``, a list) and, per edge, the converted units
    faster than it (``below0...``; cumulative, so Python takes differences)."""
    lab = labelled(db, spec, top_n)
    n = len(spec.steps)
    groups = [f"g{i}" for i in range(len(spec.by))]
    # computed once per unit, not once per aggregate below
    lab = lab.mutate(_lab_duration=lab[f"at{n - 1}"].delta(lab.at0, unit="microsecond"))
    aggregates = {f"n{i}": lab[f"at{i}"].count() for i in range(n)}
    aggregates["q"] = lab._lab_duration.quantile(list(quantiles))
    sums = _grouped(lab, groups, aggregates)
    # The histogram counts only the converted units (a few percent of the units), in a
    # second aggregate over them: one filtered count per edge over every unit took as
    # long as the rest of the query. DuckDB streams the units to both aggregates.
    converted = lab.view()
    converted = converted.filter(converted[f"at{n - 1}"].notnull())
    duration = converted._lab_duration
    below = {f"below{j}": converted.count(where=duration < e) for j, e in enumerate(edges_us)}
    below = _grouped(converted, groups, below)
    if not groups:
        joined = sums.cross_join(below)
    else:
        below = below.rename({f"_lab_{g}": g for g in groups})
        joined = sums.left_join(below, [(g, f"_lab_{g}") for g in groups])
    # a group with no converted unit has no histogram row; a filtered count is a SUM on
    # Spark, NULL where no duration passes
    return joined.select(
        *groups,
        *aggregates,
        **{name: joined[name].coalesce(0) for name in below.columns if name.startswith("below")},
    )


def trend_counts(db, spec, *, interval: str) -> ibis.Table:
    """Per ``period`` (day or ISO week of the first step, Monday first) and group ``g*``:
    units per step ``n0...`` (every group: Python pools the counts, which add up)."""
    lab = units(db, spec)
    lab = lab.mutate(period=lab.at0.truncate({"day": "D", "week": "W"}[interval]))
    groups = ["period", *(f"g{i}" for i in range(len(spec.by)))]
    return _grouped(lab, groups, {f"n{i}": lab[f"at{i}"].count() for i in range(len(spec.steps))})


def dropped_users(db, spec, step_index: int) -> ibis.Table:
    """Distinct users with a unit that reached step ``step_index - 1`` but not the step."""
    ent = units(db, spec)
    ent = ent.filter(ent[f"at{step_index - 1}"].notnull(), ent[f"at{step_index}"].isnull())
    return ent.select("user_id").distinct()
