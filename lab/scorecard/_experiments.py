"""Score the experiment engine against the world's truth.

Design
------
Simulating thousands of worlds is too slow, so the scorecard simulates ONE
``aa_test`` world (every user gets the default campaigns; ``truth_orders``
holds what each user would have bought without them) and re-randomises its
users many times. Per-user outcomes come from the same Ibis query that
:func:`lab.experiments.analyze` aggregates (``_queries.user_metrics``), so the
engine is scored on its own metric definitions. Each replicate draws a random
assignment matrix ``Z`` (replicates x users) and gets every arm's sufficient
statistics as one matrix product ``Z @ Y`` over per-user columns (values,
squares, cross-products), so a replicate costs a few milliseconds; the
comparisons themselves go through :func:`lab.experiments.compare`.

- **False-positive rate (A/A).** Users are split 50/50 at random; a random
  relabelling of fixed outcomes has a true effect of exactly 0, so the share
  of replicates with ``p < 0.05`` is the false-positive rate. Metrics: GMV,
  orders and redemption per user (relative differences, the engine's
  default) and GMV with CUPED on pre-period GMV.
- **Peeking.** Users enter the experiment at their first campaign order
  (a triggered analysis, so the sample grows day by day) and GMV to date is
  tested every day. A replicate is a false positive if any daily look has
  ``p < 0.05``; fixed-horizon tests inflate that rate, the always-valid
  sequential method (tuned to the final sample size) must keep it at 5 % or
  less.
- **Coverage.** Each user has a factual outcome with the campaigns (``Y1``,
  from ``orders``) and a counterfactual one (``Y0``, from ``truth_orders``).
  The world's users stand for the population: every replicate draws a
  treatment sample (``Y1`` observed) and an independent control sample (``Y0``
  observed) from them with replacement, each about 10 % of the users (Poisson
  bootstrap weights: each user is drawn ``Poisson(0.1)`` times per arm). The
  true effect is the population's ``mean(Y1 - Y0)`` (or ``mean(Y1) / mean(Y0)
  - 1``). Drawing with replacement makes the arms i.i.d. samples, so the
  Welch variance is exact; splitting a fixed population without replacement
  would instead make it conservative by ``S_tau**2 / N`` (the variance of the
  individual effects), which inflated coverage to 96.2 % in this world.
- **CUPED.** The mean ratio of CUPED to plain interval widths for GMV over the
  A/A replicates (< 1 when pre-period spend predicts campaign spend).

Example
-------
>>> figures = experiments_scorecard(quick=True, progress=False)  # doctest: +SKIP
>>> figures["aa_false_positive_rate"]["gmv"]  # doctest: +SKIP
0.05
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from lab.engines import session
from lab.experiments._analyze import Period
from lab.experiments._inference import compare
from lab.experiments._queries import user_metrics
from lab.experiments._stats import CupedStats, MeanStats, ProportionStats

__all__ = ["experiments_scorecard"]

ALPHA = 0.05
_CHUNK = 20  # replicates per matrix product: (20 x users) float64 stays small


def _world(*, users: int, days: int, seed: int, progress: bool):
    import lab
    from lab.world import simulate

    store = lab.Store(":memory:")
    run = simulate(
        "aa_test", store=store, users=users, days=days, pre_days=days, seed=seed, progress=progress
    )
    return store, run


def _user_frame(store, run: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Per-user metrics, cumulative daily GMV (users x days) and counterfactual GMV / orders."""
    period = Period.of_run(store, run)
    with session(store) as db:
        users = db.execute(user_metrics(db, run=run, experiment="aa", period=period))
    users = users.sort_values("user_id", ignore_index=True)
    ids = users["user_id"].to_numpy()
    days = (period.end - period.start).days
    daily = store.query(
        """
        SELECT user_id, CAST(date_diff('day', $start, ts) AS INTEGER) AS day,
               CAST(sum(amount_fen - discount_fen) AS DOUBLE) AS gmv
        FROM orders WHERE run_id = $run AND ts >= $start AND ts < $end
        GROUP BY ALL
        """,
        {"run": run, "start": period.start, "end": period.end},
    )
    by_day = np.zeros((len(ids), days))
    by_day[np.searchsorted(ids, daily["user_id"].to_numpy()), daily["day"].to_numpy()] = daily[
        "gmv"
    ].to_numpy()
    truth = store.query(
        """
        SELECT user_id, CAST(sum(amount_fen) AS DOUBLE) AS gmv, CAST(count(*) AS DOUBLE) AS orders
        FROM truth_orders WHERE run_id = $run AND ts >= $start AND ts < $end GROUP BY user_id
        """,
        {"run": run, "start": period.start, "end": period.end},
    )
    y0 = np.zeros((len(ids), 2))
    y0[np.searchsorted(ids, truth["user_id"].to_numpy())] = truth[["gmv", "orders"]].to_numpy()
    return users, np.cumsum(by_day, axis=1), y0


