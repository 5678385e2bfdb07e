"""Score the targeting stack against the world's truth: who should get which coupon.

Design
------
- **Two worlds.** A *training* world (seed ``seed``) runs a ladder experiment:
  users are randomised to a holdout and one arm per coupon amount (300, 800 and
  1,500 fen off 30 yuan, one WeChat push campaign per arm). Every learner
  (:class:`~lab.targeting.TLearner`, :class:`~lab.targeting.XLearner`,
  :class:`~lab.targeting.TransformedOutcome`) is trained there, one model per
  amount (that arm against the holdout, outcome campaign-period GMV). The
  policies are then deployed on a fresh *evaluation* world (seed ``seed + 1``):
  new users, so nothing the models saw in training leaks into their score.
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
  that learner's predicted incremental GMV (:func:`lab.targeting.allocate`);
  the comparators spend the same budget without looking at uplift:
  ``blanket_<amount>`` (everyone the same amount, random users), ``random``
  (a random amount per random user), ``credit_tier`` (tiers 4-5 the largest
  amount, tier 3 the middle one, 1-2 the smallest; higher tiers first) and
  ``lbs`` (users within 3 km get the middle amount, nearest first). Each
  policy's real cost is reported too: the discounts its users actually
  redeemed (``true_discount_fen``), far below the face value budgeted. Blanket and random policies are
  averaged over several seeds of their random order, so they score their
  expected value rather than one lucky draw. ``blanket`` is the best blanket
  amount in hindsight (the strongest blanket comparator). The headline
  ``uplift`` policy is the learner with the largest mean Qini coefficient on
  the evaluation world's ladder experiment (observed GMV of held-out users,
  see below): model selection on data a business has, never on the truth.
- **Margin and interval.** The margin of ``uplift`` over a comparator is the
  sum over users of ``d_i``, the difference between the true effects the two
  plans give user ``i`` (0 for a user a plan skips). The plans are held fixed
  and the users resampled: a paired Poisson bootstrap over users (1,000
  resamples, each user drawn ``Poisson(1)`` times, margin rescaled to the
  population size as ``N * weighted mean of d``). The users of the evaluation
  world are i.i.d. draws from the world's population and each user's realised
  response is independent of the others', so this is the sampling
  distribution of the margin over populations of the same size; the pairing
  removes the user-level noise the two plans share. It does not include the
  variability of training (another training sample gives other models):
  re-running whole worlds per replicate would cost minutes per replicate.
  The interval is the bootstrap percentile interval at 95 %.
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


def _bootstrap(diffs: np.ndarray, *, resamples: int, rng) -> np.ndarray:
    """Poisson-bootstrap totals ``N * weighted mean`` of each column of ``diffs``."""
    n = diffs.shape[0]
    out = []
    for start in range(0, resamples, _CHUNK):
        w = rng.poisson(1.0, (min(_CHUNK, resamples - start), n)).astype(float)
        out.append(n * (w @ diffs) / w.sum(axis=1, keepdims=True))
    return np.vstack(out)


def targeting_scorecard(*, quick: bool = False, seed: int = 0, progress: bool = True) -> dict:
    """True incremental GMV of uplift targeting vs blanket, random and rules at one budget.

    Parameters
    ----------
    quick : bool
        20,000-user worlds and 5 comparator seeds (for tests, well under a
        minute); the full scorecard uses 200,000-user worlds and 20 seeds.
    seed : int
        Seed of the training world (the evaluation world uses ``seed + 1``), of
        the comparators' random orders and of the bootstrap.
    progress : bool
        Show progress bars.

    Returns
    -------
    dict
        ``design`` (sizes, seeds, budget, ``headline_learner``); per policy ``true_incremental_gmv_fen``,
        ``true_incremental_gmv_yuan``, ``spent_fen`` (face value offered, the
        largest over comparator seeds) and ``true_discount_fen`` (discounts the
        plan's users really redeemed); ``margin_fen`` / ``margin_yuan`` of
        ``uplift`` over each comparator (``uplift_vs_<policy>`` with
        ``_ci_low`` and ``_ci_high``); per learner and amount
        ``qini_coefficient``, ``qini_vs_oracle`` and
        ``true_effect_correlation``; ``checks`` (each target, True when met).
    """
    from lab.targeting import (
        UPLIFT_FEATURES,
        TLearner,
        TransformedOutcome,
        XLearner,
        allocate,
        allocate_blanket,
        allocate_by_rule,
        allocate_random,
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

    for name in learners:
        # option rows are users x amounts in LADDER order: predicted[name] flattened by column
        plan = allocate(
            options.assign(uplift=predicted[name].T.ravel()),
            budget_fen=budget,
            policy=f"uplift_{name}",
        )
        record(f"uplift_{name}", [plan])
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
    record(
        "credit_tier",
        [allocate_by_rule(options, budget_fen=budget, rule="credit_tier", seed=seed)],
    )
    record(
        "lbs",
        [
            allocate_by_rule(
                options, budget_fen=budget, rule="lbs", radius_km=LBS_RADIUS_KM, seed=seed
            )
        ],
    )
    best_blanket = max((f"blanket_{a}" for a in LADDER), key=lambda p: value[p].sum())
    for table in (value, cost, spent):
        table["blanket"] = table[best_blanket]
    headline = max(learners, key=lambda n: np.mean([qini[f"{n}_{a}"] for a in LADDER]))
    for table in (value, cost, spent):
        table["uplift"] = table[f"uplift_{headline}"]
    # every other policy, the other learners' included
    comparators = [p for p in value if p not in ("uplift", f"uplift_{headline}")]
    diffs = np.column_stack([value["uplift"] - value[p] for p in comparators])
    boot = _bootstrap(diffs, resamples=resamples, rng=np.random.default_rng([seed, 2027]))
    lo, hi = np.quantile(boot, [ALPHA / 2, 1 - ALPHA / 2], axis=0)
    margin_fen = {}
    for k, p in enumerate(comparators):
        margin_fen[f"uplift_vs_{p}"] = float(diffs[:, k].sum())
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
            "headline_learner": headline,
            "alpha": ALPHA,
        },
        "true_incremental_gmv_fen": gmv,
        "true_incremental_gmv_yuan": {p: v / 100 for p, v in gmv.items()},
        "spent_fen": spent,
        "true_discount_fen": {p: float(v.sum()) for p, v in cost.items()},
        "margin_fen": margin_fen,
        "margin_yuan": {k: v / 100 for k, v in margin_fen.items()},
        "qini_coefficient": qini,
        "qini_vs_oracle": qini_ratio,
        "true_effect_correlation": corr,
    }
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
