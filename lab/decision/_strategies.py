"""Which strategy to ship: compare simulated strategies on their incremental metrics.

Each strategy's figures come from its own randomised holdout
(:func:`lab.metrics.campaign_metrics`), per assigned user so that worlds of different
sizes compare. Two strategies are compared by the difference of their per-user
incremental metrics; its standard error is ``sqrt(se_a² + se_b²)``, which treats the two
runs as independent. Runs that share a seed share their users, whose baselines are then
positively correlated, so this interval is conservative (too wide), never too narrow.

Goal metrics
------------
* ``gmv_per_cost``: incremental GMV ÷ coupon cost (¥ per ¥). Cost is observed, so its
  standard error is that of the per-user incremental GMV divided by cost per user.
* ``incremental_gmv_per_user``: incremental GMV per assigned user (fen).
* ``incremental_orders_per_user``: incremental orders per assigned user.

Example
-------
>>> import lab
>>> store = lab.Store(":memory:")
>>> runs = [lab.simulate(p, store=store, users=2_000, days=7, pre_days=0, progress=False)
...         for p in ("platform_wechat", "platform_meituan")]
>>> d = decide([strategy_outcome(store, run=r) for r in runs])
>>> d.winner in runs
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from lab.metrics._metrics import IncrementalGMV, campaign_metrics
from lab.store import Store

__all__ = ["GOALS", "Decision", "Guardrails", "StrategyOutcome", "decide", "strategy_outcome"]

GOALS = ("gmv_per_cost", "incremental_gmv_per_user", "incremental_orders_per_user")
#: Fewer holdout users than this: "too little data" stands in the way.
MIN_HOLDOUT_USERS = 1_000


@dataclass(frozen=True)
class Guardrails:
    """Limits a strategy must respect to be shipped.

    Attributes
    ----------
    max_fraud_share : float or None
        Largest share of coupons issued to accounts the risk model blocks.
    max_cost_per_user_fen : float or None
        Largest coupon cost per assigned user (fen).
    """

    max_fraud_share: float | None = 0.05
    max_cost_per_user_fen: float | None = None


@dataclass(frozen=True)
class StrategyOutcome:
    """One run's incremental figures, or the reason they are missing.

    Attributes
    ----------
    run, label : str
        Run id and display name.
    incremental : IncrementalGMV or None
        Holdout comparison; ``None`` when the run has no holdout.
    missing_reason : str or None
        ``"no_holdout"`` (an imported log without a randomised no-coupon group) or
        ``"no_cost"`` (no coupon was redeemed), else None.
    fraud_share : float
        Share of coupons issued to blocked accounts (NaN when not measured).
    """

    run: str
    label: str
    incremental: IncrementalGMV | None
    missing_reason: str | None
    fraud_share: float = np.nan

    def value(self, goal: str) -> tuple[float, float]:
        """``(estimate, standard error)`` of ``goal`` per assigned user."""
        _check_goal(goal)
        inc = self.incremental
        if inc is None or self.missing_reason is not None:
            return np.nan, np.nan
        if goal == "incremental_gmv_per_user":
            return inc.incremental_gmv_per_user_fen, inc.gmv_per_user_std_error_fen
        if goal == "incremental_orders_per_user":
            return inc.incremental_orders_per_user, inc.orders_comparison.std_error
        per_user_cost = inc.cost_per_user_fen
        return (
            inc.incremental_gmv_per_user_fen / per_user_cost,
            inc.gmv_per_user_std_error_fen / per_user_cost,
        )

    def interval(self, goal: str) -> tuple[float, float]:
        """The 95 % (``1 - alpha`` of the run's analysis) Welch interval of ``goal``: the
        same interval the incremental figures carry, cost being observed."""
        _check_goal(goal)
        inc = self.incremental
        if inc is None or self.missing_reason is not None:
            return np.nan, np.nan
        if goal == "incremental_gmv_per_user":
            return inc.comparison.ci_low, inc.comparison.ci_high
        if goal == "incremental_orders_per_user":
            return inc.orders_comparison.ci_low, inc.orders_comparison.ci_high
        return inc.ci_low_fen / inc.cost_fen, inc.ci_high_fen / inc.cost_fen


def _check_goal(goal: str) -> None:
    if goal not in GOALS:
        raise ValueError(f"goal must be one of {GOALS}, got {goal!r}")


def strategy_outcome(
    store: Store,
    *,
    run: str,
    label: str | None = None,
    fraud_share: float = np.nan,
    alpha: float = 0.05,
) -> StrategyOutcome:
    """The incremental figures of ``run`` from its holdout, for :func:`decide`.

    Example
    -------
    >>> import lab
    >>> store = lab.Store(":memory:")
    >>> _ = store.create_run("log", origin="import")
    >>> strategy_outcome(store, run="log").missing_reason
    'no_holdout'
    """
    inc = campaign_metrics(store, run=run, by=None, alpha=alpha).incremental
    reason = None
    if inc is None:
        reason = "no_holdout"
    elif inc.cost_fen <= 0:
        reason = "no_cost"
    return StrategyOutcome(
        run=run,
        label=label or run,
        incremental=inc,
        missing_reason=reason,
        fraud_share=float(fraud_share),
    )


@dataclass(frozen=True)
class Decision:
    """The verdict of :func:`decide`.

    Attributes
    ----------
    goal : str
        Goal metric (one of :data:`GOALS`).
    winner : str or None
        Run with the best goal value among those with a counterfactual that respect
        the guardrails; None when no run qualifies.
    baseline : str or None
        Run the winner is compared with.
    difference, ci_low, ci_high, p_value : float
        Winner minus baseline on the goal, its interval and two-sided p-value; with a
        single strategy, the winner against no coupons (its own holdout).
    significant : bool
        The interval excludes zero.
    blockers : tuple of (str, str)
        ``(reason, run)`` that stand in the way: ``guardrail_fraud``,
        ``guardrail_cost``, ``too_little_data``, ``not_significant``, ``no_holdout``,
        ``no_cost``, ``loses_money``.
    table : DataFrame
        One row per strategy: goal estimate, interval, fraud share, cost per
        user, guardrail flags, rank.
    alpha : float
        Intervals have level ``1 - alpha``.
    guardrails : Guardrails
        The limits the strategies were held to (the verdict quotes them).
    """

    goal: str
    winner: str | None
    baseline: str | None
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool
    blockers: tuple[tuple[str, str], ...]
    table: pd.DataFrame
    alpha: float
    labels: dict = field(default_factory=dict)
    guardrails: Guardrails = Guardrails()

    @property
    def status(self) -> str:
        """``ship`` (a clear winner), ``uncertain`` (not significant or too little
        data), ``blocked`` (guardrails) or ``no_decision`` (nothing comparable)."""
        if self.winner is None:
            blocked = any(r.startswith("guardrail") for r, _ in self.blockers)
            return "blocked" if blocked else "no_decision"
        reasons = {r for r, run in self.blockers if run == self.winner}
        if not self.significant or "too_little_data" in reasons or "loses_money" in reasons:
            return "uncertain"
        return "ship"

    def sentence(self, lang: str = "en") -> str:
        """The verdict in plain language (``en`` or ``zh``)."""
        from lab.decision._words import decision_sentence

        return decision_sentence(self, lang)


def _breaches(o: StrategyOutcome, guardrails: Guardrails) -> list[str]:
    out = []
    if (
        guardrails.max_fraud_share is not None
        and not math.isnan(o.fraud_share)
        and o.fraud_share > guardrails.max_fraud_share
    ):
        out.append("guardrail_fraud")
    inc = o.incremental
    if (
        guardrails.max_cost_per_user_fen is not None
        and inc is not None
        and inc.cost_per_user_fen > guardrails.max_cost_per_user_fen
    ):
        out.append("guardrail_cost")
    return out


def decide(
    outcomes: Sequence[StrategyOutcome],
    *,
    goal: str = "gmv_per_cost",
    baseline: str | None = None,
    guardrails: Guardrails = Guardrails(),
    alpha: float = 0.05,
) -> Decision:
    """Pick the strategy to ship on ``goal``, against ``baseline``, with the reasons.

    The winner is the strategy with the highest goal estimate among those with a
    counterfactual that respect ``guardrails``. It is compared with ``baseline`` (a
    run id; default the runner-up) by the difference of their per-user goal values,
    with a normal interval (module docstring). With one strategy, it is compared with
    giving no coupons: its own holdout, where ``gmv_per_cost`` breaks even at 1.

    Parameters
    ----------
    outcomes : sequence of StrategyOutcome
        From :func:`strategy_outcome`, one per run.
    goal : str
        One of :data:`GOALS`.
    baseline : str, optional
        Run to compare the winner with.
    guardrails : Guardrails
        Limits on fraud share and cost per user.
    alpha : float
        Intervals have level ``1 - alpha``.

    Returns
    -------
    Decision
    """
    _check_goal(goal)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    runs = [o.run for o in outcomes]
    if baseline is not None and baseline not in runs:
        raise ValueError(f"baseline {baseline!r} is not among the strategies {runs}")
    z = stats.norm.ppf(1 - alpha / 2)
    rows, blockers = [], []
    for o in outcomes:
        est, se = o.value(goal)
        low, high = o.interval(goal)
        breaches = _breaches(o, guardrails)
        if o.missing_reason is not None:
            blockers.append((o.missing_reason, o.run))
        blockers.extend((b, o.run) for b in breaches)
        inc = o.incremental
        rows.append(
            {
                "run_id": o.run,
                "label": o.label,
                "goal": goal,
                "estimate": est,
                "std_error": se,
                "ci_low": low,
                "ci_high": high,
                "holdout_users": inc.holdout_users if inc is not None else 0,
                "fraud_share": o.fraud_share,
                "cost_per_user_fen": inc.cost_per_user_fen if inc is not None else np.nan,
                "eligible": o.missing_reason is None and not breaches,
                "missing_reason": o.missing_reason,
            }
        )
    table = pd.DataFrame(rows)
    eligible = table[table["eligible"]].sort_values("estimate", ascending=False)
    labels = {o.run: o.label for o in outcomes}
    if eligible.empty:
        return Decision(
            goal,
            None,
            baseline,
            *([np.nan] * 4),
            False,
            tuple(blockers),
            table,
            alpha,
            labels,
            guardrails,
        )
    best = eligible.iloc[0]
    winner = best["run_id"]
    if best["holdout_users"] < MIN_HOLDOUT_USERS:
        blockers.append(("too_little_data", winner))
    if goal == "gmv_per_cost" and best["ci_high"] < 1:
        blockers.append(("loses_money", winner))
    if baseline is None or baseline == winner:
        others = table[table["run_id"] != winner].dropna(subset=["estimate"])
        others = others.sort_values("estimate", ascending=False)
        baseline = others.iloc[0]["run_id"] if len(others) else None
    if baseline is None:
        # one strategy: against giving no coupons (its holdout)
        zero = 1.0 if goal == "gmv_per_cost" else 0.0
        diff, se = best["estimate"] - zero, best["std_error"]
    else:
        base = table[table["run_id"] == baseline].iloc[0]
        diff = best["estimate"] - base["estimate"]
        se = math.hypot(best["std_error"], base["std_error"])
    low, high = diff - z * se, diff + z * se
    p = float(2 * stats.norm.sf(abs(diff / se))) if se > 0 else np.nan
    significant = bool(low > 0 or high < 0)
    if not significant:
        blockers.append(("not_significant", winner))
    table["rank"] = table["estimate"].rank(ascending=False, method="min")
    table["winner"] = table["run_id"] == winner
    return Decision(
        goal=goal,
        winner=winner,
        baseline=baseline,
        difference=float(diff),
        ci_low=float(low),
        ci_high=float(high),
        p_value=p,
        significant=significant,
        blockers=tuple(blockers),
        table=table,
        alpha=alpha,
        labels=labels,
        guardrails=guardrails,
    )
