"""Issuance over time per stock: how fast claims are decided, and when the budget runs out.

Definitions
-----------
* Claim attempts (``coupons`` rows) are counted in buckets of ``bucket_seconds`` of
  ``claimed_at`` (DuckDB's ``time_bucket``, aligned to 2000-01-03 00:00, so to midnight
  for any width that divides a day), per stock: ``attempts``, ``issued`` (issued or compensated: the
  coupon reached the wallet), ``refused``, and one column per refusal reason.
* ``issued_fen``: face value of the issued coupons of the bucket; ``cumulative_fen`` its
  running sum per stock; ``budget_used`` = ``cumulative_fen`` ÷ the stock's
  ``total_budget_fen``.
* A stock is **exhausted** at its first refusal for a budget reason
  (``budget_exhausted``, ``daily_budget_exhausted`` or ``max_coupons_reached``):
  ``exhausted_at`` in :attr:`IssuanceTimeline.stocks`, NaT if it never ran out.

Example
-------
>>> import lab
>>> from lab.metrics import issuance_timeline
>>> from lab.world import claim_rush
>>> store = lab.Store(":memory:")
>>> run = claim_rush("morning_doubled", store=store, claims=2_000, users=500, progress=False)
>>> int(issuance_timeline(store, run=run).to_frame()["attempts"].sum())
2000
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lab import schema
from lab._validate import check
from lab.engines import session
from lab.engines._expr import time_bucket

BUDGET_REASONS = ("budget_exhausted", "daily_budget_exhausted", "max_coupons_reached")
_ISSUED = ("issued", "compensated")


@dataclass(frozen=True, eq=False)
class IssuanceTimeline:
    """Claim attempts per stock and time bucket, and when each stock ran out.

    Attributes
    ----------
    table : DataFrame
        One row per stock and bucket with attempts: ``stock_id``, ``campaign``,
        ``bucket`` (start time), ``attempts``, ``issued``, ``refused``, one column per
        refusal reason, ``issued_fen``, ``cumulative_fen`` and ``budget_used``.
    stocks : DataFrame
        One row per stock: ``stock_id``, ``campaign``, ``total_budget_fen``,
        ``attempts``, ``issued``, ``issued_fen``, ``budget_used`` and ``exhausted_at``.
    bucket_seconds : int
        Width of the buckets.
    """

    table: pd.DataFrame
    stocks: pd.DataFrame
    bucket_seconds: int

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def plot(self):
        """Share of each stock's budget issued over time (HoloViews overlay)."""
        import holoviews as hv
        import holoviews.plotting.bokeh  # noqa: F401  (registers the backend .opts() needs)

        curves = [
            hv.Curve(
                part, "bucket", "budget_used", label=f"{stock} {part['campaign'].iloc[0]}"
            ).opts(interpolation="steps-post")
            for stock, part in self.table.groupby("stock_id", sort=True)
        ]
        return hv.Overlay(curves or [hv.Curve([], "bucket", "budget_used")]).opts(
            title="Budget issued over time",
            xlabel="claim time",
            ylabel="share of total budget",
            legend_position="right",
        )


def issuance_timeline(store, *, run: str, bucket_seconds: int = 1) -> IssuanceTimeline:
    """Claim attempts, outcomes and budget use of ``run`` per stock over time.

    Parameters
    ----------
    store : lab.Store
        The store holding the run.
    run : str
        Run id.
    bucket_seconds : int
        Width of the time buckets, in seconds (1 for a burst, 3600 or 86400 for a
        campaign).

    Returns
    -------
    IssuanceTimeline

    Example
    -------
    >>> import lab
    >>> store = lab.Store(":memory:")
    >>> _ = store.create_run("r", origin="import")
    >>> issuance_timeline(store, run="r").table.empty
    True
    """
    check(locals())  # argument types and ranges, up front
    if int(bucket_seconds) != bucket_seconds or bucket_seconds < 1:
        raise ValueError(f"bucket_seconds must be an integer >= 1, got {bucket_seconds!r}")
    store.run(run)  # KeyError naming the known runs
    with session(store) as db:
        coupons = db.table("coupons")
        coupons = coupons.filter(coupons.run_id == run)
        counts = db.execute(
            coupons.group_by(
                coupons.stock_id,
                coupons.status,
                coupons.refusal_reason,
                bucket=time_bucket(coupons.claimed_at, int(bucket_seconds)),
            ).agg(
                n=coupons.count(),
                face_fen=coupons.amount_fen.sum(),
                first_at=coupons.claimed_at.min(),
            )
        )
        stocks = db.table("stocks")
        stocks = db.execute(
            stocks.filter(stocks.run_id == run)
            .select("stock_id", "campaign", "total_budget_fen")
            .order_by("stock_id")
        )
    stocks["campaign"] = stocks["campaign"].astype(object)
    reasons = list(schema.REFUSAL_REASONS)
    columns = ["stock_id", "campaign", "bucket", "attempts", "issued", "refused", *reasons]
    columns += ["issued_fen", "cumulative_fen", "budget_used"]
    if counts.empty:
        empty = pd.DataFrame(columns=columns)
        summary = stocks.assign(attempts=0, issued=0, issued_fen=0, budget_used=0.0)
        return IssuanceTimeline(empty, summary.assign(exhausted_at=pd.NaT), int(bucket_seconds))

    counts["status"] = counts["status"].astype(object)
    counts["refusal_reason"] = counts["refusal_reason"].astype(object)
    issued = counts["status"].isin(_ISSUED)
    keys = ["stock_id", "bucket"]
    table = (
        counts.groupby(keys)
        .agg(attempts=("n", "sum"))
        .join(counts[issued].groupby(keys).agg(issued=("n", "sum"), issued_fen=("face_fen", "sum")))
    )
    by_reason = (
        counts[counts["status"] == "refused"]
        .pivot_table(index=keys, columns="refusal_reason", values="n", aggfunc="sum")
        .reindex(columns=reasons)
    )
    table = table.join(by_reason).fillna(0).astype("int64").reset_index()
    table["refused"] = table[reasons].sum(axis=1)
    table = table.merge(stocks, on="stock_id", how="left").sort_values(keys, kind="stable")
    table["cumulative_fen"] = table.groupby("stock_id")["issued_fen"].cumsum()
    table["budget_used"] = table["cumulative_fen"] / table["total_budget_fen"]
    table = table[columns].reset_index(drop=True)

    first = (
        counts[counts["refusal_reason"].isin(BUDGET_REASONS)]
        .groupby("stock_id", as_index=False)
        .agg(exhausted_at=("first_at", "min"))
    )
    totals = table.groupby("stock_id")[["attempts", "issued", "issued_fen"]].sum()
    summary = (
        stocks.merge(totals, on="stock_id", how="left")
        .merge(first, on="stock_id", how="left")
        .fillna({"attempts": 0, "issued": 0, "issued_fen": 0})
    )
    summary["budget_used"] = summary["issued_fen"] / summary["total_budget_fen"]
    summary = summary[
        [
            "stock_id",
            "campaign",
            "total_budget_fen",
            "attempts",
            "issued",
            "issued_fen",
            "budget_used",
            "exhausted_at",
        ]
    ]
    return IssuanceTimeline(table, summary, int(bucket_seconds))
