"""The engine side of campaign metrics: the counts and sums, as Ibis expressions.

:mod:`lab.metrics._metrics` turns these small tables into rates, ROI and the holdout
comparison; here is only what the engine (DuckDB, Spark, ClickHouse) computes over the
logs, written once. Definitions are in that module's docstring.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd

from lab.engines import session
from lab.engines._expr import in_window, union, with_breakdowns

_ISSUED = ("issued", "compensated")


def _facts(db, *, run, by, start, end, arms):
    """One row per exposure and per issued coupon: user, flags, amounts, breakdowns."""
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
    orders = orders.select(
        _lab_run=orders.run_id,
        _lab_order=orders.order_id,
        _lab_amount=orders.amount_fen,
        _lab_discount=orders.discount_fen,
    )
    paid = coupons.left_join(
        orders, [coupons.run_id == orders._lab_run, coupons.order_id == orders._lab_order]
    )
    redeemed = paid.redeemed_at.notnull()
    null_int = ibis.null().cast("int64")
    exposures = with_breakdowns(
        db,
        offers,
        src_table="offers",
        by=by,
        user_id=offers.user_id,
        exposed=ibis.literal(True),
        redeemed=ibis.literal(False),
        amount=null_int,
        discount=null_int,
    )
    claims = with_breakdowns(
        db,
        paid,
        src_table="coupons",
        by=by,
        user_id=paid.user_id,
        exposed=ibis.literal(False),
        redeemed=redeemed,
        amount=ibis.ifelse(redeemed, paid._lab_amount, null_int),
        discount=ibis.ifelse(redeemed, paid.discount_fen.coalesce(paid._lab_discount), null_int),
    )
    return union(exposures, claims)


def _counts(facts: ibis.Table) -> dict:
    return {
        "exposed_users": facts.user_id.nunique(where=facts.exposed),
        "claimers": facts.user_id.nunique(where=~facts.exposed),
        "issued": facts.count(where=~facts.exposed),
        "redeemed": facts.count(where=facts.redeemed),
        "redeemed_amount_fen": facts.amount.sum().coalesce(0),
        "cost_fen": facts.discount.sum().coalesce(0),
    }


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
        facts = _facts(db, run=run, by=by, start=start, end=end, arms=arms)
        total = db.execute(facts.aggregate(**_counts(facts)))
        if not names:
            return total.copy(), total
        groups = db.execute(facts.group_by(names).aggregate(**_counts(facts)))
    groups = groups.sort_values(names, na_position="last", kind="stable")
    return groups.reset_index(drop=True), total


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
