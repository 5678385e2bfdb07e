"""Calibration measures on tiny hand-made logs with golden values derived by hand.

Every log starts on Monday 2024-01-01. Golden values are derived in the comments next
to the data; three measures are also cross-checked against a plain pandas/statsmodels
reference on random logs (hypothesis).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import lab
from lab import calibration as cal

START = dt.date(2024, 1, 1)  # a Monday


def T(s: str) -> pd.Timestamp:
    """Timestamp in January 2024: T('03 08:30') is 2024-01-03 08:30."""
    return pd.Timestamp(f"2024-01-{s}")


def new_store(run: str = "r", *, days: int = 7, pre_days: int = 0, store=None) -> lab.Store:
    store = store or lab.Store(":memory:")
    store.create_run(run, origin="synthetic", days=days, pre_days=pre_days, start_date=START)
    return store


def put(store: lab.Store, table: str, rows: list[dict], run: str = "r") -> None:
    store.write(table, pd.DataFrame(rows), run_id=run)


def offer(oid, uid, entry, *, platform="wechat", stock=1, delivered="01 09:00", **steps) -> dict:
    row = {"offer_id": oid, "user_id": uid, "stock_id": stock, "platform": platform, "entry": entry}
    row["delivered_at"] = T(delivered)
    row.update({f"{k}_at": T(v) if v else pd.NaT for k, v in steps.items()})
    return row


def coupon(cid, uid, *, stock=1, claimed="01 09:00", status="issued", entry=None, **extra) -> dict:
    row = {"coupon_id": cid, "user_id": uid, "stock_id": stock, "claimed_at": T(claimed)}
    row |= {"status": status, "platform": "wechat", "entry": entry}
    row |= {k: T(v) if k.endswith("_at") else v for k, v in extra.items()}
    return row


def order(oid, uid, ts, amount=1000, channel="dine_in") -> dict:
    return {
        "order_id": oid,
        "user_id": uid,
        "ts": T(ts) if isinstance(ts, str) else ts,
        "amount_fen": amount,
        "discount_fen": 0,
        "order_channel": channel,
    }


def stock(sid, experiment=None, arm=None) -> dict:
    return {
        "stock_id": sid,
        "stock_type": "threshold",
        "experiment": experiment,
        "arm": arm,
        "campaign": f"camp{sid}",
    }


# -- C1-C4 -------------------------------------------------------------------------------
def test_c1_reach_counts_distinct_users_per_wechat_entry():
    store = new_store()
    put(
        store,
        "offers",
        [
            # official_account: users 1-4 delivered; user 1 saw one of two pushes, user 2 saw
            # hers, 3 and 4 saw nothing -> 2 / 4 = 0.5
            offer(1, 1, "official_account", exposed="01 10:00"),
            offer(2, 1, "official_account"),
            offer(3, 2, "official_account", exposed="01 11:00"),
            offer(4, 3, "official_account"),
            offer(5, 4, "official_account"),
            # pay_page: both users saw it -> 1.0
            offer(6, 1, "pay_page", exposed="01 10:00"),
            offer(7, 2, "pay_page", exposed="01 10:00"),
            # card_wallet: user 5 got two, saw none -> 0.0
            offer(8, 5, "card_wallet"),
            offer(9, 5, "card_wallet"),
            # Meituan is not a WeChat entry: ignored
            offer(10, 9, "app_push", platform="meituan", exposed="01 10:00"),
        ],
    )
    assert cal.measure_c1(store, run="r") == {
        "card_wallet": 0.0,
        "official_account": 0.5,
        "pay_page": 1.0,
    }


def test_c2_counts_pay_page_exposures_redeemed_within_24_hours():
    store = new_store()
    put(
        store,
        "offers",
        [
            offer(1, 1, "pay_page", exposed="01 10:00", redeemed="01 10:30"),  # yes
            offer(2, 2, "pay_page", exposed="01 10:00", redeemed="02 09:59"),  # yes, 23 h 59
            offer(3, 3, "pay_page", exposed="01 10:00", redeemed="02 10:00"),  # yes, exactly 24 h
            offer(4, 4, "pay_page", exposed="01 10:00", redeemed="02 10:01"),  # no, 24 h 01
            offer(5, 5, "pay_page", exposed="01 10:00"),  # no, never redeemed
            offer(6, 6, "pay_page"),  # not exposed: not in the denominator
            offer(7, 7, "official_account", exposed="01 10:00", redeemed="01 10:05"),  # other entry
        ],
    )
    # 3 of the 5 pay-page exposures
    assert cal.measure_c2(store, run="r") == pytest.approx(3 / 5)
    # the domain function C2 is built on takes any entry: 1 of 1 official-account exposure
    assert lab.redemption_within_day(store, run="r", entry="official_account") == 1.0


def test_c3_next_day_retention_of_first_pay_page_claim_with_censoring():
    store = new_store(days=7)  # observed until 2024-01-07
    put(
        store,
        "coupons",
        [
            coupon(1, 1, claimed="01 20:00", entry="pay_page"),
            coupon(2, 2, claimed="01 23:00", entry="pay_page"),
            coupon(3, 3, claimed="02 12:00", entry="pay_page"),  # first claim counts ...
            coupon(4, 3, claimed="03 12:00", entry="pay_page"),  # ... not this one
            coupon(5, 4, claimed="01 12:00", entry="pay_page", status="refused"),
            coupon(6, 5, claimed="07 12:00", entry="pay_page"),  # day 1 = 01-08: censored
            coupon(7, 6, claimed="05 12:00", entry="pay_page", status="compensated"),
            coupon(8, 7, claimed="01 12:00", entry="card_wallet"),
        ],
    )
    put(
        store,
        "orders",
        [
            order(1, 1, "02 08:00"),  # user 1 retained
            order(2, 2, "01 23:30"),  # same day: not day 1
            order(3, 2, "03 09:00"),  # day 2: not day 1
            order(4, 3, "04 09:00"),  # day 1 of the *second* claim only
            order(5, 4, "02 09:00"),  # refused claimer: not in the cohort
            order(6, 6, "06 12:00"),  # user 6 retained
            order(7, 7, "02 12:00"),  # card-wallet claimer: other cohort
        ],
    )
    # cohort {1, 2, 3, 6}, retained {1, 6} -> 2 / 4
    assert cal.measure_c3(store, run="r") == pytest.approx(0.5)


def test_c4_seven_day_retention_of_card_wallet_claimers():
    store = new_store(days=14)  # observed until 2024-01-14: claims up to 01-07 count
    put(
        store,
        "coupons",
        [
            coupon(1, 1, claimed="01 10:00", entry="card_wallet"),
            coupon(2, 2, claimed="01 10:00", entry="card_wallet"),
            coupon(3, 3, claimed="03 10:00", entry="card_wallet"),
            coupon(4, 4, claimed="08 10:00", entry="card_wallet"),  # censored
            coupon(5, 5, claimed="02 10:00", entry="pay_page"),  # other entry
            coupon(6, 6, claimed="07 10:00", entry="card_wallet"),
            coupon(7, 7, claimed="05 10:00", entry="card_wallet"),
        ],
    )
    put(
        store,
        "orders",
        [
            order(1, 1, "08 20:00"),  # day 7: retained
            order(2, 2, "01 12:00"),  # day 0
            order(3, 2, "09 12:00"),  # day 8
            order(4, 3, "04 12:00"),  # day 1: retained
            order(5, 4, "09 12:00"),  # censored user
            order(6, 5, "03 12:00"),  # pay-page claimer
            order(7, 7, "12 23:59"),  # day 7: retained
        ],
    )
    # cohort {1, 2, 3, 6, 7}, retained {1, 3, 7} -> 3 / 5
    assert cal.measure_c4(store, run="r") == pytest.approx(0.6)
    # the domain function, next day only: user 4 is no longer censored, cohort
    # {1, 2, 3, 4, 6, 7}; users 3 and 4 order on day 1 -> 2 / 6
    assert lab.claimer_retention(store, run="r", entry="card_wallet") == pytest.approx(2 / 6)


# -- C5, C7, C8 --------------------------------------------------------------------------
def test_c5_conversion_lift_and_cost_overhead():
    store = new_store()
    put(
        store,
        "stocks",
        [stock(1, "lbs", "lbs_3km"), stock(2, "lbs", "untargeted"), stock(3, "other", "lbs_3km")],
    )
    seen = {"exposed": "01 10:00"}
    red = {"exposed": "01 10:00", "redeemed": "01 12:00"}
    put(
        store,
        "offers",
        [
            # targeted: 4 exposed, 2 redeemed -> 0.5 (offer 5 was never seen)
            offer(1, 1, "mini_program", stock=1, **red),
            offer(2, 2, "mini_program", stock=1, **red),
            offer(3, 3, "mini_program", stock=1, **seen),
            offer(4, 4, "mini_program", stock=1, **seen),
            offer(5, 5, "mini_program", stock=1),
            # untargeted: 5 exposed, 1 redeemed -> 0.2
            offer(6, 6, "mini_program", stock=2, **red),
            *[offer(i, i, "mini_program", stock=2, **seen) for i in range(7, 11)],
            # another experiment's stock: ignored
            offer(11, 11, "mini_program", stock=3, **red),
        ],
    )
    put(
        store,
        "engine_metrics",
        [
            {"stock_id": 1, "day": START, "metric": "cost_units", "value": 60.0},
            {"stock_id": 1, "day": START + dt.timedelta(1), "metric": "cost_units", "value": 55.0},
            {"stock_id": 1, "day": START, "metric": "requests", "value": 999.0},
            {"stock_id": 2, "day": START, "metric": "cost_units", "value": 50.0},
            {"stock_id": 2, "day": START + dt.timedelta(1), "metric": "cost_units", "value": 50.0},
            {"stock_id": 3, "day": START, "metric": "cost_units", "value": 500.0},
        ],
    )
    got = cal.measure_c5(store, run="r")
    # lift 0.5 / 0.2 = 2.5; overhead (60 + 55) / (50 + 50) - 1 = 0.15
    assert got == pytest.approx({"conversion_lift": 2.5, "resource_overhead": 0.15})
    with pytest.raises(ValueError, match="arms found"):
        cal.measure_c5(store, run="r", arms=("lbs_5km", "untargeted"))
    with pytest.raises(ValueError, match="arms must be"):
        cal.measure_c5(store, run="r", arms=("untargeted", "untargeted"))


def test_c7_losses_follow_a_monotone_funnel():
    store = new_store()
    e = "01 10:00"
    put(
        store,
        "offers",
        [
            offer(1, 1, "mini_program", exposed=e, rule_viewed=e, claimed=e),  # passes both
            offer(2, 2, "mini_program", exposed=e, rule_viewed=e),  # lost at decision
            offer(3, 3, "mini_program", exposed=e),  # lost at exposure
            offer(4, 4, "mini_program", exposed=e, claimed=e),  # claimed straight away: passes
            offer(5, 5, "mini_program", exposed=e, shared=e),  # past exposure, lost at decision
            offer(6, 6, "mini_program"),  # never exposed: ignored
            offer(7, 7, "mini_program", exposed=e),  # lost at exposure
        ],
    )
    # exposed 6, past exposure {1, 2, 4, 5} -> lost 2 / 6; not claimed {2, 5} -> 2 / 4
    assert cal.measure_c7(store, run="r") == pytest.approx(
        {"lost_at_exposure": 1 / 3, "lost_at_decision": 0.5}
    )


def test_c8_share_and_redemption_rate_changes():
    store = new_store()
    put(store, "stocks", [stock(1, "share", "share_to_unlock"), stock(2, "share", "plain")])
    e = "01 10:00"
    put(
        store,
        "offers",
        [
            # treatment: 4 exposed, 2 shared -> 0.5 (offer 5 shared but never exposed: ignored)
            offer(1, 1, "mini_program", stock=1, exposed=e, shared=e),
            offer(2, 2, "mini_program", stock=1, exposed=e, shared=e),
            offer(3, 3, "mini_program", stock=1, exposed=e),
            offer(4, 4, "mini_program", stock=1, exposed=e),
            offer(5, 5, "mini_program", stock=1, shared=e),
            # control: 5 exposed, 1 shared -> 0.2
            offer(6, 6, "mini_program", stock=2, exposed=e, shared=e),
            *[offer(i, i, "mini_program", stock=2, exposed=e) for i in range(7, 11)],
        ],
    )
    put(
        store,
        "coupons",
        [
            # treatment: issued {1, 2, 3 compensated}, redeemed {1} -> 1/3; refused ignored
            coupon(1, 1, stock=1, redeemed_at="02 10:00"),
            coupon(2, 2, stock=1),
            coupon(3, 3, stock=1, status="compensated"),
            coupon(4, 4, stock=1, status="refused", refusal_reason="risk_blocked"),
            # control: 4 issued, 2 redeemed -> 0.5
            coupon(5, 6, stock=2, redeemed_at="02 10:00"),
            coupon(6, 7, stock=2, redeemed_at="03 10:00"),
            coupon(7, 8, stock=2),
            coupon(8, 9, stock=2),
        ],
    )
    # share 0.5 / 0.2 - 1 = 1.5; redemption (1/3) / 0.5 - 1 = -1/3
    assert cal.measure_c8(store, run="r") == pytest.approx(
        {"share_rate_change": 1.5, "redemption_rate_change": -1 / 3}
    )


# -- C9, C10 -----------------------------------------------------------------------------
def test_c9_fraud_share_and_latency_increase():
    store = new_store("off")
    new_store("strict", store=store)
    for run in ("off", "strict"):
        put(
            store, "truth_users", [{"user_id": u, "is_fraud": u <= 2} for u in range(1, 5)], run=run
        )
    put(
        store,
        "coupons",
        [
            # issued {1, 2, 3 compensated, 4}, fraud {1, 2, 3} -> 0.75; mean latency 300 ms
            coupon(1, 1, latency_ms=100),
            coupon(2, 2, latency_ms=200),
            coupon(3, 2, status="compensated", latency_ms=300),
            coupon(4, 3, latency_ms=400),
            coupon(5, 4, status="refused", latency_ms=500),
        ],
        run="off",
    )
    put(
        store,
        "coupons",
        [
            # issued {3, 4, 5}, no fraud -> 0; mean latency (4 * 1500 + 2000) / 5 = 1600 ms
            coupon(1, 1, status="refused", latency_ms=1500),
            coupon(2, 2, status="refused", latency_ms=1500),
            coupon(3, 3, latency_ms=1500),
            coupon(4, 4, latency_ms=1500),
            coupon(5, 3, latency_ms=2000),
        ],
        run="strict",
    )
    got = cal.measure_c9(store, run_off="off", run_strict="strict")
    assert got == pytest.approx(
        {"fraud_share_off": 0.75, "fraud_share_strict": 0.0, "latency_increase_s": 1.3}
    )


def _c10_log(store: lab.Store, run: str) -> None:
    put(
        store,
        "stocks",
        [
            stock(1, "denomination", "split"),
            stock(2, "denomination", "split"),
            stock(3, "denomination", "single"),
        ],
        run=run,
    )
    put(
        store,
        "coupons",
        [
            coupon(1, 1, stock=1, redeemed_at="02 12:00", order_id=101),
            coupon(2, 1, stock=2, redeemed_at="02 12:00", order_id=101),  # same order: once
            coupon(3, 2, stock=2, redeemed_at="03 12:00", order_id=102),
            coupon(4, 3, stock=1),  # not redeemed
            coupon(5, 5, stock=3, redeemed_at="02 12:00", order_id=105),
            coupon(6, 6, stock=3, redeemed_at="04 12:00", order_id=106),
        ],
        run=run,
    )
    put(
        store,
        "orders",
        [
            order(101, 1, "02 12:00", 20000),
            order(102, 2, "03 12:00", 12000),
            order(105, 5, "02 12:00", 35000),
            order(106, 6, "04 12:00", 31000),
            order(107, 1, "05 12:00", 99900),  # no coupon: not a redeemed order
        ],
        run=run,
    )


def test_c10_per_user_redeemed_amount_and_aov():
    store = new_store()
    _c10_log(store, "r")
    put(
        store,
        "assignments",
        [
            {"experiment": "denomination", "user_id": u, "arm": "split" if u <= 4 else "single"}
            for u in range(1, 7)
        ],
    )
    got = cal.measure_c10(store, run="r")
    # split: orders {101, 102} = 32000 fen over 4 users = 8000; AOV 16000
    # single: orders {105, 106} = 66000 fen over 2 users = 33000; AOV 33000
    assert got == pytest.approx(
        {"redeemed_amount_change": 8000 / 33000 - 1, "aov_change": 16000 / 33000 - 1}
    )


def test_c10_without_assignments_uses_offer_recipients():
    store = new_store()
    _c10_log(store, "r")
    put(
        store,
        "offers",
        [
            offer(1, 1, "mini_program", stock=1),
            offer(2, 1, "mini_program", stock=2),
            offer(3, 2, "mini_program", stock=2),
            offer(4, 3, "mini_program", stock=1),
            offer(5, 5, "mini_program", stock=3),
            offer(6, 6, "mini_program", stock=3),
        ],
    )
    # split recipients {1, 2, 3}: 32000 / 3; single {5, 6}: 66000 / 2
    got = cal.measure_c10(store, run="r")
    assert got["redeemed_amount_change"] == pytest.approx((32000 / 3) / 33000 - 1)


# -- C11, C12 ----------------------------------------------------------------------------
@pytest.fixture
def morning_store() -> lab.Store:
    # campaign 2024-01-01 (Mon) .. 01-07 (Sun); pre-period 2023-12-25 (Mon) .. 12-31 (Sun)
    store = new_store(days=7, pre_days=7)
    put(
        store,
        "assignments",
        [
            {"experiment": "morning", "user_id": 1, "arm": "treatment"},
            {"experiment": "morning", "user_id": 2, "arm": "control"},
        ],
    )
    dec = lambda s: pd.Timestamp(f"2023-12-{s}")  # noqa: E731
    times = {
        1: [  # treatment, campaign: weekdays 3 / 5 in the morning, weekend 1 / 2
            T("01 08:00"),
            T("02 09:59"),
            T("03 12:00"),
            T("04 10:00"),
            T("05 07:00"),
            T("06 08:00"),
            T("07 13:00"),
            T("08 08:00"),  # after the campaign: ignored
            # pre-period: weekdays 1 / 4, weekend 1 / 3
            dec("25 08:00"),
            dec("26 15:00"),
            dec("27 16:00"),
            dec("28 17:00"),
            dec("30 08:30"),
            dec("31 11:00"),
            dec("31 20:00"),
        ],
        2: [  # control, campaign: weekdays 1 / 4 (06:59 is not morning), weekend 2 / 4
            T("01 06:59"),
            T("02 08:00"),
            T("03 20:00"),
            T("04 21:00"),
            T("06 09:00"),
            T("06 10:00"),
            T("07 11:00"),
            T("07 07:30"),
        ],
    }
    rows = [order(100 * u + i, u, ts) for u, tss in times.items() for i, ts in enumerate(tss)]
    put(store, "orders", rows)
    return store


def test_c11_compares_arms(morning_store):
    got = cal.measure_c11(morning_store, run="r")
    assert got == pytest.approx(
        {
            "morning_share_before": 0.25,
            "morning_share_with": 0.6,
            "weekend_share_before": 0.5,
            "weekend_share_with": 0.5,
            "weekend_change": 0.0,
        }
    )


def test_c11_compares_periods(morning_store):
    got = cal.measure_c11(morning_store, run="r", compare="periods")
    assert got == pytest.approx(
        {
            "morning_share_before": 0.25,
            "morning_share_with": 0.6,
            "weekend_share_before": 1 / 3,
            "weekend_share_with": 0.5,
            "weekend_change": 1 / 6,
        }
    )
    with pytest.raises(ValueError, match="compare must be one of"):
        cal.measure_c11(morning_store, run="r", compare="weeks")


def test_c12_deliveries_per_active_wechat_user_day():
    store = new_store(days=4)  # 2024-01-01 .. 01-04
    put(store, "users", [{"user_id": u, "uses_wechat": u != 4} for u in range(1, 6)])
    put(
        store,
        "events",
        [
            {"event_id": 1, "ts": T("02 10:00"), "user_id": 1, "event_type": "exposure"},
            {"event_id": 2, "ts": T("02 10:00"), "user_id": 2, "event_type": "delivery"},
            {"event_id": 3, "ts": T("02 10:00"), "user_id": 3, "event_type": "delivery"},
        ],
    )
    put(
        store,
        "orders",
        [
            order(1, 2, "03 12:00"),  # user 2 active through an order
            order(2, 4, "03 12:00"),  # user 4 does not use WeChat
            order(3, 5, pd.Timestamp("2023-12-30 12:00")),  # before the period: user 5 inactive
        ],
    )
    put(
        store,
        "offers",
        [
            *[offer(i, 1, "official_account", delivered=f"0{1 + i % 4} 09:00") for i in range(5)],
            offer(5, 1, "official_account", delivered="05 09:00"),  # after the period
            offer(6, 1, "app_push", platform="meituan"),  # not WeChat
            *[offer(10 + i, 2, "mini_program") for i in range(4)],
            *[offer(20 + i, 3, "mini_program") for i in range(4)],  # inactive user 3
            *[offer(30 + i, 5, "mini_program") for i in range(2)],  # inactive user 5
        ],
    )
    # active {1, 2}: (5 + 4) offers / (2 users * 4 days)
    assert cal.measure_c12(store, run="r") == pytest.approx(9 / 8)


# -- C13 ---------------------------------------------------------------------------------
def test_c13_cycle_per_run_and_fatigue_slope():
    store = new_store("mt")
    new_store("wx", store=store)
    new_store("mix", store=store)
    put(
        store,
        "coupons",
        [
            coupon(1, 1, issued_at="01 00:00", redeemed_at="01 12:00"),  # 0.5 d
            coupon(2, 1, issued_at="02 00:00", redeemed_at="03 12:00"),  # 1.5 d
            coupon(3, 2, issued_at="02 00:00"),  # not redeemed
        ],
        run="mt",
    )
    put(
        store,
        "coupons",
        [
            coupon(1, 1, issued_at="01 00:00", redeemed_at="03 00:00"),  # 2 d
            coupon(2, 1, issued_at="01 00:00", redeemed_at="06 00:00"),  # 5 d
            # compensated: claimed 01, issued 02, redeemed 04 -> 2 d from the issue
            coupon(
                3,
                2,
                claimed="01 00:00",
                status="compensated",
                issued_at="02 00:00",
                redeemed_at="04 00:00",
            ),
        ],
        run="wx",
    )
    put(
        store,
        "coupons",
        [
            coupon(1, 1, issued_at="01 00:00", redeemed_at="03 12:00"),  # 2.5 d
            coupon(2, 1, issued_at="01 06:00", redeemed_at="04 06:00"),  # 3 d
        ],
        run="mix",
    )
    push = lambda oid, uid, day, **kw: offer(  # noqa: E731
        oid, uid, "app_push", platform="meituan", delivered=f"0{day} 09:00", **kw
    )
    c = {"claimed": "01 10:00"}
    put(
        store,
        "offers",
        [
            push(1, 1, 1, **c),  # user 1 day 1: 1 push, 1 claim -> (1, 1)
            push(2, 2, 1),  # user 2 day 1: (1, 0)
            push(3, 1, 2, **c),
            push(4, 1, 2),  # user 1 day 2: (2, 0.5)
            push(5, 2, 2),
            push(6, 2, 2),
            push(7, 2, 2),  # user 2 day 2: (3, 0)
            push(8, 3, 1, **c),
            push(9, 3, 1, **c),
            push(10, 3, 1),  # user 3 day 1: (3, 2/3)
            offer(11, 4, "store_page", platform="meituan", claimed="01 10:00"),  # other entry
        ],
        run="mt",
    )
    got = cal.measure_c13(store, runs={"meituan": "mt", "wechat": "wx", "mix": "mix"})
    # OLS through (1, 1), (1, 0), (2, .5), (3, 0), (3, 2/3): x-bar 2, y-bar 13/30,
    # Sxy = (-17 + 13 - 13 + 7) / 30 = -1/3, Sxx = 4 -> slope -1/12
    assert got == pytest.approx(
        {"meituan": 1.0, "wechat": 3.0, "mix": 2.75, "fatigue_slope": -1 / 12}
    )
    with pytest.raises(ValueError, match="runs must map exactly"):
        cal.measure_c13(store, runs={"meituan": "mt", "wechat": "wx"})


# -- C14-C16 -----------------------------------------------------------------------------
def test_c14_top_tier_conversion_change():
    store = new_store()
    tiers = {1: 5, 2: 5, 3: 5, 4: 3, 5: 5, 6: 5, 7: 5, 8: 5, 9: 2}
    put(store, "users", [{"user_id": u, "credit_tier": t} for u, t in tiers.items()])
    put(
        store,
        "assignments",
        [
            {"experiment": "credit", "user_id": u, "arm": "tiered" if u <= 4 else "uniform"}
            for u in tiers
        ],
    )
    put(
        store,
        "stocks",
        [stock(1, "credit", "tiered"), stock(2, "credit", "uniform"), stock(3, "other", "x")],
    )
    r = {"redeemed_at": "03 12:00"}
    put(
        store,
        "coupons",
        [
            coupon(1, 1, stock=1, **r),
            coupon(2, 1, stock=1, **r),  # user 1 converted (once)
            coupon(3, 2, stock=1, **r),  # user 2 converted
            coupon(4, 3, stock=1),  # user 3 claimed, never redeemed
            coupon(5, 4, stock=1, **r),  # tier 3: outside the figure
            coupon(6, 5, stock=2, **r),  # user 5 converted
            coupon(7, 6, stock=3, **r),  # another experiment's coupon: user 6 not converted
            coupon(8, 9, stock=2, **r),  # tier 2: outside the figure
        ],
    )
    # tiered 2 / 3, uniform 1 / 4 -> (2/3) / (1/4) - 1 = 5/3
    assert cal.measure_c14(store, run="r") == pytest.approx(5 / 3)


def test_c15_welch_test_on_rainy_day_delivery_orders():
    store = new_store(days=4)  # 2024-01-01 .. 01-04
    put(
        store,
        "weather",
        [{"day": START + dt.timedelta(d), "rain": d in (-1, 0, 2, 4)} for d in range(-1, 5)],
    )  # rainy in the period: 01-01, 01-03
    put(
        store,
        "assignments",
        [
            {"experiment": "rain", "user_id": u, "arm": "rain_delivery" if u <= 3 else "control"}
            for u in range(1, 7)
        ],
    )
    put(
        store,
        "orders",
        [
            order(1, 1, "01 12:00", channel="delivery"),
            order(2, 1, "03 12:00", channel="delivery"),
            order(3, 1, "03 13:00"),  # dine-in
            order(4, 1, "02 12:00", channel="delivery"),  # dry day
            *[order(10 + i, 2, "01 12:00", channel="delivery") for i in range(3)],
            order(20, 3, "03 18:00", channel="delivery"),
            order(21, 3, pd.Timestamp("2023-12-31 12:00"), channel="delivery"),  # before the period
            order(30, 4, "01 19:00", channel="delivery"),
            order(40, 5, "05 12:00", channel="delivery"),  # rainy but after the period
        ],
    )
    treated, control = [2, 3, 1], [1, 0, 0]
    got = cal.measure_c15(store, run="r")
    ref = stats.ttest_ind(treated, control, equal_var=False)
    assert got == pytest.approx({"effect": 2 - 1 / 3, "p_value": ref.pvalue})


def test_c16_roi_per_stock_is_exact():
    store = new_store()
    put(store, "stocks", [stock(1), stock(2), stock(3)])
    put(
        store,
        "coupons",
        [
            coupon(1, 1, stock=1, redeemed_at="02 12:00", order_id=11, discount_fen=5000),
            coupon(2, 2, stock=1, redeemed_at="02 12:00", order_id=12, discount_fen=2000),
            coupon(3, 3, stock=1),
            coupon(4, 4, stock=2, redeemed_at="02 12:00", order_id=13, discount_fen=2000),
            coupon(5, 4, stock=2, redeemed_at="02 12:00", order_id=13, discount_fen=2000),
        ],
    )
    put(
        store,
        "orders",
        [
            order(11, 1, "02 12:00", 30000),
            order(12, 2, "02 12:00", 10000),
            order(13, 4, "02 12:00", 12000),
        ],
    )
    got = cal.measure_c16(store, run="r")
    assert got["stock_id"].tolist() == [1, 2, 3]
    assert got["redeemed_coupons"].tolist() == [2, 2, 0]
    assert got["redeemed_amount_fen"].tolist() == [40000, 12000, 0]  # order 13 once
    assert got["cost_fen"].tolist() == [7000, 4000, 0]
    assert got["issuance_cost_fen"].tolist() == [7000, 4000, 0]
    # (40000 - 7000) / 7000 = 33/7; (12000 - 4000) / 4000 = 2; no cost -> NaN
    assert got["roi"].iloc[0] == 33 / 7
    assert got["roi"].iloc[1] == 2.0
    assert math.isnan(got["roi"].iloc[2])


def test_missing_run_and_missing_period_are_clear_errors():
    store = lab.Store(":memory:")
    with pytest.raises(KeyError, match="no run"):
        cal.measure_c2(store, run="nope")
    store.create_run("bare", origin="import")
    with pytest.raises(ValueError, match="no start_date/days"):
        cal.measure_c12(store, run="bare")
    with pytest.raises(ValueError, match="no WeChat offers"):
        cal.measure_c1(store, run="bare")


# -- targets and check -------------------------------------------------------------------
def test_targets_transcribe_every_row():
    assert [t.id for t in cal.TARGETS] == [f"C{i}" for i in range(1, 17)]
    assert [t.id for t in cal.TARGETS if t.benchmark] == ["C6"]
    for t in cal.TARGETS:
        assert t.rules and all(r.metric.split(".")[0] == t.id for r in t.rules)


def test_check_applies_explicit_rules():
    measured = {
        "C1": {
            "official_account": 0.65,
            "mini_program": 0.91,
            "pay_page": 0.97,
            "card_wallet": 0.5,
        },
        "C2": 0.30,  # on the upper boundary: passes
        "C3": 0.136,  # 0.016 away: fails
        "C9.fraud_share_strict": 0.003,  # must be strictly below
        "C11": {
            "morning_share_before": 0.09,
            "morning_share_with": 0.2,
            "weekend_share_before": 0.1,
            "weekend_share_with": 0.13,
            "weekend_change": 0.03,
        },
        "C13": {"meituan": 1.5, "wechat": 2.5, "mix": 2.7, "fatigue_slope": -0.1},
        "C15": {"effect": 0.2, "p_value": 0.01},
        "C6.coupons_per_s": 1_200_000.0,
    }
    got = cal.check(measured)
    assert list(got.columns) == ["id", "metric", "target", "tolerance", "measured", "ok"]
    ok = dict(zip(got["metric"] + " " + got["target"], got["ok"], strict=True))
    assert ok == {
        "C1.official_account [0.65, 0.8]": True,
        "C1.mini_program [0.75, 0.9]": False,
        "C1.pay_page [0.85, 1]": True,
        "C1.card_wallet [0.4, 0.6]": True,
        "C2 0.28": True,
        "C3 0.12": False,
        "C6.coupons_per_s >= 1e+06": True,
        "C9.fraud_share_strict < 0.003": False,
        "C11.morning_share_before 0.09": True,
        "C11.morning_share_with 0.21": True,
        "C11.weekend_change |x| < 0.02": False,
        "C13.meituan < C13.mix": True,
        "C13.mix < C13.wechat": False,  # 2.7 is not below 2.5
        "C13.mix 2.8": True,
        "C13.fatigue_slope < 0": True,
        "C15.effect > 0": True,
        "C15.p_value < 0.05": True,
    }
    assert cal.check({"C2": float("nan")})["ok"].tolist() == [False]
    with pytest.raises(ValueError, match="does not start with a target id"):
        cal.check({"C99": 1.0})


# -- cross-checks against pandas / statsmodels on random logs ------------------------------
_ENTRIES = ("official_account", "mini_program", "pay_page", "card_wallet")


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.sampled_from((*_ENTRIES, "app_push")), st.booleans()),
        min_size=1,
        max_size=30,
    )
)
def test_c1_matches_pandas(rows):
    store = new_store()
    df = pd.DataFrame(
        [
            offer(
                i,
                u,
                e,
                platform="meituan" if e == "app_push" else "wechat",
                exposed="01 10:00" if seen else None,
            )
            for i, (u, e, seen) in enumerate(rows)
        ]
    )
    store.write("offers", df, run_id="r")
    wechat = df[df["platform"] == "wechat"]
    if wechat.empty:
        with pytest.raises(ValueError):
            cal.measure_c1(store, run="r")
        return
    expected = {
        str(entry): g.loc[g["exposed_at"].notna(), "user_id"].nunique() / g["user_id"].nunique()
        for entry, g in wechat.groupby("entry")
    }
    assert cal.measure_c1(store, run="r") == pytest.approx(expected)


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.integers(1, 3), st.booleans()), min_size=2, max_size=40
    )
)
def test_c13_fatigue_slope_matches_ols_on_user_days(pushes):
    store = new_store("mt")
    for run in ("wx", "mix"):
        new_store(run, store=store)
    for run in ("mt", "wx", "mix"):
        put(store, "coupons", [coupon(1, 1, issued_at="01 00:00", redeemed_at="02 00:00")], run=run)
    df = pd.DataFrame(
        [
            offer(
                i,
                u,
                "app_push",
                platform="meituan",
                delivered=f"0{d} 09:00",
                claimed=f"0{d} 10:00" if claimed else None,
            )
            for i, (u, d, claimed) in enumerate(pushes)
        ]
    )
    store.write("offers", df, run_id="mt")
    user_days = (
        df.assign(day=df["delivered_at"].dt.date, claimed=df["claimed_at"].notna())
        .groupby(["user_id", "day"])["claimed"]
        .agg(["size", "mean"])
    )
    runs = {"meituan": "mt", "wechat": "wx", "mix": "mix"}
    if user_days["size"].nunique() < 2:
        with pytest.raises(ValueError, match="two"):
            cal.measure_c13(store, runs=runs)
        return
    ols = sm.OLS(
        user_days["mean"].to_numpy(float), sm.add_constant(user_days["size"].to_numpy(float))
    ).fit()
    got = cal.measure_c13(store, runs=runs)["fatigue_slope"]
    assert got == pytest.approx(ols.params[1], abs=1e-9)


@settings(max_examples=15, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 3), st.integers(0, 5), st.integers(0, 3000)), max_size=20),
    st.lists(st.integers(1, 100_000), min_size=6, max_size=6),
)
def test_c16_matches_pandas(coupons, amounts):
    # coupons: (stock, order index or 0 = not redeemed, discount); orders 1..5
    store = new_store()
    put(store, "stocks", [stock(s) for s in (1, 2, 3)])
    orders = pd.DataFrame([order(i, 1, "02 12:00", amounts[i]) for i in range(1, 6)])
    store.write("orders", orders, run_id="r")
    rows = [
        coupon(
            i,
            1,
            stock=s,
            **({"redeemed_at": "02 12:00", "order_id": o, "discount_fen": d} if o else {}),
        )
        for i, (s, o, d) in enumerate(coupons)
    ]
    if rows:
        store.write("coupons", pd.DataFrame(rows), run_id="r")
    got = cal.measure_c16(store, run="r").set_index("stock_id")
    red = pd.DataFrame(
        [(s, o, d) for s, o, d in coupons if o], columns=["stock_id", "order_id", "discount"]
    )
    amount = orders.set_index("order_id")["amount_fen"]
    for s in (1, 2, 3):
        mine = red[red["stock_id"] == s]
        cost = int(mine["discount"].sum())
        total = int(amount.loc[sorted(set(mine["order_id"]))].sum())
        assert got.loc[s, "redeemed_coupons"] == len(mine)
        assert got.loc[s, "redeemed_amount_fen"] == total
        assert got.loc[s, "cost_fen"] == cost
        roi = got.loc[s, "roi"]
        assert np.isnan(roi) if cost == 0 else roi == (total - cost) / cost
