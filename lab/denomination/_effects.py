"""Splitting one denomination into two: the change in redeemed amount and in AOV."""

from __future__ import annotations

import pandas as pd

from lab._runs import check_arms, pick_arms, ratio, require_run
from lab.store import Store


def _arm_audience(store: Store, run: str, experiment: str) -> pd.DataFrame:
    """Users per arm: from `assignments`, else the users delivered an offer of the arm."""
    params = {"run": run, "experiment": experiment}
    assigned = store.query(
        """
        SELECT arm, count(DISTINCT user_id) AS users
        FROM assignments
        WHERE run_id = $run AND experiment = $experiment
        GROUP BY arm
        """,
        params,
    )
    if not assigned.empty:
        return assigned
    return store.query(
        """
        SELECT s.arm, count(DISTINCT f.user_id) AS users
        FROM offers f
        JOIN stocks s ON s.run_id = f.run_id AND s.stock_id = f.stock_id
        WHERE f.run_id = $run AND s.experiment = $experiment
        GROUP BY s.arm
        """,
        params,
    )


def split_effect(
    store: Store,
    *,
    run: str,
    experiment: str = "denomination",
    arms: tuple[str, str] = ("split", "single"),
) -> dict[str, float]:
    """Splitting one denomination into two: redeemed amount and AOV.

    Redeemed orders of an arm = distinct orders paid (in part) with a redeemed coupon of
    the arm's stocks; an order paid with two coupons of the split arm counts once.

    ``redeemed_amount_change``: (sum of ``orders.amount_fen`` of the arm's redeemed orders
    ÷ users in the arm), treatment ÷ control − 1. Dividing by the arm size makes arms of
    unequal size comparable and is the plain total ratio when they are equal. Users in an
    arm are those in ``assignments`` for the experiment or, when the experiment has no
    assignments, the users delivered an offer of the arm's stocks.

    ``aov_change``: mean ``orders.amount_fen`` of the arm's redeemed orders, treatment ÷
    control − 1 (a mean per order needs no size normalisation).

    Example
    -------
    >>> split_effect(store, run="default")  # doctest: +SKIP
    {'redeemed_amount_change': 0.23, 'aov_change': -0.17}
    """
    arms = check_arms(arms)
    require_run(store, run)
    orders = store.query(
        """
        WITH redeemed AS (
            SELECT DISTINCT s.arm, c.order_id
            FROM coupons c
            JOIN stocks s ON s.run_id = c.run_id AND s.stock_id = c.stock_id
            WHERE c.run_id = $run AND s.experiment = $experiment
              AND c.redeemed_at IS NOT NULL AND c.order_id IS NOT NULL
        )
        SELECT r.arm, count(*) AS orders, CAST(sum(o.amount_fen) AS BIGINT) AS amount_fen
        FROM redeemed r
        JOIN orders o ON o.run_id = $run AND o.order_id = r.order_id
        GROUP BY r.arm
        """,
        {"run": run, "experiment": experiment},
    )
    t, c = pick_arms(orders, arms, experiment=experiment, run=run, what="redeemed orders")
    ta, ca = pick_arms(
        _arm_audience(store, run, experiment), arms, experiment=experiment, run=run, what="users"
    )
    amount = ratio(t["amount_fen"] / ta["users"], c["amount_fen"] / ca["users"], "control amount")
    aov = ratio(t["amount_fen"] / t["orders"], c["amount_fen"] / c["orders"], "control AOV")
    return {"redeemed_amount_change": amount - 1, "aov_change": aov - 1}
