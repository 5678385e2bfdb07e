"""Budgeted allocation: never over budget, near the LP bound, beats random on known uplift."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from scipy.sparse import csr_matrix, vstack

from lab.targeting import (
    allocate,
    allocate_blanket,
    allocate_by_rule,
    allocate_random,
    allocate_within_rule,
    score_policies,
)

LADDER = (300, 800, 1500)


def known_options(n=2000, seed=0):
    """Options with a known uplift: saturating in the amount, heterogeneous by user."""
    rng = np.random.default_rng(seed)
    responsiveness = rng.lognormal(0, 1, size=n)
    saturation = rng.uniform(200, 2000, size=n)
    users = pd.DataFrame(
        {
            "user_id": np.arange(n),
            "credit_tier": rng.integers(1, 6, size=n),
            "distance_km": rng.uniform(0, 10, size=n),
        }
    )
    rows = []
    for a in LADDER:
        true = 3000 * responsiveness * (1 - np.exp(-a / saturation))
        rows.append(
            users.assign(
                amount_fen=a,
                cost_fen=a,
                true_uplift=true,
                uplift=true * rng.lognormal(0, 0.3, size=n),
            )
        )
    return pd.concat(rows, ignore_index=True)


def lp_bound(opts, budget):
    codes, _ = pd.factorize(opts["user_id"])
    m = len(opts)
    a = vstack(
        [
            csr_matrix((np.ones(m), (codes, np.arange(m)))),
            csr_matrix(opts["cost_fen"].to_numpy(float)[None, :]),
        ]
    )
    res = linprog(
        -opts["uplift"].to_numpy(float),
        A_ub=a,
        b_ub=np.r_[np.ones(codes.max() + 1), budget],
        bounds=(0, 1),
        method="highs",
    )
    return -res.fun


def test_doc_example_by_hand():
    opts = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 2],
            "amount_fen": [300, 800, 300, 800],
            "cost_fen": [300, 800, 300, 800],
            "uplift": [900, 1200, 100, 1500],
        }
    )
    # 1100 fen: {1:300, 2:800} = 2400 beats {1:800, 2:300} = 1300 and {1:800} = 1200
    plan = allocate(opts, budget_fen=1100)
    assert plan.frame[["user_id", "amount_fen"]].values.tolist() == [[1, 300], [2, 800]]
    assert (plan.spent_fen, plan.predicted_uplift) == (1100, 2400.0)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(0, 4000), st.integers(0, 10_000))
def test_tiny_problems_respect_budget_and_match_brute_force_closely(n_users, budget, seed):
    rng = np.random.default_rng(seed)
    opts = pd.DataFrame(
        {
            "user_id": np.repeat(np.arange(n_users), 3),
            "amount_fen": np.tile(LADDER, n_users),
            "cost_fen": np.tile(LADDER, n_users),
            "uplift": rng.normal(500, 700, size=3 * n_users).round(),
        }
    )
    best = 0.0
    for pick in itertools.product(range(4), repeat=n_users):  # 3 = no coupon
        rows = [u * 3 + p for u, p in enumerate(pick) if p < 3]
        if opts["cost_fen"].iloc[rows].sum() <= budget:
            best = max(best, opts["uplift"].iloc[rows].sum())
    for method in ("greedy", "lp"):
        plan = allocate(opts, budget_fen=budget, method=method)
        assert plan.spent_fen <= budget
        assert plan.frame["user_id"].is_unique
        assert (plan.frame["uplift"] > 0).all()
        assert plan.predicted_uplift <= best + 1e-6
        assert plan.spent_fen == plan.frame["cost_fen"].sum()


@pytest.mark.parametrize("method", ["greedy", "lp"])
def test_near_lp_bound_and_exact_budget(method):
    opts = known_options(n=1500)
    budget = 400_000
    plan = allocate(opts, budget_fen=budget, method=method)
    assert plan.spent_fen <= budget
    assert budget - plan.spent_fen < min(LADDER)  # the leftover cannot buy even the cheapest coupon
    assert plan.predicted_uplift >= 0.995 * lp_bound(opts, budget)
    assert plan.frame["user_id"].is_unique


def test_beats_comparators_on_known_uplift():
    opts = known_options()
    budget = 600_000
    plans = [
        allocate(opts, budget_fen=budget),
        allocate_blanket(opts, budget_fen=budget, option={"amount_fen": 800}),
        allocate_blanket(opts, budget_fen=budget),
        allocate_random(opts, budget_fen=budget, seed=1),
        allocate_by_rule(opts, budget_fen=budget, rule="credit_tier"),
        allocate_by_rule(opts, budget_fen=budget, rule="lbs"),
    ]
    truth = opts[["user_id", "amount_fen", "true_uplift"]]
    scored = score_policies({f"{p.policy}{i}": p for i, p in enumerate(plans)}, truth=truth).frame
    assert (scored["spent_fen"] <= budget).all()
    best = scored.iloc[0]["true_uplift"]
    assert best > 1.2 * scored.iloc[1:]["true_uplift"].max()
    # reference: the same sums by hand
    merged = plans[3].frame.merge(truth, on=["user_id", "amount_fen"], suffixes=("", "_t"))
    assert scored.iloc[3]["true_uplift"] == pytest.approx(merged["true_uplift_t"].sum())


def test_comparators_follow_their_rules():
    opts = known_options(n=500)
    blanket = allocate_blanket(opts, budget_fen=100_000, option={"amount_fen": 800})
    assert set(blanket.frame["amount_fen"]) == {800}
    assert blanket.spent_fen == 800 * (100_000 // 800)
    cheapest = allocate_blanket(opts, budget_fen=3000)
    assert set(cheapest.frame["amount_fen"]) == {300} and cheapest.spent_fen == 3000
    users = opts.drop_duplicates("user_id")
    top = users.loc[users["credit_tier"] >= 4, "user_id"]
    # a budget of exactly one 1500 coupon per tier 4-5 user serves exactly them, highest tiers first
    tier = allocate_by_rule(opts, budget_fen=1500 * len(top), rule="credit_tier").frame
    assert sorted(tier["user_id"]) == sorted(top) and set(tier["amount_fen"]) == {1500}
    tier = allocate_by_rule(opts, budget_fen=10**9, rule="credit_tier").frame
    want = np.where(tier["credit_tier"] >= 4, 1500, np.where(tier["credit_tier"] == 3, 800, 300))
    assert (tier["amount_fen"] == want).all() and len(tier) == len(users)
    lbs = allocate_by_rule(opts, budget_fen=50_000, rule="lbs", radius_km=3.0).frame
    assert (lbs["distance_km"] <= 3.0).all() and set(lbs["amount_fen"]) == {800}
    inside = opts[(opts["amount_fen"] == 800) & (opts["distance_km"] <= 3.0)]
    nearest = np.sort(inside["distance_km"].to_numpy())[: len(lbs)]
    np.testing.assert_allclose(np.sort(lbs["distance_km"].to_numpy()), nearest)
    rnd = allocate_random(opts, budget_fen=200_000, seed=3)
    assert rnd.frame["user_id"].is_unique and rnd.spent_fen <= 200_000


def test_within_rule_is_the_model_plan_on_the_rule_rows():
    """rule ∩ model: the same plan as allocate on the rows the rule allows, by hand."""
    opts = known_options(n=800, seed=4)
    budget = 120_000
    near = opts[opts["distance_km"] <= 3.0]
    plan = allocate_within_rule(opts, budget_fen=budget, rule="lbs", radius_km=3.0)
    by_hand = allocate(near, budget_fen=budget)
    assert plan.policy == "uplift_within_lbs"
    pd.testing.assert_frame_equal(plan.frame, by_hand.frame)
    assert (plan.frame["distance_km"] <= 3.0).all() and plan.spent_fen <= budget
    # unlike the LBS rule, the model chooses the amount: more than one is used
    assert plan.frame["amount_fen"].nunique() > 1
    # with a true uplift the model ranking inside the radius beats the rule's nearest-first
    truth = opts[["user_id", "amount_fen", "true_uplift"]]
    rule = allocate_by_rule(opts, budget_fen=budget, rule="lbs", radius_km=3.0)
    scored = score_policies([plan, rule], truth=truth).frame.set_index("policy")
    assert scored.loc["uplift_within_lbs", "true_uplift"] > scored.loc["lbs", "true_uplift"]
    # credit tier: each user's tier amount only, the model picks who
    tier = allocate_within_rule(opts, budget_fen=budget, rule="credit_tier").frame
    want = np.where(tier["credit_tier"] >= 4, 1500, np.where(tier["credit_tier"] == 3, 800, 300))
    assert (tier["amount_fen"] == want).all()
    # a user with no known distance is never "within the radius"
    unknown = opts.assign(distance_km=np.nan)
    assert allocate_within_rule(unknown, budget_fen=budget).frame.empty
    with pytest.raises(ValueError, match="needs column 'distance_km'"):
        allocate_within_rule(opts.drop(columns="distance_km"), budget_fen=budget)
    with pytest.raises(ValueError, match="rule must be one of"):
        allocate_within_rule(opts, budget_fen=budget, rule="nearest")


def test_validation():
    opts = known_options(n=10)
    with pytest.raises(ValueError, match="budget_fen must be"):
        allocate(opts, budget_fen=-1)
    with pytest.raises(ValueError, match="method must be one of"):
        allocate(opts, budget_fen=100, method="simplex")
    with pytest.raises(ValueError, match="cost_fen_col='price'"):
        allocate(opts, budget_fen=100, cost_fen_col="price")
    with pytest.raises(ValueError, match="positive"):
        allocate(opts.assign(cost_fen=0), budget_fen=100)
    with pytest.raises(ValueError, match="rule must be one of"):
        allocate_by_rule(opts, budget_fen=100, rule="age")
    with pytest.raises(ValueError, match="matches no row"):
        allocate_blanket(opts, budget_fen=100, option={"amount_fen": 1})
    with pytest.raises(ValueError, match="truth has no"):
        score_policies([allocate(opts, budget_fen=5000)], truth=opts.iloc[:0])
    assert allocate(opts, budget_fen=0).frame.empty


def test_plots():
    import holoviews as hv

    hv.extension("bokeh")
    opts = known_options(n=50)
    plan = allocate(opts, budget_fen=20_000)
    assert isinstance(plan.plot(), hv.Bars)
    assert isinstance(score_policies([plan], truth=opts).plot(), hv.Bars)
    with pytest.raises(ValueError, match="option_col"):
        plan.plot(option_col="channel")


def test_potential_outcomes_by_hand():
    import datetime as dt

    from lab.store import Store
    from lab.targeting import potential_outcomes

    store = Store(":memory:")
    start = dt.datetime(2026, 3, 1)
    for run in ("a500", "base"):
        store.create_run(
            run, origin="synthetic", seed=0, n_users=2, days=7, start_date=start.date()
        )
        store.write("users", pd.DataFrame({"user_id": [1, 2]}), run_id=run)
    day = dt.timedelta(days=1)
    store.write(
        "orders",
        pd.DataFrame(
            {  # user 1: 3000 in period (+ one before it), user 2: nothing
                "order_id": [1, 2, 3],
                "user_id": [1, 1, 1],
                "ts": [start - day, start + day, start + 2 * day],
                "amount_fen": [9999, 1000, 2000],
                "discount_fen": 0,
            }
        ),
        run_id="a500",
    )
    store.write(
        "truth_orders",
        pd.DataFrame(
            {
                "order_id": [1, 2],
                "user_id": [1, 2],
                "ts": [start - day, start + 3 * day],
                "amount_fen": [9999, 400],
            }
        ),
        run_id="a500",
    )
    store.write(
        "orders",
        pd.DataFrame(
            {
                "order_id": [1],
                "user_id": [1],
                "ts": [start + day],
                "amount_fen": [1000],
                "discount_fen": 0,
            }
        ),
        run_id="base",
    )
    own = potential_outcomes(store, runs={500: "a500"})
    assert own[["user_id", "amount_fen", "true_uplift"]].values.tolist() == [
        [1, 500, 3000.0],
        [2, 500, -400.0],
    ]
    vs_base = potential_outcomes(store, runs={500: "a500"}, baseline_run="base", outcome="orders")
    assert vs_base["true_uplift"].tolist() == [1.0, 0.0]
    store.create_run(
        "other", origin="synthetic", seed=1, n_users=2, days=7, start_date=start.date()
    )
    with pytest.raises(ValueError, match="not the same world"):
        potential_outcomes(store, runs={500: "a500"}, baseline_run="other")
