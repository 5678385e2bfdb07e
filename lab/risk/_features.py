"""Per-account risk features, computed by the store's engine (one Ibis expression) from
the logs only.

Farming rings (羊毛党) leave traces a single honest user rarely does: many accounts on
one device fingerprint or one /24 IP block, claims from one block arriving in bursts,
virtual-number phone segments (170/171), coupons claimed and never used (or used on a
basket that barely clears the threshold), orders linked across accounts through a
shared device or IP, many claims per hour, and brand-new accounts. Every feature below
is read from ``users``, ``coupons`` and ``orders``; the ``truth_*`` tables are never
touched.

An account's devices and IPs are the union of its profile (``users.device_id``,
``users.ip``) and what it used at claim time (``coupons.device_id``, ``coupons.ip``,
falling back to the profile IP when a claim has none).
"""

from __future__ import annotations

import ibis
import pandas as pd

from lab._validate import check
from lab.engines import session
from lab.engines._expr import union
from lab.store import Store

__all__ = ["FEATURES", "NEAR_THRESHOLD_MARGIN", "VIRTUAL_PREFIXES", "risk_features"]

#: Phone prefixes of virtual-number segments (虚拟号段).
VIRTUAL_PREFIXES = (170, 171)
#: A redeemed order "barely exceeds" its threshold when amount < minimum x (1 + margin).
NEAR_THRESHOLD_MARGIN = 0.05

#: Feature columns of :func:`risk_features`, in order (after ``user_id``).
FEATURES = (
    "accounts_per_device",
    "accounts_per_ip_block",
    "max_block_claims_per_minute",
    "max_block_claims_per_hour",
    "virtual_number",
    "n_claims",
    "n_issued",
    "n_refused",
    "n_redeemed",
    "unredeemed_share",
    "near_threshold_share",
    "linked_orders",
    "organic_orders",
    "max_claims_per_hour",
    "account_age_hours",
)

_ISSUED = ("issued", "compensated")


