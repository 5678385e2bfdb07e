"""``issuance_timeline`` against a plain pandas reference on claim bursts."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import pytest

import lab
from lab import schema
from lab.metrics import issuance_timeline
from lab.world import Campaign, Stock, Strategy, claim_rush

BURST = Strategy(
    "burst",
    campaigns=(
        Campaign(
            "small_budget",
            "wechat",
            "mini_program",
            Stock(
                stock_type="no_threshold",
                transaction_minimum_fen=0,
                amount_fen=500,
                max_per_user=3,
                total_budget_fen=400_000,
            ),
            risk_level="basic",
        ),
        Campaign(
            "capped",
            "meituan",
            "store_page",
            Stock(transaction_minimum_fen=2000, amount_fen=300, max_per_user=2, max_coupons=900),
        ),
        Campaign(
            "plenty",
            "alipay",
            "pay_page",
            Stock(transaction_minimum_fen=0, stock_type="no_threshold", amount_fen=200),
        ),
    ),
)
EPOCH = pd.Timestamp("2000-01-03")  # DuckDB's time_bucket origin


@pytest.fixture(scope="module")
def rush():
    store = lab.Store(":memory:")
    run = claim_rush(BURST, store=store, claims=6_000, users=1_500, seconds=300, progress=False)
    coupons = store.query("SELECT * FROM coupons WHERE run_id = ?", [run])
    for col in ("status", "refusal_reason"):
        coupons[col] = coupons[col].astype(object)
    stocks = store.query("SELECT * FROM stocks WHERE run_id = ?", [run])
    return store, run, coupons, stocks


def reference(coupons: pd.DataFrame, stocks: pd.DataFrame, seconds: int) -> pd.DataFrame:
    width = pd.Timedelta(seconds=seconds)
    c = coupons.assign(bucket=EPOCH + ((coupons.claimed_at - EPOCH) // width) * width)
    c["issued"] = c.status.isin(["issued", "compensated"])
    rows = []
    for (stock, bucket), g in c.groupby(["stock_id", "bucket"]):
        row = {
            "stock_id": stock,
            "bucket": bucket,
            "attempts": len(g),
            "issued": int(g.issued.sum()),
            "refused": int((g.status == "refused").sum()),
            "issued_fen": int(g.loc[g.issued, "amount_fen"].sum()),
        }
        for reason in schema.REFUSAL_REASONS:
            row[reason] = int((g.refusal_reason == reason).sum())
        rows.append(row)
    ref = pd.DataFrame(rows)
    ref["cumulative_fen"] = ref.groupby("stock_id").issued_fen.cumsum()
    budget = stocks.set_index("stock_id").total_budget_fen
    ref["budget_used"] = ref.cumulative_fen / ref.stock_id.map(budget)
    return ref


@pytest.mark.parametrize("seconds", [1, 7, 60])
def test_matches_pandas_reference(rush, seconds):
    store, run, coupons, stocks = rush
    got = issuance_timeline(store, run=run, bucket_seconds=seconds).to_frame()
    ref = reference(coupons, stocks, seconds)
    pd.testing.assert_frame_equal(
        got[ref.columns].reset_index(drop=True), ref, check_dtype=False, check_exact=False
    )


def test_stocks_run_out_when_the_engine_says(rush):
    store, run, coupons, stocks = rush
    res = issuance_timeline(store, run=run, bucket_seconds=10)
    summary = res.stocks.set_index("stock_id")
    budget = coupons[coupons.refusal_reason.isin(["budget_exhausted", "max_coupons_reached"])]
    first = budget.groupby("stock_id").claimed_at.min()
    assert len(first) == 2  # the small budget and the capped stock run out, "plenty" does not
    for stock, when in first.items():
        assert summary.loc[stock, "exhausted_at"] == when
        # nothing is issued after a stock runs out
        later = coupons[(coupons.stock_id == stock) & (coupons.claimed_at > when)]
        assert not later.status.isin(["issued", "compensated"]).any()
    assert summary["exhausted_at"].isna().sum() == 1
    assert (summary.budget_used <= 1).all() and (res.table.budget_used <= 1).all()
    assert summary.attempts.sum() == len(coupons)
    assert np.isclose(summary.issued_fen.sum(), res.table.issued_fen.sum())
    assert isinstance(res.plot(), hv.Overlay)


def test_empty_run_and_bad_arguments(rush):
    store = lab.Store(":memory:")
    store.create_run("r", origin="import")
    res = issuance_timeline(store, run="r")
    assert res.table.empty and res.stocks.empty
    with pytest.raises(ValueError, match="bucket_seconds"):
        issuance_timeline(store, run="r", bucket_seconds=0)
    with pytest.raises(KeyError):
        issuance_timeline(store, run="nope")
