"""The funnel gives the same answers on every engine.

A tiny synthetic world, a share-to-unlock experiment and an imported log with repeated
steps (read from its events) live in the embedded DuckDB store; the ``engine`` fixture
copies them to a store reached only through ``lab.Store.from_ibis`` (an Ibis-only
DuckDB, Spark local mode and ClickHouse on chDB). Every path of the funnel must return
the same tables there: counts exactly, floats to 1e-9. ``tests/models/test_funnel.py``
checks the funnel itself against a plain-Python reference.
"""

from __future__ import annotations

import pytest
from engine_equality import same

import lab
from lab.funnel import (
    dropped_at,
    entry_reach,
    funnel,
    funnel_trend,
    journey_losses,
    redemption_within_day,
    share_unlock_effect,
)
from lab.world import simulate

RUNS = ("w", "imp", "sh")


@pytest.fixture(scope="module")
def world():
    store = lab.Store(":memory:")
    simulate(
        "default", store=store, users=150, days=4, pre_days=0, seed=7, run_id="w", progress=False
    )
    simulate(
        "share_to_unlock",
        store=store,
        users=150,
        days=3,
        pre_days=0,
        seed=8,
        run_id="sh",
        progress=False,
    )
    # an imported copy whose events name offers: source="auto" reads its events
    store.query(
        "INSERT INTO runs SELECT * REPLACE ('imp' AS run_id, 'import' AS origin) "
        "FROM runs WHERE run_id = 'w'"
    )
    for table in ("users", "stocks", "offers", "events"):
        store.query(
            f"INSERT INTO {table} SELECT * REPLACE ('imp' AS run_id) "
            f"FROM {table} WHERE run_id = 'w'"
        )
    yield store
    store.close()


@pytest.fixture(scope="module")
def other(world, engine):
    return engine(world, RUNS)


CASES = [
    {"run": "w"},
    {"run": "w", "by": ("platform", "segment"), "top_n": 3},
    {"run": "w", "by": "events.entry", "window": None, "start": "2026-03-02"},
    {"run": "imp", "by": "arm", "entry": "any", "window": "1D"},
    {"run": "w", "order": "strict", "unit": "user", "by": "credit_tier"},
    {"run": "imp", "order": "strict", "entry": "any", "end": "2026-03-04"},
]


@pytest.mark.parametrize("kwargs", CASES)
def test_funnel(world, other, kwargs):
    want = funnel(world, **kwargs)
    got = funnel(other, **kwargs)
    assert want.table["count"].iloc[0] > 0
    assert got.source == want.source
    same(got.table, want.table)
    same(got.time_to_convert, want.time_to_convert)
    same(got.histogram, want.histogram)


def test_paths(world):
    assert funnel(world, run="w").source == "offers"
    assert funnel(world, run="imp").source == "events"


@pytest.mark.parametrize("kwargs", [CASES[0], CASES[1], CASES[4]])
def test_trend_and_drop_outs(world, other, kwargs):
    for interval in ("day", "week"):
        want = funnel_trend(world, interval=interval, **kwargs)
        same(funnel_trend(other, interval=interval, **kwargs).table, want.table)
    drop_kwargs = {k: v for k, v in kwargs.items() if k not in ("by", "top_n")}
    want = dropped_at(world, step="claim", **drop_kwargs)
    assert len(want) > 0
    same(dropped_at(other, step="claim", **drop_kwargs), want)


def test_channel_figures(world, other):
    assert entry_reach(other, run="w") == pytest.approx(entry_reach(world, run="w"), rel=1e-9)
    assert redemption_within_day(other, run="w") == pytest.approx(
        redemption_within_day(world, run="w"), rel=1e-9
    )
    assert journey_losses(other, run="w") == pytest.approx(journey_losses(world, run="w"))
    assert share_unlock_effect(other, run="sh") == pytest.approx(
        share_unlock_effect(world, run="sh"), rel=1e-9
    )
