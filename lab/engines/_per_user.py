"""Per-user order sums over a run's campaign and pre-period, as one Ibis expression.

``lab.analyze`` reduces them by arm, ``refresh_experiment_users`` stores them in the
derived ``experiment_users`` table (on DuckDB) and the experiments scorecard
re-randomises users with them, so the definition lives here once for every engine.

Example
-------
>>> import datetime as dt, ibis
>>> from lab.engines._per_user import ORDER_SUMS, order_sums
>>> orders = ibis.table(
...     {"run_id": "string", "user_id": "int64", "ts": "timestamp", "amount_fen": "int64",
...      "discount_fen": "int64", "coupon_id": "int64"}, name="orders")
>>> start = dt.datetime(2026, 3, 2)
>>> order_sums(orders, run="r", start=start, end=start + dt.timedelta(days=7)).columns[1:] == ORDER_SUMS
True
"""

from __future__ import annotations

import datetime as dt

import ibis

#: The sums, in the order of the ``experiment_users`` columns after ``user_id`` and ``arm``.
ORDER_SUMS = ("orders", "gmv", "redeemed_amount", "redeemed_orders", "pre_gmv", "pre_orders")


def order_sums(
    orders: ibis.Table,
    *,
    run: str,
    start: dt.datetime,
    end: dt.datetime,
    pre_start: dt.datetime | None = None,
) -> ibis.Table:
    """One row per user with orders of ``run`` in ``[pre_start or start, end)``.

    Columns ``user_id`` and the float64 sums :data:`ORDER_SUMS`: ``orders``, ``gmv``
    (``amount_fen - discount_fen``), ``redeemed_amount`` and ``redeemed_orders`` (orders
    with a ``coupon_id``) from ``start`` on; ``pre_gmv`` and ``pre_orders`` before it.
    Users without orders have no row.
    """
    window = orders.filter(orders.run_id == run, orders.ts >= (pre_start or start), orders.ts < end)
    # 0/1 multipliers rather than filtered sums: plain float sums aggregate fastest, and
    # float sums of squares cannot overflow
    post = (window.ts >= start).cast("float64")
    pre = 1.0 - post
    paid = (window.amount_fen - window.discount_fen).cast("float64")
    coupon = window.coupon_id.notnull().cast("float64")
    return window.group_by("user_id").aggregate(
        orders=post.sum(),
        gmv=(post * paid).sum(),
        redeemed_amount=(post * coupon * window.amount_fen.cast("float64")).sum(),
        redeemed_orders=(post * coupon).sum(),
        pre_gmv=(pre * paid).sum(),
        pre_orders=pre.sum(),
    )
