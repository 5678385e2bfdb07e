"""Reconcile claim attempts, coupons, orders and stock budgets.

The seed's issuance engine promises that every claim ends in exactly one state:
issued, compensated (issued late by the asynchronous compensation job) or refused,
none lost and none counted twice, and that no stock ever pays out more than its
budget. :func:`reconcile` checks those promises on the logs of one run, each check a
DuckDB query that returns the ids involved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from lab._validate import check
from lab.store import Store

__all__ = ["CHECKS", "ReconciliationReport", "reconcile"]

_COLUMNS = ("check", "coupon_id", "event_id", "user_id", "stock_id", "order_id", "detail")
_ISSUED = "status IN ('issued', 'compensated')"

#: check name -> (what it means, SQL returning the discrepancy rows). ``$run`` is bound.
CHECKS: dict[str, tuple[str, str]] = {
    "claim_event_without_coupon": (
        "a claim event whose coupon_id has no coupons row (claim lost)",
        """SELECT e.coupon_id, e.event_id, e.user_id, e.stock_id, NULL AS order_id,
                  'claim event has no coupons row' AS detail
           FROM events e
           WHERE e.run_id = $run AND e.event_type = 'claim'
             AND (e.coupon_id IS NULL OR e.coupon_id NOT IN
                  (SELECT coupon_id FROM coupons WHERE run_id = $run))""",
    ),
    "coupon_without_claim_event": (
        "a coupons row with no claim event (skipped when the run logs no claim events)",
        """SELECT c.coupon_id, NULL AS event_id, c.user_id, c.stock_id, c.order_id,
                  'coupons row has no claim event' AS detail
           FROM coupons c
           WHERE c.run_id = $run
             AND EXISTS (SELECT 1 FROM events WHERE run_id = $run AND event_type = 'claim')
             AND c.coupon_id NOT IN (SELECT coupon_id FROM events
                 WHERE run_id = $run AND event_type = 'claim' AND coupon_id IS NOT NULL)""",
    ),
    "duplicate_coupon": (
        "a coupon_id on several coupons rows (counted twice; detail lists the statuses)",
        """SELECT coupon_id, NULL AS event_id, min(user_id) AS user_id, min(stock_id) AS stock_id,
                  NULL AS order_id,
                  count(*) || ' rows, statuses ' || string_agg(status, ',' ORDER BY status) AS detail
           FROM coupons WHERE run_id = $run
           GROUP BY coupon_id HAVING count(*) > 1""",
    ),
    "duplicate_claim_event": (
        "several claim events for one coupon_id (one attempt counted twice)",
        """SELECT coupon_id, min(event_id) AS event_id, min(user_id) AS user_id,
                  min(stock_id) AS stock_id, NULL AS order_id,
                  count(*) || ' claim events' AS detail
           FROM events WHERE run_id = $run AND event_type = 'claim' AND coupon_id IS NOT NULL
           GROUP BY coupon_id HAVING count(*) > 1""",
    ),
    "bad_status": (
        "a claim attempt that did not end issued, compensated or refused",
        """SELECT coupon_id, NULL AS event_id, user_id, stock_id, order_id,
                  'status ' || coalesce(status, 'NULL') AS detail
           FROM coupons WHERE run_id = $run
             AND (status IS NULL OR status NOT IN ('issued', 'compensated', 'refused'))""",
    ),
    "compensated_not_late": (
        "a compensated coupon whose issued_at is missing or not after claimed_at",
        """SELECT coupon_id, NULL AS event_id, user_id, stock_id, order_id,
                  'claimed ' || claimed_at || ', issued ' || coalesce(CAST(issued_at AS VARCHAR), 'NULL')
                  AS detail
           FROM coupons WHERE run_id = $run AND status = 'compensated'
             AND (issued_at IS NULL OR issued_at <= claimed_at)""",
    ),
    "refused_without_reason": (
        "a refused attempt with no refusal_reason",
        """SELECT coupon_id, NULL AS event_id, user_id, stock_id, order_id,
                  'refused, no reason' AS detail
           FROM coupons WHERE run_id = $run AND status = 'refused' AND refusal_reason IS NULL""",
    ),
    "refused_redeemed": (
        "a refused attempt that was nevertheless redeemed or paid an order",
        """SELECT c.coupon_id, NULL AS event_id, c.user_id, c.stock_id,
                  coalesce(c.order_id, o.order_id) AS order_id,
                  'refused (' || coalesce(c.refusal_reason, 'no reason') || ') but redeemed' AS detail
           FROM coupons c
           LEFT JOIN (SELECT coupon_id, min(order_id) AS order_id FROM orders
                      WHERE run_id = $run AND coupon_id IS NOT NULL GROUP BY coupon_id) o
             USING (coupon_id)
           WHERE c.run_id = $run AND c.status = 'refused'
             AND (c.redeemed_at IS NOT NULL OR c.order_id IS NOT NULL OR o.order_id IS NOT NULL)""",
    ),
    "redeemed_order_count": (
        "a redeemed coupon without exactly one order carrying its coupon_id",
        """SELECT c.coupon_id, NULL AS event_id, c.user_id, c.stock_id,
                  coalesce(o.order_id, c.order_id) AS order_id,
                  coalesce(o.n, 0) || ' orders carry this coupon' AS detail
           FROM coupons c
           LEFT JOIN (SELECT coupon_id, count(*) AS n, min(order_id) AS order_id FROM orders
                      WHERE run_id = $run AND coupon_id IS NOT NULL GROUP BY coupon_id) o
             USING (coupon_id)
           WHERE c.run_id = $run AND c.redeemed_at IS NOT NULL AND coalesce(o.n, 0) <> 1""",
    ),
    "budget_exceeded": (
        "a stock whose issued + compensated face value exceeds total_budget_fen",
        f"""SELECT NULL AS coupon_id, NULL AS event_id, NULL AS user_id, s.stock_id,
                  NULL AS order_id,
                  'spent ' || c.spent || ' fen > budget ' || s.total_budget_fen || ' fen' AS detail
           FROM stocks s JOIN (SELECT stock_id, sum(amount_fen) AS spent FROM coupons
                               WHERE run_id = $run AND {_ISSUED} GROUP BY stock_id) c
             USING (stock_id)
           WHERE s.run_id = $run AND c.spent > s.total_budget_fen""",
    ),
    "max_coupons_exceeded": (
        "a stock with more issued + compensated coupons than max_coupons",
        f"""SELECT NULL AS coupon_id, NULL AS event_id, NULL AS user_id, s.stock_id,
                  NULL AS order_id,
                  c.n || ' coupons > max ' || s.max_coupons AS detail
           FROM stocks s JOIN (SELECT stock_id, count(*) AS n FROM coupons
                               WHERE run_id = $run AND {_ISSUED} GROUP BY stock_id) c
             USING (stock_id)
           WHERE s.run_id = $run AND c.n > s.max_coupons""",
    ),
    "per_user_limit_exceeded": (
        "a user holding more issued + compensated coupons of a stock than max_per_user",
        f"""SELECT NULL AS coupon_id, NULL AS event_id, c.user_id, s.stock_id, NULL AS order_id,
                  c.n || ' coupons > max per user ' || s.max_per_user AS detail
           FROM stocks s JOIN (SELECT stock_id, user_id, count(*) AS n FROM coupons
                               WHERE run_id = $run AND {_ISSUED} GROUP BY stock_id, user_id) c
             USING (stock_id)
           WHERE s.run_id = $run AND c.n > s.max_per_user""",
    ),
}


@dataclass(frozen=True)
class ReconciliationReport:
    """Every discrepancy :func:`reconcile` found in one run.

    Attributes
    ----------
    run : str
    discrepancies : DataFrame
        One row per discrepancy: ``check`` (a key of :data:`CHECKS`), the ids involved
        (``coupon_id``, ``event_id``, ``user_id``, ``stock_id``, ``order_id``; missing
        ones are NA) and a ``detail`` text.
    claims : int
        Claim attempts (coupons rows) checked.
    """

    run: str
    discrepancies: pd.DataFrame = field(repr=False)
    claims: int

    @property
    def ok(self) -> bool:
        """True when no check found anything."""
        return self.discrepancies.empty

    def counts(self) -> pd.Series:
        """Discrepancies per check, every check listed (0 when clean)."""
        return self.discrepancies["check"].value_counts().reindex(list(CHECKS), fill_value=0)

    def ids(self, check: str, column: str = "coupon_id") -> list[int]:
        """Sorted ids in ``column`` of the discrepancies found by ``check``."""
        if check not in CHECKS:
            raise ValueError(f"check must be one of {', '.join(CHECKS)}, got {check!r}")
        if column not in _COLUMNS[1:6]:
            raise ValueError(f"column must be one of {', '.join(_COLUMNS[1:6])}, got {column!r}")
        rows = self.discrepancies.loc[self.discrepancies["check"] == check, column]
        return sorted(int(v) for v in rows.dropna())

    def to_frame(self) -> pd.DataFrame:
        return self.discrepancies.copy()

    def plot(self):
        """Bars of discrepancies per check."""
        import holoviews as hv

        counts = self.counts().rename_axis("check").reset_index(name="discrepancies")
        return hv.Bars(counts, kdims="check", vdims="discrepancies").opts(
            title=f"Reconciliation of run {self.run}: {'ok' if self.ok else 'discrepancies'}",
            xrotation=45,
        )


def reconcile(store: Store, *, run: str) -> ReconciliationReport:
    """Check that every claim of ``run`` ended once, and no stock overspent.

    Parameters
    ----------
    store : Store
    run : str, keyword-only

    Returns
    -------
    ReconciliationReport
        Its ``ok`` is True when every check in :data:`CHECKS` came back empty.

    Examples
    --------
    >>> import lab
    >>> store = lab.Store(":memory:")
    >>> _ = store.create_run("r", origin="import")
    >>> reconcile(store, run="r").ok
    True
    """
    check(locals())  # argument types and ranges, up front
    store.run(run)
    frames = []
    with store.connect() as con:
        for name, (_, sql) in CHECKS.items():
            df = con.execute(sql, {"run": run}).df()
            if not df.empty:
                df.insert(0, "check", name)
                frames.append(df)
        claims = con.execute("SELECT count(*) FROM coupons WHERE run_id = ?", [run]).fetchone()[0]
    if frames:
        found = pd.concat(frames, ignore_index=True)
    else:
        found = pd.DataFrame({c: pd.Series(dtype=object) for c in _COLUMNS})
    for col in _COLUMNS[1:6]:
        found[col] = pd.to_numeric(found[col]).astype("Int64")
    found["detail"] = found["detail"].astype(str)
    found = (
        found[list(_COLUMNS)]
        .sort_values(["check", "stock_id", "coupon_id", "user_id"])
        .reset_index(drop=True)
    )
    return ReconciliationReport(run=run, discrepancies=found, claims=int(claims))
