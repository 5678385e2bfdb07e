"""Predict what a denomination ladder (满X减Y coupons offered together) does.

A ladder is a list of rungs ``(threshold_fen, amount_fen)`` or
``(threshold_fen, amount_fen, max_per_user)`` (per-user limit of the rung's stock,
1 when left out). Every user of the audience claims each rung's stock ``n`` times,
independent Poisson counts given the user's claim-rate class (the fitted claims
model: a user who never opens the entry holds no rung, a regular visitor may hold
a small rung without the big one), and holds ``min(n, max_per_user)`` copies of
the rung. Each copy is redeemed on its own order with the probability of the
response model, computed knowing the lowest-threshold better coupon (higher
threshold and amount) the user holds: order by order the user uses the best usable
coupon, so a smaller rung held with a better one is redeemed less and on smaller
baskets. Summing over classes and contexts, with ``q`` the expected copies held
in each context and ``p``, ``E[amount]`` per user:

- ``redemptions = sum(q * p)``; ``redemption_rate`` = share of users redeeming at
  least one coupon, ``1 - E[prod over copies held (1 - p)]``;
- ``redeemed_amount = sum(q * p * E[amount])`` (order amounts of redeemed orders);
- ``aov = redeemed_amount / redemptions``;
- ``cost = sum(q * p * face amount)`` (the discount given);
- ``roi = (redeemed_amount - cost) / cost`` (the seed's formula, CALIBRATION C16);
- ``incremental_gmv = sum(q * p * (E[amount] - basket))``: basket growth over the
  user's usual basket. It assumes redeemed orders replace orders the user would
  have placed anyway, so it ignores extra orders and is a conservative figure;
- ``incremental_roi = (incremental_gmv - cost) / cost``.

These are the per-user figures of an A/B arm offering the ladder to the same
audience as the fitted run (users never reached count as zeros), so the change
between two ladders is what :func:`lab.denomination.split_test` measures.

Example
-------
>>> pred = predict_ladder(fitted, ladder=[(30000, 5000, 3), (10000, 2000, 1)])  # doctest: +SKIP
>>> pred.aov_fen  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lab.denomination._response import FittedResponse

__all__ = ["LadderPrediction", "check_ladder", "is_dominated_free", "predict_ladder"]

_USER_COLUMNS = ("basket_fen", "distance_km", "credit_tier", "segment")


def check_ladder(ladder: Sequence[Sequence[int]]) -> tuple[tuple[int, int, int], ...]:
    """Validate a ladder of ``(threshold_fen, amount_fen[, max_per_user])`` rungs.

    Threshold 0 means no threshold; ``max_per_user`` defaults to 1. Returns triples.
    """
    try:
        rungs = tuple(tuple(int(v) for v in rung) for rung in ladder)
        well_formed = all(len(r) in (2, 3) for r in rungs)
    except (TypeError, ValueError):
        well_formed = False
    if not well_formed:
        raise ValueError(
            "ladder must be a sequence of (threshold_fen, amount_fen[, max_per_user]) rungs, "
            f"got {ladder!r}"
        )
    triples = tuple((r[0], r[1], r[2] if len(r) == 3 else 1) for r in rungs)
    if not triples:
        raise ValueError("ladder must hold at least one coupon")
    for t, a, cap in triples:
        if t < 0 or a <= 0 or (t > 0 and a >= t):
            raise ValueError(
                f"ladder: coupon (threshold_fen={t}, amount_fen={a}) needs threshold >= 0, "
                "amount > 0 and amount < threshold (or threshold 0 for no threshold)"
            )
        if cap < 1:
            raise ValueError(
                f"ladder: coupon (threshold_fen={t}, amount_fen={a}) needs max_per_user >= 1, "
                f"got {cap}"
            )
    pairs = [(t, a) for t, a, _ in triples]
    for t, a in pairs:
        for tb, ab in pairs:
            if (tb, ab) != (t, a) and tb <= t and ab >= a:
                raise ValueError(
                    f"ladder: coupon (threshold_fen={t}, amount_fen={a}) is dominated by "
                    f"(threshold_fen={tb}, amount_fen={ab}), so no user would use it"
                )
    if len(set(pairs)) != len(pairs):
        raise ValueError(f"ladder repeats a coupon: {triples}")
    return triples


def is_dominated_free(rungs: Sequence[tuple[int, ...]]) -> bool:
    """True when no coupon of ``rungs`` has a higher threshold and no larger amount than another."""
    return not any(
        (tb, ab) != (t, a) and tb <= t and ab >= a for t, a, *_ in rungs for tb, ab, *_ in rungs
    )


def better_rungs(rungs: Sequence[tuple[int, ...]]) -> list[list[int]]:
    """For each rung, the indices of the ladder's better rungs (higher threshold and amount),
    by increasing threshold."""
    return [
        sorted(
            (j for j, (tb, ab, *_) in enumerate(rungs) if tb > t and ab > a),
            key=lambda j: rungs[j][0],
        )
        for t, a, *_ in rungs
    ]


def user_profiles(fitted: FittedResponse, users: pd.DataFrame | None) -> pd.DataFrame:
    """``users`` checked, or the run's users."""
    if users is None:
        return fitted.users.reset_index(drop=True)
    missing = [c for c in _USER_COLUMNS if c not in users]
    if missing:
        raise ValueError(f"users is missing column(s) {', '.join(missing)}; needs {_USER_COLUMNS}")
    if users.empty:
        raise ValueError("users must hold at least one user")
    return users.reset_index(drop=True)


