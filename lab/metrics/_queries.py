"""The engine side of campaign metrics: the counts and sums, as Ibis expressions.

:mod:`lab.metrics._metrics` turns these small tables into rates, ROI and the holdout
comparison; here is only what the engine (DuckDB, Spark, ClickHouse) computes over the
logs, written once. Definitions are in that module's docstring.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd

from lab import schema
from lab.engines import session
from lab.engines._expr import in_window, union, with_breakdowns

_ISSUED = ("issued", "compensated")


def _sides(db, *, run, by, start, end, arms) -> tuple[ibis.Table, ibis.Table]:
    """(one row per exposed user and breakdown value, one row per issued coupon): user,
    amounts, breakdowns."""
    offers = db.table("offers")
    offers = offers.filter(
        *in_window(offers, run=run, start=start, end=end, ts_col="exposed_at"),
        offers.exposed_at.notnull(),
    )
    coupons = db.table("coupons")
    coupons = coupons.filter(
        *in_window(coupons, run=run, start=start, end=end, ts_col="claimed_at"),
        coupons.status.isin(_ISSUED),
    )
    if arms is not None:
        experiment, arm_names = arms
        members = db.table("assignments")
        members = members.filter(
            members.run_id == run,
            members.experiment == experiment,
            members.arm.isin(list(arm_names)),
        ).select("user_id")
        offers = offers.semi_join(members, "user_id")
        coupons = coupons.semi_join(members, "user_id")
    orders = db.table("orders")
    # the run's orders, joined on the order alone: a second key (run_id, text) made
    # DuckDB's join take 1.6 times as long
    orders = orders.filter(orders.run_id == run).select(
        _lab_order=orders.order_id,
        _lab_amount=orders.amount_fen,
        _lab_discount=orders.discount_fen,
    )
    paid = coupons.left_join(orders, coupons.order_id == orders._lab_order)
    redeemed = paid.redeemed_at.notnull()
    null_int = ibis.null().cast("int64")
    # exposed users are counted, not exposures: one row per user and breakdown value
    # before the breakdowns' lookups join (a user's 77 exposures joined users 77 times)
    offer_columns = schema.table("offers").column_names
    keys = ["run_id", "user_id", *(["stock_id"] if any(t == "stocks" for _, t, _ in by) else [])]
    exposed = offers.select(*dict.fromkeys([*keys, *(c for _, _, c in by if c in offer_columns)]))
    exposed = exposed.distinct()
    exposures = with_breakdowns(db, exposed, src_table="offers", by=by, user_id=exposed.user_id)
    claims = with_breakdowns(
        db,
        paid,
        src_table="coupons",
        by=by,
        user_id=paid.user_id,
        redeemed=redeemed,
        amount=ibis.ifelse(redeemed, paid._lab_amount, null_int),
        discount=ibis.ifelse(redeemed, paid.discount_fen.coalesce(paid._lab_discount), null_int),
    )
    return exposures, claims


#: the counts of :func:`reported_counts`, in order
COUNTS = ("exposed_users", "claimers", "issued", "redeemed", "redeemed_amount_fen", "cost_fen")


def _counts(exposures: ibis.Table, claims: ibis.Table, names: list[str]) -> ibis.Table:
    """Per group of ``names`` (one row without), the counts of :func:`reported_counts`.

    Each side is aggregated on its own and the two small results are added up: counting
    distinct users over the union of exposures and claims with a filter per side took
    2.3 times as long on DuckDB broken down by segment (1.76 s against 0.76 s for a run
    of 100k users and 6.9M offers; 1.3 times without a breakdown)."""

    def grouped(table: ibis.Table, **aggregates) -> ibis.Table:
        return (
            table.group_by(names).aggregate(**aggregates)
            if names
            else table.aggregate(**aggregates)
        )

    zero = ibis.literal(0, type="int64")
    exposed = grouped(
        exposures, **{c: zero for c in COUNTS} | {"exposed_users": exposures.user_id.nunique()}
    )
    claimed = grouped(
        claims,
        exposed_users=zero,
        claimers=claims.user_id.nunique(),
        issued=claims.count(),
        redeemed=claims.count(where=claims.redeemed),
        redeemed_amount_fen=claims.amount.sum().coalesce(0),
        cost_fen=claims.discount.sum().coalesce(0),
    )
    both = union(exposed, claimed)
    return grouped(both, **{c: both[c].sum().cast("int64") for c in COUNTS})


def reported_counts(
    store,
    *,
    run: str,
    by: tuple[tuple[str, str, str], ...],
    start,
    end,
    arms: tuple[str, tuple[str, ...]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-group counts sorted by the breakdowns, missing values last; the total row).

    ``arms`` = ``(experiment, arm names)`` keeps only the offers and coupons of users
    assigned to those arms of that experiment. Without breakdowns the groups are the
    total.
    """
    names = [name for name, _, _ in by]
    with session(store) as db:
        exposures, claims = _sides(db, run=run, by=by, start=start, end=end, arms=arms)
        if not names:
            total = db.execute(_counts(exposures, claims, []))
            return total.copy(), total
        groups = db.execute(_counts(exposures, claims, names))
        if _one_group_per_user(by):
            # a user's exposures and claims all fall in its one group: the groups' distinct
            # users add up to the total's, so the total needs no second scan (a third of
            # the time by segment)
            total = pd.DataFrame([groups[list(COUNTS)].sum()], columns=list(COUNTS))
            total = total.astype("int64")
        else:
            total = db.execute(_counts(exposures, claims, []))
    groups = groups.sort_values(names, na_position="last", kind="stable")
    return groups.reset_index(drop=True), total


def _one_group_per_user(by: tuple[tuple[str, str, str], ...]) -> bool:
    """Whether every breakdown is an attribute of the user (``users``' own columns, as
    :func:`lab.engines._expr.with_breakdowns` reads them), not of each offer or coupon."""
    from lab.cycle._cycle import OWN_COLUMNS

    return all(table == "users" and name not in OWN_COLUMNS for name, table, _ in by)


def arm_sums(
    store, *, run: str, experiment: str, start: dt.datetime | None, end: dt.datetime | None
) -> pd.DataFrame:
    """Per arm of ``experiment``: users, sums and sums of squares of basket GMV and of
    orders per user in ``[start, end)`` (0 for users without orders), and the discounts on
    their orders."""
    with session(store) as db:
        assigned = db.table("assignments")
        assigned = assigned.filter(
            assigned.run_id == run, assigned.experiment == experiment
        ).select("user_id", "arm")
        orders = db.table("orders")
        orders = orders.filter(*in_window(orders, run=run, start=start, end=end, ts_col="ts"))
        spend = orders.group_by("user_id").aggregate(
            gmv=orders.amount_fen.sum(),
            discount=orders.discount_fen.sum(),
            n_orders=orders.count(),
        )
        users = assigned.left_join(spend, "user_id")
        arms = users.group_by("arm").aggregate(
            users=users.count(),
            gmv_sum=users.gmv.sum().coalesce(0),
            gmv_sum_squares=(users.gmv.cast("float64") * users.gmv).sum().coalesce(0.0),
            orders_sum=users.n_orders.sum().coalesce(0),
            orders_sum_squares=(users.n_orders.cast("float64") * users.n_orders)
            .sum()
            .coalesce(0.0),
            cost_fen=users.discount.sum().coalesce(0),
        )
        return db.execute(arms).sort_values("arm", kind="stable").reset_index(drop=True)
