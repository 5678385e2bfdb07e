"""Score the targeting stack against the world's truth: who should get which coupon.

Design
------
- **Two worlds.** A *training* world (seed ``seed``) runs a ladder experiment:
  users are randomised to a holdout and one arm per coupon amount (300, 800 and
  1,500 fen off 30 yuan, one WeChat push campaign per arm). Every learner
  (:class:`~lab.targeting.TLearner`, :class:`~lab.targeting.XLearner`,
  :class:`~lab.targeting.TransformedOutcome`, :class:`~lab.targeting.DRLearner`)
  is trained there, one model per amount (that arm against the holdout, outcome
  campaign-period GMV), on every pre-campaign feature, distance to the store
  included. The policies are then deployed on a fresh *evaluation* world (seed
  ``seed + 1``): new users, so nothing the models saw in training leaks into their
  score.
- **Truth.** The evaluation world is simulated once per amount with everyone
  offered that amount (same seed: common random numbers, so the same users and
  the same baseline orders). A user's GMV in that run minus their GMV in its
  counterfactual log (``truth_orders``) is what the amount really did for that
  user (:func:`lab.targeting.potential_outcomes`). Users do not interact (the
  stocks' budgets never bind), so a per-user plan's true incremental GMV is the
  sum of its users' effects for the amounts it gave them.
- **Policies at one budget.** The budget counts the face value of the coupon
  offered to each targeted user: ``0.3 x users x 800`` fen (what offering
  800 fen to 30 % of the users would cost). ``uplift_<learner>`` maximises
  that learner's predicted incremental GMV over everyone
  (:func:`lab.targeting.allocate`); ``uplift_<learner>_within_lbs`` does the same
  among the users the LBS rule would target, choosing their amount and order
  (:func:`lab.targeting.allocate_within_rule`, rule ∩ model). The comparators
  spend the same budget without looking at uplift: ``blanket_<amount>``
  (everyone the same amount, random users), ``random`` (a random amount per
  random user), ``credit_tier`` (tiers 4-5 the largest amount, tier 3 the
  middle one, 1-2 the smallest; higher tiers first) and ``lbs`` (users within
  3 km get the middle amount, nearest first). Each policy's real cost is
  reported too: the discounts its users actually redeemed
  (``true_discount_fen``), far below the face value budgeted. Blanket and
  random policies are averaged over several seeds of their random order, so
  they score their expected value rather than one lucky draw. ``blanket`` is
  the best blanket amount in hindsight (the strongest blanket comparator).
- **The headline ``uplift`` policy: chosen on data a business has, cross-fitted.**
  The candidates are every ``uplift_<learner>``, every
  ``uplift_<learner>_within_lbs`` and the two rules themselves, so the
  procedure can fall back on a rule when no model beats it. The evaluation
  users are split at random into two halves; each half gets every candidate's
  plan on its own users with its share of the budget. A candidate's value is
  estimated from the evaluation world's *observed* ladder experiment with the
  doubly robust off-policy estimate (outcome predictions from the training
  world's T-learner, corrected by the randomised arms' inverse probabilities,
  so unbiased whatever the predictions). Each half runs the candidate that
  scores best on the *other* half, so no user's own outcome decides the plan
  they are scored under; the truth is never used to choose. ``design`` names
  the candidate chosen per half, ``estimated_value_fen`` shows what the
  selection saw.
- **Margin and interval.** The margin of ``uplift`` over a comparator is the
  sum over users of ``d_i``, the difference between the true effects the two
  plans give user ``i`` (0 for a user a plan skips). The users are resampled
  with a paired Poisson bootstrap (1,000 resamples, each user drawn
  ``Poisson(1)`` times, margin rescaled to the population size as
  ``N * weighted mean of d``), and the *whole selection is re-run in each
  resample*: the estimated values are re-weighted, each half re-chooses its
  candidate, and the margin is that of the re-chosen plans. The interval (the
  bootstrap percentile interval at 95 %) therefore includes the uncertainty of
  choosing among learners and rules; ``selection_share`` says how often each
  candidate was chosen. The users of the evaluation world are i.i.d. draws from
  the world's population, so this is the sampling distribution of the margin
  over populations of the same size; the pairing removes the user-level noise
  the two plans share. It does not include the variability of training
  (another training sample gives other models): re-running whole worlds per
  replicate would cost minutes per replicate.
- **Recommendation.** ``recommendation`` names the policy to ship: ``uplift``
  when its interval over the best rule (by true incremental GMV) is above
  zero, otherwise that rule, with the reason spelled out from the margin.
- **Ranking quality.** On the evaluation world's own ladder experiment (users
  the models never saw), each learner's Qini coefficient per amount is
  computed from observed GMV (:func:`lab.targeting.qini_curve`), next to the
  oracle's (the same curve ranking users by the world's true uplift) and the
  ratio of the two. The oracle ranks by the *expected* extra orders of each
  user (``truth_users.true_uplift_orders`` of the run giving everyone that
  amount), not by the realised GMV differences: a realised per-user effect is
  mostly noise (standard deviation about 2,000 fen around a mean of 200-400),
  which would make the oracle a poor ceiling. Expected extra orders ignore
  basket size, and the Qini is measured on noisy observed GMV, so a learner
  that uses basket-related features can score a ratio above 1: read the
  ratio as "how close to the world's own ranking", not as a bounded share.
  ``true_effect_correlation`` is
  the Pearson correlation of predicted uplift and those expected extra orders
  over all evaluation users.

Example
-------
>>> figures = targeting_scorecard(quick=True, progress=False)  # doctest: +SKIP
>>> figures["margin_fen"]["uplift_vs_random_ci_low"] > 0  # doctest: +SKIP
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

__all__ = ["targeting_scorecard"]

LADDER = (300, 800, 1500)
BUDGET_SHARE = 0.3  # budget = BUDGET_SHARE * users * BUDGET_AMOUNT fen
BUDGET_AMOUNT = 800
LBS_RADIUS_KM = 3.0
RULES = ("credit_tier", "lbs")
N_FOLDS = 2  # selection folds: choose the headline on one half, score it on the other
ALPHA = 0.05
_EXPERIMENT = "ladder"
_CHUNK = 50  # bootstrap resamples per matrix product


def _campaign(amount: int, **kw):
    from lab.world import Campaign, Stock

    stock = Stock(transaction_minimum_fen=3000, amount_fen=amount, max_per_user=5, valid_days=7)
    return Campaign(f"push_{amount}", "wechat", "official_account", stock, frequency=0.3, **kw)


def _worlds(*, users_train: int, users_eval: int, days: int, seed: int, progress: bool):
    """Training ladder run, evaluation ladder run and one evaluation run per amount."""
    import lab
    from lab.world import Arm, Experiment, Strategy, simulate

    ladder = Strategy(
        "ladder",
        campaigns=tuple(_campaign(a, experiment=_EXPERIMENT, arm=f"a{a}") for a in LADDER),
        experiments=(
            Experiment(
                _EXPERIMENT,
                (Arm("holdout", holdout=True), *(Arm(f"a{a}") for a in LADDER)),
            ),
        ),
    )
    store = lab.Store(":memory:")
    kw = dict(store=store, days=days, pre_days=days, progress=progress)
    train = simulate(ladder, users=users_train, seed=seed, **kw)
    evaluation = simulate(ladder, users=users_eval, seed=seed + 1, **kw)
    everyone = {
        a: simulate(
            Strategy(f"all_{a}", campaigns=(_campaign(a),)), users=users_eval, seed=seed + 1, **kw
        )
        for a in LADDER
    }
    return store, train, evaluation, everyone


def _discounts(store, runs: dict, user_ids: np.ndarray) -> np.ndarray:
    """Campaign-period discount (fen) per user (rows) and amount (columns) when everyone gets it."""
    out = np.zeros((len(user_ids), len(runs)))
    for j, run in enumerate(runs.values()):
        info = store.run(run)
        start = pd.Timestamp(info["start_date"]).to_pydatetime()
        end = start + pd.Timedelta(days=int(info["days"])).to_pytimedelta()
        d = store.query(
            """
            SELECT user_id, CAST(sum(discount_fen) AS DOUBLE) AS discount FROM orders
            WHERE run_id = ? AND ts >= ? AND ts < ? GROUP BY user_id
            """,
            [run, start, end],
        )
        out[np.searchsorted(user_ids, d["user_id"].to_numpy()), j] = d["discount"].to_numpy()
    return out


def _expected_orders(store, runs: dict, user_ids: np.ndarray) -> np.ndarray:
    """The world's expected extra orders per user (rows) and amount (columns), noise-free."""
    out = np.zeros((len(user_ids), len(runs)))
    for j, run in enumerate(runs.values()):
        t = store.query(
            "SELECT user_id, true_uplift_orders FROM truth_users WHERE run_id = ?", [run]
        )
        out[np.searchsorted(user_ids, t["user_id"].to_numpy()), j] = t["true_uplift_orders"]
    return out


