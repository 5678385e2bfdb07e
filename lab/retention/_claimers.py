"""Retention of an entry's claimers: who orders again some days after claiming."""

from __future__ import annotations

import datetime as dt

from lab._runs import campaign_period, ratio
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
    row = store.query(
        """
        WITH cohort AS (
            SELECT user_id, CAST(min(claimed_at) AS DATE) AS claim_day
            FROM coupons
            WHERE run_id = $run AND platform = 'wechat' AND entry = $entry
              AND status IN ('issued', 'compensated')
            GROUP BY user_id
        ),
        observed AS (
            SELECT * FROM cohort
            WHERE claim_day + CAST($last_day AS INTEGER) <= $observed_until
        ),
        retained AS (
            SELECT DISTINCT c.user_id
            FROM observed c
            JOIN orders o ON o.run_id = $run AND o.user_id = c.user_id
            WHERE CAST(o.ts AS DATE) BETWEEN c.claim_day + CAST($first_day AS INTEGER)
                                         AND c.claim_day + CAST($last_day AS INTEGER)
        )
        SELECT (SELECT count(*) FROM observed) AS claimers,
               (SELECT count(*) FROM retained) AS retained
        """,
        {
            "run": run,
            "entry": entry,
            "first_day": first_day,
            "last_day": last_day,
            "observed_until": observed_until,
        },
    ).iloc[0]
    return ratio(row["retained"], row["claimers"], f"{entry} claimers with a full follow-up window")
