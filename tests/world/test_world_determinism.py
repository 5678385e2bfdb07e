"""Same seed, same logs; different seed, different logs; common random numbers across strategies."""

from __future__ import annotations

import pandas as pd
import pytest

import lab
from lab import schema
from lab.world import simulate

USERS, DAYS, PRE = 1500, 10, 7


# run id -> (preset, seed): a and b repeat one seed, c changes it, d changes the strategy
RUNS = {"a": ("default", 11), "b": ("default", 11), "c": ("default", 12), "d": ("risk_strict", 11)}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = lab.Store(tmp_path_factory.mktemp("det") / "w.duckdb")
    for run_id, (preset, seed) in RUNS.items():
        simulate(
            preset,
            store=s,
            users=USERS,
            days=DAYS,
            pre_days=PRE,
            seed=seed,
            run_id=run_id,
            progress=False,
        )
    return s


def table(store, name, run):
    t = schema.table(name)
    cols = ", ".join(c for c in t.column_names if c != "run_id")
    return store.query(
        f"SELECT {cols} FROM {name} WHERE run_id = ? ORDER BY {', '.join(t.key[1:])}", [run]
    )


@pytest.mark.parametrize("name", schema.DATA_TABLES)
def test_same_seed_gives_identical_tables(store, name):
    a, b = table(store, name, "a"), table(store, name, "b")
    assert len(a) > 0
    pd.testing.assert_frame_equal(a, b)


def test_different_seed_differs(store):
    for name in ("users", "offers", "orders", "truth_orders"):
        a, c = table(store, name, "a"), table(store, name, "c")
        assert not a.equals(c), name


def test_strategies_share_the_counterfactual(store):
    """Common random numbers: same seed, different strategy => identical users and truth_orders."""
    for name in ("users", "truth_orders", "weather"):
        pd.testing.assert_frame_equal(table(store, name, "a"), table(store, name, "d"))
    tu_a, tu_d = table(store, "truth_users", "a"), table(store, "truth_users", "d")
    pd.testing.assert_frame_equal(
        tu_a.drop(columns="true_uplift_orders"), tu_d.drop(columns="true_uplift_orders")
    )
    assert not table(store, "orders", "a").equals(table(store, "orders", "d"))


def test_true_uplift_matches_realised_extra_orders(store):
    """Expected extra orders (truth) track the realised extra orders of treated users."""
    df = store.query("""
        SELECT t.user_id, t.true_uplift_orders AS uplift, a.arm,
               (SELECT count(*) FROM orders o WHERE o.run_id = t.run_id AND o.user_id = t.user_id)
             - (SELECT count(*) FROM truth_orders o WHERE o.run_id = t.run_id AND o.user_id = t.user_id) AS extra
        FROM truth_users t JOIN assignments a USING (run_id, user_id)
        WHERE t.run_id = 'a' AND a.experiment = 'holdout'""")
    assert (df["uplift"] >= 0).all()
    treated = df[df["arm"] == "treatment"]
    held = df[df["arm"] == "holdout"]
    assert (held["extra"] == 0).all() and held["uplift"].mean() > 0
    assert treated["uplift"].sum() == pytest.approx(treated["extra"].sum(), rel=0.25)
    assert treated["uplift"].corr(treated["extra"]) > 0.2
