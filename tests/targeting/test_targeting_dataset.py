"""uplift_dataset / user_features on a hand-made store."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lab.store import Store
from lab.targeting import UPLIFT_FEATURES, uplift_dataset, user_features

START = dt.datetime(2026, 3, 1)


@pytest.fixture
def store():
    s = Store(":memory:")
    s.create_run("r", origin="import", days=7, pre_days=7, start_date=START.date())
    s.write(
        "users",
        pd.DataFrame(
            {
                "user_id": [1, 2, 3, 4],
                "city_tier": [1, 2, 3, 4],
                "distance_km": [0.5, None, 2.0, 9.0],
                "credit_tier": [5, 4, 3, 1],
                "friends": [3, 0, 8, 1],
                "uses_wechat": [True, True, False, True],
                "uses_alipay": [False, True, True, False],
                "uses_meituan": [False, False, True, True],
                "segment": ["new", "active", "lapsed", "active"],
                "primary_platform": ["wechat", "alipay", "meituan", "wechat"],
                "registered_at": [
                    START - dt.timedelta(days=2),
                    None,
                    START - dt.timedelta(days=100),
                    START,
                ],
            }
        ),
        run_id="r",
    )
    s.write(
        "assignments",
        pd.DataFrame(
            {
                "experiment": "e",
                "user_id": [1, 2, 3, 4],
                "arm": ["offer", "holdout", "offer", "other"],
            }
        ),
        run_id="r",
    )
    s.write(
        "orders",
        pd.DataFrame(
            {
                "order_id": [1, 2, 3, 4, 5, 6, 7],
                "user_id": [1, 1, 2, 1, 1, 3, 3],
                "ts": [
                    START - dt.timedelta(days=3),
                    START - dt.timedelta(days=1, hours=12),
                    START - dt.timedelta(hours=6),
                    START + dt.timedelta(days=1),
                    START + dt.timedelta(days=6, hours=23),
                    START + dt.timedelta(days=7),
                    START + dt.timedelta(days=2),
                ],
                "order_channel": [
                    "delivery",
                    "dine_in",
                    "delivery",
                    "dine_in",
                    "dine_in",
                    "dine_in",
                    "delivery",
                ],
                "amount_fen": [1000, 3000, 2500, 4000, 5000, 9999, 7000],
                "discount_fen": [0, 500, 0, 500, 0, 0, 0],
                "coupon_id": [None, 11, None, 12, None, None, None],
            }
        ),
        run_id="r",
    )
    s.write(
        "coupons",
        pd.DataFrame(
            {
                "coupon_id": [11, 12],
                "stock_id": 1,
                "user_id": [1, 1],
                "status": "issued",
                "claimed_at": [START - dt.timedelta(days=2), START],
                "redeemed_at": [
                    START - dt.timedelta(days=1, hours=12),
                    START + dt.timedelta(days=1),
                ],
            }
        ),
        run_id="r",
    )
    yield s
    s.close()


def test_features_by_hand(store):
    f = user_features(store, run="r").set_index("user_id")
    assert list(f.columns) == list(UPLIFT_FEATURES)
    assert f.loc[1, "pre_orders"] == 2 and f.loc[1, "pre_gmv_fen"] == 4000
    assert f.loc[1, "pre_coupon_orders"] == 1 and f.loc[1, "pre_delivery_share"] == 0.5
    assert f.loc[1, "days_since_last_order"] == pytest.approx(1.5)
    assert f.loc[2, "days_since_last_order"] == pytest.approx(0.25)
    assert np.isnan(f.loc[3, "days_since_last_order"]) and f.loc[3, "pre_orders"] == 0
    assert f.loc[1, "account_age_days"] == pytest.approx(2) and np.isnan(
        f.loc[2, "account_age_days"]
    )
    assert np.isnan(f.loc[2, "distance_km"])
    assert f.loc[1, ["segment_new", "segment_active", "segment_lapsed"]].tolist() == [1, 0, 0]
    assert f.loc[3, ["platform_wechat", "platform_alipay", "platform_meituan"]].tolist() == [
        0,
        0,
        1,
    ]
    assert f.loc[3, ["uses_wechat", "uses_alipay", "uses_meituan"]].tolist() == [0, 1, 1]


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        # campaign period is [Mar 1, Mar 8): user 3's order at exactly Mar 8 is outside
        ("orders", {1: 2, 2: 0, 3: 1}),
        ("gmv", {1: 9000, 2: 0, 3: 7000}),
        ("redeemed", {1: 1, 2: 0, 3: 0}),
    ],
)
def test_outcomes_by_hand(store, outcome, expected):
    d = uplift_dataset(
        store,
        run="r",
        experiment="e",
        treatment_arm="offer",
        control_arm="holdout",
        outcome=outcome,
    )
    assert d["user_id"].tolist() == [1, 2, 3]  # user 4 is in another arm
    assert d["treatment"].tolist() == [1, 0, 1]
    assert dict(zip(d["user_id"], d["outcome"], strict=True)) == expected


def test_validation(store):
    with pytest.raises(ValueError, match="outcome must be one of"):
        uplift_dataset(
            store,
            run="r",
            experiment="e",
            treatment_arm="offer",
            control_arm="holdout",
            outcome="aov",
        )
    with pytest.raises(ValueError, match="control_arm must be one of"):
        uplift_dataset(store, run="r", experiment="e", treatment_arm="offer", control_arm="nope")
    with pytest.raises(ValueError, match="has no arms"):
        uplift_dataset(store, run="r", experiment="x", treatment_arm="offer", control_arm="holdout")
    with pytest.raises(ValueError, match="must differ"):
        uplift_dataset(store, run="r", experiment="e", treatment_arm="offer", control_arm="offer")
    store.create_run("bare", origin="import")
    with pytest.raises(ValueError, match="no start_date"):
        user_features(store, run="bare")
