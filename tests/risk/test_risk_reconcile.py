"""reconcile: a clean world is ok; each planted discrepancy is found with its ids."""

from __future__ import annotations

import pandas as pd
import pytest

from lab.risk import CHECKS, reconcile
from lab.store import Store


@pytest.fixture
def planted(world_factory):
    store = Store(":memory:")
    frames = world_factory(store, "p", n_legit=300, n_rings=1, seed=5)
    yield store, frames
    store.close()


def test_clean_world_is_ok(planted):
    store, frames = planted
    report = reconcile(store, run="p")
    assert report.ok
    assert report.claims == len(frames["coupons"])
    assert report.counts().sum() == 0
    assert list(report.counts().index) == list(CHECKS)


def _ids(report, check, column="coupon_id"):
    return report.ids(check, column)


def test_each_planted_discrepancy_is_found(planted):
    store, frames = planted
    c = frames["coupons"]
    # plant on stocks 1-2 only; stock 3 gets the budget overruns
    issued = c[(c["status"] == "issued") & (c["stock_id"] != 3) & c["redeemed_at"].isna()]
    redeemed = c[c["redeemed_at"].notna() & (c["stock_id"] != 3)]
    lost, dup, comp, ref_reason, ref_redeemed, two_orders = issued["coupon_id"].iloc[:6].tolist()
    two_orders = int(redeemed["coupon_id"].iloc[0])
    run = ["p"]
    # lost claim: the coupons row vanished
    store.query("DELETE FROM coupons WHERE run_id = ? AND coupon_id = ?", [*run, lost])
    # double count: the same coupon written again with another terminal status
    store.query(
        "INSERT INTO coupons SELECT * REPLACE ('refused' AS status, 'rate_limited' AS refusal_reason) "
        "FROM coupons "
        "WHERE run_id = ? AND coupon_id = ?",
        [*run, dup],
    )
    # a coupon with no claim event, and a claim event counted twice
    store.query("DELETE FROM events WHERE run_id = ? AND coupon_id = ?", [*run, comp])
    store.query(
        "INSERT INTO events SELECT * REPLACE (event_id + 10_000_000 AS event_id) FROM events "
        "WHERE run_id = ? AND coupon_id = ?",
        [*run, ref_reason],
    )
    # compensated but issued before the claim
    store.query(
        "UPDATE coupons SET status = 'compensated', issued_at = claimed_at - INTERVAL 1 MINUTE "
        "WHERE run_id = ? AND coupon_id = ?",
        [*run, comp],
    )
    # refused without a reason; refused yet redeemed
    store.query(
        "UPDATE coupons SET status = 'refused', refusal_reason = NULL WHERE run_id = ? AND coupon_id = ?",
        [*run, ref_reason],
    )
    store.query(
        "UPDATE coupons SET status = 'refused', refusal_reason = 'risk_blocked', "
        "redeemed_at = claimed_at WHERE run_id = ? AND coupon_id = ?",
        [*run, ref_redeemed],
    )
    # a redeemed coupon paid two orders
    store.write(
        "orders",
        pd.DataFrame(
            {
                "order_id": [9_999_999],
                "user_id": [1],
                "ts": [pd.Timestamp("2026-03-02")],
                "amount_fen": [4000],
                "discount_fen": [500],
                "coupon_id": [two_orders],
            }
        ),
        run_id="p",
    )
    # budget, count and per-user overruns on stock 3
    s3 = c[(c["stock_id"] == 3) & c["status"].isin(["issued", "compensated"])]
    store.query(
        "UPDATE stocks SET total_budget_fen = ?, max_coupons = ?, max_per_user = 1 "
        "WHERE run_id = ? AND stock_id = 3",
        [int(s3["amount_fen"].sum()) - 1, len(s3) - 1, *run],
    )
    per_user = s3.groupby("user_id").size()
    over = sorted(per_user[per_user > 1].index)
    assert over  # the ring claims every stock once, honest users sometimes twice

    report = reconcile(store, run="p")
    assert not report.ok
    assert _ids(report, "claim_event_without_coupon") == [lost]
    assert _ids(report, "duplicate_coupon") == [dup]
    assert "issued" in report.discrepancies.query("check == 'duplicate_coupon'")["detail"].item()
    assert _ids(report, "coupon_without_claim_event") == [comp]
    assert _ids(report, "duplicate_claim_event") == [ref_reason]
    assert _ids(report, "compensated_not_late") == [comp]
    assert _ids(report, "refused_without_reason") == [ref_reason]
    assert _ids(report, "refused_redeemed") == [ref_redeemed]
    # ref_redeemed is redeemed without any order; two_orders has two
    assert _ids(report, "redeemed_order_count") == sorted([two_orders, ref_redeemed])
    assert _ids(report, "budget_exceeded", "stock_id") == [3]
    assert _ids(report, "max_coupons_exceeded", "stock_id") == [3]
    assert _ids(report, "per_user_limit_exceeded", "user_id") == over
    assert _ids(report, "bad_status") == []
    assert (report.to_frame()["check"].isin(list(CHECKS))).all()


def test_ids_validates(planted):
    store, _ = planted
    report = reconcile(store, run="p")
    with pytest.raises(ValueError, match="check must be one of"):
        report.ids("nope")
    with pytest.raises(ValueError, match="column must be one of"):
        report.ids("bad_status", "detail")


def test_run_without_claim_events_skips_that_check(planted):
    store, _ = planted
    store.query("DELETE FROM events WHERE run_id = 'p'")
    assert reconcile(store, run="p").ok


def test_unfinished_attempt_and_plot(planted):
    import holoviews as hv

    hv.extension("bokeh")
    store, frames = planted
    cid = int(frames["coupons"]["coupon_id"].iloc[-1])
    store.query("UPDATE coupons SET status = 'pending' WHERE run_id = 'p' AND coupon_id = ?", [cid])
    report = reconcile(store, run="p")
    assert report.ids("bad_status") == [cid]
    assert report.counts()["bad_status"] == 1 and report.counts().sum() == 1
    assert isinstance(report.plot(), hv.Bars)