def _features(db, run: str) -> ibis.Table:
    """The per-account feature table, less ``account_age_hours`` (Python computes it from
    ``first_claim`` and ``registered_at``: engines disagree on sub-second epochs)."""
    users = db.table("users")
    u = users.filter(users.run_id == run).select(
        "user_id", "device_id", "ip", "phone_prefix", "registered_at"
    )
    coupons = db.table("coupons")
    coupons = coupons.filter(coupons.run_id == run)
    profile_ip = u.select(_lab_user=u.user_id, _lab_ip=u.ip)
    joined = coupons.left_join(profile_ip, coupons.user_id == profile_ip._lab_user)
    c = joined.select(
        "coupon_id",
        "user_id",
        "claimed_at",
        "status",
        "redeemed_at",
        "order_id",
        "transaction_minimum_fen",
        "device_id",
        ip=joined.ip.cast("int64").coalesce(joined._lab_ip.cast("int64")),
    )
    accounts = union(u.select("user_id"), c.select("user_id"), distinct=True)

    def links(column):
        profile = u.filter(u[column].notnull()).select("user_id", value=u[column].cast("int64"))
        claimed = c.filter(c[column].notnull()).select("user_id", value=c[column].cast("int64"))
        return union(profile, claimed, distinct=True)

    def accounts_per(linked, name):
        per_value = linked.group_by("value").agg(n=linked.user_id.nunique())
        both = linked.join(per_value, "value")
        return both.group_by("user_id").agg(**{name: both.n.max()})

    dev_links, ip_links = links("device_id"), links("ip")
    blk_links = ip_links.select("user_id", value=ip_links.value // 256).distinct()
    # .view() on both sides of these joins: the tables share `c` as an ancestor, and
    # Ibis would otherwise extend one join chain and fail to place the predicates (`c`
    # itself stays plain, so the compiled SQL scans coupons 3 times instead of 5)
    dev_n = dev_links.group_by(device_id=dev_links.value).agg(dev_n=dev_links.user_id.nunique())
    ip_n = ip_links.group_by(ip=ip_links.value).agg(ip_n=ip_links.user_id.nunique())

    claims = c.left_join(dev_n.view(), "device_id").select(c, "dev_n").view()
    claims = claims.left_join(ip_n.view(), "ip").select(claims, "ip_n").view()
    claims = claims.mutate(
        blk=claims.ip // 256,
        minute=claims.claimed_at.truncate("m"),
        hour=claims.claimed_at.truncate("h"),
        linked=(claims.dev_n.coalesce(1) > 1) | (claims.ip_n.coalesce(1) > 1),
    )
    blocked = claims.filter(claims.blk.notnull())
    blk_min = blocked.group_by(["blk", "minute"]).agg(blk_min_n=blocked.count())
    blk_hour = blocked.group_by(["blk", "hour"]).agg(blk_hour_n=blocked.count())
    per_hour = claims.group_by(["user_id", "hour"]).agg(n=claims.count())
    user_hour = per_hour.group_by("user_id").agg(max_claims_per_hour=per_hour.n.max())
    orders = db.table("orders")
    paid = orders.filter(orders.run_id == run).select("order_id", _lab_amount="amount_fen")

    cl = claims.left_join(blk_min.view(), ["blk", "minute"]).select(claims, "blk_min_n").view()
    cl = cl.left_join(blk_hour.view(), ["blk", "hour"]).select(cl, "blk_hour_n").view()
    cl = cl.left_join(paid, "order_id").select(cl, "_lab_amount")
    redeemed = cl.redeemed_at.notnull()
    near = (
        redeemed
        & (cl.transaction_minimum_fen > 0)
        & (cl._lab_amount < cl.transaction_minimum_fen * (1 + NEAR_THRESHOLD_MARGIN))
    )
    claim_user = cl.group_by("user_id").agg(
        max_block_claims_per_minute=cl.blk_min_n.max(),
        max_block_claims_per_hour=cl.blk_hour_n.max(),
        n_claims=cl.count(),
        n_issued=cl.count(where=cl.status.isin(_ISSUED)),
        n_refused=cl.count(where=cl.status == "refused"),
        n_redeemed=cl.count(where=redeemed),
        n_near=cl.count(where=near),
        linked_orders=cl.count(where=redeemed & cl.linked),
        first_claim=cl.claimed_at.min(),
    )
    organic = orders.filter(orders.run_id == run, orders.coupon_id.isnull())
    organic = organic.group_by("user_id").agg(organic_orders=organic.count())

    out = accounts
    for part in (
        u.select("user_id", "phone_prefix", "registered_at"),
        accounts_per(dev_links, "accounts_per_device"),
        accounts_per(blk_links, "accounts_per_ip_block"),
        claim_user,
        user_hour,
        organic,
    ):
        out = (
            out.left_join(part.view(), "user_id")
            .select(out, *[name for name in part.columns if name != "user_id"])
            .view()
        )
    issued, redeemed_n = out.n_issued, out.n_redeemed
    return out.select(
        "user_id",
        accounts_per_device=out.accounts_per_device.coalesce(1),
        accounts_per_ip_block=out.accounts_per_ip_block.coalesce(1),
        max_block_claims_per_minute=out.max_block_claims_per_minute.coalesce(0),
        max_block_claims_per_hour=out.max_block_claims_per_hour.coalesce(0),
        virtual_number=out.phone_prefix.isin(VIRTUAL_PREFIXES).coalesce(False),
        n_claims=out.n_claims.coalesce(0),
        n_issued=issued.coalesce(0),
        n_refused=out.n_refused.coalesce(0),
        n_redeemed=redeemed_n.coalesce(0),
        unredeemed_share=ibis.ifelse(issued > 0, 1 - redeemed_n / issued, 0.0),
        near_threshold_share=ibis.ifelse(redeemed_n > 0, out.n_near / redeemed_n, 0.0),
        linked_orders=out.linked_orders.coalesce(0),
        organic_orders=out.organic_orders.coalesce(0),
        max_claims_per_hour=out.max_claims_per_hour.coalesce(0),
        first_claim=out.first_claim,
        registered_at=out.registered_at,
    )


def risk_features(store: Store, *, run: str) -> pd.DataFrame:
    """Per-account fraud features of one run, computed in SQL from the logs.

    Parameters
    ----------
    store : Store
        The lab store.
    run : str, keyword-only
        Run id.

    Returns
    -------
    DataFrame
        One row per account (every user in ``users`` plus any claimer missing from it),
        sorted by ``user_id``, with columns ``user_id`` and :data:`FEATURES`:

        - ``accounts_per_device``: most accounts sharing any device fingerprint of this
          account (1 = device used by this account only);
        - ``accounts_per_ip_block``: most accounts seen in any /24 block (``ip // 256``)
          this account used;
        - ``max_block_claims_per_minute`` / ``_per_hour``: largest number of claims from
          one /24 block in one clock minute / hour, over this account's claims (0 when
          its claims carry no IP);
        - ``virtual_number``: phone prefix is 170 or 171;
        - ``n_claims``, ``n_issued`` (issued or compensated), ``n_refused``,
          ``n_redeemed``: claim attempts and their outcomes;
        - ``unredeemed_share``: issued coupons never redeemed ÷ issued (0 if none);
        - ``near_threshold_share``: redeemed threshold coupons whose order amount is
          below the minimum x 1.05 ÷ redeemed (0 if none);
        - ``linked_orders``: redemptions whose claim came from a device or IP shared
          with another account;
        - ``organic_orders``: orders placed without a coupon;
        - ``max_claims_per_hour``: claim velocity, the account's most claims in one
          clock hour;
        - ``account_age_hours``: hours from registration to the first claim (NaN
          without a claim or a registration time).

    Examples
    --------
    >>> import lab
    >>> store = lab.Store(":memory:")
    >>> _ = store.create_run("r", origin="import")
    >>> risk_features(store, run="r").empty
    True
    """
    check(locals())  # argument types and ranges, up front
    store.run(run)
    with session(store) as db:
        df = db.execute(_features(db, run))
    df = df.sort_values("user_id", kind="stable").reset_index(drop=True)
    age = df.pop("first_claim") - df.pop("registered_at")
    df["account_age_hours"] = age.dt.total_seconds() / 3600
    df["virtual_number"] = df["virtual_number"].astype(bool)
    for col in FEATURES:
        if col not in (
            "virtual_number",
            "unredeemed_share",
            "near_threshold_share",
            "account_age_hours",
        ):
            df[col] = df[col].astype("int64")
    df["account_age_hours"] = df["account_age_hours"].astype("float64")
    return df
