"""risk_features: hand-made cases and a plain-pandas reference on the synthetic world."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lab.risk import FEATURES, risk_features
from lab.store import Store

T0 = dt.datetime(2026, 3, 1, 12, 0, 0)


@pytest.fixture
def tiny():
    """Five accounts: 1-3 share device 77 and block 10.0.0.x and claim in one minute;
    4 is a loner with a virtual number; 5 never claims."""
    store = Store(":memory:")
    store.create_run("t", origin="import")
    block = 10 << 24
    users = pd.DataFrame(
        {
            "user_id": [1, 2, 3, 4, 5],
            "device_id": [77, 77, 77, 40, 50],
            "ip": [block + 1, block + 2, block + 3, 5 << 24, 6 << 24],
            "phone_prefix": [170, 171, 139, 170, 139],
            "registered_at": [T0 - dt.timedelta(hours=2)] * 3 + [T0 - dt.timedelta(days=400)] * 2,
        }
    )
    coupons = pd.DataFrame(
        {
            "coupon_id": [11, 12, 13, 14, 15, 16, 17],
            "stock_id": 1,
            "user_id": [1, 2, 3, 4, 4, 4, 4],
            "claimed_at": [T0 + dt.timedelta(seconds=s) for s in (1, 5, 9)]
            + [T0 + dt.timedelta(minutes=m) for m in (3, 10, 20, 30)],
            "status": ["issued", "issued", "refused", "issued", "issued", "issued", "compensated"],
            "transaction_minimum_fen": 3000,
            "amount_fen": 500,
            "redeemed_at": [
                T0 + dt.timedelta(hours=1),
                T0 + dt.timedelta(hours=1),
                None,
                None,
                None,
                None,
                T0 + dt.timedelta(hours=2),
            ],
            "order_id": [101, 102, None, None, None, None, 104],
            "device_id": [77, 77, 77, 40, 40, 40, 40],
            "ip": [block + 1, block + 2, block + 3, 5 << 24, 5 << 24, 5 << 24, 5 << 24],
        }
    )
    orders = pd.DataFrame(
        {
            "order_id": [101, 102, 104, 105],
            "user_id": [1, 2, 4, 4],
            "ts": [
                T0 + dt.timedelta(hours=1),
                T0 + dt.timedelta(hours=1),
                T0 + dt.timedelta(hours=2),
                T0,
            ],
            "amount_fen": [3050, 3100, 8000, 2000],
            "discount_fen": [500, 500, 500, 0],
            "coupon_id": [11, 12, 17, None],
        }
    )
    store.write("users", users, run_id="t")
    store.write("coupons", coupons, run_id="t")
    store.write("orders", orders, run_id="t")
    yield store
    store.close()


def test_hand_made_accounts(tiny):
    f = risk_features(tiny, run="t").set_index("user_id")
    assert list(f.columns) == list(FEATURES)
    assert f["accounts_per_device"].tolist() == [3, 3, 3, 1, 1]
    assert f["accounts_per_ip_block"].tolist() == [3, 3, 3, 1, 1]
    assert f["max_block_claims_per_minute"].tolist() == [3, 3, 3, 1, 0]
    assert f["max_block_claims_per_hour"].tolist() == [3, 3, 3, 4, 0]
    assert f["virtual_number"].tolist() == [True, True, False, True, False]
    assert f["n_claims"].tolist() == [1, 1, 1, 4, 0]
    assert f["n_issued"].tolist() == [1, 1, 0, 4, 0]
    assert f["n_refused"].tolist() == [0, 0, 1, 0, 0]
    assert f["n_redeemed"].tolist() == [1, 1, 0, 1, 0]
    np.testing.assert_allclose(f["unredeemed_share"], [0, 0, 0, 0.75, 0])
    # 3050 and 3100 are under 3000 x 1.05 = 3150; 8000 is not
    np.testing.assert_allclose(f["near_threshold_share"], [1, 1, 0, 0, 0])
    assert f["linked_orders"].tolist() == [1, 1, 0, 0, 0]
    assert f["organic_orders"].tolist() == [0, 0, 0, 1, 0]
    assert f["max_claims_per_hour"].tolist() == [1, 1, 1, 4, 0]
    np.testing.assert_allclose(
        f.loc[[1, 2, 3], "account_age_hours"], [2 + 1 / 3600, 2 + 5 / 3600, 2 + 9 / 3600]
    )
    assert np.isnan(f.loc[5, "account_age_hours"])


def test_matches_pandas_reference(world):
    store, frames = world
    f = risk_features(store, run="w").set_index("user_id")
    users, coupons = frames["users"], frames["coupons"]
    links = pd.concat(
        [users[["user_id", "device_id"]], coupons[["user_id", "device_id"]]]
    ).drop_duplicates()
    per_dev = links.groupby("device_id")["user_id"].nunique()
    expected = links.assign(n=links["device_id"].map(per_dev)).groupby("user_id")["n"].max()
    pd.testing.assert_series_equal(
        f["accounts_per_device"], expected, check_names=False, check_dtype=False
    )
    c = coupons.assign(blk=coupons["ip"] // 256, minute=coupons["claimed_at"].dt.floor("min"))
    c["n"] = c.groupby(["blk", "minute"])["coupon_id"].transform("size")
    burst = c.groupby("user_id")["n"].max().reindex(f.index, fill_value=0)
    pd.testing.assert_series_equal(
        f["max_block_claims_per_minute"], burst, check_names=False, check_dtype=False
    )
    n_claims = coupons.groupby("user_id").size().reindex(f.index, fill_value=0)
    pd.testing.assert_series_equal(f["n_claims"], n_claims, check_names=False, check_dtype=False)


def test_unknown_run_is_an_error():
    store = Store(":memory:")
    with pytest.raises(KeyError, match="no run 'nope'"):
        risk_features(store, run="nope")
