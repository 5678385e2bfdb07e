"""Per-entry figures of the issuance funnel: reach, day-one redemption, journey losses,
and how share-to-unlock changes sharing and redemption."""

from __future__ import annotations

import ibis

from lab._runs import check_arms, pick_arms, ratio, require_run
from lab.engines import session
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
    with session(store) as db:
        offers = db.table("offers")
        offers = offers.filter(
            offers.run_id == run, offers.platform == "wechat", offers.entry.notnull()
        )
        df = db.execute(
            offers.group_by("entry").aggregate(
                delivered=offers.user_id.nunique(),
                exposed=offers.user_id.nunique(where=offers.exposed_at.notnull()),
            )
        ).sort_values("entry", ignore_index=True)
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
    # a filtered count is a SUM on Spark: NULL, not 0, over no (or only NULL) rows
    with session(store) as db:
        offers = db.table("offers")
        offers = offers.filter(
            offers.run_id == run,
            offers.platform == "wechat",
            offers.entry == entry,
            offers.exposed_at.notnull(),
        )
        within_day = offers.redeemed_at <= offers.exposed_at + ibis.interval(hours=24)
        row = db.execute(
            offers.aggregate(
                exposed=offers.count(), redeemed=offers.count(where=within_day).coalesce(0)
            )
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
    with session(store) as db:
        offers = db.table("offers")
        offers = offers.filter(offers.run_id == run, offers.exposed_at.notnull())
        claimed = offers.claimed_at.notnull()
        considered = offers.rule_viewed_at.notnull() | offers.shared_at.notnull() | claimed
        row = db.execute(
            offers.aggregate(
                exposed=offers.count(),
                considered=offers.count(where=considered).coalesce(0),
                not_claimed=offers.count(where=considered & ~claimed).coalesce(0),
            )
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
    with session(store) as db:
        stocks = db.table("stocks")
        stocks = stocks.filter(stocks.run_id == run, stocks.experiment == experiment).select(
            "stock_id", "arm"
        )
        offers = db.table("offers")
        offers = offers.filter(offers.run_id == run, offers.exposed_at.notnull())
        offers = offers.join(stocks, "stock_id")
        shares = db.execute(
            offers.group_by("arm").aggregate(
                exposed=offers.count(), shared=offers.count(where=offers.shared_at.notnull())
            )
        )
        coupons = db.table("coupons")
        coupons = coupons.filter(
            coupons.run_id == run, coupons.status.isin(("issued", "compensated"))
        )
        coupons = coupons.join(stocks, "stock_id")
        redemptions = db.execute(
            coupons.group_by("arm").aggregate(
                issued=coupons.count(), redeemed=coupons.count(where=coupons.redeemed_at.notnull())
            )
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
