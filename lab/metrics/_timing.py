"""When coupons meet a habit: morning orders under a timed coupon, delivery orders on
rainy days under a weather trigger, and deliveries per active user per day."""

from __future__ import annotations

import datetime as dt
import math

from scipy import stats

from lab._runs import campaign_period, check_arms, pick_arms, ratio
from lab.store import Store

_COMPARES = ("arms", "periods")


def _morning_shares(
    store: Store, run: str, experiment: str, arm: str, start: dt.datetime, end: dt.datetime
) -> dict[str, float]:
    df = store.query(
        """
        SELECT isodow(o.ts) >= 6 AS weekend,
               count(*) AS orders,
               count(*) FILTER (WHERE hour(o.ts) BETWEEN 7 AND 9) AS morning
        FROM orders o
        JOIN assignments a ON a.run_id = o.run_id AND a.user_id = o.user_id
        WHERE o.run_id = $run AND a.experiment = $experiment AND a.arm = $arm
          AND o.ts >= $start AND o.ts < $end
        GROUP BY weekend
        """,
        {"run": run, "experiment": experiment, "arm": arm, "start": start, "end": end},
    ).set_index("weekend")
    out = {}
    for weekend, name in ((False, "weekday"), (True, "weekend")):
        if weekend not in df.index:
            raise ValueError(
                f"arm {arm!r} of experiment {experiment!r} in run {run!r} has no "
                f"{name} orders between {start} and {end}"
            )
        out[name] = float(df.loc[weekend, "morning"]) / float(df.loc[weekend, "orders"])
    return out


def morning_shift(
    store: Store,
    *,
    run: str,
    experiment: str = "morning",
    arms: tuple[str, str] = ("treatment", "control"),
    compare: str = "arms",
) -> dict[str, float]:
    """Share of orders placed 07:00-10:00, before vs with the morning campaign.

    Morning share = orders with hour 7, 8 or 9 ÷ all orders (with or without a coupon),
    computed separately for weekdays (Monday-Friday) and weekends, over the orders of
    users in an arm (``assignments``).

    ``compare="arms"``: "before" = the control arm, "with" = the treatment arm, both over
    the campaign period (``runs.start_date`` for ``days``). This is the default because
    the arms share the calendar, so weekday mix and seasonality cancel.
    ``compare="periods"``: the treatment arm only, "before" = its pre-period
    (``pre_days`` days before ``start_date``), "with" = its campaign period.

    Returns ``morning_share_before``, ``morning_share_with`` (weekdays),
    ``weekend_share_before``, ``weekend_share_with`` and ``weekend_change`` (with − before,
    in share points: 0.01 = 1 pp).

    Example
    -------
    >>> morning_shift(store, run="default")  # doctest: +SKIP
    {'morning_share_before': 0.09, 'morning_share_with': 0.21, ...}
    """
    treatment, control = check_arms(arms)
    if compare not in _COMPARES:
        raise ValueError(f"compare must be one of {_COMPARES}, got {compare!r}")
    start, end, pre_days = campaign_period(store, run)
    if compare == "arms":
        before = _morning_shares(store, run, experiment, control, start, end)
    else:
        if pre_days <= 0:
            raise ValueError(f"compare='periods' needs a pre-period; run {run!r} has pre_days=0")
        pre_start = start - dt.timedelta(days=pre_days)
        before = _morning_shares(store, run, experiment, treatment, pre_start, start)
    with_ = _morning_shares(store, run, experiment, treatment, start, end)
    return {
        "morning_share_before": before["weekday"],
        "morning_share_with": with_["weekday"],
        "weekend_share_before": before["weekend"],
        "weekend_share_with": with_["weekend"],
        "weekend_change": with_["weekend"] - before["weekend"],
    }


