"""Experiment statistics and the uplift dataset give the same answers on every engine.

A small ``denomination_split`` world (two arms plus the holdout experiment, a pre-period
for CUPED) lives in the embedded DuckDB store, where ``analyze`` reads the derived
``experiment_users`` table; the ``engine`` fixture copies the run to a store reached
through ``lab.Store.from_ibis`` (an Ibis-only DuckDB, Spark local mode and ClickHouse on
chDB), which has no derived tables, so there ``analyze`` groups the orders. Counts must
match exactly, floats to 1e-9. The models' own tests check them against statsmodels and
pandas.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import lab
from lab.experiments import analyze, experiment_users_status
from lab.experiments._analyze import Period
from lab.experiments._queries import arm_sums
from lab.targeting import uplift_dataset, user_features
from lab.world import simulate

RUN = "split"
ALL_METRICS = ("redeemed", "orders", "gmv", "redeemed_amount", "aov")


@pytest.fixture(scope="module")
def world():
    store = lab.Store(":memory:")
    simulate(
        "denomination_split",
        store=store,
        users=400,
        days=5,
        pre_days=3,
        start_date=dt.date(2026, 3, 2),
        seed=7,
        run_id=RUN,
        progress=False,
    )
    yield store
    store.close()


@pytest.fixture(scope="module")
def other(world, engine):
    return engine(world, [RUN])


def same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Equal columns; floats to 1e-9 (relative), everything else exactly."""
    got, want = got.reset_index(drop=True), want.reset_index(drop=True)
    assert list(got.columns) == list(want.columns)
    floats = [c for c in want.columns if pd.api.types.is_float_dtype(want[c])]
    exact = [c for c in want.columns if c not in floats]
    pd.testing.assert_frame_equal(
        got[exact].astype(object), want[exact].astype(object), check_exact=True
    )
    np.testing.assert_allclose(
        got[floats].to_numpy(float), want[floats].to_numpy(float), rtol=1e-9, atol=1e-12
    )


def test_the_copy_has_no_derived_table_so_analyze_groups_orders(world, other):
    assert experiment_users_status(world, RUN) == "fresh"
    assert experiment_users_status(other, RUN) == "missing"


@pytest.mark.parametrize("by", [None, "segment"])
def test_arm_sums(world, other, by):
    kwargs = dict(
        run=RUN,
        experiment="denomination",
        period=Period.of_run(world, RUN),
        metrics=ALL_METRICS,
        covariate="pre_gmv",
        by=by,
    )
    got = arm_sums(other, **kwargs)
    want = arm_sums(world, source="experiment_users", **kwargs)
    same(got, want)
    same(arm_sums(world, source="orders", **kwargs), want)
    assert got["n"].dtype == "int64" and got["n"].sum() > 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"metrics": ALL_METRICS},
        {"metrics": ("orders", "gmv", "redeemed_amount"), "covariate": "pre_gmv"},
        {"metrics": ("gmv", "aov"), "covariate": "pre_orders", "by": "segment"},
        {"experiment": "holdout", "metrics": ("redeemed", "gmv"), "difference": "absolute"},
    ],
)
def test_analyze(world, other, kwargs):
    kwargs = {"run": RUN, "experiment": "denomination", **kwargs}
    got, want = analyze(other, **kwargs), analyze(world, **kwargs)
    assert (got.control, got.arms, got.srm, got.warnings) == (
        want.control,
        want.arms,
        want.srm,
        want.warnings,
    )
    same(got.table.drop(columns="verdict"), want.table.drop(columns="verdict"))
    assert want.table["p_value"].notna().any()


def test_analyze_names_the_experiments_when_one_is_missing(other):
    with pytest.raises(ValueError, match=r"experiments: denomination, holdout"):
        analyze(other, run=RUN, experiment="nope")


def test_user_features(world, other):
    got = user_features(other, run=RUN)
    same(got, user_features(world, run=RUN))
    assert got["days_since_last_order"].notna().any()


@pytest.mark.parametrize("outcome", ["orders", "gmv", "redeemed"])
def test_uplift_dataset(world, other, outcome):
    kwargs = dict(
        run=RUN,
        experiment="holdout",
        treatment_arm="treatment",
        control_arm="holdout",
        outcome=outcome,
    )
    got = uplift_dataset(other, **kwargs)
    same(got, uplift_dataset(world, **kwargs))
    assert set(got["treatment"]) == {0, 1} and got["outcome"].sum() > 0
