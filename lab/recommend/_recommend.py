"""Turn a notebook's numbers into its recommendation.

Each function takes the figures a notebook has just computed (readout rows, ROI per arm,
shares per level...) and returns a :class:`Recommendation` whose ``choice`` is the arm,
level or plan the numbers single out, and whose ``text`` quotes those numbers. Change the
numbers enough and the choice changes: the rules are written here, once, and unit-tested.

An "effect" argument is anything with ``effect``, ``ci_low`` and ``ci_high`` attributes:
a row of :meth:`lab.experiments.AnalysisResult.row` (relative effect, treatment ÷
control − 1, and its interval).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd


class Effect(Protocol):
    effect: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Recommendation:
    """What to do, and the figures behind it.

    Attributes
    ----------
    choice : str
        The arm, level, plan or action the numbers single out.
    text : str
        One paragraph for a stakeholder, quoting the figures.
    """

    choice: str
    text: str

    def __str__(self) -> str:
        return f"Recommendation: {self.text}"


def _direction(effect: Effect) -> int:
    """+1 if the interval is above zero, -1 if below, 0 if it contains zero."""
    if effect.ci_low > 0:
        return 1
    if effect.ci_high < 0:
        return -1
    return 0


def _interval(effect: Effect) -> str:
    return f"{effect.effect:+.1%} (95 % CI {effect.ci_low:+.1%} to {effect.ci_high:+.1%})"


def _require(mapping: Mapping[str, float], what: str) -> None:
    if not mapping:
        raise ValueError(f"{what}: nothing to choose from")


def recommend_rollout(incremental: Any, *, weakest_step: str | None = None) -> Recommendation:
    """Scale the strategy up, stop it, or keep testing, from its incremental ROI.

    Parameters
    ----------
    incremental : lab.metrics.IncrementalGMV
        ``campaign_metrics(...).incremental``: incremental GMV, cost and incremental ROI
        with its interval, from the holdout.
    weakest_step : str, optional, keyword-only
        The funnel step that loses most offers, named in the advice.

    Returns
    -------
    Recommendation
        ``choice`` is ``"scale up"`` when the whole ROI interval is above zero (each yuan
        of discount brings back more than a yuan of GMV the coupons caused),
        ``"stop or redesign"`` when it is below zero, ``"keep testing"`` otherwise.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> inc = SimpleNamespace(incremental_roi=0.8, roi_ci_low=0.3, roi_ci_high=1.3,
    ...                       incremental_gmv_fen=900_000, cost_fen=500_000)
    >>> recommend_rollout(inc).choice
    'scale up'
    """
    roi, low, high = incremental.incremental_roi, incremental.roi_ci_low, incremental.roi_ci_high
    figures = (
        f"the coupons cost {incremental.cost_fen / 100:,.0f} yuan and caused "
        f"{incremental.incremental_gmv_fen / 100:,.0f} yuan of GMV, an incremental ROI of "
        f"{roi:.2f} (95 % CI {low:.2f} to {high:.2f})"
    )
    if math.isnan(roi):
        choice, advice = "keep testing", "no discount was spent, so the ROI is undefined"
    elif low > 0:
        choice, advice = "scale up", "every yuan of discount returns more than itself: scale up"
    elif high < 0:
        choice, advice = (
            "stop or redesign",
            "the discount costs more than the GMV it causes: stop or redesign the offers",
        )
    else:
        choice, advice = (
            "keep testing",
            "the interval straddles break-even: keep the holdout running, or raise USERS, "
            "before scaling up",
        )
    text = f"{figures}; {advice}."
    if weakest_step is not None:
        text += f" The funnel loses most offers before '{weakest_step}': improve that step first."
    return Recommendation(choice, text[0].upper() + text[1:])


def recommend_entry_roles(
    *,
    immediate: Mapping[str, float],
    retention: Mapping[str, float],
    orders: Effect,
    treatment: str,
    control: str,
) -> Recommendation:
    """Which entry carries short promotions and which carries membership benefits.

    Parameters
    ----------
    immediate : mapping, keyword-only
        Entry -> share of its exposures redeemed within a day
        (:func:`lab.funnel.redemption_within_day`).
    retention : mapping, keyword-only
        Entry -> retention of its claimers (:func:`lab.retention.claimer_retention`).
    orders : effect, keyword-only
        Orders per user, ``treatment`` entry vs ``control`` entry (the net effect).
    treatment, control : str, keyword-only
        The two entries of the head-to-head experiment.

    Returns
    -------
    Recommendation
        ``choice`` is ``"promotions: <entry>, membership: <entry>"``: promotions go to the
        entry with the highest immediate conversion, membership to the entry whose
        claimers come back most.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> row = SimpleNamespace(effect=0.03, ci_low=0.01, ci_high=0.05)
    >>> recommend_entry_roles(immediate={"pay_page": 0.28, "card_wallet": 0.05},
    ...                       retention={"pay_page": 0.1, "card_wallet": 0.6}, orders=row,
    ...                       treatment="card_wallet", control="pay_page").choice
    'promotions: pay_page, membership: card_wallet'
    """
    _require(immediate, "immediate")
    _require(retention, "retention")
    promotions = max(immediate, key=immediate.get)
    membership = max(retention, key=retention.get)

    def listed(rates: Mapping[str, float]) -> str:
        return ", ".join(f"{entry} {rate:.1%}" for entry, rate in rates.items())

    net = {1: f"{treatment} wins", -1: f"{control} wins", 0: "no significant difference"}
    text = (
        f"Put short promotions on {promotions}, which turns coupons into orders fastest "
        f"(redeemed within 24 h: {listed(immediate)}), and carry membership benefits in "
        f"{membership}, whose claimers come back most (7-day retention: {listed(retention)}). "
        f"Head to head, orders per user {treatment} vs {control}: {_interval(orders)} "
        f"({net[_direction(orders)]})."
    )
    return Recommendation(f"promotions: {promotions}, membership: {membership}", text)


def recommend_targeting(
    *,
    roi: Mapping[str, float],
    gmv: Effect,
    targeted: str,
    untargeted: str,
    resource_overhead: float,
) -> Recommendation:
    """Target or not: the arm that earns more per yuan without losing GMV per user.

    Parameters
    ----------
    roi : mapping, keyword-only
        Arm -> the seed's ROI.
    gmv : effect, keyword-only
        GMV per assigned user, ``targeted`` vs ``untargeted``.
    targeted, untargeted : str, keyword-only
        Arm names.
    resource_overhead : float, keyword-only
        Extra engine cost of targeting (0.15 = +15 %).

    Returns
    -------
    Recommendation
        ``choice`` is ``targeted`` when it significantly raises GMV per user, or returns
        more per yuan without significantly lowering it; else ``untargeted``.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> gmv = SimpleNamespace(effect=0.01, ci_low=-0.02, ci_high=0.04)
    >>> recommend_targeting(roi={"lbs": 4.0, "wide": 3.0}, gmv=gmv, targeted="lbs",
    ...                     untargeted="wide", resource_overhead=0.15).choice
    'lbs'
    """
    direction = _direction(gmv)
    better_roi = roi[targeted] > roi[untargeted]
    if direction > 0:
        choice, why = targeted, "it raises GMV per assigned user significantly"
    elif better_roi and direction == 0:
        choice, why = targeted, "it returns more per yuan without losing GMV per assigned user"
    else:
        choice, why = untargeted, "targeting does not pay for the users it leaves out"
    text = (
        f"Issue {choice}: {why} (ROI {roi[targeted]:.2f} targeted vs {roi[untargeted]:.2f} "
        f"untargeted, GMV per assigned user {_interval(gmv)}, {resource_overhead:+.0%} "
        "engine cost for targeting)."
    )
    return Recommendation(choice, text)


def recommend_mechanic(
    readout: Any, roi: Mapping[str, float] | pd.Series, *, control: str, metric: str = "gmv"
) -> Recommendation:
    """The mechanic to ship: highest ROI among the arms that do not lose GMV significantly.

    Parameters
    ----------
    readout : lab.experiments.AnalysisResult
        The experiment's readout; ``readout.row(metric, arm)`` gives each arm's effect.
    roi : mapping or Series
        Arm -> the seed's ROI, the control included.
    control : str, keyword-only
        The plain arm, always eligible.
    metric : str, keyword-only
        The readout metric an arm must not lose.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> rows = {"game": SimpleNamespace(effect=0.02, ci_low=-0.01, ci_high=0.05)}
    >>> readout = SimpleNamespace(row=lambda metric, arm: rows[arm])
    >>> recommend_mechanic(readout, {"plain": 2.0, "game": 2.5}, control="plain").choice
    'game'
    """
    roi = dict(roi)
    _require(roi, "roi")
    arms = [arm for arm in roi if arm != control]
    effects = {arm: readout.row(metric, arm) for arm in arms}
    eligible = [control] + [arm for arm in arms if effects[arm].ci_high > 0]
    choice = max(eligible, key=roi.get)
    lines = ", ".join(
        f"{arm} {metric} {_interval(effects[arm])}, ROI {roi[arm]:.2f}" for arm in arms
    )
    excluded = [arm for arm in arms if arm not in eligible]
    text = (
        f"Ship {choice}: the highest ROI among the mechanics that do not lose {metric} per user "
        f"({lines}; {control} ROI {roi[control]:.2f})."
    )
    if excluded:
        text += f" Dropped for losing {metric}: {', '.join(excluded)}."
    return Recommendation(choice, text)


def recommend_risk_level(levels: pd.DataFrame, *, max_fraud_share: float = 0.01) -> Recommendation:
    """The fastest risk-control level that keeps the rings' share of coupons acceptable.

    Parameters
    ----------
    levels : DataFrame
        ``compare_control_levels(...).frame``: columns ``level``, ``fraud_issued_share``
        and ``latency_increase_s``.
    max_fraud_share : float, keyword-only
        Highest acceptable share of issued coupons that land with farming rings.

    Returns
    -------
    Recommendation
        ``choice`` is the level with the smallest added latency among those under
        ``max_fraud_share``; if none is, the level with the smallest fraud share.

    Example
    -------
    >>> import pandas as pd
    >>> levels = pd.DataFrame({"level": ["off", "strict"], "fraud_issued_share": [0.15, 0.002],
    ...                        "latency_increase_s": [0.0, 1.2]})
    >>> recommend_risk_level(levels).choice
    'strict'
    """
    if levels.empty:
        raise ValueError("levels: no control level to choose from")
    ok = levels[levels["fraud_issued_share"] <= max_fraud_share]
    if ok.empty:
        best = levels.loc[levels["fraud_issued_share"].idxmin()]
        reason = f"no level keeps the ring share under {max_fraud_share:.1%}; this one is lowest"
    else:
        best = ok.loc[ok["latency_increase_s"].idxmin()]
        reason = f"the fastest level that keeps the ring share under {max_fraud_share:.1%}"
    shares = ", ".join(
        f"{r.level} {r.fraud_issued_share:.2%} (+{r.latency_increase_s:.2f} s)"
        for r in levels.itertuples()
    )
    text = (
        f"Run risk control at '{best['level']}': {reason} (ring share of issued coupons and "
        f"added claim latency: {shares}). Reconcile every run."
    )
    return Recommendation(str(best["level"]), text)


def recommend_ladder(
    roi: pd.DataFrame,
    split_gmv: Effect,
    frontier: pd.DataFrame,
    *,
    split: str = "split",
    single: str = "single",
    roi_floor: float = 0.0,
) -> Recommendation:
    """Split or single denomination, and the ladder to test next.

    Parameters
    ----------
    roi : DataFrame
        Indexed by arm, with column ``incremental_roi``.
    split_gmv : effect
        GMV per user, ``split`` vs ``single``.
    frontier : DataFrame
        ``optimize_ladder(...).frontier``: columns ``ladder``, ``incremental_roi`` and
        ``redeemed_amount_fen``.
    split, single : str, keyword-only
        Arm names.
    roi_floor : float, keyword-only
        Lowest acceptable predicted incremental ROI for the next ladder.

    Returns
    -------
    Recommendation
        ``choice`` is the arm that significantly wins on GMV per user (on a tie, the one
        with the higher incremental ROI), then `` · next: <ladder>``: the frontier ladder
        with the largest redeemed amount whose incremental ROI meets the floor.

    Example
    -------
    >>> import pandas as pd
    >>> from types import SimpleNamespace
    >>> roi = pd.DataFrame({"incremental_roi": [0.5, 0.9]}, index=["single", "split"])
    >>> front = pd.DataFrame({"ladder": ["a", "b"], "incremental_roi": [1.0, -0.2],
    ...                       "redeemed_amount_fen": [100, 200]})
    >>> gmv = SimpleNamespace(effect=0.0, ci_low=-0.1, ci_high=0.1)
    >>> recommend_ladder(roi, gmv, front).choice
    'split · next: a'
    """
    direction = _direction(split_gmv)
    if direction:
        arm = split if direction > 0 else single
        why = f"it wins on GMV per user ({split} vs {single}: {_interval(split_gmv)})"
    else:
        arm = (
            split
            if roi.loc[split, "incremental_roi"] > roi.loc[single, "incremental_roi"]
            else single
        )
        why = (
            f"GMV per user does not separate them ({_interval(split_gmv)}), and its incremental "
            f"ROI is higher ({roi.loc[arm, 'incremental_roi']:.2f})"
        )
    text = f"Ship the {arm} ladder: {why}. Decide on incremental ROI, not the reported one."
    eligible = frontier[frontier["incremental_roi"] >= roi_floor]
    if eligible.empty:
        return Recommendation(
            arm, text + f" No ladder on the frontier reaches ROI {roi_floor:.2f}."
        )
    best = eligible.loc[eligible["redeemed_amount_fen"].idxmax()]
    text += (
        f" Test next {best['ladder']}: the largest redeemed amount on the frontier "
        f"({best['redeemed_amount_fen'] / 100:,.0f} yuan) at predicted incremental ROI "
        f"{best['incremental_roi']:.2f} (floor {roi_floor:.2f})."
    )
    return Recommendation(f"{arm} · next: {best['ladder']}", text)


def recommend_platform_mix(
    mean_cycle_days: Mapping[str, float], *, fatigue_slope: float
) -> Recommendation:
    """The platform strategy that turns coupons into orders fastest, and a push cap.

    Parameters
    ----------
    mean_cycle_days : mapping
        Platform strategy -> mean days from issue to redemption.
    fatigue_slope : float, keyword-only
        Change in claim rate per extra push on the same day (negative: fatigue).

    Returns
    -------
    Recommendation
        ``choice`` is the fastest strategy, plus ``" · cap pushes"`` when extra pushes
        lower the claim rate.

    Example
    -------
    >>> recommend_platform_mix({"wechat": 4.1, "mix": 2.8}, fatigue_slope=-0.03).choice
    'mix · cap pushes'
    """
    _require(mean_cycle_days, "mean_cycle_days")
    ranked = sorted(mean_cycle_days, key=mean_cycle_days.get)
    fastest = ranked[0]
    cycles = ", ".join(f"{name} {mean_cycle_days[name]:.2f}" for name in ranked)
    text = (
        f"For cash-flow campaigns and perishable stock, issue through {fastest}: its coupons "
        f"are redeemed soonest (mean days to redemption: {cycles})."
    )
    choice = fastest
    if fatigue_slope < 0:
        choice += " · cap pushes"
        text += (
            f" Each extra push on the same day lowers the claim rate by {-100 * fatigue_slope:.1f} "
            "percentage points: cap pushes at one a day."
        )
    else:
        text += f" Extra pushes do not lower the claim rate here (slope {fatigue_slope:+.4f})."
    return Recommendation(choice, text)


def recommend_budget_plan(true_uplift: Mapping[str, float] | pd.Series) -> Recommendation:
    """The budget plan that buys the most incremental GMV, by how much it beats the next.

    Parameters
    ----------
    true_uplift : mapping or Series
        Plan -> incremental GMV it buys (yuan), scored against the world's truth.

    Example
    -------
    >>> recommend_budget_plan({"uplift model": 900.0, "blanket": 600.0}).choice
    'uplift model'
    """
    uplift = dict(true_uplift)
    _require(uplift, "true_uplift")
    ranked = sorted(uplift, key=uplift.get, reverse=True)
    best = ranked[0]
    text = f"Spend the budget with the {best} plan: {uplift[best]:,.0f} yuan of incremental GMV"
    if len(ranked) > 1:
        runner = ranked[1]
        gain = uplift[best] / uplift[runner] - 1 if uplift[runner] > 0 else math.inf
        text += f", {gain:+.0%} over the next best ({runner}, {uplift[runner]:,.0f} yuan)"
    text += ". Keep a holdout and a small randomised ladder running so the plan keeps learning."
    return Recommendation(best, text)


def recommend_log_additions(
    *, redeemed_share: float, near_share: float, has_holdout: bool
) -> Recommendation:
    """What an imported log supports, and what to add to it next.

    Parameters
    ----------
    redeemed_share : float, keyword-only
        Share of claimed coupons with a redemption in the log (0: no redemption dates).
    near_share : float, keyword-only
        Share of coupons that went to users within 1 km of the store.
    has_holdout : bool, keyword-only
        Whether the log has users randomised to get no coupon.

    Returns
    -------
    Recommendation
        ``choice`` lists the additions (``redemption dates``, ``a holdout``), or
        ``"nothing to add"``.

    Example
    -------
    >>> recommend_log_additions(redeemed_share=0.0, near_share=0.7, has_holdout=False).choice
    'add redemption dates, a holdout'
    """
    missing = []
    if redeemed_share == 0:
        missing.append("redemption dates")
    if not has_holdout:
        missing.append("a holdout")
    choice = "add " + ", ".join(missing) if missing else "nothing to add"
    if near_share >= 0.5:
        text = f"{near_share:.0%} of coupons went to users within 1 km of a store: distance "
        text += "targeting (notebook 02) fits this base. "
    else:
        text = f"Only {near_share:.0%} of coupons went to users within 1 km of a store: check "
        text += "distances before targeting by them. "
    if missing:
        text += f"To measure redemption, ROI and incrementality, add {' and '.join(missing)} to the log."
    else:
        text += "The log supports every model in the lab."
    return Recommendation(choice, text)


def recommend_engine(
    checks: pd.DataFrame, *, events: int, embedded_limit_events: int = 1_000_000_000
) -> Recommendation:
    """Where to run the models: the embedded store while the log fits one machine, Spark
    beyond that, and neither for a question whose answers differ between the two.

    Parameters
    ----------
    checks : DataFrame
        One row per question asked of both engines, with columns ``question`` and
        ``equal`` (whether the two answers agree: counts exactly, floats to 1e-9).
    events : int, keyword-only
        Events in the log the team wants to analyse.
    embedded_limit_events : int, keyword-only
        The largest log the embedded DuckDB store answers interactively. The default,
        one billion events, extrapolates the lab's benchmarks (a 100M-event funnel in
        about 2 s on 2 cores, so about 20 s at 1B).

    Returns
    -------
    Recommendation
        ``choice`` is ``"embedded"``, ``"spark"`` or ``"check the engines"``.

    Example
    -------
    >>> checks = pd.DataFrame({"question": ["funnel"], "equal": [True]})
    >>> recommend_engine(checks, events=5_000_000_000).choice
    'spark'
    """
    if not {"question", "equal"} <= set(checks.columns) or checks.empty:
        raise ValueError("checks: pass a non-empty table with columns 'question' and 'equal'")
    if events < 0 or embedded_limit_events <= 0:
        raise ValueError(
            f"events must be >= 0 and embedded_limit_events > 0, got {events} and "
            f"{embedded_limit_events}"
        )
    differing = checks.loc[~checks["equal"].astype(bool), "question"].tolist()
    if differing:
        text = (
            f"Do not read {', '.join(differing)} from Spark yet: its answers differ from the "
            "embedded store's on the same run. Report the difference with both tables."
        )
        return Recommendation("check the engines", text)
    agreed = f"All {len(checks)} questions gave the same answers on both engines"
    if events <= embedded_limit_events:
        text = (
            f"{agreed}. At {events:,} events the embedded store answers on one machine: keep "
            f"DuckDB (up to about {embedded_limit_events:,} events), and move to Spark when "
            "the log outgrows it; the same calls will run there."
        )
        return Recommendation("embedded", text)
    text = (
        f"{agreed}. At {events:,} events (more than about {embedded_limit_events:,} for one "
        "machine) run the models where the log lives: open the warehouse with "
        "lab.Store.from_ibis and call the same functions."
    )
    return Recommendation("spark", text)