def coupons_per_active_user_day(store: Store, *, run: str) -> float:
    """WeChat coupons delivered per active WeChat user per day.

    Active WeChat users = users with ``uses_wechat`` who, during the campaign period, have
    at least one order or one event they made themselves (any ``event_type`` except
    ``delivery``, which is the issuer's action, not the user's: counting it would make
    every recipient active). Figure = WeChat offers delivered to active WeChat users in
    the period ÷ (active WeChat users × ``runs.days``). Offers to inactive users are left
    out of the numerator so the figure is an average over the same users as the
    denominator.

    Example
    -------
    >>> coupons_per_active_user_day(store, run="default")  # doctest: +SKIP
    1.79
    """
    start, end, _ = campaign_period(store, run)
    days = (end - start).days
    row = store.query(
        """
        WITH active AS (
            SELECT u.user_id
            FROM users u
            WHERE u.run_id = $run AND u.uses_wechat
              AND (u.user_id IN (SELECT user_id FROM events
                                 WHERE run_id = $run AND event_type <> 'delivery'
                                   AND ts >= $start AND ts < $end)
                   OR u.user_id IN (SELECT user_id FROM orders
                                    WHERE run_id = $run AND ts >= $start AND ts < $end))
        )
        SELECT (SELECT count(*) FROM active) AS users,
               (SELECT count(*) FROM offers f
                WHERE f.run_id = $run AND f.platform = 'wechat'
                  AND f.delivered_at >= $start AND f.delivered_at < $end
                  AND f.user_id IN (SELECT user_id FROM active)) AS delivered
        """,
        {"run": run, "start": start, "end": end},
    ).iloc[0]
    return ratio(row["delivered"], row["users"] * days, "active WeChat user-days")


def rainy_day_effect(
    store: Store,
    *,
    run: str,
    experiment: str = "rain",
    arms: tuple[str, str] = ("rain_delivery", "control"),
) -> dict[str, float]:
    """Rain-triggered delivery coupons and delivery orders on rainy days.

    Per user assigned to an arm: number of ``delivery`` orders placed on rainy days
    (``weather.rain``) of the campaign period, zero included. ``effect`` = mean count of
    the treatment arm − that of the control arm (delivery orders per user over the rainy
    days); ``p_value`` = two-sided Welch t-test on the per-user counts. DuckDB reduces
    each arm to (n, mean, variance) and ``scipy.stats.ttest_ind_from_stats`` gives the
    same test as ``ttest_ind(..., equal_var=False)`` on the counts.

    Example
    -------
    >>> rainy_day_effect(store, run="default")  # doctest: +SKIP
    {'effect': 0.08, 'p_value': 1e-06}
    """
    arms = check_arms(arms)
    start, end, _ = campaign_period(store, run)
    params = {"run": run, "experiment": experiment, "start": start.date(), "end": end.date()}
    df = store.query(
        """
        WITH rainy AS (
            SELECT day FROM weather
            WHERE run_id = $run AND rain AND day >= $start AND day < $end
        ),
        rainy_orders AS (
            SELECT o.user_id, count(*) AS n
            FROM orders o
            JOIN rainy r ON CAST(o.ts AS DATE) = r.day
            WHERE o.run_id = $run AND o.order_channel = 'delivery'
            GROUP BY o.user_id
        ),
        counts AS (
            SELECT a.arm, a.user_id, coalesce(ro.n, 0) AS n
            FROM assignments a
            LEFT JOIN rainy_orders ro ON ro.user_id = a.user_id
            WHERE a.run_id = $run AND a.experiment = $experiment
        )
        SELECT arm, count(*) AS users, avg(n) AS mean, var_samp(n) AS var,
               (SELECT count(*) FROM rainy) AS rainy_days
        FROM counts
        GROUP BY arm
        """,
        params,
    )
    t, c = pick_arms(df, arms, experiment=experiment, run=run, what="assigned users")
    if t["rainy_days"] == 0:
        raise ValueError(
            f"run {run!r} has no rainy day in its campaign period; the figure is undefined"
        )
    if min(t["users"], c["users"]) < 2:
        raise ValueError("the Welch t-test needs at least two users in each arm")
    test = stats.ttest_ind_from_stats(
        float(t["mean"]),
        math.sqrt(float(t["var"])),
        int(t["users"]),
        float(c["mean"]),
        math.sqrt(float(c["var"])),
        int(c["users"]),
        equal_var=False,
    )
    return {"effect": float(t["mean"]) - float(c["mean"]), "p_value": float(test.pvalue)}
