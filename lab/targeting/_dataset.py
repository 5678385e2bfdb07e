"""The modelling table for uplift: one row per experiment user, built in DuckDB.

Features are what the issuer knows before the campaign starts: the ``users`` profile
and the user's pre-period history (orders before ``runs.start_date``). The outcome is
measured over the campaign period ``[start_date, start_date + days)``. The treatment
flag says which of the two compared arms the user was randomised to.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from lab import schema
from lab._validate import check
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

_FEATURES_SQL = """
WITH pre AS (
    SELECT user_id,
        count(*) AS pre_orders,
        sum(amount_fen) AS pre_gmv_fen,
        count(coupon_id) AS pre_coupon_orders,
        avg(CASE WHEN order_channel = 'delivery' THEN 1.0 ELSE 0.0 END) AS pre_delivery_share,
        date_diff('second', max(ts), $start) / 86400.0 AS days_since_last_order
    FROM orders
    WHERE run_id = $run AND ts < $start
    GROUP BY user_id
)
SELECT u.user_id,
    u.city_tier, u.distance_km, u.credit_tier, u.friends,
    CAST(u.uses_wechat AS INTEGER) AS uses_wechat,
    CAST(u.uses_alipay AS INTEGER) AS uses_alipay,
    CAST(u.uses_meituan AS INTEGER) AS uses_meituan,
    u.segment, u.primary_platform,
    date_diff('second', u.registered_at, $start) / 86400.0 AS account_age_days,
    coalesce(pre.pre_orders, 0) AS pre_orders,
    coalesce(pre.pre_gmv_fen, 0) AS pre_gmv_fen,
    coalesce(pre.pre_coupon_orders, 0) AS pre_coupon_orders,
    coalesce(pre.pre_delivery_share, 0) AS pre_delivery_share,
    pre.days_since_last_order
FROM users u LEFT JOIN pre USING (user_id)
WHERE u.run_id = $run
ORDER BY u.user_id
"""

_OUTCOME_SQL = """
WITH a AS (
    SELECT user_id, arm = $treatment AS treated FROM assignments
    WHERE run_id = $run AND experiment = $experiment AND arm IN ($treatment, $control)
),
post AS (
    SELECT user_id, count(*) AS orders, sum(amount_fen) AS gmv
    FROM orders
    WHERE run_id = $run AND ts >= $start AND ts < $end
    GROUP BY user_id
),
red AS (
    SELECT DISTINCT user_id FROM coupons
    WHERE run_id = $run AND redeemed_at >= $start AND redeemed_at < $end
)
SELECT a.user_id,
    CAST(a.treated AS INTEGER) AS treatment,
    coalesce(post.orders, 0) AS orders,
    coalesce(post.gmv, 0) AS gmv,
    CAST(red.user_id IS NOT NULL AS INTEGER) AS redeemed
FROM a
LEFT JOIN post USING (user_id)
LEFT JOIN red USING (user_id)
ORDER BY a.user_id
"""


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
    store : Store
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
    df = store.query(_FEATURES_SQL, {"run": run, "start": start})
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
    store : Store
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
    arms = store.query(
        "SELECT DISTINCT arm FROM assignments WHERE run_id = ? AND experiment = ? ORDER BY arm",
        [run, experiment],
    )["arm"].tolist()
    if not arms:
        raise ValueError(f"experiment {experiment!r} has no arms in run {run!r}")
    for name, arm in (("treatment_arm", treatment_arm), ("control_arm", control_arm)):
        if arm not in arms:
            raise ValueError(f"{name} must be one of {arms} (arms of {experiment!r}), got {arm!r}")
    y = store.query(
        _OUTCOME_SQL,
        {
            "run": run,
            "experiment": experiment,
            "treatment": treatment_arm,
            "control": control_arm,
            "start": start,
            "end": end,
        },
    )
    out = user_features(store, run=run).merge(
        y[["user_id", "treatment", outcome]], on="user_id", how="inner"
    )
    out["treatment"] = out["treatment"].astype("int64")
    out["outcome"] = out.pop(outcome).astype("float64")
    return out.reset_index(drop=True)
