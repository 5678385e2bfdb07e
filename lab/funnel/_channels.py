"""Per-entry figures of the issuance funnel: reach, day-one redemption, journey losses,
and how share-to-unlock changes sharing and redemption."""

from __future__ import annotations

from lab._runs import check_arms, pick_arms, ratio, require_run
from lab.store import Store


def entry_reach(store: Store, *, run: str) -> dict[str, float]:
    """Reach per WeChat entry.

    Reach of an entry = distinct users with at least one exposed offer through it ÷
    distinct users with at least one offer delivered through it (``offers`` of platform
    ``wechat``; ``exposed_at`` not NULL means seen). Counting users, not offers, follows
    the seed ("users reached"); a user pushed twice and seen once counts as reached.

    Parameters
    ----------
    store : Store
    run : str, keyword-only
        Run to measure.

    Returns
    -------
    dict[str, float]
        Entry name to reach, for every WeChat entry with deliveries.

    Example
    -------
    >>> entry_reach(store, run="default")  # doctest: +SKIP
    {'card_wallet': 0.5, 'mini_program': 0.82, 'official_account': 0.72, 'pay_page': 0.9}
    """
    require_run(store, run)
    df = store.query(
        """
        SELECT entry,
               count(DISTINCT user_id) AS delivered,
               count(DISTINCT user_id) FILTER (WHERE exposed_at IS NOT NULL) AS exposed
        FROM offers
        WHERE run_id = $run AND platform = 'wechat' AND entry IS NOT NULL
        GROUP BY entry
        ORDER BY entry
        """,
        {"run": run},
    )
    if df.empty:
        raise ValueError(f"run {run!r} has no WeChat offers; the figure is undefined")
    return {str(r.entry): float(r.exposed) / float(r.delivered) for r in df.itertuples()}


def redemption_within_day(store: Store, *, run: str, entry: str = "pay_page") -> float:
    """Immediate conversion of one WeChat entry's coupons (the pay page by default).

    The entry's exposures (``offers`` with platform ``wechat``, the given ``entry``,
    ``exposed_at`` not NULL) whose coupon was redeemed at most 24 hours after the
    exposure, ÷ the entry's exposures. Each offer is one exposure (its first sighting).

    Example
    -------
    >>> redemption_within_day(store, run="default")  # doctest: +SKIP
    0.281
    """
    require_run(store, run)
    row = store.query(
        """
        SELECT count(*) AS exposed,
               count(*) FILTER (
                   WHERE redeemed_at IS NOT NULL
                     AND redeemed_at <= exposed_at + INTERVAL 24 HOUR
               ) AS redeemed
        FROM offers
        WHERE run_id = $run AND platform = 'wechat' AND entry = $entry
          AND exposed_at IS NOT NULL
        """,
        {"run": run, "entry": entry},
    ).iloc[0]
    return ratio(row["redeemed"], row["exposed"], f"{entry} exposures")


def journey_losses(store: Store, *, run: str) -> dict[str, float]:
    """Journey losses at the exposure and at the decision stage, per offer.

    Over the run's exposed offers: an offer *passes exposure* when the user opened the
    rules or went further (shared or claimed); ``lost_at_exposure`` = exposed offers that
    did not pass ÷ exposed offers; ``lost_at_decision`` = offers that passed exposure but
    were never claimed ÷ offers that passed exposure.

    Improvement over CALIBRATION.md ("exposed users who never open the rules"): a claim
    straight from the pop-up without opening the rules is not a loss at exposure, so the
    funnel is monotone (reaching a later step implies the earlier ones). When every claim
    follows a rule view both definitions give the same numbers.

    Example
    -------
    >>> journey_losses(store, run="default")  # doctest: +SKIP
    {'lost_at_exposure': 0.35, 'lost_at_decision': 0.22}
    """
    require_run(store, run)
    row = store.query(
        """
        WITH exposed AS (
            SELECT claimed_at IS NOT NULL AS claimed,
                   rule_viewed_at IS NOT NULL OR shared_at IS NOT NULL
                       OR claimed_at IS NOT NULL AS considered
            FROM offers
            WHERE run_id = $run AND exposed_at IS NOT NULL
        )
        SELECT count(*) AS exposed,
               count(*) FILTER (WHERE considered) AS considered,
               count(*) FILTER (WHERE considered AND NOT claimed) AS not_claimed
        FROM exposed
        """,
        {"run": run},
    ).iloc[0]
    considered = row["considered"]
    return {
        "lost_at_exposure": ratio(row["exposed"] - considered, row["exposed"], "exposed offers"),
        "lost_at_decision": ratio(row["not_claimed"], considered, "offers past exposure"),
    }


def share_unlock_effect(
    store: Store,
    *,
    run: str,
    experiment: str = "share",
    arms: tuple[str, str] = ("share_to_unlock", "plain"),
) -> dict[str, float]:
    """Share-to-unlock's effect on the share rate and the redemption rate.

    Per arm (stocks with ``stocks.experiment == experiment``): share rate = exposed offers
    that were shared ÷ exposed offers; redemption rate = redeemed coupons ÷ issued
    coupons. ``share_rate_change`` and ``redemption_rate_change`` are treatment ÷ control
    − 1.

    Example
    -------
    >>> share_unlock_effect(store, run="default")  # doctest: +SKIP
    {'share_rate_change': 0.47, 'redemption_rate_change': -0.09}
    """
    arms = check_arms(arms)
    require_run(store, run)
    params = {"run": run, "experiment": experiment}
    shares = store.query(
        """
        SELECT s.arm,
               count(*) AS exposed,
               count(*) FILTER (WHERE f.shared_at IS NOT NULL) AS shared
        FROM offers f
        JOIN stocks s ON s.run_id = f.run_id AND s.stock_id = f.stock_id
        WHERE f.run_id = $run AND s.experiment = $experiment AND f.exposed_at IS NOT NULL
        GROUP BY s.arm
        """,
        params,
    )
    redemptions = store.query(
        """
        SELECT s.arm,
               count(*) AS issued,
               count(*) FILTER (WHERE c.redeemed_at IS NOT NULL) AS redeemed
        FROM coupons c
        JOIN stocks s ON s.run_id = c.run_id AND s.stock_id = c.stock_id
        WHERE c.run_id = $run AND s.experiment = $experiment
          AND c.status IN ('issued', 'compensated')
        GROUP BY s.arm
        """,
        params,
    )
    t, c = pick_arms(shares, arms, experiment=experiment, run=run, what="exposed offers")
    share_change = ratio(
        ratio(t["shared"], t["exposed"], "treatment exposures"),
        ratio(c["shared"], c["exposed"], "control exposures"),
        "control share rate",
    )
    t, c = pick_arms(redemptions, arms, experiment=experiment, run=run, what="issued coupons")
    redemption_change = ratio(
        ratio(t["redeemed"], t["issued"], "treatment coupons"),
        ratio(c["redeemed"], c["issued"], "control coupons"),
        "control redemption rate",
    )
    return {"share_rate_change": share_change - 1, "redemption_rate_change": redemption_change - 1}
