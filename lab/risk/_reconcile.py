"""Reconcile claim attempts, coupons, orders and stock budgets.

The seed's issuance engine promises that every claim ends in exactly one state:
issued, compensated (issued late by the asynchronous compensation job) or refused,
none lost and none counted twice, and that no stock ever pays out more than its
budget. :func:`reconcile` checks those promises on the logs of one run, each check an
Ibis query (run by the store's engine) that returns the ids involved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import ibis
import pandas as pd

from lab._validate import check
from lab.engines import session
from lab.store import Store

__all__ = ["CHECKS", "ReconciliationReport", "reconcile"]

_COLUMNS = ("check", "coupon_id", "event_id", "user_id", "stock_id", "order_id", "detail")
_IDS = _COLUMNS[1:6]
_ISSUED = ("issued", "compensated")


def _rows(db, expr: ibis.Table, detail) -> pd.DataFrame:
    """Run ``expr`` (some of the id columns plus what ``detail`` reads); add the missing
    ids as NA and the ``detail`` text (a constant, or a function of each row)."""
    df = db.execute(expr)
    for col in _IDS:
        if col not in df.columns:
            df[col] = pd.NA
    df["detail"] = (
        [detail] * len(df)
        if isinstance(detail, str)
        else [detail(row) for row in df.itertuples(index=False)]
    )
    return df[list(_COLUMNS[1:])]


def _claim_events(db, run):
    events = db.table("events")
    return events.filter(events.run_id == run, events.event_type == "claim")


def _coupons(db, run):
    coupons = db.table("coupons")
    return coupons.filter(coupons.run_id == run)


def _orders_per_coupon(db, run):
    orders = db.table("orders")
    orders = orders.filter(orders.run_id == run, orders.coupon_id.notnull())
    return orders.group_by("coupon_id").agg(n=orders.count(), first_order=orders.order_id.min())


def _stock_limits(db, run, measure, *, per_user=False):
    stocks = db.table("stocks")
    stocks = stocks.filter(stocks.run_id == run)
    issued = _coupons(db, run)
    issued = issued.filter(issued.status.isin(_ISSUED))
    keys = ["stock_id", "user_id"] if per_user else ["stock_id"]
    spent = issued.group_by(keys).agg(value=measure(issued))
    return stocks.join(spent, "stock_id")


def _claim_event_without_coupon(db, run):
    events = _claim_events(db, run)
    lost = events.anti_join(_coupons(db, run), "coupon_id")
    return _rows(
        db,
        lost.select("coupon_id", "event_id", "user_id", "stock_id"),
        "claim event has no coupons row",
    )


def _coupon_without_claim_event(db, run):
    events = _claim_events(db, run)
    if not db.execute(events.count().name("n"))["n"].iloc[0]:
        return pd.DataFrame(columns=list(_COLUMNS[1:]))
    unlogged = _coupons(db, run).anti_join(events.filter(events.coupon_id.notnull()), "coupon_id")
    return _rows(
        db,
        unlogged.select("coupon_id", "user_id", "stock_id", "order_id"),
        "coupons row has no claim event",
    )


def _duplicate_coupon(db, run):
    coupons = _coupons(db, run)
    dups = (
        coupons.group_by("coupon_id")
        .agg(n=coupons.count(), user_id=coupons.user_id.min(), stock_id=coupons.stock_id.min())
        .filter(lambda t: t.n > 1)
    )
    found = _rows(db, dups, lambda r: f"{r.n} rows")
    statuses = db.execute(
        coupons.semi_join(dups, "coupon_id").select("coupon_id", "status").drop_null("status")
    )
    listed = statuses.groupby("coupon_id")["status"].agg(lambda s: ",".join(sorted(s)))
    found["detail"] = [
        f"{detail}, statuses {listed.get(coupon, '')}"
        for coupon, detail in zip(found["coupon_id"], found["detail"], strict=True)
    ]
    return found


def _duplicate_claim_event(db, run):
    events = _claim_events(db, run)
    events = events.filter(events.coupon_id.notnull())
    dups = (
        events.group_by("coupon_id")
        .agg(
            n=events.count(),
            event_id=events.event_id.min(),
            user_id=events.user_id.min(),
            stock_id=events.stock_id.min(),
        )
        .filter(lambda t: t.n > 1)
    )
    return _rows(db, dups, lambda r: f"{r.n} claim events")


def _bad_status(db, run):
    coupons = _coupons(db, run)
    bad = coupons.filter(
        coupons.status.isnull() | ~coupons.status.isin(("issued", "compensated", "refused"))
    )
    return _rows(
        db,
        bad.select("coupon_id", "user_id", "stock_id", "order_id", "status"),
        lambda r: f"status {'NULL' if pd.isna(r.status) else r.status}",
    )


def _compensated_not_late(db, run):
    coupons = _coupons(db, run)
    early = coupons.filter(
        coupons.status == "compensated",
        coupons.issued_at.isnull() | (coupons.issued_at <= coupons.claimed_at),
    )
    return _rows(
        db,
        early.select("coupon_id", "user_id", "stock_id", "order_id", "claimed_at", "issued_at"),
        lambda r: (
            f"claimed {r.claimed_at}, issued {'NULL' if pd.isna(r.issued_at) else r.issued_at}"
        ),
    )


def _refused_without_reason(db, run):
    coupons = _coupons(db, run)
    silent = coupons.filter(coupons.status == "refused", coupons.refusal_reason.isnull())
    return _rows(
        db, silent.select("coupon_id", "user_id", "stock_id", "order_id"), "refused, no reason"
    )


def _refused_redeemed(db, run):
    coupons = _coupons(db, run)
    refused = coupons.filter(coupons.status == "refused")
    orders = _orders_per_coupon(db, run)
    joined = refused.left_join(orders, refused.coupon_id == orders.coupon_id)
    joined = joined.filter(
        joined.redeemed_at.notnull() | joined.order_id.notnull() | joined.first_order.notnull()
    )
    return _rows(
        db,
        joined.select(
            "coupon_id",
            "user_id",
            "stock_id",
            "refusal_reason",
            order_id=joined.order_id.coalesce(joined.first_order),
        ),
        lambda r: (
            "refused ("
            + ("no reason" if pd.isna(r.refusal_reason) else r.refusal_reason)
            + ") but redeemed"
        ),
    )


def _redeemed_order_count(db, run):
    coupons = _coupons(db, run)
    redeemed = coupons.filter(coupons.redeemed_at.notnull())
    orders = _orders_per_coupon(db, run)
    joined = redeemed.left_join(orders, redeemed.coupon_id == orders.coupon_id)
    joined = joined.mutate(n=joined.n.coalesce(0)).filter(lambda t: t.n != 1)
    return _rows(
        db,
        joined.select(
            "coupon_id",
            "user_id",
            "stock_id",
            "n",
            order_id=joined.first_order.coalesce(joined.order_id),
        ),
        lambda r: f"{r.n} orders carry this coupon",
    )


def _budget_exceeded(db, run):
    stocks = _stock_limits(db, run, lambda c: c.amount_fen.sum())
    over = stocks.filter(stocks.value > stocks.total_budget_fen)
    return _rows(
        db,
        over.select("stock_id", "value", "total_budget_fen"),
        lambda r: f"spent {r.value} fen > budget {r.total_budget_fen} fen",
    )


def _max_coupons_exceeded(db, run):
    stocks = _stock_limits(db, run, lambda c: c.count())
    over = stocks.filter(stocks.value > stocks.max_coupons)
    return _rows(
        db,
        over.select("stock_id", "value", "max_coupons"),
        lambda r: f"{r.value} coupons > max {r.max_coupons}",
    )


def _per_user_limit_exceeded(db, run):
    stocks = _stock_limits(db, run, lambda c: c.count(), per_user=True)
    over = stocks.filter(stocks.value > stocks.max_per_user)
    return _rows(
        db,
        over.select("stock_id", "user_id", "value", "max_per_user"),
        lambda r: f"{r.value} coupons > max per user {r.max_per_user}",
    )


#: check name -> (what it means, function of an engine session and a run returning the
#: discrepancy rows).
CHECKS: dict[str, tuple[str, Callable[..., pd.DataFrame]]] = {
    "claim_event_without_coupon": (
        "a claim event whose coupon_id has no coupons row (claim lost)",
        _claim_event_without_coupon,
    ),
    "coupon_without_claim_event": (
        "a coupons row with no claim event (skipped when the run logs no claim events)",
        _coupon_without_claim_event,
    ),
    "duplicate_coupon": (
        "a coupon_id on several coupons rows (counted twice; detail lists the statuses)",
        _duplicate_coupon,
    ),
    "duplicate_claim_event": (
        "several claim events for one coupon_id (one attempt counted twice)",
        _duplicate_claim_event,
    ),
    "bad_status": (
        "a claim attempt that did not end issued, compensated or refused",
        _bad_status,
    ),
    "compensated_not_late": (
        "a compensated coupon whose issued_at is missing or not after claimed_at",
        _compensated_not_late,
    ),
    "refused_without_reason": ("a refused attempt with no refusal_reason", _refused_without_reason),
    "refused_redeemed": (
        "a refused attempt that was nevertheless redeemed or paid an order",
        _refused_redeemed,
    ),
    "redeemed_order_count": (
        "a redeemed coupon without exactly one order carrying its coupon_id",
        _redeemed_order_count,
    ),
    "budget_exceeded": (
        "a stock whose issued + compensated face value exceeds total_budget_fen",
        _budget_exceeded,
    ),
    "max_coupons_exceeded": (
        "a stock with more issued + compensated coupons than max_coupons",
        _max_coupons_exceeded,
    ),
    "per_user_limit_exceeded": (
        "a user holding more issued + compensated coupons of a stock than max_per_user",
        _per_user_limit_exceeded,
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
        if column not in _IDS:
            raise ValueError(f"column must be one of {', '.join(_IDS)}, got {column!r}")
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
    with session(store) as db:
        for name, (_, query) in CHECKS.items():
            df = query(db, run)
            if not df.empty:
                df.insert(0, "check", name)
                frames.append(df)
        claims = int(db.execute(_coupons(db, run).count().name("n"))["n"].iloc[0])
    if frames:
        found = pd.concat(frames, ignore_index=True)
    else:
        found = pd.DataFrame({c: pd.Series(dtype=object) for c in _COLUMNS})
    for col in _IDS:
        found[col] = pd.to_numeric(found[col]).astype("Int64")
    found["detail"] = found["detail"].astype(str)
    found = (
        found[list(_COLUMNS)]
        .sort_values(["check", "stock_id", "coupon_id", "user_id"])
        .reset_index(drop=True)
    )
    return ReconciliationReport(run=run, discrepancies=found, claims=int(claims))
