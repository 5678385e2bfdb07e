"""Ship, don't ship or keep running: one stored experiment read as a decision.

For each non-control arm against the control:

* **Goal**: relative change in GMV per assigned user (``lab.experiments.analyze``),
  CUPED-adjusted on the pre-period GMV when the run has a pre-period.
* **Guardrails**: *cost*: the extra GMV per user must cover the extra coupon cost per
  user (breached when even the interval's upper end falls short); *AOV*: average order
  value of redeemed orders must not fall significantly by more than
  ``max_aov_drop`` (not applicable when the control redeems no coupons, as in a
  holdout); *fraud share*: share of the arm's coupons issued to accounts the risk
  model blocks, when ``blocked_users`` is given.
* **Sequential status**: the always-valid (confidence-sequence) interval of the goal
  excludes zero, so the test may be stopped now.
* **Minimum detectable effect** at 80 % power: ``(z_{1-alpha/2} + z_{0.8}) x`` the
  goal's standard error (the textbook two-sample formula, as
  :func:`lab.experiments.mde_means`).
* **SRM**: the sample-ratio check of the assignment.

Status: ``dont_ship`` on SRM, a significant loss on the goal or a breached guardrail;
``ship`` on a significant gain; ``keep_running`` when the result is flat and the MDE
is larger than ``target_effect`` (the test cannot yet see the effect that matters);
``dont_ship`` when it is flat although it could have seen it.

Example
-------
>>> import lab
>>> store = lab.Store(":memory:")
>>> run = lab.simulate("aa_test", store=store, users=2_000, days=7, pre_days=7, progress=False)
>>> experiment_decision(store, run=run, experiment="aa").status in STATUSES
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from lab.experiments._analyze import analyze
from lab.metrics._metrics import campaign_metrics
from lab.store import Store

__all__ = ["STATUSES", "ExperimentDecision", "experiment_decision"]

STATUSES = ("ship", "dont_ship", "keep_running")
GOAL = "gmv"


@dataclass(frozen=True)
class ExperimentDecision:
    """The decision on one arm of a stored experiment (see the module docstring).

    Attributes
    ----------
    run, experiment, control, arm : str
        What was compared.
    is_holdout : bool
        The control gets no coupon (coupon outcomes have no comparison there).
    cuped : bool
        The goal is CUPED-adjusted.
    goal_effect, goal_ci_low, goal_ci_high, goal_p_value : float
        Relative change in GMV per user and its fixed-horizon interval.
    sequential_ci_low, sequential_ci_high : float
        Always-valid interval of the same change.
    can_stop : bool
        The always-valid interval excludes zero.
    mde : float
        Relative change detectable with 80 % power at this sample size.
    srm_ok : bool
        No sample-ratio mismatch.
    srm_p_value : float
    guardrails : DataFrame
        One row per guardrail: ``guardrail``, ``value``, ``control``, ``limit``,
        ``breached`` (``None`` when it does not apply), ``reason``.
    status : str
        One of :data:`STATUSES`.
    reason : str
        Code of the deciding reason: ``srm``, ``goal_down``, ``guardrail_cost``,
        ``guardrail_aov``, ``guardrail_fraud``, ``goal_up``, ``underpowered``, ``flat``.
    alpha, target_effect : float
    """

    run: str
    experiment: str
    control: str
    arm: str
    is_holdout: bool
    cuped: bool
    goal_effect: float
    goal_ci_low: float
    goal_ci_high: float
    goal_p_value: float
    sequential_ci_low: float
    sequential_ci_high: float
    can_stop: bool
    mde: float
    srm_ok: bool
    srm_p_value: float
    guardrails: pd.DataFrame
    status: str
    reason: str
    alpha: float
    target_effect: float

    def sentence(self, lang: str = "en", *, arm_names: Mapping[str, str] | None = None) -> str:
        """The ship / don't ship / keep running line with its reason, in ``lang``.

        ``arm_names`` maps arm ids to the names readers know them by (an arm missing
        from it is called by its id), e.g. ``{"holdout": "对照组（不发券）"}``.
        """
        from lab.decision._experiment_words import experiment_sentence

        return experiment_sentence(self, lang, arm_names=arm_names or {})


def _cost_guardrail(store: Store, run: str, experiment: str, control: str, arm: str, alpha: float):
    """Extra GMV per user (interval) against extra cost per user, arm vs control."""
    arm_side = campaign_metrics(
        store,
        run=run,
        by=None,
        holdout_experiment=experiment,
        holdout_arm=control,
        treatment_arm=arm,
        alpha=alpha,
    ).incremental
    control_side = campaign_metrics(
        store,
        run=run,
        by=None,
        holdout_experiment=experiment,
        holdout_arm=arm,
        treatment_arm=control,
        alpha=alpha,
    ).incremental
    extra_cost = arm_side.cost_per_user_fen - control_side.cost_per_user_fen
    gmv_high = arm_side.ci_high_fen / arm_side.treatment_users
    return {
        "guardrail": "cost",
        "value": arm_side.cost_per_user_fen,
        "control": control_side.cost_per_user_fen,
        "limit": gmv_high,
        "breached": bool(extra_cost > 0 and gmv_high < extra_cost),
        "reason": "extra_cost_not_covered" if extra_cost > 0 and gmv_high < extra_cost else "ok",
    }


def _fraud_guardrail(store, run, experiment, control, arm, blocked_users, max_fraud_share):
    shares = store.query(
        """
        SELECT a.arm, avg(CAST(list_contains(CAST(? AS BIGINT[]), c.user_id) AS DOUBLE)) AS share
        FROM coupons c JOIN assignments a
          ON a.run_id = c.run_id AND a.user_id = c.user_id AND a.experiment = ?
        WHERE c.run_id = ? AND c.status IN ('issued', 'compensated') AND a.arm IN (?, ?)
        GROUP BY a.arm
        """,
        [list(map(int, blocked_users)), experiment, run, arm, control],
    ).set_index("arm")["share"]
    value = float(shares.get(arm, np.nan))
    breached = bool(value > max_fraud_share) if not np.isnan(value) else None
    return {
        "guardrail": "fraud_share",
        "value": value,
        "control": float(shares.get(control, np.nan)),
        "limit": max_fraud_share,
        "breached": breached,
        "reason": "above_limit" if breached else "ok",
    }


def experiment_decision(
    store: Store,
    *,
    run: str,
    experiment: str,
    arm: str | None = None,
    control: str | None = None,
    cuped: bool = True,
    target_effect: float = 0.02,
    max_aov_drop: float = 0.05,
    blocked_users: Sequence[int] | None = None,
    max_fraud_share: float = 0.05,
    alpha: float = 0.05,
) -> ExperimentDecision:
    """Ship, don't ship or keep running, for ``arm`` of ``experiment`` against ``control``.

    Parameters
    ----------
    store : Store
    run, experiment : str
    arm, control : str, optional
        Default: the control :func:`lab.experiments.analyze` picks and its first other
        arm.
    cuped : bool
        Adjust the goal on pre-period GMV (when the run has a pre-period).
    target_effect : float
        Smallest relative change in GMV per user worth shipping.
    max_aov_drop : float
        Largest tolerated relative fall in AOV.
    blocked_users : sequence of int, optional
        Accounts the risk model blocks (``lab.risk.score_accounts``), for the fraud
        guardrail; without them the guardrail is not evaluated.
    max_fraud_share : float
        Largest share of the arm's coupons going to blocked accounts.
    alpha : float

    Returns
    -------
    ExperimentDecision
    """
    info = store.run(run)
    use_cuped = bool(cuped and (info.get("pre_days") or 0) > 0)
    covariate = "pre_gmv" if use_cuped else None
    base = analyze(
        store,
        run=run,
        experiment=experiment,
        metrics=(GOAL, "aov"),
        control=control,
        covariate=covariate,
        alpha=alpha,
    )
    control = base.control
    others = [a for a in base.arms if a != control]
    arm = arm or others[0]
    if arm not in others:
        raise ValueError(f"arm must be one of {others}, got {arm!r}")
    seq = analyze(
        store,
        run=run,
        experiment=experiment,
        metrics=(GOAL,),
        control=control,
        covariate=covariate,
        alpha=alpha,
        method="sequential",
    )
    goal = base.row(GOAL, arm)
    seq_goal = seq.row(GOAL, arm)
    aov = base.row("aov", arm)
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(0.8)
    mde = float(z * goal["std_error"])
    is_holdout = bool(np.isnan(aov["effect"]) and aov["control_mean"] != aov["control_mean"])
    is_holdout = is_holdout or control == "holdout"
    rows = [_cost_guardrail(store, run, experiment, control, arm, alpha)]
    if is_holdout or np.isnan(aov["effect"]):
        rows.append(
            {
                "guardrail": "aov",
                "value": aov["treatment_mean"],
                "control": aov["control_mean"],
                "limit": -max_aov_drop,
                "breached": None,
                "reason": "control_has_no_coupons",
            }
        )
    else:
        breached = bool(aov["ci_high"] < 0 and aov["effect"] < -max_aov_drop)
        rows.append(
            {
                "guardrail": "aov",
                "value": aov["effect"],
                "control": aov["control_mean"],
                "limit": -max_aov_drop,
                "breached": breached,
                "reason": "fell" if breached else "ok",
            }
        )
    if blocked_users is not None:
        rows.append(
            _fraud_guardrail(store, run, experiment, control, arm, blocked_users, max_fraud_share)
        )
    guardrails = pd.DataFrame(rows)
    significant = bool(goal["ci_low"] > 0 or goal["ci_high"] < 0)
    breached = [
        g for g, b in zip(guardrails["guardrail"], guardrails["breached"], strict=True) if b
    ]
    if base.srm.is_mismatch:
        status, reason = "dont_ship", "srm"
    elif significant and goal["effect"] < 0:
        status, reason = "dont_ship", "goal_down"
    elif breached:
        status, reason = "dont_ship", f"guardrail_{breached[0]}"
    elif significant:
        status, reason = "ship", "goal_up"
    elif mde > target_effect:
        status, reason = "keep_running", "underpowered"
    else:
        status, reason = "dont_ship", "flat"
    return ExperimentDecision(
        run=run,
        experiment=experiment,
        control=control,
        arm=arm,
        is_holdout=is_holdout,
        cuped=use_cuped,
        goal_effect=float(goal["effect"]),
        goal_ci_low=float(goal["ci_low"]),
        goal_ci_high=float(goal["ci_high"]),
        goal_p_value=float(goal["p_value"]),
        sequential_ci_low=float(seq_goal["ci_low"]),
        sequential_ci_high=float(seq_goal["ci_high"]),
        can_stop=bool(seq_goal["ci_low"] > 0 or seq_goal["ci_high"] < 0),
        mde=mde,
        srm_ok=not base.srm.is_mismatch,
        srm_p_value=float(base.srm.p_value),
        guardrails=guardrails,
        status=status,
        reason=reason,
        alpha=alpha,
        target_effect=target_effect,
    )