class CouponScorer:
    """Per-user redemption probability and expected amount of a coupon, cached.

    The cache key is the coupon and the better coupon's threshold, so a search
    over many ladders scores each (coupon, context) pair once.
    """

    def __init__(self, fitted: FittedResponse, users: pd.DataFrame) -> None:
        self.fitted = fitted
        self.users = users
        self.basket = users["basket_fen"].to_numpy(float)
        columns = list(fitted.claims.columns)
        if len(columns) < 2 or columns != list(range(len(columns))):
            raise ValueError(
                f"fitted.claims must have the claim counts 0, 1, ..., N as columns, got {columns}"
            )
        joint = fitted.claims.to_numpy(float)
        joint = joint[joint.sum(axis=1) > 0]  # classes nobody is in
        self.counts = np.arange(len(columns), dtype=float)
        self.weight = joint.sum(axis=1)  # P(class)
        self.pmf = joint / self.weight[:, None]  # P(n | class)
        self.miss = self.pmf[:, 0]  # P(no claim | class)
        self._cache: dict[tuple[int, int, float], tuple[np.ndarray, np.ndarray]] = {}
        self._none: dict[tuple[int, int, float, int], np.ndarray] = {}

    def score(self, threshold: int, amount: int, better: float) -> tuple[np.ndarray, np.ndarray]:
        key = (threshold, amount, -1.0 if np.isnan(better) else better)
        if key not in self._cache:
            frame = self.users.assign(
                threshold_fen=float(threshold),
                amount_fen=float(amount),
                better_threshold_fen=better,
            )
            self._cache[key] = (
                self.fitted.redemption_probability(frame),
                self.fitted.expected_amount(frame),
            )
        return self._cache[key]

    def copies(self, cap: int) -> np.ndarray:
        """Expected copies held of a coupon limited to ``cap`` per user, per class."""
        return self.pmf @ np.minimum(self.counts, cap)

    def none_redeemed(self, threshold: int, amount: int, better: float, cap: int) -> np.ndarray:
        """(users, classes): ``E[(1 - p) ** min(n, cap); n >= 1 | class]``, the chance that a
        user who claimed the coupon at least once redeems none of the copies."""
        key = (threshold, amount, -1.0 if np.isnan(better) else better, cap)
        if key not in self._none:
            p, _ = self.score(threshold, amount, better)
            held = np.minimum(self.counts[1:], cap).astype(int)
            exps = np.arange(1, held.max() + 1)
            # P(min(n, cap) = e | class): few distinct exponents, however long the tail
            mass = np.stack([self.pmf[:, 1:][:, held == e].sum(axis=1) for e in exps], axis=1)
            self._none[key] = (1 - p)[:, None] ** exps[None, :] @ mass.T
        return self._none[key]


def summarise(scorer: CouponScorer, rungs: Sequence[tuple[int, int, int]]) -> dict:
    """Totals of one ladder (see the module docstring) and, under ``"rungs"``, arrays per
    rung: ``issued``, ``redemptions``, ``redeemed`` (amount)."""
    better = better_rungs(rungs)
    users = len(scorer.basket)
    redemptions, redeemed, incremental, issued = (np.zeros(len(rungs)) for _ in range(4))
    for k, (t, a, cap) in enumerate(rungs):
        copies = scorer.copies(cap)
        issued[k] = scorer.weight @ copies
        # the rung's context is the lowest-threshold better rung the user holds (none if
        # none): better rung i is it when the i rungs below it are not held, it is
        for i, b in enumerate([*better[k], None]):
            held_first = scorer.miss**i * (1 - scorer.miss if b is not None else 1)
            m = scorer.weight @ (copies * held_first)  # expected copies in this context
            p, amount = scorer.score(t, a, float(rungs[b][0]) if b is not None else np.nan)
            redemptions[k] += m * p.sum()
            redeemed[k] += m * (p * amount).sum()
            incremental[k] += m * (p * (amount - scorer.basket)).sum()
    # share of users redeeming nothing: sum over which rungs the user holds at all
    none = np.zeros((users, len(scorer.weight)))
    for holds in itertools.product((False, True), repeat=len(rungs)):
        term = np.ones_like(none)
        for k, (t, a, cap) in enumerate(rungs):
            if not holds[k]:
                term = term * scorer.miss[None, :]
                continue
            b = next((j for j in better[k] if holds[j]), None)
            term = term * scorer.none_redeemed(
                t, a, float(rungs[b][0]) if b is not None else np.nan, cap
            )
        none += term
    face = np.array([a for _, a, _ in rungs], float)
    cost = float(redemptions @ face)
    total, gmv, inc = float(redemptions.sum()), float(redeemed.sum()), float(incremental.sum())
    return {
        "n_users": users,
        "issued": float(issued.sum() * users),
        "redemption_rate": float(np.mean(1 - none @ scorer.weight)),
        "redemptions": total,
        "redeemed_amount_fen": gmv,
        "aov_fen": gmv / total if total else float("nan"),
        "cost_fen": cost,
        "roi": (gmv - cost) / cost if cost else float("nan"),
        "incremental_gmv_fen": inc,
        "incremental_roi": (inc - cost) / cost if cost else float("nan"),
        "rungs": {
            "issued": issued * users,
            "redemptions": redemptions,
            "redeemed": redeemed,
        },
    }