def _per_user(plan, user_ids: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Each user's entry of ``matrix`` (users x amounts) for the amount the plan gave them."""
    out = np.zeros(len(user_ids))
    rows = np.searchsorted(user_ids, plan.frame["user_id"].to_numpy())
    cols = np.searchsorted(LADDER, plan.frame["amount_fen"].to_numpy())
    out[rows] = matrix[rows, cols]
    return out


def _dr_contributions(
    choice: np.ndarray, arm: np.ndarray, y: np.ndarray, outcome: np.ndarray
) -> np.ndarray:
    """Each user's doubly robust term of a plan's incremental value (off-policy estimate).

    Parameters
    ----------
    choice : ndarray
        Ladder index the plan gives each user (-1: no coupon).
    arm : ndarray
        The user's arm in the randomised ladder (0: holdout, ``j + 1``: ``LADDER[j]``).
    y : ndarray
        Observed outcome.
    outcome : ndarray, (N, len(LADDER) + 1)
        Predicted outcome per arm (column 0 the holdout) from models fitted elsewhere.

    Returns
    -------
    ndarray
        For a targeted user given amount ``j``: ``m_j - m_0 + [arm = j] (y - m_j) / share_j
        - [arm = holdout] (y - m_0) / share_0``; 0 for a user the plan skips. The sum is
        unbiased for the plan's total effect whatever the predictions (they only cut the
        variance); with zero predictions it is the Horvitz-Thompson (IPW) estimate.
    """
    shares = np.bincount(arm, minlength=len(LADDER) + 1) / len(arm)
    if (shares == 0).any():
        raise ValueError("every arm of the ladder needs users to estimate a plan's value")
    gets = choice >= 0
    rows = np.arange(len(y))
    m_plan = outcome[rows, np.maximum(choice, 0) + 1]
    m_none = outcome[:, 0]
    match = arm == choice + 1
    held = arm == 0
    term = m_plan - m_none + match * (y - m_plan) / shares[arm] - held * (y - m_none) / shares[0]
    return np.where(gets, term, 0.0)


def _selected_margins(
    weights: np.ndarray,
    *,
    values: np.ndarray,
    scores: np.ndarray,
    fold: np.ndarray,
    comparators: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Margins of the cross-fitted selection over each comparator, per row of ``weights``.

    For each fold, the candidate with the largest weighted sum of ``scores`` over the
    *other* folds is chosen, and its ``values`` on the fold count for the headline. The
    margin over comparator ``p`` is ``N * (weighted mean of headline - comparator)``.

    Parameters
    ----------
    weights : ndarray, (R, N)
        One row of user weights per replicate (ones: the point estimate).
    values, scores : ndarray, (N, C)
        True value and estimated-value term of each candidate's plan per user.
    fold : ndarray, (N,)
        Fold of each user (0..K-1).
    comparators : ndarray, (N, P)
        True value of each comparator per user.

    Returns
    -------
    margins : ndarray, (R, P)
    chosen : ndarray, (R, K)
        The candidate chosen for each fold.
    """
    n = weights.shape[1]
    folds = np.unique(fold)
    chosen = np.empty((len(weights), len(folds)), dtype=np.int64)
    headline = np.zeros(len(weights))
    for k in folds:
        inside = fold == k
        chosen[:, k] = np.argmax(weights[:, ~inside] @ scores[~inside], axis=1)
        totals = weights[:, inside] @ values[inside]
        headline += totals[np.arange(len(weights)), chosen[:, k]]
    margins = n * (headline[:, None] - weights @ comparators) / weights.sum(axis=1, keepdims=True)
    return margins, chosen


def _selection_bootstrap(*, resamples: int, rng, n_users: int, **arrays):
    """:func:`_selected_margins` under ``resamples`` Poisson(1) user weightings."""
    parts = [
        _selected_margins(
            rng.poisson(1.0, (min(_CHUNK, resamples - start), n_users)).astype(float), **arrays
        )
        for start in range(0, resamples, _CHUNK)
    ]
    return np.vstack([m for m, _ in parts]), np.vstack([c for _, c in parts])


def targeting_scorecard(*, quick: bool = False, seed: int = 0, progress: bool = True) -> dict:
    """True incremental GMV of uplift targeting vs blanket, random and rules at one budget.

    Parameters
    ----------
    quick : bool
        20,000-user worlds and 5 comparator seeds (for tests, about a minute); the
        full scorecard uses 200,000-user worlds and 20 seeds.
    seed : int
        Seed of the training world (the evaluation world uses ``seed + 1``), of
        the comparators' random orders, of the selection folds and of the bootstrap.
    progress : bool
        Show progress bars.

    Returns
    -------
    dict
        ``design`` (sizes, seeds, budget, the candidate chosen per fold); per
        policy ``true_incremental_gmv_fen``, ``true_incremental_gmv_yuan``,
        ``spent_fen`` (face value offered, the largest over comparator seeds) and
        ``true_discount_fen`` (discounts the plan's users really redeemed);
        ``estimated_value_fen`` (each candidate's value estimated from the held-out
        experiment, what the selection sees) and ``selection_share`` (how often the
        bootstrap chose each candidate); ``margin_fen`` / ``margin_yuan`` of ``uplift``
        over each comparator (``uplift_vs_<policy>`` with ``_ci_low`` and
        ``_ci_high``); per learner and amount ``qini_coefficient``,
        ``qini_vs_oracle`` and ``true_effect_correlation``; ``recommendation``
        (``policy`` to ship and ``reason``, computed from the margins); ``checks``
        (each target, True when met).
    """
    from lab.targeting import (
        UPLIFT_FEATURES,
        DRLearner,
        TLearner,
        TransformedOutcome,
        XLearner,
        allocate,
        allocate_blanket,
        allocate_by_rule,
        allocate_random,
        allocate_within_rule,
        potential_outcomes,
        qini_curve,
        uplift_dataset,
        user_features,
    )

    users_n, comparator_seeds, days = (20_000, 5, 14) if quick else (200_000, 20, 14)
    resamples = 1000
    learners = {
        "tlearner": TLearner,
        "xlearner": XLearner,
        "transformed_outcome": TransformedOutcome,
        "drlearner": DRLearner,
    }
    store, train, evaluation, everyone = _worlds(
        users_train=users_n, users_eval=users_n, days=days, seed=seed, progress=progress
    )
    try:
        truth = potential_outcomes(store, runs=everyone)
        feats = user_features(store, run=evaluation)
        user_ids = feats["user_id"].to_numpy()
        true = (
            truth.pivot(index="user_id", columns="amount_fen", values="true_uplift")
            .reindex(index=user_ids, columns=list(LADDER))
            .to_numpy()
        )
        discount = _discounts(store, everyone, user_ids)
        expected = _expected_orders(store, everyone, user_ids)
        X = feats[list(UPLIFT_FEATURES)]
        data = {
            (a, run): uplift_dataset(
                store,
                run=run,
                experiment=_EXPERIMENT,
                treatment_arm=f"a{a}",
                control_arm="holdout",
                outcome="gmv",
            )
            for a in LADDER
            for run in (train, evaluation)
        }
    finally:
        store.close()

    predicted = {}
    # outcome per arm (column 0 the holdout) from the T-learner's training-world models,
    # for the doubly robust value estimates the headline selection reads
    outcome = np.zeros((len(user_ids), len(LADDER) + 1))
    qini, qini_ratio, corr = {}, {}, {}
    bar = tqdm(total=len(learners) * len(LADDER), desc="uplift models", disable=not progress)
    for name, cls in learners.items():
        predicted[name] = np.zeros((len(user_ids), len(LADDER)))
        for j, a in enumerate(LADDER):
            d = data[(a, train)]
            model = cls(random_state=seed).fit(
                d[list(UPLIFT_FEATURES)], d["treatment"], d["outcome"]
            )
            predicted[name][:, j] = model.predict_uplift(X)
            if name == "tlearner":
                outcome[:, j + 1] = model.models_[True].predict(X.to_numpy())
                outcome[:, 0] = model.models_[False].predict(X.to_numpy())  # same rows each time
            corr[f"{name}_{a}"] = float(np.corrcoef(predicted[name][:, j], expected[:, j])[0, 1])
            held = data[(a, evaluation)]
            rows = np.searchsorted(user_ids, held["user_id"].to_numpy())
            curve = qini_curve(
                predicted[name][rows, j],
                held["treatment"],
                held["outcome"],
                true_uplift=expected[rows, j],
            )
            qini[f"{name}_{a}"] = curve.coefficient
            qini[f"oracle_{a}"] = curve.areas["oracle"] - curve.areas["random"]
            qini_ratio[f"{name}_{a}"] = curve.coefficient / qini[f"oracle_{a}"]
            bar.update()
    bar.close()

    # the evaluation world's own ladder: each user's arm (0 holdout) and observed GMV
    arm = np.zeros(len(user_ids), dtype=np.int64)
    observed = np.zeros(len(user_ids))
    for j, a in enumerate(LADDER):
        held = data[(a, evaluation)]
        rows = np.searchsorted(user_ids, held["user_id"].to_numpy())
        arm[rows[held["treatment"].to_numpy() == 1]] = j + 1
        observed[rows] = held["outcome"].to_numpy()

    budget = int(BUDGET_SHARE * users_n * BUDGET_AMOUNT)
    base = pd.concat(
        [
            feats[["user_id", "credit_tier", "distance_km"]].assign(amount_fen=a, cost_fen=a)
            for a in LADDER
        ],
        ignore_index=True,
    )
    options = base.assign(uplift=0.0)
    # value[p] = each user's true effect under policy p; spent/cost likewise
    value, spent, cost = {}, {}, {}

    def record(name, plans):
        value[name] = np.mean([_per_user(p, user_ids, true) for p in plans], axis=0)
        cost[name] = np.mean([_per_user(p, user_ids, discount) for p in plans], axis=0)
        spent[name] = float(max(p.spent_fen for p in plans))

    def candidate_plans(frame, budget_fen):
        """Every candidate of the headline selection, planned on ``frame``."""
        plans = {}
        for name in learners:
            # option rows are users x amounts in LADDER order: predicted flattened by column
            scored = frame.assign(uplift=predicted[name].T.ravel()[frame.index])
            plans[f"uplift_{name}"] = allocate(scored, budget_fen=budget_fen)
            plans[f"uplift_{name}_within_lbs"] = allocate_within_rule(
                scored, budget_fen=budget_fen, rule="lbs", radius_km=LBS_RADIUS_KM
            )
        plans["credit_tier"] = allocate_by_rule(
            frame, budget_fen=budget_fen, rule="credit_tier", seed=seed
        )
        plans["lbs"] = allocate_by_rule(
            frame, budget_fen=budget_fen, rule="lbs", radius_km=LBS_RADIUS_KM, seed=seed
        )
        return plans

    for name, plan in candidate_plans(options, budget).items():
        record(name, [plan])
    seeds = range(seed, seed + comparator_seeds)
    for a in LADDER:
        record(
            f"blanket_{a}",
            [
                allocate_blanket(options, budget_fen=budget, option={"amount_fen": a}, seed=s)
                for s in seeds
            ],
        )
    record("random", [allocate_random(options, budget_fen=budget, seed=s) for s in seeds])
    best_blanket = max((f"blanket_{a}" for a in LADDER), key=lambda p: value[p].sum())
    for table in (value, cost, spent):
        table["blanket"] = table[best_blanket]

    # headline: cross-fitted selection. Each half of the users gets its own plans (half
    # the budget each); the candidate a half uses is the one whose plan on the *other*
    # half has the largest value estimated from that half's observed ladder outcomes.
    fold = np.random.default_rng([seed, 2028]).permutation(len(user_ids)) % N_FOLDS
    per_fold = []
    for k in range(N_FOLDS):
        inside = np.flatnonzero(fold == k)
        rows = np.flatnonzero(np.isin(options["user_id"].to_numpy(), user_ids[inside]))
        per_fold.append(candidate_plans(options.iloc[rows], budget * len(inside) // len(fold)))
    candidates = list(per_fold[0])
    choice = np.full((len(user_ids), len(candidates)), -1)
    plan_value = np.zeros((len(user_ids), len(candidates)))
    plan_cost = np.zeros((len(user_ids), len(candidates)))
    for plans in per_fold:
        for c, name in enumerate(candidates):
            frame = plans[name].frame
            rows = np.searchsorted(user_ids, frame["user_id"].to_numpy())
            choice[rows, c] = np.searchsorted(LADDER, frame["amount_fen"].to_numpy())
            plan_value[rows, c] = _per_user(plans[name], user_ids, true)[rows]
            plan_cost[rows, c] = _per_user(plans[name], user_ids, discount)[rows]
    scores = np.column_stack(
        [_dr_contributions(choice[:, c], arm, observed, outcome) for c in range(len(candidates))]
    )
    comparators = [p for p in value if p != "uplift"]
    arrays = {
        "values": plan_value,
        "scores": scores,
        "fold": fold,
        "comparators": np.column_stack([value[p] for p in comparators]),
    }
    point, chosen = _selected_margins(np.ones((1, len(user_ids))), **arrays)
    chosen = chosen[0]
    value["uplift"] = plan_value[np.arange(len(user_ids)), chosen[fold]]
    cost["uplift"] = plan_cost[np.arange(len(user_ids)), chosen[fold]]
    spent["uplift"] = float(
        sum(per_fold[k][candidates[chosen[k]]].spent_fen for k in range(N_FOLDS))
    )
    boot, boot_chosen = _selection_bootstrap(
        resamples=resamples,
        rng=np.random.default_rng([seed, 2027]),
        n_users=len(user_ids),
        **arrays,
    )
    lo, hi = np.quantile(boot, [ALPHA / 2, 1 - ALPHA / 2], axis=0)
    margin_fen = {}
    for k, p in enumerate(comparators):
        margin_fen[f"uplift_vs_{p}"] = float(point[0, k])
        margin_fen[f"uplift_vs_{p}_ci_low"] = float(lo[k])
        margin_fen[f"uplift_vs_{p}_ci_high"] = float(hi[k])

    gmv = {p: float(v.sum()) for p, v in value.items()}
    figures = {
        "design": {
            "users_train": users_n,
            "users_eval": users_n,
            "days": days,
            "seed_train": seed,
            "seed_eval": seed + 1,
            "budget_fen": budget,
            "budget_yuan": budget / 100,
            "bootstrap_resamples": resamples,
            "comparator_seeds": comparator_seeds,
            "best_blanket_amount_fen": float(best_blanket.split("_")[1]),
            "selection_folds": N_FOLDS,
            **{f"headline_fold_{k}": candidates[chosen[k]] for k in range(N_FOLDS)},
            "alpha": ALPHA,
        },
        "true_incremental_gmv_fen": gmv,
        "true_incremental_gmv_yuan": {p: v / 100 for p, v in gmv.items()},
        "spent_fen": spent,
        "true_discount_fen": {p: float(v.sum()) for p, v in cost.items()},
        "estimated_value_fen": {c: float(scores[:, i].sum()) for i, c in enumerate(candidates)},
        "selection_share": {c: float((boot_chosen == i).mean()) for i, c in enumerate(candidates)},
        "margin_fen": margin_fen,
        "margin_yuan": {k: v / 100 for k, v in margin_fen.items()},
        "qini_coefficient": qini,
        "qini_vs_oracle": qini_ratio,
        "true_effect_correlation": corr,
    }
    figures["recommendation"] = _recommendation(margin_fen, gmv)
    figures["checks"] = {
        "uplift_beats_blanket": margin_fen["uplift_vs_blanket_ci_low"] > 0,
        "uplift_beats_random": margin_fen["uplift_vs_random_ci_low"] > 0,
        "uplift_beats_credit_tier_rule": margin_fen["uplift_vs_credit_tier_ci_low"] > 0,
        "uplift_beats_lbs_rule": margin_fen["uplift_vs_lbs_ci_low"] > 0,
        "every_policy_within_budget": all(v <= budget for v in spent.values()),
        "every_learner_beats_random_ranking": all(
            v > 0 for k, v in qini.items() if not k.startswith("oracle")
        ),
    }
    return figures


def _recommendation(margin_fen: dict, gmv: dict) -> dict:
    """What to ship, from the margins: the learned policy only if it beats the best rule.

    The best rule is the one with the largest true incremental GMV; the learned policy
    is recommended when the lower end of its margin's interval over that rule is above
    zero, otherwise the rule, with the figures that decided it.
    """
    rule = max(RULES, key=lambda r: gmv[r])
    key = f"uplift_vs_{rule}"
    m, lo, hi = (
        margin_fen[key] / 100,
        margin_fen[f"{key}_ci_low"] / 100,
        margin_fen[f"{key}_ci_high"] / 100,
    )
    interval = f"{1 - ALPHA:.0%} interval {lo:+,.0f} to {hi:+,.0f} yuan"
    if lo > 0:
        reason = (
            f"the learned policy adds {m:+,.0f} yuan of true incremental GMV over the best "
            f"rule ({rule}, {gmv[rule] / 100:,.0f} yuan) at the same budget; {interval}, "
            "selection among learners included"
        )
        return {"policy": "uplift", "best_rule": rule, "reason": reason}
    verdict = "falls short of" if hi < 0 else "does not clearly beat"
    reason = (
        f"the learned policy {verdict} the {rule} rule: margin {m:+,.0f} yuan, {interval} "
        "(selection among learners included); the rule is simpler to run and explain, "
        "so ship the rule"
    )
    return {"policy": rule, "best_rule": rule, "reason": reason}
