"""Targeting lifts read from an experiment's arms: LBS targeting's conversion and engine
cost, and the conversion of one credit tier under tiered offers."""

from __future__ import annotations

from lab._runs import check_arms, pick_arms, ratio, require_run
from lab.store import Store


def targeting_lift(
    store: Store,
    *,
    run: str,
    experiment: str = "lbs",
    arms: tuple[str, str] = ("lbs_3km", "untargeted"),
) -> dict[str, float]:
    """Conversion lift of 3 km LBS targeting and its resource overhead.

    ``conversion_lift``: conversion = redeemed offers ÷ exposed offers of the arm's stocks
    (only exposed offers count in the numerator, so conversion is a proportion); lift =
    targeted conversion ÷ untargeted conversion (3.2 means 3.2×).

    ``resource_overhead``: total ``engine_metrics`` ``cost_units`` of the targeted arm's
    stocks ÷ those of the untargeted arm − 1. Totals, not cost per issued coupon: the
    experiment gives both arms the same budget, so the totals compare the same amount of
    issuance work, whereas a per-coupon cost would mix the engine's cost with the
    behavioural effect of targeting (more claims per delivery).

    Parameters
    ----------
    store : Store
    run : str, keyword-only
    experiment : str, keyword-only
        Value of ``stocks.experiment``.
    arms : (str, str), keyword-only
        (targeted, untargeted) values of ``stocks.arm``.

    Example
    -------
    >>> targeting_lift(store, run="default")  # doctest: +SKIP
    {'conversion_lift': 3.18, 'resource_overhead': 0.151}
    """
    arms = check_arms(arms)
    require_run(store, run)
    params = {"run": run, "experiment": experiment}
    conv = store.query(
        """
        SELECT s.arm,
               count(*) FILTER (WHERE f.exposed_at IS NOT NULL) AS exposed,
               count(*) FILTER (WHERE f.exposed_at IS NOT NULL AND f.redeemed_at IS NOT NULL)
                   AS redeemed
        FROM offers f
        JOIN stocks s ON s.run_id = f.run_id AND s.stock_id = f.stock_id
        WHERE f.run_id = $run AND s.experiment = $experiment
        GROUP BY s.arm
        """,
        params,
    )
    cost = store.query(
        """
        SELECT s.arm, sum(m.value) AS cost_units
        FROM engine_metrics m
        JOIN stocks s ON s.run_id = m.run_id AND s.stock_id = m.stock_id
        WHERE m.run_id = $run AND s.experiment = $experiment AND m.metric = 'cost_units'
        GROUP BY s.arm
        """,
        params,
    )
    t, c = pick_arms(conv, arms, experiment=experiment, run=run, what="offers")
    lift = ratio(
        ratio(t["redeemed"], t["exposed"], f"arm {arms[0]!r} exposures"),
        ratio(c["redeemed"], c["exposed"], f"arm {arms[1]!r} exposures"),
        f"arm {arms[1]!r} conversion",
    )
    tc, cc = pick_arms(cost, arms, experiment=experiment, run=run, what="cost_units")
    overhead = ratio(tc["cost_units"], cc["cost_units"], f"arm {arms[1]!r} cost_units") - 1
    return {"conversion_lift": lift, "resource_overhead": overhead}


def tier_conversion_lift(
    store: Store,
    *,
    run: str,
    experiment: str = "credit",
    arms: tuple[str, str] = ("tiered", "uniform"),
    credit_tier: int = 5,
) -> float:
    """Conversion lift of the top credit tier under tiered offers.

    Conversion of an arm = users assigned to it (``assignments``) whose
    ``users.credit_tier`` equals ``credit_tier`` and who redeemed at least one coupon of
    the experiment's stocks ÷ those assigned users. Figure = treatment ÷ control − 1.
    Users who never claimed count as not converted: the base is everyone assigned, so
    the figure includes the offer's effect on claiming.

    Example
    -------
    >>> tier_conversion_lift(store, run="default")  # doctest: +SKIP
    0.6
    """
    arms = check_arms(arms)
    require_run(store, run)
    df = store.query(
        """
        WITH top AS (
            SELECT a.arm, a.user_id
            FROM assignments a
            JOIN users u ON u.run_id = a.run_id AND u.user_id = a.user_id
            WHERE a.run_id = $run AND a.experiment = $experiment AND u.credit_tier = $tier
        ),
        converted AS (
            SELECT DISTINCT c.user_id
            FROM coupons c
            JOIN stocks s ON s.run_id = c.run_id AND s.stock_id = c.stock_id
            WHERE c.run_id = $run AND s.experiment = $experiment AND c.redeemed_at IS NOT NULL
        )
        SELECT t.arm, count(*) AS users, count(v.user_id) AS converted
        FROM top t
        LEFT JOIN converted v ON v.user_id = t.user_id
        GROUP BY t.arm
        """,
        {"run": run, "experiment": experiment, "tier": credit_tier},
    )
    t, c = pick_arms(
        df, arms, experiment=experiment, run=run, what=f"credit tier {credit_tier} users"
    )
    return (
        ratio(
            ratio(t["converted"], t["users"], "treatment users"),
            ratio(c["converted"], c["users"], "control users"),
            "control conversion",
        )
        - 1
    )
