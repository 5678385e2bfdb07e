"""Per-account risk features, computed in DuckDB from the logs only.

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

import pandas as pd

from lab._validate import check
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

_SQL = """
WITH u AS (
    SELECT user_id, device_id, ip, phone_prefix, registered_at
    FROM users WHERE run_id = $run
),
c AS (
    SELECT c.coupon_id, c.user_id, c.claimed_at, c.status, c.redeemed_at, c.order_id,
           c.transaction_minimum_fen, c.device_id,
           coalesce(c.ip, u.ip) AS ip
    FROM coupons c LEFT JOIN u USING (user_id)
    WHERE c.run_id = $run
),
accounts AS (SELECT user_id FROM u UNION SELECT user_id FROM c),
dev_links AS (
    SELECT user_id, device_id FROM u WHERE device_id IS NOT NULL
    UNION SELECT user_id, device_id FROM c WHERE device_id IS NOT NULL
),
dev_n AS (SELECT device_id, count(DISTINCT user_id) AS n FROM dev_links GROUP BY device_id),
dev_user AS (
    SELECT l.user_id, max(d.n) AS accounts_per_device
    FROM dev_links l JOIN dev_n d USING (device_id) GROUP BY l.user_id
),
blk_links AS (
    SELECT user_id, ip // 256 AS blk FROM u WHERE ip IS NOT NULL
    UNION SELECT user_id, ip // 256 FROM c WHERE ip IS NOT NULL
),
blk_n AS (SELECT blk, count(DISTINCT user_id) AS n FROM blk_links GROUP BY blk),
blk_user AS (
    SELECT l.user_id, max(b.n) AS accounts_per_ip_block
    FROM blk_links l JOIN blk_n b USING (blk) GROUP BY l.user_id
),
ip_n AS (
    SELECT ip, count(DISTINCT user_id) AS n
    FROM (SELECT user_id, ip FROM u WHERE ip IS NOT NULL UNION SELECT user_id, ip FROM c)
    GROUP BY ip
),
claims AS (
    SELECT c.*, c.ip // 256 AS blk,
        date_trunc('minute', c.claimed_at) AS minute,
        date_trunc('hour', c.claimed_at) AS hour,
        coalesce(dn.n, 1) > 1 OR coalesce(ipn.n, 1) > 1 AS linked
    FROM c
    LEFT JOIN dev_n dn ON dn.device_id = c.device_id
    LEFT JOIN ip_n ipn ON ipn.ip = c.ip
),
-- hash aggregations joined back are cheaper than three sorted window partitions
blk_min AS (SELECT blk, minute, count(*) AS n FROM claims WHERE blk IS NOT NULL GROUP BY ALL),
blk_hour AS (SELECT blk, hour, count(*) AS n FROM claims WHERE blk IS NOT NULL GROUP BY ALL),
user_hour AS (
    SELECT user_id, max(n) AS max_claims_per_hour
    FROM (SELECT user_id, hour, count(*) AS n FROM claims GROUP BY ALL) GROUP BY user_id
),
claim_user AS (
    SELECT cl.user_id,
        max(bm.n) AS max_block_claims_per_minute,
        max(bh.n) AS max_block_claims_per_hour,
        count(*) AS n_claims,
        count(*) FILTER (WHERE status IN ('issued', 'compensated')) AS n_issued,
        count(*) FILTER (WHERE status = 'refused') AS n_refused,
        count(*) FILTER (WHERE redeemed_at IS NOT NULL) AS n_redeemed,
        count(*) FILTER (
            WHERE redeemed_at IS NOT NULL AND cl.transaction_minimum_fen > 0
              AND o.amount_fen < cl.transaction_minimum_fen * (1 + $margin)
        ) AS n_near,
        count(*) FILTER (WHERE redeemed_at IS NOT NULL AND linked) AS linked_orders,
        min(claimed_at) AS first_claim
    FROM claims cl
    LEFT JOIN blk_min bm ON bm.blk = cl.blk AND bm.minute = cl.minute
    LEFT JOIN blk_hour bh ON bh.blk = cl.blk AND bh.hour = cl.hour
    LEFT JOIN (SELECT order_id, amount_fen FROM orders WHERE run_id = $run) o
        ON o.order_id = cl.order_id
    GROUP BY cl.user_id
),
organic AS (
    SELECT user_id, count(*) AS organic_orders
    FROM orders WHERE run_id = $run AND coupon_id IS NULL GROUP BY user_id
)
SELECT a.user_id,
    coalesce(d.accounts_per_device, 1) AS accounts_per_device,
    coalesce(b.accounts_per_ip_block, 1) AS accounts_per_ip_block,
    coalesce(cu.max_block_claims_per_minute, 0) AS max_block_claims_per_minute,
    coalesce(cu.max_block_claims_per_hour, 0) AS max_block_claims_per_hour,
    coalesce(list_contains($prefixes, u.phone_prefix), false) AS virtual_number,
    coalesce(cu.n_claims, 0) AS n_claims,
    coalesce(cu.n_issued, 0) AS n_issued,
    coalesce(cu.n_refused, 0) AS n_refused,
    coalesce(cu.n_redeemed, 0) AS n_redeemed,
    CASE WHEN cu.n_issued > 0 THEN 1 - cu.n_redeemed / cu.n_issued ELSE 0 END
        AS unredeemed_share,
    CASE WHEN cu.n_redeemed > 0 THEN cu.n_near / cu.n_redeemed ELSE 0 END
        AS near_threshold_share,
    coalesce(cu.linked_orders, 0) AS linked_orders,
    coalesce(og.organic_orders, 0) AS organic_orders,
    coalesce(uh.max_claims_per_hour, 0) AS max_claims_per_hour,
    (epoch(cu.first_claim) - epoch(u.registered_at)) / 3600.0 AS account_age_hours
FROM accounts a
LEFT JOIN u USING (user_id)
LEFT JOIN dev_user d USING (user_id)
LEFT JOIN blk_user b USING (user_id)
LEFT JOIN claim_user cu USING (user_id)
LEFT JOIN user_hour uh USING (user_id)
LEFT JOIN organic og USING (user_id)
ORDER BY a.user_id
"""


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
    df = store.query(
        _SQL, {"run": run, "margin": NEAR_THRESHOLD_MARGIN, "prefixes": list(VIRTUAL_PREFIXES)}
    )
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