def _mean(n: float, s: float, ss: float) -> MeanStats:
    return MeanStats(n=int(round(n)), sum=float(s), sum_squares=float(ss))


def _aa(users: pd.DataFrame, cum: np.ndarray, *, replicates: int, rng, progress: bool) -> dict:
    y = users["gmv"].to_numpy()
    o = users["orders"].to_numpy()
    r = users["redeemed"].to_numpy()
    x = users["pre_gmv"].to_numpy()
    active = (cum > 0).cumsum(axis=1) > 0  # triggered at the first campaign order
    columns = np.column_stack(
        [np.ones_like(y), y, y * y, o, o * o, r, x, x * x, y * x, active, cum, cum * cum]
    )
    total = columns.sum(axis=0)
    n_days = cum.shape[1]
    final_n = float(active[:, -1].sum())
    rejections = {"gmv": 0, "orders": 0, "redeemed": 0, "gmv_cuped": 0}
    peek_fixed = peek_seq = 0
    width_ratio = []
    done = 0
    bar = tqdm(total=replicates, desc="A/A replicates", disable=not progress)
    while done < replicates:
        k = min(_CHUNK, replicates - done)
        z = (rng.random((k, len(y))) < 0.5).astype(float)
        treated = z @ columns
        for t in treated:
            c = total - t
            arms = []
            for s in (c, t):
                n = s[0]
                arms.append(
                    {
                        "gmv": _mean(n, s[1], s[2]),
                        "orders": _mean(n, s[3], s[4]),
                        "redeemed": ProportionStats(n=int(round(n)), successes=int(round(s[5]))),
                        "gmv_cuped": CupedStats(
                            post=_mean(n, s[1], s[2]),
                            pre=_mean(n, s[6], s[7]),
                            sum_products=float(s[8]),
                        ),
                    }
                )
            results = {
                m: compare(arms[0][m], arms[1][m], difference="relative", alpha=ALPHA)
                for m in rejections
            }
            for m, res in results.items():
                rejections[m] += res.p_value < ALPHA
            width_ratio.append(
                (results["gmv_cuped"].ci_high - results["gmv_cuped"].ci_low)
                / (results["gmv"].ci_high - results["gmv"].ci_low)
            )
            any_fixed = any_seq = False
            for d in range(n_days):
                cols = 9 + np.array([d, n_days + d, 2 * n_days + d])
                ca, cs = _mean(*c[cols]), _mean(*t[cols])
                if ca.n < 2 or cs.n < 2 or ca.sum == 0:
                    continue
                any_fixed |= compare(ca, cs, difference="relative", alpha=ALPHA).p_value < ALPHA
                any_seq |= (
                    compare(
                        ca,
                        cs,
                        difference="relative",
                        alpha=ALPHA,
                        method="sequential",
                        sequential_tuning=final_n,
                    ).p_value
                    < ALPHA
                )
            peek_fixed += any_fixed
            peek_seq += any_seq
        done += k
        bar.update(k)
    bar.close()
    corr = float(np.corrcoef(x, y)[0, 1])
    return {
        "aa_false_positive_rate": {m: v / replicates for m, v in rejections.items()},
        "peeking_false_positive_rate": {
            "fixed_horizon_daily": peek_fixed / replicates,
            "sequential_daily": peek_seq / replicates,
            "looks": n_days,
        },
        "cuped": {
            "ci_width_ratio_mean": float(np.mean(width_ratio)),
            "pre_post_gmv_correlation": corr,
        },
    }


