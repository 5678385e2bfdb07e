"""Predict what a denomination ladder (满X减Y coupons offered together) does.

Every user is offered every coupon of the ladder and, order by order, uses the
best usable one: the larger coupon when the basket reaches its threshold, a
smaller one otherwise. The response model captures this through its
"better coupon held" terms, so coupon ``k`` is redeemed with probability
``p_k`` computed knowing the lowest-threshold better coupon of the same ladder
(higher threshold and amount). Coupons are redeemed independently, and the
expected figures are summed over users:

- ``redemptions = sum(p)``; ``redemption_rate`` = share of users redeeming at
  least one coupon, ``mean(1 - prod_k (1 - p_k))``;
- ``redeemed_amount = sum(p * E[amount])`` (order amounts of redeemed orders);
- ``aov = redeemed_amount / redemptions``;
- ``cost = sum(p * face amount)`` (the discount given);
- ``roi = (redeemed_amount - cost) / cost`` (the seed's formula, CALIBRATION C16);
- ``incremental_gmv = sum(p * (E[amount] - basket))``: basket growth over the
  user's usual basket. It assumes redeemed orders replace orders the user would
  have placed anyway, so it ignores extra orders and is a conservative figure;
- ``incremental_roi = (incremental_gmv - cost) / cost``.

Example
-------
>>> pred = predict_ladder(fitted, ladder=[(30000, 5000), (10000, 2000)])  # doctest: +SKIP
>>> pred.aov_fen  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lab.denomination._response import FittedResponse

__all__ = ["LadderPrediction", "check_ladder", "is_dominated_free", "predict_ladder"]

_USER_COLUMNS = ("basket_fen", "distance_km", "credit_tier", "segment")


def check_ladder(ladder: Sequence[Sequence[int]]) -> tuple[tuple[int, int], ...]:
    """Validate a ladder of ``(threshold_fen, amount_fen)`` pairs; threshold 0 = no threshold."""
    try:
        pairs = tuple((int(t), int(a)) for t, a in ladder)
    except (TypeError, ValueError):
        raise ValueError(
            f"ladder must be a sequence of (threshold_fen, amount_fen) pairs, got {ladder!r}"
        ) from None
    if not pairs:
        raise ValueError("ladder must hold at least one coupon")
    for t, a in pairs:
        if t < 0 or a <= 0 or (t > 0 and a >= t):
            raise ValueError(
                f"ladder: coupon (threshold_fen={t}, amount_fen={a}) needs threshold >= 0, "
                "amount > 0 and amount < threshold (or threshold 0 for no threshold)"
            )
    for t, a in pairs:
        for tb, ab in pairs:
            if (tb, ab) != (t, a) and tb <= t and ab >= a:
                raise ValueError(
                    f"ladder: coupon (threshold_fen={t}, amount_fen={a}) is dominated by "
                    f"(threshold_fen={tb}, amount_fen={ab}), so no user would use it"
                )
    if len(set(pairs)) != len(pairs):
        raise ValueError(f"ladder repeats a coupon: {pairs}")
    return pairs


def is_dominated_free(pairs: Sequence[tuple[int, int]]) -> bool:
    """True when no coupon of ``pairs`` has a higher threshold and no larger amount than another."""
    return not any((tb, ab) != (t, a) and tb <= t and ab >= a for t, a in pairs for tb, ab in pairs)


def better_thresholds(pairs: Sequence[tuple[int, int]]) -> list[float]:
    """For each coupon, the lowest threshold of a better coupon in the ladder (NaN if none)."""
    out = []
    for t, a in pairs:
        better = [tb for tb, ab in pairs if tb > t and ab > a]
        out.append(float(min(better)) if better else float("nan"))
    return out


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
        self._cache: dict[tuple[int, int, float], tuple[np.ndarray, np.ndarray]] = {}

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

    def ladder(self, pairs: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """Arrays of shape (users, coupons): probabilities and expected amounts."""
        scored = [
            self.score(t, a, b) for (t, a), b in zip(pairs, better_thresholds(pairs), strict=True)
        ]
        return np.column_stack([s[0] for s in scored]), np.column_stack([s[1] for s in scored])


def summarise(p: np.ndarray, amount: np.ndarray, face: np.ndarray, basket: np.ndarray) -> dict:
    """Totals of one ladder from (users, coupons) arrays (see the module docstring)."""
    redemptions = float(p.sum())
    redeemed = float(np.sum(p * amount))
    cost = float(np.sum(p * face[None, :]))
    incremental = float(np.sum(p * (amount - basket[:, None])))
    return {
        "n_users": int(p.shape[0]),
        "redemption_rate": float(np.mean(1 - np.prod(1 - p, axis=1))),
        "redemptions": redemptions,
        "redeemed_amount_fen": redeemed,
        "aov_fen": redeemed / redemptions if redemptions else float("nan"),
        "cost_fen": cost,
        "roi": (redeemed - cost) / cost if cost else float("nan"),
        "incremental_gmv_fen": incremental,
        "incremental_roi": (incremental - cost) / cost if cost else float("nan"),
    }


def label(ladder) -> str:
    """``满300减50 + 满100减20`` (yuan); threshold 0 reads 无门槛."""
    return " + ".join(
        f"满{t / 100:g}减{a / 100:g}" if t else f"无门槛{a / 100:g}" for t, a in ladder
    )


@dataclass(frozen=True)
class LadderPrediction:
    """Expected outcome of offering a ladder to a set of users (see the module docstring).

    ``by_coupon`` has one row per coupon: ``threshold_fen, amount_fen,
    redemption_rate, redemptions, redeemed_amount_fen, aov_fen, cost_fen``.
    """

    ladder: tuple[tuple[int, int], ...]
    n_users: int
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

        df = self.by_coupon.assign(coupon=[label([pair]) for pair in self.ladder])
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
    ladder: Sequence[Sequence[int]] = ((30000, 5000), (10000, 2000)),
    *,
    users: pd.DataFrame | None = None,
) -> LadderPrediction:
    """Predict redemption, redeemed amount, AOV, cost, ROI and incremental GMV of a ladder.

    Parameters
    ----------
    fitted : FittedResponse
        From :meth:`ResponseModel.fit`.
    ladder : sequence of (threshold_fen, amount_fen)
        The coupons offered together; threshold 0 means no threshold.
    users : DataFrame, optional
        Profiles (``basket_fen, distance_km, credit_tier, segment``); the run's
        users by default.

    Returns
    -------
    LadderPrediction

    Example
    -------
    >>> predict_ladder(fitted, [(30000, 5000)]).roi  # doctest: +SKIP
    """
    pairs = check_ladder(ladder)
    profile = user_profiles(fitted, users)
    scorer = CouponScorer(fitted, profile)
    p, amount = scorer.ladder(pairs)
    face = np.array([a for _, a in pairs], float)
    totals = summarise(p, amount, face, scorer.basket)
    by_coupon = pd.DataFrame(
        {
            "threshold_fen": [t for t, _ in pairs],
            "amount_fen": [a for _, a in pairs],
            "redemption_rate": p.mean(axis=0),
            "redemptions": p.sum(axis=0),
            "redeemed_amount_fen": (p * amount).sum(axis=0),
            "aov_fen": (p * amount).sum(axis=0) / p.sum(axis=0),
            "cost_fen": p.sum(axis=0) * face,
        }
    )
    return LadderPrediction(ladder=pairs, by_coupon=by_coupon, **totals)
