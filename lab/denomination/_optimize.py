"""Search ladders of up to ``max_coupons`` coupons on a grid under a budget.

Every coupon 满T减A of the grid (``A < T``; ``T = 0`` is a no-threshold coupon)
is scored once per user and per better coupon it may share a ladder with
(see :mod:`lab.denomination._ladder`), and cached, so an exhaustive search
over all combinations is cheap. Every coupon of the searched ladders has the
per-user limit ``max_per_user``. Ladders holding a dominated coupon (no lower
threshold and no larger amount than another of the ladder) are skipped. The frontier keeps the ladders within budget
that no other ladder within budget beats on both redeemed amount (GMV through
coupons) and ROI.

Example
-------
>>> front = optimize_ladder(fitted, budget_fen=5_000_000)  # doctest: +SKIP
>>> front.best  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lab.denomination._ladder import (
    CouponScorer,
    is_dominated_free,
    label,
    summarise,
    user_profiles,
)
from lab.denomination._response import FittedResponse

__all__ = ["LadderFrontier", "optimize_ladder"]

DEFAULT_THRESHOLDS = (0, 5000, 10000, 15000, 20000, 30000)
DEFAULT_AMOUNTS = (500, 1000, 2000, 3000, 5000)


@dataclass(frozen=True)
class LadderFrontier:
    """All ladders searched and the efficient ones.

    ``table``: one row per ladder (``ladder`` label, ``coupons`` as a tuple of
    ``(threshold_fen, amount_fen, max_per_user)`` triples, ``n_coupons``, the totals of :class:`LadderPrediction`,
    ``within_budget``, ``on_frontier``), sorted by redeemed amount.
    ``best``: the frontier ladder with the largest redeemed amount.
    """

    budget_fen: float
    table: pd.DataFrame
    best: tuple[tuple[int, int, int], ...] | None

    @property
    def frontier(self) -> pd.DataFrame:
        """Ladders on the ROI-GMV frontier, by increasing redeemed amount."""
        return self.table[self.table["on_frontier"]].sort_values("redeemed_amount_fen")

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def plot(self):
        """ROI against redeemed amount for every ladder, the frontier as a line."""
        import holoviews as hv
        import holoviews.plotting.bokeh  # noqa: F401  (registers the backend .opts() needs)

        df = self.table.assign(
            redeemed_yuan=self.table["redeemed_amount_fen"] / 100,
            cost_yuan=self.table["cost_fen"] / 100,
        )
        vdims = ["roi", "ladder", "cost_yuan", "within_budget"]
        points = hv.Scatter(df, "redeemed_yuan", vdims).opts(
            color="within_budget", cmap={True: "#1f77b4", False: "#cccccc"}, size=6, tools=["hover"]
        )
        line = hv.Curve(
            df[df["on_frontier"]].sort_values("redeemed_yuan"), "redeemed_yuan", "roi"
        ).opts(color="#d62728")
        return (points * line).opts(
            title=f"Ladders within a budget of {self.budget_fen / 100:,.0f} yuan",
            xlabel="redeemed amount (yuan)",
            ylabel="ROI",
            width=700,
            height=380,
        )


def optimize_ladder(
    fitted: FittedResponse,
    *,
    budget_fen: float,
    thresholds: Sequence[int] = DEFAULT_THRESHOLDS,
    amounts: Sequence[int] = DEFAULT_AMOUNTS,
    max_coupons: int = 2,
    max_per_user: int = 1,
    users: pd.DataFrame | None = None,
) -> LadderFrontier:
    """Exhaustive search of ladders on the ``thresholds`` x ``amounts`` grid under a budget.

    Parameters
    ----------
    fitted : FittedResponse
    budget_fen : float
        Largest expected cost (discounts given) over ``users``, fen.
    thresholds, amounts : sequence of int
        Grid of thresholds (0 = no threshold) and face amounts, fen.
    max_coupons : int
        Largest number of coupons in a ladder (1 to 4).
    max_per_user : int
        Per-user limit of every coupon of the searched ladders (at least 1).
    users : DataFrame, optional
        Profiles to predict for; the run's users by default.

    Returns
    -------
    LadderFrontier
    """
    if not budget_fen > 0:
        raise ValueError(f"budget_fen must be > 0, got {budget_fen!r}")
    if max_coupons not in (1, 2, 3, 4):
        raise ValueError(f"max_coupons must be 1, 2, 3 or 4, got {max_coupons!r}")
    if isinstance(max_per_user, bool) or not isinstance(max_per_user, (int, np.integer)):
        raise ValueError(f"max_per_user must be an integer >= 1, got {max_per_user!r}")
    if max_per_user < 1:
        raise ValueError(f"max_per_user must be an integer >= 1, got {max_per_user!r}")
    coupons = sorted(
        {
            (int(t), int(a), int(max_per_user))
            for t in thresholds
            for a in amounts
            if a > 0 and t >= 0 and (t == 0 or a < t)
        }
    )
    if not coupons:
        raise ValueError(
            "thresholds and amounts give no valid coupon (amount must be below threshold)"
        )
    scorer = CouponScorer(fitted, user_profiles(fitted, users))
    records = []
    for size in range(1, max_coupons + 1):
        for ladder in itertools.combinations(coupons, size):
            if not is_dominated_free(ladder):
                continue  # a coupon no one would use adds nothing
            totals = summarise(scorer, ladder)
            del totals["rungs"]
            records.append(
                {"ladder": label(ladder), "coupons": ladder, "n_coupons": size, **totals}
            )
    table = pd.DataFrame(records)
    table["within_budget"] = table["cost_fen"] <= budget_fen
    table["on_frontier"] = _pareto(table, table["within_budget"].to_numpy())
    table = table.sort_values("redeemed_amount_fen", ignore_index=True)
    front = table[table["on_frontier"]]
    best = None if front.empty else front.loc[front["redeemed_amount_fen"].idxmax(), "coupons"]
    return LadderFrontier(budget_fen=float(budget_fen), table=table, best=best)


def _pareto(table: pd.DataFrame, eligible: np.ndarray) -> np.ndarray:
    """Eligible rows not dominated on (redeemed amount, ROI) by another eligible row."""
    gmv = table["redeemed_amount_fen"].to_numpy()
    roi = table["roi"].to_numpy()
    out = np.zeros(len(table), bool)
    idx = np.flatnonzero(eligible)
    for i in idx:
        others = idx[idx != i]
        dominated = (
            (gmv[others] >= gmv[i])
            & (roi[others] >= roi[i])
            & ((gmv[others] > gmv[i]) | (roi[others] > roi[i]))
        )
        out[i] = not dominated.any()
    return out
