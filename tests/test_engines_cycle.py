"""The redemption cycle gives the same answers on every engine.

A small default run lives in the embedded DuckDB store; the ``engine`` fixture copies it
to a store reached through ``lab.Store.from_ibis`` (an Ibis-only DuckDB, Spark local
mode and ClickHouse on chDB). The per-duration counts the estimators start from must be
equal exactly (the durations too: they are whole microseconds divided in Python), and so
the curves, summaries and log-rank test to 1e-9. ``tests/models/test_cycle.py`` checks
the model against plain numpy and lifelines.
"""

from __future__ import annotations

import pandas as pd
import pytest
from engine_equality import same

import lab
from lab.cycle import compare_cycles, redemption_cycle
from lab.cycle._cycle import data_end
from lab.world import simulate


@pytest.fixture(scope="module")
def world():
    store = lab.Store(":memory:")
    simulate(
        "default", store=store, users=300, days=6, pre_days=2, seed=6, run_id="df", progress=False
    )
    # durations with fractions of a second: redeemed, redeemed, expired
    day = pd.Timestamp("2026-03-01")
    store.create_run("sub", origin="import", start_date=day.date(), days=3)
    at = [day + pd.Timedelta(t) for t in ("00:00:00.25", "10:00:00.9", "12:00:00.5")]
    coupons = pd.DataFrame(
        {
            "coupon_id": [1, 2, 3],
            "user_id": [1, 2, 3],
            "stock_id": 1,
            "status": "issued",
            "claimed_at": at,
            "issued_at": at,
            "redeemed_at": [
                day + pd.Timedelta("00:00:01"),
                day + pd.Timedelta("1 days 10:00:00.1"),
                None,
            ],
            "valid_until": day + pd.Timedelta("1 days 12:00:00.25"),
        }
    )
    store.write("coupons", coupons, run_id="sub")
    yield store
    store.close()


@pytest.fixture(scope="module")
def other(world, engine):
    return engine(world, ["df", "sub"])


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"by": ("platform", "segment"), "estimator": "kaplan_meier"},
        {"by": "campaign", "start": "2026-03-02 12:00", "end": "2026-03-05"},
    ],
)
def test_redemption_cycle(world, other, kwargs):
    want = redemption_cycle(world, run="df", **kwargs)
    got = redemption_cycle(other, run="df", **kwargs)
    assert want.summary["redeemed"].sum() > 0
    assert got.data_end == want.data_end == data_end(other, "df")
    # the per-duration counts exactly, durations included
    pd.testing.assert_frame_equal(got.durations, want.durations, check_exact=True)
    same(got.summary, want.summary)
    same(got.curve, want.curve)


def test_compare_cycles(world, other):
    want = compare_cycles(world, run="df", by="platform", weight_type="tw")
    got = compare_cycles(other, run="df", by="platform", weight_type="tw")
    assert (got.df, want.df) == (2, 2)
    assert got.statistic == pytest.approx(want.statistic, rel=1e-9)
    assert got.p_value == pytest.approx(want.p_value, rel=1e-9)


def test_durations_keep_fractions_of_a_second(world, other):
    microseconds = [750_000, 86_399_200_000, 86_399_750_000]
    for store in (world, other):
        rows = redemption_cycle(store, run="sub").durations
        assert rows["outcome"].tolist() == ["expired", "redeemed", "redeemed"]
        assert sorted(rows["duration_days"]) == [us / 86_400e6 for us in microseconds]
