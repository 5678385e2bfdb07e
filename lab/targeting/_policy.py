"""Who gets which coupon under a budget, and how much it really brings.

The input is a long *options frame*: one row per (user, option), where an option is a
coupon the user could get (an amount from a small ladder, and optionally a timing or
a channel column), with its cost to the budget (``cost_fen``, e.g. the face value, or
face value x predicted redemption probability) and its predicted incremental value
(``uplift``, e.g. incremental GMV in fen). "No coupon" is the implicit option with
cost 0 and uplift 0. A policy picks at most one option per user with total cost within
``budget_fen``.

:func:`allocate` maximises predicted uplift. This is a multiple-choice knapsack; the
greedy solver takes Lagrangian relaxation (each user picks ``argmax uplift - λ cost``,
with λ bisected to the smallest value whose plan fits the budget, which equals
taking the users' convex-hull upgrades in order of uplift per fen), then spends what
is left on the best remaining upgrades per fen that still fit. ``method="lp"`` solves
the LP relaxation with HiGHS (``scipy.optimize.linprog``) and keeps its integral part,
then fills the same way. Either way the total cost never exceeds the budget.

The comparators spend the same budget without looking at uplift:
:func:`allocate_blanket` (one coupon for everyone, in random order),
:func:`allocate_random` (a random option per user, in random order) and
:func:`allocate_by_rule` (credit tier: higher tiers get larger amounts first; LBS:
users within a radius, nearest first). :func:`allocate_within_rule` combines a rule
with the model: the rule says who may get a coupon, the model which amount and who
first. :func:`score_policies` scores plans against known true values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lab._validate import check
from lab.store import Store

__all__ = [
    "Allocation",
    "PolicyComparison",
    "allocate",
    "allocate_blanket",
    "allocate_by_rule",
    "allocate_random",
    "allocate_within_rule",
    "potential_outcomes",
    "score_policies",
]

_METHODS = ("greedy", "lp")
_RULES = ("credit_tier", "lbs")


@dataclass(frozen=True)
class Allocation:
    """A plan: the chosen option per targeted user.

    Attributes
    ----------
    policy : str
        Name of the policy that made it.
    frame : DataFrame
        The chosen rows of the options frame (one per targeted user, every column kept).
    budget_fen : int
    spent_fen : int
        Total cost of the chosen options (<= ``budget_fen``).
    predicted_uplift : float
        Sum of the uplift column over the chosen rows.
    cost_fen_col, uplift_col, user_col : str
        Column names used.
    """

    policy: str
    frame: pd.DataFrame = field(repr=False)
    budget_fen: int
    spent_fen: int
    predicted_uplift: float
    cost_fen_col: str = "cost_fen"
    uplift_col: str = "uplift"
    user_col: str = "user_id"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def plot(self, *, option_col: str = "amount_fen"):
        """Bars: number of users per option."""
        import holoviews as hv

        if option_col not in self.frame.columns:
            raise ValueError(f"option_col must be a column of the plan, got {option_col!r}")
        counts = self.frame[option_col].value_counts().sort_index().rename_axis(option_col)
        return hv.Bars(counts.reset_index(name="users"), kdims=option_col, vdims="users").opts(
            title=f"{self.policy}: {len(self.frame)} users, {self.spent_fen / 100:,.0f} yuan"
        )


def _prepare(frame, *, budget_fen, cost_fen_col, uplift_col, user_col) -> pd.DataFrame:
    for name, col in (
        ("cost_fen_col", cost_fen_col),
        ("uplift_col", uplift_col),
        ("user_col", user_col),
    ):
        if col not in frame.columns:
            raise ValueError(
                f"{name}={col!r} is not a column of scores_frame ({', '.join(map(str, frame.columns))})"
            )
    if not isinstance(budget_fen, int | np.integer) or budget_fen < 0:
        raise ValueError(f"budget_fen must be a non-negative integer (fen), got {budget_fen!r}")
    cost = frame[cost_fen_col].to_numpy(dtype=float)
    if not np.isfinite(cost).all() or (cost <= 0).any():
        raise ValueError(f"{cost_fen_col} must be positive and finite on every row")
    if not np.isfinite(frame[uplift_col].to_numpy(dtype=float)).all():
        raise ValueError(f"{uplift_col} must be finite on every row")
    return frame.reset_index(drop=True)


def _result(policy, frame, rows, *, budget_fen, cost_fen_col, uplift_col, user_col) -> Allocation:
    chosen = frame.iloc[np.sort(np.asarray(rows, dtype=np.int64))].reset_index(drop=True)
    spent = chosen[cost_fen_col].sum()
    spent = int(spent) if float(spent).is_integer() else float(spent)
    if spent > budget_fen:  # guaranteed by construction; a bug if it ever fires
        raise AssertionError(f"{policy}: spent {spent} > budget {budget_fen}")
    return Allocation(
        policy,
        chosen,
        int(budget_fen),
        spent,
        float(chosen[uplift_col].sum()),
        cost_fen_col,
        uplift_col,
        user_col,
    )


def _lagrange_choice(user, cost, value, lam):
    """Row chosen per user for multiplier ``lam`` (-1 when no option beats nothing)."""
    score = value - lam * cost
    starts = np.r_[0, np.flatnonzero(user[1:] != user[:-1]) + 1]
    best = np.maximum.reduceat(score, starts)
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(user)]))
    is_best = (score == best[group]) & (score > 0)
    # first best row per user
    first = np.full(len(starts), -1)
    rows = np.flatnonzero(is_best)
    g = group[rows]
    keep = np.ones(len(g), dtype=bool)
    keep[1:] = g[1:] != g[:-1]
    first[g[keep]] = rows[keep]
    return first


def _fill(user_code, cost, value, chosen, remaining):
    """Spend ``remaining`` on the best upgrades per fen that still fit (one per user)."""
    n_users = chosen.shape[0]
    cur_cost = np.where(chosen >= 0, cost[np.maximum(chosen, 0)], 0.0)
    cur_value = np.where(chosen >= 0, value[np.maximum(chosen, 0)], 0.0)
    dv = value - cur_value[user_code]
    dc = cost - cur_cost[user_code]
    cand = np.flatnonzero((dv > 0) & (dc <= remaining))
    if cand.size == 0:
        return chosen
    eff = np.where(dc[cand] > 0, dv[cand] / np.maximum(dc[cand], 1e-300), np.inf)
    order = cand[np.lexsort((-dv[cand], -eff))]
    done = np.zeros(n_users, dtype=bool)
    chosen = chosen.copy()
    for r in order:
        u = user_code[r]
        if done[u] or dc[r] > remaining:
            continue
        chosen[u] = r
        remaining -= dc[r]
        done[u] = True
    return chosen


def _lp_choice(user_code, cost, value, n_users, budget):
    from scipy.optimize import linprog
    from scipy.sparse import csr_matrix, vstack

    m = len(cost)
    per_user = csr_matrix((np.ones(m), (user_code, np.arange(m))), shape=(n_users, m))
    a_ub = vstack([per_user, csr_matrix(cost.reshape(1, -1))]).tocsr()
    b_ub = np.r_[np.ones(n_users), budget]
    res = linprog(-value, A_ub=a_ub, b_ub=b_ub, bounds=(0, 1), method="highs")
    if res.status != 0:
        raise RuntimeError(f"linprog failed: {res.message}")
    chosen = np.full(n_users, -1)
    whole = np.flatnonzero(res.x > 1 - 1e-9)
    chosen[user_code[whole]] = whole
    return chosen


def allocate(
    scores_frame: pd.DataFrame,
    *,
    budget_fen: int,
    cost_fen_col: str = "cost_fen",
    uplift_col: str = "uplift",
    user_col: str = "user_id",
    method: str = "greedy",
    policy: str = "uplift",
) -> Allocation:
    """Give each user at most one option so as to maximise total uplift within a budget.

    Parameters
    ----------
    scores_frame : DataFrame
        Options frame: one row per (user, option) with ``user_col``, ``cost_fen_col``
        (positive) and ``uplift_col``; any other columns (amount, timing, channel) are
        carried into the plan.
    budget_fen : int, keyword-only
        Budget in fen; the plan's total cost never exceeds it.
    cost_fen_col, uplift_col, user_col : str, keyword-only
    method : {"greedy", "lp"}, keyword-only
        Lagrangian greedy (fast, any size) or LP relaxation with HiGHS (exact bound,
        for up to a few hundred thousand rows).
    policy : str, keyword-only
        Name recorded in the result.

    Returns
    -------
    Allocation

    Examples
    --------
    >>> import pandas as pd
    >>> opts = pd.DataFrame({"user_id": [1, 1, 2, 2], "amount_fen": [300, 800, 300, 800],
    ...                      "cost_fen": [300, 800, 300, 800], "uplift": [900, 1200, 100, 1500]})
    >>> plan = allocate(opts, budget_fen=1100)
    >>> plan.frame[["user_id", "amount_fen"]].values.tolist(), plan.spent_fen
    ([[1, 300], [2, 800]], 1100)
    """
    check(locals())  # argument types and ranges, up front
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    frame = _prepare(
        scores_frame,
        budget_fen=budget_fen,
        cost_fen_col=cost_fen_col,
        uplift_col=uplift_col,
        user_col=user_col,
    )
    order = np.lexsort((frame[cost_fen_col].to_numpy(), frame[user_col].to_numpy()))
    sorted_frame = frame.iloc[order].reset_index(drop=True)
    user = sorted_frame[user_col].to_numpy()
    cost = sorted_frame[cost_fen_col].to_numpy(dtype=float)
    value = sorted_frame[uplift_col].to_numpy(dtype=float)
    live = (value > 0) & (cost <= budget_fen)
    sorted_frame, user, cost, value = (
        sorted_frame[live].reset_index(drop=True),
        user[live],
        cost[live],
        value[live],
    )
    if len(user) == 0:
        return _result(
            policy,
            sorted_frame,
            [],
            budget_fen=budget_fen,
            cost_fen_col=cost_fen_col,
            uplift_col=uplift_col,
            user_col=user_col,
        )
    _, user_code = np.unique(user, return_inverse=True)
    n_users = int(user_code.max()) + 1
    if method == "lp":
        chosen = _lp_choice(user_code, cost, value, n_users, float(budget_fen))
    else:

        def spend(c):
            return cost[c[c >= 0]].sum()

        lo, hi = 0.0, float(np.max(value / cost)) * (1 + 1e-9)
        chosen = _lagrange_choice(user, cost, value, hi)  # empty plan: feasible
        if spend(_lagrange_choice(user, cost, value, lo)) <= budget_fen:
            chosen = _lagrange_choice(user, cost, value, lo)
        else:
            for _ in range(60):
                mid = (lo + hi) / 2
                c = _lagrange_choice(user, cost, value, mid)
                if spend(c) <= budget_fen:
                    hi, chosen = mid, c
                else:
                    lo = mid
    remaining = budget_fen - cost[chosen[chosen >= 0]].sum()
    chosen = _fill(user_code, cost, value, chosen, remaining)
    return _result(
        policy,
        sorted_frame,
        chosen[chosen >= 0],
        budget_fen=budget_fen,
        cost_fen_col=cost_fen_col,
        uplift_col=uplift_col,
        user_col=user_col,
    )


def _spend_in_order(
    policy, frame, rows, *, budget_fen, cost_fen_col, uplift_col, user_col
) -> Allocation:
    """Allocation of ``rows`` taken in the given order while they fit the budget.

    A row that no longer fits is skipped, and later cheaper rows may still be taken.
    """
    cost = frame[cost_fen_col].to_numpy(dtype=float)[rows]
    # budgets are usually met by the prefix; only the tail needs a row-by-row look
    cum = np.cumsum(cost)
    k = int(np.searchsorted(cum, budget_fen, side="right"))
    taken = list(range(k))
    spent = cum[k - 1] if k else 0.0
    for i in range(k, len(cost)):
        if spent + cost[i] <= budget_fen:
            taken.append(i)
            spent += cost[i]
    return _result(
        policy,
        frame,
        rows[np.asarray(taken, dtype=np.int64)],
        budget_fen=budget_fen,
        cost_fen_col=cost_fen_col,
        uplift_col=uplift_col,
        user_col=user_col,
    )


def allocate_blanket(
    scores_frame: pd.DataFrame,
    *,
    budget_fen: int,
    option: Mapping[str, object] | None = None,
    amount_col: str = "amount_fen",
    cost_fen_col: str = "cost_fen",
    uplift_col: str = "uplift",
    user_col: str = "user_id",
    seed: int = 0,
) -> Allocation:
    """Everyone the same coupon, users in random order, until the budget is spent.

    Parameters
    ----------
    option : mapping, optional, keyword-only
        Column -> value selecting the one option given (e.g. ``{"amount_fen": 500}``);
        default the smallest value of ``amount_col``.
    amount_col : str, keyword-only
    seed : int, keyword-only
        Seed of the random order.

    Examples
    --------
    >>> import pandas as pd
    >>> opts = pd.DataFrame({"user_id": [1, 1, 2, 2], "amount_fen": [300, 800] * 2,
    ...                      "cost_fen": [300, 800] * 2, "uplift": [1, 2, 3, 4]})
    >>> allocate_blanket(opts, budget_fen=700, option={"amount_fen": 300}).spent_fen
    600
    """
    check(locals())  # argument types and ranges, up front
    frame = _prepare(
        scores_frame,
        budget_fen=budget_fen,
        cost_fen_col=cost_fen_col,
        uplift_col=uplift_col,
        user_col=user_col,
    )
    if option is None:
        if amount_col not in frame.columns:
            raise ValueError(
                f"amount_col={amount_col!r} is not a column of scores_frame; pass option="
            )
        option = {amount_col: frame[amount_col].min()}
    mask = np.ones(len(frame), dtype=bool)
    for col, value in option.items():
        if col not in frame.columns:
            raise ValueError(f"option column {col!r} is not a column of scores_frame")
        mask &= (frame[col] == value).to_numpy()
    if not mask.any():
        raise ValueError(f"option {dict(option)!r} matches no row of scores_frame")
    rows = np.flatnonzero(mask)
    rows = rows[np.random.default_rng(seed).permutation(len(rows))]
    return _spend_in_order(
        "blanket",
        frame,
        rows,
        budget_fen=budget_fen,
        cost_fen_col=cost_fen_col,
        uplift_col=uplift_col,
        user_col=user_col,
    )


def allocate_random(
    scores_frame: pd.DataFrame,
    *,
    budget_fen: int,
    cost_fen_col: str = "cost_fen",
    uplift_col: str = "uplift",
    user_col: str = "user_id",
    seed: int = 0,
) -> Allocation:
    """A random option for each user, users in random order, until the budget is spent.

    Examples
    --------
    >>> import pandas as pd
    >>> opts = pd.DataFrame({"user_id": [1, 1, 2, 2], "cost_fen": [300, 800] * 2,
    ...                      "uplift": [1, 2, 3, 4]})
    >>> allocate_random(opts, budget_fen=2000).spent_fen <= 2000
    True
    """
    check(locals())  # argument types and ranges, up front
    frame = _prepare(
        scores_frame,
        budget_fen=budget_fen,
        cost_fen_col=cost_fen_col,
        uplift_col=uplift_col,
        user_col=user_col,
    )
    rng = np.random.default_rng(seed)
    # one random row per user: shuffle, keep each user's first row, shuffle users again
    shuffled = rng.permutation(len(frame))
    first = ~pd.Series(frame[user_col].to_numpy()[shuffled]).duplicated().to_numpy()
    rows = shuffled[first]
    rows = rows[rng.permutation(len(rows))]
    return _spend_in_order(
        "random",
        frame,
        rows,
        budget_fen=budget_fen,
        cost_fen_col=cost_fen_col,
        uplift_col=uplift_col,
        user_col=user_col,
    )


def allocate_by_rule(
    scores_frame: pd.DataFrame,
    *,
    budget_fen: int,
    rule: str = "credit_tier",
    amount_col: str = "amount_fen",
    tier_col: str = "credit_tier",
    distance_col: str = "distance_km",
    radius_km: float = 3.0,
    cost_fen_col: str = "cost_fen",
    uplift_col: str = "uplift",
    user_col: str = "user_id",
    seed: int = 0,
) -> Allocation:
    """A business rule, spending the same budget.

    - ``rule="credit_tier"``: tiers 4-5 get the largest amount, tier 3 the middle one,
      tiers 1-2 the smallest; higher tiers are served first (random order within a
      tier) until the budget is spent.
    - ``rule="lbs"``: users within ``radius_km`` get the middle amount, nearest first.

    Examples
    --------
    >>> import pandas as pd
    >>> opts = pd.DataFrame({"user_id": [1, 1, 2, 2], "amount_fen": [300, 800] * 2,
    ...                      "cost_fen": [300, 800] * 2, "uplift": [1, 2, 3, 4],
    ...                      "credit_tier": [5, 5, 1, 1]})
    >>> allocate_by_rule(opts, budget_fen=1100).frame["amount_fen"].tolist()
    [800, 300]
    """
    check(locals())  # argument types and ranges, up front
    frame = _prepare(
        scores_frame,
        budget_fen=budget_fen,
        cost_fen_col=cost_fen_col,
        uplift_col=uplift_col,
        user_col=user_col,
    )
    rows = np.flatnonzero(
        _rule_rows(
            frame,
            rule=rule,
            amount_col=amount_col,
            tier_col=tier_col,
            distance_col=distance_col,
            radius_km=radius_km,
            any_amount=False,
        )
    )
    rng = np.random.default_rng(seed)
    jitter = pd.Series(rng.random(frame[user_col].nunique()), index=frame[user_col].unique())
    tie = frame[user_col].map(jitter).to_numpy()
    if rule == "credit_tier":
        tier = frame[tier_col].to_numpy(dtype=float)
        rows = rows[np.lexsort((tie[rows], -tier[rows]))]
    else:
        dist = frame[distance_col].to_numpy(dtype=float)
        rows = rows[np.lexsort((tie[rows], dist[rows]))]
    return _spend_in_order(
        rule,
        frame,
        rows,
        budget_fen=budget_fen,
        cost_fen_col=cost_fen_col,
        uplift_col=uplift_col,
        user_col=user_col,
    )


def _rule_rows(frame, *, rule, amount_col, tier_col, distance_col, radius_km, any_amount):
    """Rows of the options frame a rule allows (a boolean mask).

    ``credit_tier``: the amount of the user's tier. ``lbs``: users within the radius,
    the middle amount, or any amount when ``any_amount``.
    """
    if rule not in _RULES:
        raise ValueError(f"rule must be one of {_RULES}, got {rule!r}")
    need = (amount_col, tier_col) if rule == "credit_tier" else (amount_col, distance_col)
    for col in need:
        if col not in frame.columns:
            raise ValueError(f"rule={rule!r} needs column {col!r} in scores_frame")
    amount = frame[amount_col].to_numpy()
    ladder = np.sort(np.unique(amount))
    small, middle, large = ladder[0], ladder[len(ladder) // 2], ladder[-1]
    if rule == "credit_tier":
        tier = frame[tier_col].to_numpy(dtype=float)
        return amount == np.where(tier >= 4, large, np.where(tier >= 3, middle, small))
    # a missing distance is not "within the radius"
    near = frame[distance_col].to_numpy(dtype=float) <= radius_km
    return near if any_amount else near & (amount == middle)


def allocate_within_rule(
    scores_frame: pd.DataFrame,
    *,
    budget_fen: int,
    rule: str = "lbs",
    amount_col: str = "amount_fen",
    tier_col: str = "credit_tier",
    distance_col: str = "distance_km",
    radius_km: float = 3.0,
    cost_fen_col: str = "cost_fen",
    uplift_col: str = "uplift",
    user_col: str = "user_id",
    method: str = "greedy",
) -> Allocation:
    """The model's plan among the options a business rule allows (rule ∩ model).

    The rule says who may get a coupon; :func:`allocate` then picks, among those
    options, the amount and the users that maximise predicted uplift within the budget.
    It keeps what a well-tested rule knows (a coupon far from the store is wasted) and
    adds what the model sees inside it (who responds, to which amount).

    - ``rule="lbs"``: users within ``radius_km``, any amount of the ladder;
    - ``rule="credit_tier"``: each user's tier amount (tiers 4-5 the largest, 3 the
      middle one, 1-2 the smallest); the model picks who gets it.

    Parameters
    ----------
    scores_frame : DataFrame
        Options frame as for :func:`allocate`, with the rule's column(s).
    budget_fen : int, keyword-only
    rule : {"lbs", "credit_tier"}, keyword-only
    amount_col, tier_col, distance_col : str, keyword-only
    radius_km : float, keyword-only
    cost_fen_col, uplift_col, user_col : str, keyword-only
    method : {"greedy", "lp"}, keyword-only

    Returns
    -------
    Allocation
        Named ``"uplift_within_<rule>"``.

    Examples
    --------
    >>> import pandas as pd
    >>> opts = pd.DataFrame({"user_id": [1, 1, 2, 2], "amount_fen": [300, 800] * 2,
    ...                      "cost_fen": [300, 800] * 2, "uplift": [900, 1200, 100, 1500],
    ...                      "distance_km": [1.0, 1.0, 5.0, 5.0]})
    >>> allocate_within_rule(opts, budget_fen=1100).frame[["user_id", "amount_fen"]].values.tolist()
    [[1, 800]]
    """
    frame = _prepare(
        scores_frame,
        budget_fen=budget_fen,
        cost_fen_col=cost_fen_col,
        uplift_col=uplift_col,
        user_col=user_col,
    )
    allowed = _rule_rows(
        frame,
        rule=rule,
        amount_col=amount_col,
        tier_col=tier_col,
        distance_col=distance_col,
        radius_km=radius_km,
        any_amount=True,
    )
    return allocate(
        frame[allowed],
        budget_fen=budget_fen,
        cost_fen_col=cost_fen_col,
        uplift_col=uplift_col,
        user_col=user_col,
        method=method,
        policy=f"uplift_within_{rule}",
    )


@dataclass(frozen=True)
class PolicyComparison:
    """Plans scored against true incremental values.

    Attributes
    ----------
    frame : DataFrame
        One row per policy: ``policy``, ``users``, ``budget_fen``, ``spent_fen``,
        ``predicted_uplift``, ``true_uplift``, ``true_uplift_per_fen``.
    """

    frame: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def plot(self):
        """Bars of true incremental value per policy."""
        import holoviews as hv

        return hv.Bars(self.frame, kdims="policy", vdims="true_uplift").opts(
            title="True incremental value at equal budget"
        )


def score_policies(
    allocations: Sequence[Allocation] | Mapping[str, Allocation],
    *,
    truth: pd.DataFrame,
    true_col: str = "true_uplift",
    option_cols: Sequence[str] = ("amount_fen",),
) -> PolicyComparison:
    """Score plans by the true incremental value of what they chose.

    Parameters
    ----------
    allocations : sequence or mapping of Allocation
        Plans (a mapping renames them by its keys).
    truth : DataFrame, keyword-only
        True incremental value per (user, option): the plans' ``user_col``,
        ``option_cols`` and ``true_col``. On a synthetic world it comes from simulating
        each option for everyone with common random numbers (see
        :func:`lab.targeting.potential_outcomes`) or from ``truth_users``.
    true_col : str, keyword-only
    option_cols : sequence of str, keyword-only
        Columns identifying an option (empty when each user has one option).

    Returns
    -------
    PolicyComparison

    Examples
    --------
    >>> import pandas as pd
    >>> opts = pd.DataFrame({"user_id": [1, 2], "amount_fen": [300, 300],
    ...                      "cost_fen": [300, 300], "uplift": [5.0, 1.0]})
    >>> truth = opts.assign(true_uplift=[4.0, 2.0])
    >>> score_policies([allocate(opts, budget_fen=300)], truth=truth).frame["true_uplift"].tolist()
    [4.0]
    """
    items = (
        list(allocations.items())
        if isinstance(allocations, Mapping)
        else [(a.policy, a) for a in allocations]
    )
    rows = []
    for name, plan in items:
        keys = [plan.user_col, *option_cols]
        missing = [c for c in (*keys, true_col) if c not in truth.columns]
        if missing:
            raise ValueError(f"truth is missing column(s) {', '.join(missing)}")
        dup = truth.duplicated(keys)
        if dup.any():
            raise ValueError(f"truth has several rows for one ({', '.join(keys)}) combination")
        merged = plan.frame[keys].merge(truth[[*keys, true_col]], on=keys, how="left")
        if merged[true_col].isna().any():
            raise ValueError(
                f"truth has no {true_col} for {int(merged[true_col].isna().sum())} planned option(s)"
            )
        true = float(merged[true_col].sum())
        rows.append(
            {
                "policy": name,
                "users": len(plan.frame),
                "budget_fen": plan.budget_fen,
                "spent_fen": plan.spent_fen,
                "predicted_uplift": plan.predicted_uplift,
                "true_uplift": true,
                "true_uplift_per_fen": true / plan.spent_fen if plan.spent_fen else float("nan"),
            }
        )
    return PolicyComparison(pd.DataFrame(rows))


def potential_outcomes(
    store: Store,
    *,
    runs: Mapping[object, str],
    baseline_run: str | None = None,
    outcome: str = "gmv",
    option_col: str = "amount_fen",
) -> pd.DataFrame:
    """True per-user incremental outcome of each option, from runs of one world.

    Each run in ``runs`` gives one option to everyone. A user's campaign-period outcome
    in that run minus the same user's outcome without the campaign is what the option
    really did for that user. Without the campaign means either ``baseline_run`` (a run
    of the same world with no campaign: same seed, so common random numbers give the
    same users and baseline orders) or, by default, the run's own counterfactual order
    log ``truth_orders``. This is how :func:`score_policies` gets the truth for a
    per-user allocation the world cannot simulate in one go (users do not interact
    while budgets are not exhausted). It is a scorecard: it reads ``truth_orders``.

    Parameters
    ----------
    store : Store
    runs : mapping, keyword-only
        Option value (e.g. an amount in fen) -> run id.
    baseline_run : str, optional, keyword-only
        Run of the same world without the campaign; default each run's ``truth_orders``.
    outcome : {"orders", "gmv"}, keyword-only
        Campaign-period orders or GMV (basket ``amount_fen``, fen).
    option_col : str, keyword-only
        Name of the option column in the result.

    Returns
    -------
    DataFrame
        ``user_id``, ``option_col``, ``true_uplift`` (one row per user and option).

    Examples
    --------
    >>> import datetime, lab
    >>> store = lab.Store(":memory:")
    >>> _ = store.create_run("a500", origin="synthetic", seed=0, n_users=0, days=7,
    ...                      start_date=datetime.date(2026, 3, 1))
    >>> potential_outcomes(store, runs={500: "a500"}).empty
    True
    """
    if outcome not in ("orders", "gmv"):
        raise ValueError(f"outcome must be one of ('orders', 'gmv'), got {outcome!r}")
    if not runs:
        raise ValueError("runs must map at least one option to a run id")
    infos = {run: store.run(run) for run in runs.values()}
    base = store.run(baseline_run) if baseline_run is not None else next(iter(infos.values()))
    for run, info in infos.items():
        for key in ("seed", "n_users", "start_date", "days"):
            if info[key] != base[key]:
                raise ValueError(
                    f"run {run!r} differs from {base['run_id']!r} in {key} "
                    f"({info[key]!r} vs {base[key]!r}): not the same world"
                )
    start = pd.Timestamp(base["start_date"]).to_pydatetime()
    end = start + pd.Timedelta(days=int(base["days"])).to_pytimedelta()
    agg = "count(*)" if outcome == "orders" else "sum(amount_fen)"

    def per_user(run, table):
        # table is one of two literals chosen below, never user input
        sql = f"""
            SELECT u.user_id, coalesce(o.y, 0) AS y
            FROM (SELECT user_id FROM users WHERE run_id = $run) u
            LEFT JOIN (SELECT user_id, {agg} AS y FROM {table}
                       WHERE run_id = $run AND ts >= $start AND ts < $end GROUP BY user_id) o
            USING (user_id)
            ORDER BY u.user_id
        """
        return store.query(sql, {"run": run, "start": start, "end": end}).set_index("user_id")["y"]

    fixed = per_user(baseline_run, "orders") if baseline_run is not None else None
    parts = []
    for option, run in runs.items():
        y0 = fixed if fixed is not None else per_user(run, "truth_orders")
        y1 = per_user(run, "orders").reindex(y0.index, fill_value=0)
        parts.append(
            pd.DataFrame(
                {
                    "user_id": y0.index,
                    option_col: option,
                    "true_uplift": (y1 - y0).to_numpy(dtype=float),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)
