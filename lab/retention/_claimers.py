"""Retention of an entry's claimers: who orders again some days after claiming."""

from __future__ import annotations

import datetime as dt

import ibis

from lab._runs import campaign_period, ratio
from lab.engines import session
from lab.engines._calendar import days_between
from lab.store import Store


def claimer_retention(
    store: Store, *, run: str, entry: str, first_day: int = 1, last_day: int = 1
) -> float:
    """Share of an entry's WeChat claimers with an order on days ``first_day..last_day``.

    Claimers = users with at least one issued (``issued`` or ``compensated``) coupon
    claimed through the WeChat ``entry``; each enters the cohort on the calendar day of
    their *first* such claim (a cohort counts people, not claims). Retained = the user
    has any order (with or without a coupon) on a calendar day ``first_day`` to
    ``last_day`` after it. Claimers whose last day falls after the run's last day are
    left out: their retention cannot be observed, and counting them as lost would bias
    the figure down.

    Parameters
    ----------
    store : Store
        Or a store on another engine (:meth:`lab.Store.from_ibis`).
    run : str, keyword-only
    entry : str, keyword-only
        WeChat entry, e.g. ``"pay_page"`` or ``"card_wallet"``.
    first_day, last_day : int, keyword-only
        Days after the claim (1 = the next calendar day), both included.

    Example
    -------
    >>> claimer_retention(store, run="default", entry="card_wallet", last_day=7)  # doctest: +SKIP
    0.66
    """
    _, end, _ = campaign_period(store, run)
    # last calendar day with observed orders: claims whose window runs past it are censored
    observed_until = (end - dt.timedelta(days=1)).date()
    with session(store) as db:
        coupons = db.table("coupons")
        claims = coupons.filter(
            coupons.run_id == run,
            coupons.platform == "wechat",
            coupons.entry == entry,
            coupons.status.isin(("issued", "compensated")),
        )
        cohort = claims.group_by("user_id").agg(claim_day=claims.claimed_at.min().date())
        observed = cohort.filter(cohort.claim_day + ibis.interval(days=last_day) <= observed_until)
        orders = db.table("orders")
        orders = orders.filter(orders.run_id == run).select("user_id", day=orders.ts.date())
        gap = days_between(observed.claim_day, orders.day)
        retained = observed.semi_join(
            orders,
            [observed.user_id == orders.user_id, gap >= first_day, gap <= last_day],
        )
        counts = observed.aggregate(
            claimers=observed.count(),
            retained=observed.count(where=observed.user_id.isin(retained.user_id)),
        )
        row = db.execute(counts).iloc[0]
    return ratio(row["retained"], row["claimers"], f"{entry} claimers with a full follow-up window")
