"""The modelling table for uplift: one row per experiment user, built by the store's engine.

Features are what the issuer knows before the campaign starts: the ``users`` profile
and the user's pre-period history (orders before ``runs.start_date``). The outcome is
measured over the campaign period ``[start_date, start_date + days)``. The treatment
flag says which of the two compared arms the user was randomised to.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd

from lab import schema
from lab._validate import check
from lab.engines import session
from lab.store import Store

__all__ = ["OUTCOMES", "UPLIFT_FEATURES", "uplift_dataset", "user_features"]

OUTCOMES = ("orders", "gmv", "redeemed")

_SEGMENTS = schema.SEGMENTS
_PLATFORMS = schema.PLATFORMS

#: Feature columns of :func:`uplift_dataset`, in order.
UPLIFT_FEATURES = (
    "city_tier",
    "distance_km",
    "credit_tier",
    "friends",
    "uses_wechat",
    "uses_alipay",
    "uses_meituan",
    *(f"segment_{s}" for s in _SEGMENTS),
    *(f"platform_{p}" for p in _PLATFORMS),
    "account_age_days",
    "pre_orders",
    "pre_gmv_fen",
    "pre_coupon_orders",
    "pre_delivery_share",
    "days_since_last_order",
)

_FLAGS = ("uses_wechat", "uses_alipay", "uses_meituan")
_PROFILE = ("city_tier", "distance_km", "credit_tier", "friends", *_FLAGS)
_DAY = pd.Timedelta(days=1)


def _features(db, *, run: str, start: dt.datetime) -> ibis.Table:
    """One row per user of ``run``: profile columns, ``registered_at``, pre-period order
    counts and sums (0 without orders) and the time of the last pre-period order."""
    orders = db.table("orders")
    pre = orders.filter(orders.run_id == run, orders.ts < start)
    history = pre.group_by("user_id").aggregate(
        pre_orders=pre.count(),
        pre_gmv_fen=pre.amount_fen.sum(),
        pre_coupon_orders=pre.coupon_id.count(),
        # a NULL channel counts as not delivery
        pre_delivery_share=(pre.order_channel == "delivery").coalesce(False).cast("float64").mean(),
        last_order_at=pre.ts.max(),
    )
    users = db.table("users")
    users = users.filter(users.run_id == run)
    joined = users.left_join(history, users.user_id == history.user_id)
    return joined.select(
        user_id=users.user_id,
        **{c: users[c] for c in _PROFILE},
        segment=users.segment,
        primary_platform=users.primary_platform,
        registered_at=users.registered_at,
        pre_orders=history.pre_orders.coalesce(0),
        pre_gmv_fen=history.pre_gmv_fen.coalesce(0),
        pre_coupon_orders=history.pre_coupon_orders.coalesce(0),
        pre_delivery_share=history.pre_delivery_share.coalesce(0.0),
        last_order_at=history.last_order_at,
    )


def _outcomes(
    db, *, run: str, experiment: str, treatment_arm: str, control_arm: str, start, end
) -> ibis.Table:
    """One row per user of the two arms: ``treatment`` (bool), campaign-period ``orders``
    and ``gmv`` (0 without orders) and ``redeemed`` (redeemed a coupon in the period)."""
    assigned = db.table("assignments")
    assigned = assigned.filter(
        assigned.run_id == run,
        assigned.experiment == experiment,
        assigned.arm.isin([treatment_arm, control_arm]),
    )
    orders = db.table("orders")
    post = orders.filter(orders.run_id == run, orders.ts >= start, orders.ts < end)
    post = post.group_by("user_id").aggregate(orders=post.count(), gmv=post.amount_fen.sum())
    coupons = db.table("coupons")
    redeemers = coupons.filter(
        coupons.run_id == run, coupons.redeemed_at >= start, coupons.redeemed_at < end
    )
    redeemers = redeemers.select(_lab_redeemer=redeemers.user_id).distinct()
    joined = assigned.left_join(post, assigned.user_id == post.user_id).left_join(
        redeemers, assigned.user_id == redeemers._lab_redeemer
    )
    return joined.select(
        user_id=assigned.user_id,
        treatment=assigned.arm == treatment_arm,
        orders=post.orders.coalesce(0),
        gmv=post.gmv.coalesce(0),
        redeemed=redeemers._lab_redeemer.notnull(),
    )


def _days_before(start: dt.datetime, ts: pd.Series) -> pd.Series:
    """Days from ``ts`` to ``start`` in whole seconds (as DuckDB's ``date_diff('second')``),
    computed here because Spark's epoch seconds drop the fraction differently."""
    return (pd.Timestamp(start) - ts.dt.floor("s")) / _DAY


def _period(store: Store, run: str) -> tuple[dt.datetime, dt.datetime]:
    info = store.run(run)
    if info["start_date"] is None or pd.isna(info["start_date"]) or pd.isna(info["days"]):
        raise ValueError(
            f"run {run!r} has no start_date/days: cannot split pre-period and campaign"
        )
    start = pd.Timestamp(info["start_date"]).to_pydatetime()
    return start, start + dt.timedelta(days=int(info["days"]))


def user_features(store: Store, *, run: str) -> pd.DataFrame:
    """Pre-campaign features of every user of ``run`` (what a targeting model may use).

    Parameters
    ----------
    store : lab.Store
        Or a store from ``lab.Store.from_ibis``.
    run : str, keyword-only
        Run id; orders before its ``runs.start_date`` form the pre-period.

    Returns
    -------
    DataFrame
        ``user_id`` and :data:`UPLIFT_FEATURES` (float; ``distance_km``,
        ``account_age_days`` and ``days_since_last_order`` may be NaN), sorted by
        ``user_id``. Segment and primary platform are one-hot columns.

    Examples
    --------
    >>> import datetime, lab
    >>> store = lab.Store(":memory:")
    >>> _ = store.create_run("r", origin="import", days=7, start_date=datetime.date(2026, 3, 1))
    >>> list(user_features(store, run="r").columns[:3])
    ['user_id', 'city_tier', 'distance_km']
    """
    start, _ = _period(store, run)
    with session(store) as db:
        df = db.execute(_features(db, run=run, start=start))
    df = df.sort_values("user_id", ignore_index=True)
    for flag in _FLAGS:
        df[flag] = df[flag].astype("float64")  # NULL stays NaN
    df["account_age_days"] = _days_before(start, df["registered_at"])
    df["days_since_last_order"] = _days_before(start, df["last_order_at"])
    for s in _SEGMENTS:
        df[f"segment_{s}"] = (df["segment"] == s).astype("int64")
    for p in _PLATFORMS:
        df[f"platform_{p}"] = (df["primary_platform"] == p).astype("int64")
    out = df[["user_id", *UPLIFT_FEATURES]].copy()
    for col in UPLIFT_FEATURES:
        out[col] = out[col].astype("float64")
    return out


def uplift_dataset(
    store: Store,
    *,
    run: str,
    experiment: str,
    treatment_arm: str,
    control_arm: str,
    outcome: str = "orders",
) -> pd.DataFrame:
    """Features, treatment flag and campaign-period outcome of one experiment's users.

    Parameters
    ----------
    store : lab.Store
        Or a store from ``lab.Store.from_ibis``.
    run : str, keyword-only
        Run id; its ``runs.start_date`` and ``days`` delimit the campaign period.
    experiment : str, keyword-only
        Experiment name in ``assignments``.
    treatment_arm, control_arm : str, keyword-only
        The two arms compared (e.g. ``"tiered"`` vs ``"uniform"``, or an offer arm vs
        ``"holdout"``).
    outcome : {"orders", "gmv", "redeemed"}, keyword-only
        Campaign-period orders, GMV (sum of basket ``amount_fen``, fen) or whether the
        user redeemed any coupon (0/1).

    Returns
    -------
    DataFrame
        ``user_id``, :data:`UPLIFT_FEATURES` (see :func:`user_features`), ``treatment``
        (1 = treatment arm) and ``outcome`` (float), sorted by ``user_id``.

    Examples
    --------
    >>> import datetime, lab
    >>> store = lab.Store(":memory:")
    >>> _ = store.create_run("r", origin="import", days=7, start_date=datetime.date(2026, 3, 1))
    >>> uplift_dataset(store, run="r", experiment="e", treatment_arm="a", control_arm="b")
    Traceback (most recent call last):
    ...
    ValueError: experiment 'e' has no arms in run 'r'
    """
    check(locals())  # argument types and ranges, up front
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
    if treatment_arm == control_arm:
        raise ValueError("treatment_arm and control_arm must differ")
    start, end = _period(store, run)
    with session(store) as db:
        assigned = db.table("assignments")
        arms = assigned.filter(assigned.run_id == run, assigned.experiment == experiment)
        arms = sorted(db.execute(arms.select("arm").distinct())["arm"].tolist())
        if not arms:
            raise ValueError(f"experiment {experiment!r} has no arms in run {run!r}")
        for name, arm in (("treatment_arm", treatment_arm), ("control_arm", control_arm)):
            if arm not in arms:
                raise ValueError(
                    f"{name} must be one of {arms} (arms of {experiment!r}), got {arm!r}"
                )
        y = db.execute(
            _outcomes(
                db,
                run=run,
                experiment=experiment,
                treatment_arm=treatment_arm,
                control_arm=control_arm,
                start=start,
                end=end,
            )
        )
    out = user_features(store, run=run).merge(
        y[["user_id", "treatment", outcome]], on="user_id", how="inner"
    )
    out["treatment"] = out["treatment"].astype("int64")
    out["outcome"] = out.pop(outcome).astype("float64")
    return out.reset_index(drop=True)
