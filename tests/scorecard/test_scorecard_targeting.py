"""Quick targeting scorecard: uplift policy vs blanket, random and rules at one budget.

The quick worlds have 20,000 users, so only the large margins (over random) are
asserted to be positive; the full figures are in the report.
"""

import numpy as np
import pandas as pd
import pytest

from lab.scorecard._targeting import (
    LADDER,
    _dr_contributions,
    _per_user,
    _recommendation,
    _selected_margins,
    _selection_bootstrap,
    targeting_scorecard,
)
from lab.targeting import Allocation

LEARNERS = ("tlearner", "xlearner", "transformed_outcome", "drlearner")
NUMERIC = (
    "true_incremental_gmv_fen",
    "true_incremental_gmv_yuan",
    "spent_fen",
    "true_discount_fen",
    "estimated_value_fen",
    "selection_share",
    "margin_fen",
    "margin_yuan",
    "qini_coefficient",
    "qini_vs_oracle",
    "true_effect_correlation",
)
GROUPS = ("design", *NUMERIC, "recommendation", "checks")
CANDIDATES = (
    *(f"uplift_{n}" for n in LEARNERS),
    *(f"uplift_{n}_within_lbs" for n in LEARNERS),
    "credit_tier",
    "lbs",
)
POLICIES = (
    "uplift",
    *CANDIDATES,
    *(f"blanket_{a}" for a in LADDER),
    "blanket",
    "random",
)


@pytest.fixture(scope="module")
def figures():
    return targeting_scorecard(quick=True, seed=0, progress=False)


def test_documented_keys(figures):
    assert set(figures) == set(GROUPS)
    for group in ("true_incremental_gmv_fen", "true_incremental_gmv_yuan", "spent_fen"):
        assert set(figures[group]) == set(POLICIES), group
    for group in ("estimated_value_fen", "selection_share"):
        assert set(figures[group]) == set(CANDIDATES), group
    for learner in LEARNERS:
        for a in LADDER:
            assert np.isfinite(figures["qini_coefficient"][f"{learner}_{a}"])
            assert np.isfinite(figures["true_effect_correlation"][f"{learner}_{a}"])
    for group in NUMERIC:
        assert all(isinstance(v, float | int) for v in figures[group].values()), group
    assert all(isinstance(v, bool) for v in figures["checks"].values())


def test_headline_is_a_cross_fitted_choice_among_the_candidates(figures):
    design = figures["design"]
    chosen = [design[f"headline_fold_{k}"] for k in range(design["selection_folds"])]
    assert set(chosen) <= set(CANDIDATES)
    # each bootstrap replicate chooses one candidate per fold: the shares sum to one
    assert sum(figures["selection_share"].values()) == pytest.approx(1.0)
    gmv = figures["true_incremental_gmv_fen"]
    if len(set(chosen)) == 1:
        # one candidate in both halves: the headline is that candidate's half-budget plans,
        # close to (not exactly) its whole-population plan
        assert gmv["uplift"] == pytest.approx(gmv[chosen[0]], rel=0.1)


def test_recommendation_follows_the_margin_over_the_best_rule(figures):
    rec = figures["recommendation"]
    gmv = figures["true_incremental_gmv_fen"]
    best = max(("credit_tier", "lbs"), key=gmv.get)
    assert rec["best_rule"] == best
    beats = figures["margin_fen"][f"uplift_vs_{best}_ci_low"] > 0
    assert rec["policy"] == ("uplift" if beats else best)
    assert f"{figures['margin_yuan'][f'uplift_vs_{best}']:+,.0f} yuan" in rec["reason"]


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
        # the bootstrap re-runs the selection, so the point need not sit inside the
        # percentile interval when the choice is unstable; the interval is ordered
        assert margins[f"{k}_ci_low"] <= margins[f"{k}_ci_high"], k
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


def test_one_candidate_bootstrap_matches_the_plain_standard_error():
    """With a single candidate there is nothing to choose: the paired bootstrap of a total."""
    rng = np.random.default_rng(1)
    n = 4000
    values = rng.exponential(2.0, size=(n, 1))
    d = values[:, 0] - 1.0
    arrays = {
        "values": values,
        "scores": np.zeros((n, 1)),
        "fold": np.arange(n) % 2,
        "comparators": np.ones((n, 1)),
    }
    point, chosen = _selected_margins(np.ones((1, n)), **arrays)
    assert point[0, 0] == pytest.approx(d.sum()) and chosen.tolist() == [[0, 0]]
    boot, _ = _selection_bootstrap(
        resamples=2000, rng=np.random.default_rng(2), n_users=n, **arrays
    )
    # the total N * mean(d) has standard error sqrt(N) * sd(d)
    assert boot[:, 0].mean() == pytest.approx(d.sum(), abs=3 * np.sqrt(n) * d.std() / np.sqrt(2000))
    assert boot[:, 0].std() == pytest.approx(np.sqrt(n) * d.std(), rel=0.08)


