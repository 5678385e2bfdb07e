"""Quick targeting scorecard: uplift policy vs blanket, random and rules at one budget.

The quick worlds have 20,000 users, so only the large margins (over random) are
asserted to be positive; the full figures are in the report.
"""

import numpy as np
import pandas as pd
import pytest

from lab.scorecard._targeting import LADDER, _bootstrap, _per_user, targeting_scorecard
from lab.targeting import Allocation

GROUPS = (
    "design",
    "true_incremental_gmv_fen",
    "true_incremental_gmv_yuan",
    "spent_fen",
    "true_discount_fen",
    "margin_fen",
    "margin_yuan",
    "qini_coefficient",
    "qini_vs_oracle",
    "true_effect_correlation",
    "checks",
)
POLICIES = (
    "uplift",
    "uplift_tlearner",
    "uplift_xlearner",
    "uplift_transformed_outcome",
    *(f"blanket_{a}" for a in LADDER),
    "blanket",
    "random",
    "credit_tier",
    "lbs",
)


@pytest.fixture(scope="module")
def figures():
    return targeting_scorecard(quick=True, seed=0, progress=False)


def test_documented_keys(figures):
    assert set(figures) == set(GROUPS)
    for group in ("true_incremental_gmv_fen", "true_incremental_gmv_yuan", "spent_fen"):
        assert set(figures[group]) == set(POLICIES), group
    for learner in ("tlearner", "xlearner", "transformed_outcome"):
        for a in LADDER:
            assert np.isfinite(figures["qini_coefficient"][f"{learner}_{a}"])
            assert np.isfinite(figures["true_effect_correlation"][f"{learner}_{a}"])
    for group in GROUPS[1:-1]:
        assert all(isinstance(v, float | int) for v in figures[group].values()), group
    headline = figures["design"]["headline_learner"]
    assert headline in ("tlearner", "xlearner", "transformed_outcome")
    gmv = figures["true_incremental_gmv_fen"]
    assert gmv["uplift"] == gmv[f"uplift_{headline}"]
    # the headline is the learner with the best held-out Qini, never chosen on the truth
    qini = figures["qini_coefficient"]
    means = {
        n: np.mean([qini[f"{n}_{a}"] for a in LADDER])
        for n in ("tlearner", "xlearner", "transformed_outcome")
    }
    assert np.mean([qini[f"{headline}_{a}"] for a in LADDER]) >= max(means.values())
    assert all(isinstance(v, bool) for v in figures["checks"].values())


def test_uplift_beats_random(figures):
    gmv = figures["true_incremental_gmv_fen"]
    assert gmv["uplift"] >= gmv["random"]
    assert figures["margin_fen"]["uplift_vs_random_ci_low"] > 0
    assert figures["checks"]["uplift_beats_random"]


def test_every_policy_within_budget(figures):
    budget = figures["design"]["budget_fen"]
    for policy, spent in figures["spent_fen"].items():
        assert 0 < spent <= budget, policy
    assert figures["checks"]["every_policy_within_budget"]


def test_margins_and_intervals(figures):
    gmv = figures["true_incremental_gmv_fen"]
    margins = figures["margin_fen"]
    names = [k for k in margins if not k.endswith(("_ci_low", "_ci_high"))]
    assert {f"uplift_vs_{p}" for p in ("blanket", "random", "credit_tier", "lbs")} <= set(names)
    for k in names:
        assert margins[f"{k}_ci_low"] <= margins[k] <= margins[f"{k}_ci_high"], k
        # a paired margin is the difference of the two policies' totals
        other = k.removeprefix("uplift_vs_")
        assert margins[k] == pytest.approx(gmv["uplift"] - gmv[other], abs=1e-3)
        assert figures["margin_yuan"][k] == pytest.approx(margins[k] / 100)
    best = max(gmv[f"blanket_{a}"] for a in LADDER)
    assert gmv["blanket"] == best


def test_per_user_golden():
    users = np.array([3, 5, 9])
    matrix = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    frame = pd.DataFrame({"user_id": [9, 3], "amount_fen": [300, 1500]})
    plan = Allocation("p", frame, budget_fen=1800, spent_fen=1800, predicted_uplift=0.0)
    assert _per_user(plan, users, matrix).tolist() == [3.0, 0.0, 7.0]


def test_bootstrap_matches_the_plain_standard_error():
    rng = np.random.default_rng(1)
    d = rng.exponential(2.0, size=(4000, 1)) - 1.0
    boot = _bootstrap(d, resamples=2000, rng=np.random.default_rng(2))[:, 0]
    n = len(d)
    # the total N * mean(d) has standard error sqrt(N) * sd(d)
    assert boot.mean() == pytest.approx(d.sum(), abs=3 * np.sqrt(n) * d.std() / np.sqrt(2000))
    assert boot.std() == pytest.approx(np.sqrt(n) * d.std(), rel=0.08)
    const = _bootstrap(np.full((50, 1), 2.0), resamples=10, rng=np.random.default_rng(0))
    np.testing.assert_allclose(const, 100.0)
