"""Daily trend of claims, redemptions and cost: the campaign metrics spread over days.

The coupons counted are those of :func:`lab.metrics.campaign_metrics`: issued coupons
(``status`` ``issued`` or ``compensated``) claimed in ``[start, end)``. A coupon counts
as a claim on the day of ``claimed_at`` and, if redeemed, as a redemption and its cost
(``coupons.discount_fen``, else the order's ``discount_fen``) on the day of
``redeemed_at``. So the days add up to the campaign metrics' ``issued``, ``redeemed``
and ``cost_fen`` over the same window and groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from lab import _filters
from lab.cycle._cycle import group_sql
from lab.store import Store

__all__ = ["DailyTrend", "daily_trend"]


@dataclass(frozen=True)
class DailyTrend:
    """Claims, redemptions and cost per calendar day (and breakdown group).

    Attributes
    ----------
    run : str
    by : tuple of str
        Breakdown names.
    table : DataFrame
        One row per day and group: ``day`` (midnight), the ``by`` columns, ``claims``,
        ``redemptions``, ``cost_fen`` and ``cost_yuan``; days without any are absent.
    """

    run: str
    by: tuple[str, ...]
    table: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """The tidy day × group table."""
        return self.table.copy()


def daily_trend(
    store: Store,
    *,
    run: str,
    by: str | Sequence[str] | None = None,
    start=None,
    end=None,
) -> DailyTrend:
    """Claims, redemptions and cost per day, from one query over ``coupons``.

    Parameters
    ----------
    store : lab.Store
    run : str
        Run to analyse.
    by : str or sequence of str, optional
        Breakdown column(s) (:func:`lab._filters.resolve_column`), e.g. ``"platform"``,
        ``"segment"``, ``"city_tier"``.
    start, end : date-like, optional
        Only coupons claimed in ``[start, end)`` (half-open).

    Returns
    -------
    DailyTrend

    Example
    -------
    >>> import lab
    >>> from lab.metrics import daily_trend
    >>> store = lab.Store(":memory:")
    >>> run = lab.simulate("aa_test", store=store, users=300, days=7, pre_days=7, progress=False)
    >>> trend = daily_trend(store, run=run).to_frame()
    >>> int(trend["claims"].sum()) == int(lab.campaign_metrics(store, run=run, by=None).total["issued"].iloc[0])
    True
    """
    _filters.require_run(store, run)
    groups = _filters.breakdowns(by)
    names = [f'"{name}"' for name, _, _ in groups]
    exprs, joins = group_sql(groups, src="c", src_table="coupons")
    where, params = _filters.where(
        run=run, start=start, end=end, ts_col="c.claimed_at", run_col="c.run_id"
    )
    keys = "".join(f"{n}, " for n in names)
    sql = f"""
        WITH c AS (
            SELECT {"".join(e + ", " for e in exprs)} c.claimed_at, c.redeemed_at,
                   CASE WHEN c.redeemed_at IS NOT NULL
                        THEN coalesce(c.discount_fen, r.discount_fen) END AS discount
            FROM coupons c {" ".join(joins)}
            LEFT JOIN orders r ON r.run_id = c.run_id AND r.order_id = c.order_id
            WHERE {where} AND c.status IN ('issued', 'compensated')
        ), days AS (
            SELECT {keys} date_trunc('day', claimed_at) AS day, 1 AS claims,
                   0 AS redemptions, 0 AS discount
            FROM c
            UNION ALL
            SELECT {keys} date_trunc('day', redeemed_at), 0, 1, coalesce(discount, 0)
            FROM c WHERE redeemed_at IS NOT NULL
        )
        SELECT day, {keys} sum(claims) AS claims, sum(redemptions) AS redemptions,
               sum(discount) AS cost_fen
        FROM days GROUP BY ALL ORDER BY day {"".join(", " + n for n in names)}
    """
    table = store.query(sql, params)
    for column in ("claims", "redemptions", "cost_fen"):
        table[column] = table[column].astype("int64")
    table["day"] = pd.to_datetime(table["day"])
    table["cost_yuan"] = table["cost_fen"] / 100
    return DailyTrend(run=run, by=tuple(n for n, _, _ in groups), table=table)