def test_selection_reads_the_other_fold_only():
    """Hand-made: fold 0's scores favour candidate 1, fold 1's favour candidate 0."""
    fold = np.array([0, 0, 1, 1])
    scores = np.array([[0.0, 5.0], [0.0, 5.0], [3.0, 0.0], [3.0, 0.0]])
    values = np.array([[1.0, 10.0], [2.0, 20.0], [100.0, 1000.0], [200.0, 2000.0]])
    comparators = np.array([[1.0], [1.0], [1.0], [1.0]])
    point, chosen = _selected_margins(
        np.ones((1, 4)), values=values, scores=scores, fold=fold, comparators=comparators
    )
    # fold 0 uses the choice made on fold 1 (candidate 0) and fold 1 the one made on fold 0
    assert chosen.tolist() == [[0, 1]]
    assert point[0, 0] == pytest.approx((1 + 2 + 1000 + 2000) - 4)
    # a weighting that drops fold 0's second user and doubles fold 1's first
    weights = np.array([[1.0, 0.0, 2.0, 1.0]])
    m, _ = _selected_margins(
        weights, values=values, scores=scores, fold=fold, comparators=comparators
    )
    assert m[0, 0] == pytest.approx(4 * ((1 + 2 * 1000 + 2000) - 4) / 4)


def test_dr_value_terms_by_hand_and_unbiased():
    # zero predictions: Horvitz-Thompson; shares holdout 2/5, each amount 1/5
    arm = np.array([0, 0, 1, 2, 3])
    y = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    choice = np.array([0, -1, 0, 0, 2])  # user 1 gets nothing, user 4 gets 1500, others 300
    terms = _dr_contributions(choice, arm, y, np.zeros((5, len(LADDER) + 1)))
    np.testing.assert_allclose(terms, [-10 / 0.4, 0.0, 30 / 0.2, 0.0, 50 / 0.2])
    # predictions m: a targeted user counts m_plan - m_0 plus the residual of its own arm
    outcome = np.tile([5.0, 8.0, 0.0, 9.0], (5, 1))
    terms = _dr_contributions(choice, arm, y, outcome)
    np.testing.assert_allclose(
        terms, [3 - (10 - 5) / 0.4, 0.0, 3 + (30 - 8) / 0.2, 3.0, 4 + (50 - 9) / 0.2]
    )
    with pytest.raises(ValueError, match="every arm"):
        _dr_contributions(choice[:4], arm[:4], y[:4], outcome[:4])
    # unbiased on a simulated randomised ladder with known effects, whatever the predictions
    rng = np.random.default_rng(4)
    n = 200_000
    effect = np.column_stack([rng.gamma(2.0, s, n) for s in (1.0, 2.0, 3.0)])
    base = rng.exponential(20.0, n)
    arm = rng.integers(0, len(LADDER) + 1, n)
    y = base + np.where(arm > 0, effect[np.arange(n), np.maximum(arm - 1, 0)], 0.0)
    y = y + rng.normal(0, 5, n)
    choice = rng.integers(-1, len(LADDER), n)
    true_total = effect[np.arange(n), np.maximum(choice, 0)][choice >= 0].sum()
    good = np.column_stack([base, base[:, None] + effect])
    for outcome in (np.zeros((n, 4)), good, good + 7.0):
        terms = _dr_contributions(choice, arm, y, outcome)
        assert abs(terms.sum() - true_total) < 4 * np.sqrt(n) * terms.std()
    # good predictions cut the variance well below Horvitz-Thompson's
    ht = _dr_contributions(choice, arm, y, np.zeros((n, 4))).std()
    assert _dr_contributions(choice, arm, y, good).std() < ht / 2


def test_recommendation_both_ways():
    gmv = {"lbs": 600_000.0, "credit_tier": 100_000.0}
    win = {"uplift_vs_lbs": 5000.0, "uplift_vs_lbs_ci_low": 1000.0, "uplift_vs_lbs_ci_high": 9000.0}
    rec = _recommendation(win, gmv)
    assert rec["policy"] == "uplift" and rec["best_rule"] == "lbs"
    assert "+50 yuan" in rec["reason"] and "+10 to +90" in rec["reason"]
    tie = {**win, "uplift_vs_lbs_ci_low": -1000.0}
    assert _recommendation(tie, gmv)["policy"] == "lbs"
    assert "does not clearly beat" in _recommendation(tie, gmv)["reason"]
    loss = {
        "uplift_vs_lbs": -5000.0,
        "uplift_vs_lbs_ci_low": -9000.0,
        "uplift_vs_lbs_ci_high": -100.0,
    }
    assert "falls short of" in _recommendation(loss, gmv)["reason"]