def label(ladder) -> str:
    """``满300减50×3 + 满100减20`` (yuan, ``×n`` for a per-user limit above 1);
    threshold 0 reads 无门槛."""
    return " + ".join(
        (f"满{t / 100:g}减{a / 100:g}" if t else f"无门槛{a / 100:g}")
        + (f"×{rest[0]}" if rest and rest[0] > 1 else "")
        for t, a, *rest in ladder
    )


@dataclass(frozen=True)
class LadderPrediction:
    """Expected outcome of offering a ladder to a set of users (see the module docstring).

    ``ladder`` holds ``(threshold_fen, amount_fen, max_per_user)`` triples;
    ``issued`` the expected coupons issued over all users. ``by_coupon`` has one
    row per coupon: ``threshold_fen, amount_fen, max_per_user, issued,
    redemption_rate`` (per issued coupon), ``redemptions, redeemed_amount_fen,
    aov_fen, cost_fen``.
    """

    ladder: tuple[tuple[int, int, int], ...]
    n_users: int
    issued: float
    redemption_rate: float
    redemptions: float
    redeemed_amount_fen: float
    aov_fen: float
    cost_fen: float
    roi: float
    incremental_gmv_fen: float
    incremental_roi: float
    by_coupon: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """One row with the ladder's totals."""
        fields = {
            k: getattr(self, k)
            for k in (
                "n_users",
                "issued",
                "redemption_rate",
                "redemptions",
                "redeemed_amount_fen",
                "aov_fen",
                "cost_fen",
                "roi",
                "incremental_gmv_fen",
                "incremental_roi",
            )
        }
        return pd.DataFrame([{"ladder": label(self.ladder), **fields}])

    def plot(self):
        """Redeemed amount and cost per coupon of the ladder, yuan."""
        import holoviews as hv
        import holoviews.plotting.bokeh  # noqa: F401  (registers the backend .opts() needs)

        df = self.by_coupon.assign(coupon=[label([rung]) for rung in self.ladder])
        long = pd.concat(
            [
                df.assign(what="redeemed amount", yuan=df["redeemed_amount_fen"] / 100),
                df.assign(what="cost", yuan=df["cost_fen"] / 100),
            ]
        )
        return hv.Bars(long, ["coupon", "what"], "yuan").opts(
            title=f"Ladder {label(self.ladder)}: ROI {self.roi:.2f}",
            width=600,
            height=320,
            tools=["hover"],
        )


def predict_ladder(
    fitted: FittedResponse,
    ladder: Sequence[Sequence[int]] = ((30000, 5000, 3), (10000, 2000, 1)),
    *,
    users: pd.DataFrame | None = None,
) -> LadderPrediction:
    """Predict redemption, redeemed amount, AOV, cost, ROI and incremental GMV of a ladder.

    Parameters
    ----------
    fitted : FittedResponse
        From :meth:`ResponseModel.fit`.
    ladder : sequence of (threshold_fen, amount_fen[, max_per_user])
        The coupons offered together; threshold 0 means no threshold; ``max_per_user``
        (default 1) is the rung's per-user limit. The default is the seed's split
        ladder with the limits of the ``denomination_split`` preset.
    users : DataFrame, optional
        Profiles (``basket_fen, distance_km, credit_tier, segment``); the run's
        users by default.

    Returns
    -------
    LadderPrediction

    Example
    -------
    >>> predict_ladder(fitted, [(30000, 5000, 3)]).roi  # doctest: +SKIP
    """
    rungs = check_ladder(ladder)
    scorer = CouponScorer(fitted, user_profiles(fitted, users))
    totals = summarise(scorer, rungs)
    per = totals.pop("rungs")
    face = np.array([a for _, a, _ in rungs], float)
    by_coupon = pd.DataFrame(
        {
            "threshold_fen": [t for t, _, _ in rungs],
            "amount_fen": [a for _, a, _ in rungs],
            "max_per_user": [cap for _, _, cap in rungs],
            "issued": per["issued"],
            "redemption_rate": per["redemptions"] / per["issued"],
            "redemptions": per["redemptions"],
            "redeemed_amount_fen": per["redeemed"],
            "aov_fen": per["redeemed"] / per["redemptions"],
            "cost_fen": per["redemptions"] * face,
        }
    )
    return LadderPrediction(ladder=rungs, by_coupon=by_coupon, **totals)
