"""Retention gives the same answers on every engine.

A small default run lives in the embedded DuckDB store; the ``engine`` fixture copies it
to a store reached through ``lab.Store.from_ibis`` (an Ibis-only DuckDB, Spark local
mode and ClickHouse on chDB). Cohort sizes and retained counts must be equal exactly,
rates to 1e-9. ``tests/models/test_retention.py`` checks the model against an
independent reference.
"""

from __future__ import annotations

import pandas as pd
import pytest
from engine_equality import same

import lab
from lab.retention import claimer_retention, retention
from lab.world import simulate


@pytest.fixture(scope="module")
def world():
    store = lab.Store(":memory:")
    simulate(
        "default", store=store, users=300, days=6, pre_days=2, seed=5, run_id="df", progress=False
    )
    # two claims and the next day's orders a fraction of a second before and after 24 hours
    day = pd.Timestamp("2026-03-01")
    store.create_run("sub", origin="import", start_date=day.date(), days=3)
    claims = [day + pd.Timedelta("10:00:00.5"), day + pd.Timedelta("10:00:00.2")]
    orders = [day + pd.Timedelta("1 days 10:00:00.2"), day + pd.Timedelta("1 days 10:00:00.5")]
    ids = {"user_id": [1, 2], "event_id": [1, 2]}
    store.write("events", pd.DataFrame({**ids, "ts": claims, "event_type": "claim"}), run_id="sub")
    store.write(
        "orders",
        pd.DataFrame(
            {
                "user_id": [1, 2],
                "order_id": [1, 2],
                "ts": orders,
                "amount_fen": 900,
                "discount_fen": 0,
            }
        ),
        run_id="sub",
    )
    yield store
    store.close()


@pytest.fixture(scope="module")
def other(world, engine):
    return engine(world, ["df", "sub"])


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"by": ("segment", "platform", "events.entry"), "max_periods": 3, "first_time": False},
        {"start_event": "order", "first_time": False, "period": "week", "mode": "on_or_after"},
        {"buckets": "rolling", "start": "2026-03-02 06:30", "end": "2026-03-06"},
        {"buckets": "rolling", "period": "month", "start_event": "exposure", "max_periods": 1},
        {"start_where": {"platform": "wechat", "entry": "pay_page"}, "return_event": "redeem"},
    ],
)
def test_retention(world, other, kwargs):
    want = retention(world, run="df", **kwargs)
    got = retention(other, run="df", **kwargs)
    assert want.table["retained"].sum() > 0
    assert got.data_end == want.data_end
    same(got.table, want.table)
    same(got.curves, want.curves)


def test_claimer_retention(world, other):
    for entry in ("pay_page", "card_wallet"):
        want = claimer_retention(world, run="df", entry=entry, last_day=3)
        assert 0 < want < 1
        assert claimer_retention(other, run="df", entry=entry, last_day=3) == pytest.approx(
            want, rel=1e-9
        )


def test_rolling_days_count_fractions_of_a_second(world, other):
    # 23:59:59.7 after the claim is still rolling day 0; 24:00:00.3 is day 1
    for store in (world, other):
        table = retention(store, run="sub", buckets="rolling", max_periods=1).table
        assert table["cohort_size"].tolist() == [2, 2]
        assert table["retained"].tolist() == [1, 1]
        calendar = retention(store, run="sub", max_periods=1).table
        assert calendar["retained"].tolist() == [0, 2]
