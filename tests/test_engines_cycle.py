"""The redemption cycle gives the same answers on every engine.

A small default run lives in the embedded DuckDB store; the ``engine`` fixture copies it
to a store reached through ``lab.Store.from_ibis`` (an Ibis-only DuckDB, and Spark local
mode). The per-duration counts the estimators start from must be equal exactly (the
durations too: they are whole microseconds divided in Python), and so the curves,
summaries and log-rank test to 1e-9. ``tests/models/test_cycle.py`` checks the model
against plain numpy and lifelines.
"""

from __future__ import annotations

import pandas as pd
import pytest

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
    yield store
    store.close()


@pytest.fixture(scope="module")
def other(world, engine):
    return engine(world, ["df"])


def same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Equal columns and dtypes; floats to 1e-9 (relative), everything else exactly."""
    got, want = got.reset_index(drop=True), want.reset_index(drop=True)
    assert list(got.columns) == list(want.columns)
    floats = [c for c in want.columns if pd.api.types.is_float_dtype(want[c])]
    exact = [c for c in want.columns if c not in floats]
    pd.testing.assert_frame_equal(got[exact], want[exact], check_exact=True)
    pd.testing.assert_frame_equal(got[floats], want[floats], check_exact=False, rtol=1e-9)


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