def _coverage(
    users: pd.DataFrame, y0: np.ndarray, *, replicates: int, rng, progress: bool, share: float = 0.1
) -> dict:
    y1 = users[["gmv", "orders"]].to_numpy()
    x = users["pre_gmv"].to_numpy()
    truth = {
        "gmv_absolute": float(np.mean(y1[:, 0] - y0[:, 0])),
        "gmv_relative": float(y1[:, 0].mean() / y0[:, 0].mean() - 1),
        "orders_absolute": float(np.mean(y1[:, 1] - y0[:, 1])),
        "orders_relative": float(y1[:, 1].mean() / y0[:, 1].mean() - 1),
    }
    truth["gmv_cuped_absolute"] = truth["gmv_absolute"]

    def cols(y):
        return np.column_stack(
            [np.ones(len(x)), y[:, 0], y[:, 0] ** 2, y[:, 1], y[:, 1] ** 2, x, x * x, y[:, 0] * x]
        )

    ct, cc = cols(y1), cols(y0)
    hits = dict.fromkeys(truth, 0)
    done = 0
    bar = tqdm(total=replicates, desc="coverage replicates", disable=not progress)
    while done < replicates:
        k = min(_CHUNK, replicates - done)
        st = rng.poisson(share, (k, len(x))).astype(float) @ ct
        sc = rng.poisson(share, (k, len(x))).astype(float) @ cc
        for t, c in zip(st, sc, strict=True):
            arms = [
                {
                    "gmv": _mean(s[0], s[1], s[2]),
                    "orders": _mean(s[0], s[3], s[4]),
                    "cuped": CupedStats(
                        post=_mean(s[0], s[1], s[2]),
                        pre=_mean(s[0], s[5], s[6]),
                        sum_products=float(s[7]),
                    ),
                }
                for s in (c, t)
            ]
            checks = {
                "gmv_absolute": ("gmv", "absolute"),
                "gmv_relative": ("gmv", "relative"),
                "orders_absolute": ("orders", "absolute"),
                "orders_relative": ("orders", "relative"),
                "gmv_cuped_absolute": ("cuped", "absolute"),
            }
            for name, (metric, difference) in checks.items():
                res = compare(arms[0][metric], arms[1][metric], difference=difference, alpha=ALPHA)
                hits[name] += res.ci_low <= truth[name] <= res.ci_high
        done += k
        bar.update(k)
    bar.close()
    return {
        "coverage_95": {name: v / replicates for name, v in hits.items()},
        "true_effect": truth,
        "coverage_draws_per_user_per_arm": share,
    }


def experiments_scorecard(*, quick: bool = False, seed: int = 0, progress: bool = True) -> dict:
    """False-positive rate, peeking, interval coverage and CUPED gain of the experiment engine.

    Parameters
    ----------
    quick : bool
        Small world and 200 replicates (for tests); the full scorecard uses a
        200,000-user world and 4,000 replicates (a rate then carries about ±0.35 pp of binomial noise).
    seed : int
        Seed of the world and of the re-randomisations.
    progress : bool
        Show progress bars.

    Returns
    -------
    dict
        ``design``, ``aa_false_positive_rate`` (per metric),
        ``peeking_false_positive_rate``, ``coverage_95`` (per metric and
        difference), ``true_effect``, ``cuped`` and ``checks`` (each target
        of the scorecard, True when met).
    """
    users_n, replicates, days = (40_000, 200, 14) if quick else (200_000, 4000, 14)
    store, run = _world(users=users_n, days=days, seed=seed, progress=progress)
    try:
        users, cum, y0 = _user_frame(store, run)
    finally:
        store.close()
    rng = np.random.default_rng([seed, 2026])
    figures = {
        "design": {
            "world": "aa_test",
            "users": users_n,
            "days": days,
            "replicates": replicates,
            "alpha": ALPHA,
            "seed": seed,
        },
        **_aa(users, cum, replicates=replicates, rng=rng, progress=progress),
        **_coverage(users, y0, replicates=replicates, rng=rng, progress=progress),
    }
    fpr = figures["aa_false_positive_rate"]
    cov = figures["coverage_95"]
    # binomial noise of a rate estimated from the replicates, for the report
    figures["design"]["rate_standard_error"] = math.sqrt(0.05 * 0.95 / replicates)
    figures["checks"] = {
        "fpr_within_4_6_pct": all(0.04 <= v <= 0.06 for v in fpr.values()),
        "sequential_peeking_at_most_5_pct": figures["peeking_false_positive_rate"][
            "sequential_daily"
        ]
        <= 0.05,
        "coverage_within_94_96_pct": all(0.94 <= v <= 0.96 for v in cov.values()),
        "cuped_narrows_intervals": figures["cuped"]["ci_width_ratio_mean"] < 1,
    }
    return figures
