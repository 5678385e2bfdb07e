"""Campaign metrics: the seed's reported figures next to a holdout-based incremental ROI.

Reported metrics (per group, from the logs)
-------------------------------------------
* ``exposed_users``: distinct users with an exposed offer (``offers.exposed_at``).
* ``claimers``: distinct users holding an issued coupon (``status`` ``issued`` or
  ``compensated``); ``claim_conversion`` = claimers / exposed users.
* ``issued``: issued coupons; ``redeemed``: those with ``redeemed_at``;
  ``redemption_conversion`` = redeemed / issued (the seed's 核销转化率, 实际使用数 /
  领取总数).
* ``redeemed_amount_fen``: sum of ``orders.amount_fen`` (basket before discount) of the
  orders the redeemed coupons paid part of.
* ``cost_fen``: sum of the discounts given (``coupons.discount_fen``, else the order's
  ``discount_fen``). This is also the seed's *issuance cost*: the money the issuer funds.
* ``aov_fen``: mean order amount of the redeemed coupons (redeemed amount / redeemed).
* ``roi`` = (redeemed_amount_fen - cost_fen) / cost_fen, the seed's ROI (section 5)
  exactly, with issuance cost = cost_fen. It credits the coupon with every order it
  touched, including the orders that would have happened anyway.

Incremental metrics (run level, from a holdout)
-----------------------------------------------
When ``assignments`` holds the holdout experiment, users are randomised into a holdout
arm (no coupons) and treatment arm(s). Over the campaign period:

* per-user GMV = sum of ``orders.amount_fen`` (basket before discount), 0 for users
  without orders. Basket amounts, not paid amounts, so the incremental ROI is the
  seed's formula with "redeemed amount" replaced by "GMV the coupons caused": with paid
  amounts the discount would be subtracted twice.
* ``incremental_gmv_fen`` = (mean GMV per treatment user - mean GMV per holdout user) x
  treatment users, with a Welch interval (:func:`lab.experiments.compare`).
* ``cost_fen`` = discounts on the treatment users' orders in the period.
* ``incremental_roi`` = (incremental_gmv_fen - cost_fen) / cost_fen; its interval maps
  the GMV interval through the same formula (cost is observed, not estimated).
* ``incremental_orders`` = (mean orders per treatment user - mean per holdout user) x
  treatment users, with its Welch interval; ``cost_per_incremental_order_fen`` = cost /
  incremental orders, its interval the cost divided by the orders interval's ends
  (unbounded above when the orders interval reaches zero).
* Per assigned (treatment) user: the same figures divided by treatment users, so runs
  of different sizes compare (``*_per_user`` attributes).

Incremental figures are estimated at the holdout-experiment level only. The holdout
randomises users, not stocks or channels, and one user sees several stocks and
entries, so the GMV a single group caused is not identified; apportioning the total by
cost or redemptions would present an assumption as a measurement. Per group the
result reports the seed's ROI only.

Reported vs incremental
-----------------------
:meth:`MetricsResult.comparison` sets the seed's figures beside the incremental ones
over the same users: its reported row counts only the coupons and exposures of users
assigned to the treatment arm(s) the incremental figures use
(``IncrementalGMV.treatment_arms``), so a per-arm comparison does not set one arm's
incremental ROI against every arm's reported ROI. Without a holdout it is the whole
run's total. ``groups`` and ``total`` always cover every user.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lab import _filters
from lab._validate import check
from lab.cycle._cycle import group_label
from lab.experiments import ComparisonResult, MeanStats, compare
from lab.metrics._queries import arm_sums, reported_counts
from lab.store import Store

__all__ = ["IncrementalGMV", "MetricsResult", "campaign_metrics"]

FEN_PER_YUAN = 100
_COUNTS = ("exposed_users", "claimers", "issued", "redeemed")
_MONEY = ("redeemed_amount_fen", "cost_fen")


@dataclass(frozen=True)
class IncrementalGMV:
    """GMV the strategy caused, from a randomised holdout, and the incremental ROI.

    Attributes
    ----------
    experiment, holdout_arm : str
        The holdout experiment and its no-coupon arm.
    treatment_arms : tuple of str
        Arms pooled as treatment.
    period_start, period_end : datetime or None
        Orders with ``period_start <= ts < period_end`` count (``None``: unbounded).
    treatment_users, holdout_users : int
        Users assigned to each side.
    gmv_per_treatment_user_fen, gmv_per_holdout_user_fen : float
        Mean basket GMV per user in the period.
    incremental_gmv_fen, ci_low_fen, ci_high_fen : float
        (treatment mean - holdout mean) x treatment users, and its interval.
    cost_fen : int
        Discounts on the treatment users' orders in the period.
    incremental_roi, roi_ci_low, roi_ci_high : float
        (incremental GMV - cost) / cost and its interval; NaN without cost.
    p_value : float
        Welch test of no difference in GMV per user.
    alpha : float
        Intervals have level ``1 - alpha``.
    comparison : ComparisonResult
        The per-user comparison from :func:`lab.experiments.compare`.
    orders_per_treatment_user, orders_per_holdout_user : float
        Mean orders per user in the period.
    incremental_orders, orders_ci_low, orders_ci_high : float
        (treatment mean - holdout mean orders) x treatment users, and its interval.
    orders_p_value : float
        Welch test of no difference in orders per user.
    cost_per_incremental_order_fen, cpio_ci_low_fen, cpio_ci_high_fen : float
        cost / incremental orders; NaN when the estimate is not positive, and the
        upper end is ``inf`` when the orders interval reaches zero.
    orders_comparison : ComparisonResult
        The per-user comparison of orders.
    """

    experiment: str
    holdout_arm: str
    treatment_arms: tuple[str, ...]
    period_start: dt.datetime | None
    period_end: dt.datetime | None
    treatment_users: int
    holdout_users: int
    gmv_per_treatment_user_fen: float
    gmv_per_holdout_user_fen: float
    incremental_gmv_fen: float
    ci_low_fen: float
    ci_high_fen: float
    cost_fen: int
    incremental_roi: float
    roi_ci_low: float
    roi_ci_high: float
    p_value: float
    alpha: float
    comparison: ComparisonResult
    orders_per_treatment_user: float = np.nan
    orders_per_holdout_user: float = np.nan
    incremental_orders: float = np.nan
    orders_ci_low: float = np.nan
    orders_ci_high: float = np.nan
    orders_p_value: float = np.nan
    cost_per_incremental_order_fen: float = np.nan
    cpio_ci_low_fen: float = np.nan
    cpio_ci_high_fen: float = np.nan
    orders_comparison: ComparisonResult | None = None

    @property
    def incremental_gmv_per_user_fen(self) -> float:
        """Incremental GMV per treatment user (the per-user effect)."""
        return self.comparison.effect

    @property
    def gmv_per_user_std_error_fen(self) -> float:
        """Standard error of :attr:`incremental_gmv_per_user_fen`."""
        return self.comparison.std_error

    @property
    def cost_per_user_fen(self) -> float:
        """Coupon cost per treatment user."""
        return self.cost_fen / self.treatment_users if self.treatment_users else np.nan

    @property
    def incremental_orders_per_user(self) -> float:
        """Incremental orders per treatment user."""
        return self.orders_comparison.effect if self.orders_comparison else np.nan

    @property
    def gmv_per_cost(self) -> float:
        """Incremental GMV per yuan of coupon cost (= incremental ROI + 1)."""
        return self.incremental_roi + 1

    def to_frame(self) -> pd.DataFrame:
        """One row with every figure, money in fen and yuan."""
        skip = ("comparison", "orders_comparison")
        row = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in skip}
        for name in (
            "incremental_gmv_per_user_fen",
            "cost_per_user_fen",
            "incremental_orders_per_user",
            "gmv_per_cost",
        ):
            row[name] = getattr(self, name)
        row["treatment_arms"] = ", ".join(self.treatment_arms)
        frame = pd.DataFrame([row])
        return _with_yuan(
            frame,
            (
                "gmv_per_treatment_user_fen",
                "gmv_per_holdout_user_fen",
                "incremental_gmv_fen",
                "ci_low_fen",
                "ci_high_fen",
                "cost_fen",
                "cost_per_incremental_order_fen",
                "cpio_ci_low_fen",
                "cpio_ci_high_fen",
                "incremental_gmv_per_user_fen",
                "cost_per_user_fen",
            ),
        )


def _with_yuan(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Add ``*_yuan`` next to each ``*_fen`` column."""
    out = frame.copy()
    for col in columns:
        at = out.columns.get_loc(col) + 1
        out.insert(at, col.removesuffix("_fen") + "_yuan", out[col] / FEN_PER_YUAN)
    return out


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """num / den as float, NaN where den is 0."""
    den = den.astype(float)
    return num.astype(float) / den.where(den != 0)


def _derive(counts: pd.DataFrame) -> pd.DataFrame:
    """Rates, AOV and ROI from the counted columns; yuan next to fen."""
    out = counts.copy()
    for col in (*_COUNTS, *_MONEY):
        out[col] = out[col].fillna(0).astype("int64")
    out.insert(
        out.columns.get_loc("claimers") + 1,
        "claim_conversion",
        _ratio(out["claimers"], out["exposed_users"]),
    )
    out.insert(
        out.columns.get_loc("redeemed") + 1,
        "redemption_conversion",
        _ratio(out["redeemed"], out["issued"]),
    )
    out["aov_fen"] = _ratio(out["redeemed_amount_fen"], out["redeemed"])
    out["roi"] = _ratio(out["redeemed_amount_fen"] - out["cost_fen"], out["cost_fen"])
    return _with_yuan(out, ("redeemed_amount_fen", "cost_fen", "aov_fen"))


def _reported(
    store: Store,
    *,
    run: str,
    by: tuple[tuple[str, str, str], ...],
    start,
    end,
    arms: tuple[str, tuple[str, ...]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-group and total reported counts and their rates (see :mod:`._queries`).

    ``arms`` = ``(experiment, arm names)`` keeps only the offers and coupons of users
    assigned to those arms of that experiment in ``assignments``.
    """
    groups, total = reported_counts(store, run=run, by=by, start=start, end=end, arms=arms)
    return _derive(groups), _derive(total)


def _period(store: Store, run: str, start, end) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Campaign period: ``start``/``end`` if given, else the run's window."""
    info = store.run(run)
    lo = _filters.to_datetime(start, name="start")
    hi = _filters.to_datetime(end, name="end")
    first = info.get("start_date")
    if lo is None and not pd.isna(first):
        lo = pd.Timestamp(first).to_pydatetime()
    if hi is None and not pd.isna(first) and not pd.isna(info.get("days")):
        hi = (pd.Timestamp(first) + pd.Timedelta(days=int(info["days"]))).to_pydatetime()
    return lo, hi


def _incremental(
    store: Store,
    *,
    run: str,
    experiment: str,
    holdout_arm: str,
    treatment_arm: str | None,
    start,
    end,
    alpha: float,
) -> IncrementalGMV | None:
    """Holdout comparison of basket GMV per user; ``None`` without the experiment."""
    lo, hi = _period(store, run, start, end)
    arms = arm_sums(store, run=run, experiment=experiment, start=lo, end=hi)
    if arms.empty:
        return None
    found = arms["arm"].tolist()
    if holdout_arm not in found:
        raise ValueError(
            f"holdout_arm: experiment {experiment!r} has no arm {holdout_arm!r}; its arms "
            f"are {', '.join(found)}"
        )
    others = [a for a in found if a != holdout_arm]
    if treatment_arm is not None and treatment_arm not in others:
        raise ValueError(
            f"treatment_arm must be one of {others} (arms of {experiment!r} other than the "
            f"holdout) or None for all of them, got {treatment_arm!r}"
        )
    treated = (treatment_arm,) if treatment_arm is not None else tuple(others)
    if not treated:
        raise ValueError(f"experiment {experiment!r} has only the holdout arm {holdout_arm!r}")

    def stats(rows: pd.DataFrame, what: str = "gmv") -> MeanStats:
        return MeanStats(
            n=int(rows["users"].sum()),
            sum=float(rows[f"{what}_sum"].sum()),
            sum_squares=float(rows[f"{what}_sum_squares"].sum()),
        )

    hold_rows = arms[arms["arm"] == holdout_arm]
    hold = stats(hold_rows)
    treat_rows = arms[arms["arm"].isin(treated)]
    treat = stats(treat_rows)
    try:
        result = compare(hold, treat, alpha=alpha, metric_name="GMV per user (fen)")
        orders = compare(
            stats(hold_rows, "orders"),
            stats(treat_rows, "orders"),
            alpha=alpha,
            metric_name="orders per user",
        )
    except ValueError as exc:
        raise ValueError(
            f"incremental GMV from experiment {experiment!r}: {exc}; pass "
            "holdout_experiment=None for the reported metrics alone"
        ) from None
    scale = treat.n
    cost = int(treat_rows["cost_fen"].sum())
    gmv, low, high = result.effect * scale, result.ci_low * scale, result.ci_high * scale

    def roi(value: float) -> float:
        return (value - cost) / cost if cost else np.nan

    n_orders, orders_low, orders_high = (
        orders.effect * scale,
        orders.ci_low * scale,
        orders.ci_high * scale,
    )

    def per_order(value: float) -> float:
        # cost per incremental order grows without bound as the orders approach zero
        return cost / value if value > 0 else np.inf

    return IncrementalGMV(
        experiment=experiment,
        holdout_arm=holdout_arm,
        treatment_arms=treated,
        period_start=lo,
        period_end=hi,
        treatment_users=treat.n,
        holdout_users=hold.n,
        gmv_per_treatment_user_fen=treat.mean,
        gmv_per_holdout_user_fen=hold.mean,
        incremental_gmv_fen=gmv,
        ci_low_fen=low,
        ci_high_fen=high,
        cost_fen=cost,
        incremental_roi=roi(gmv),
        roi_ci_low=roi(low),
        roi_ci_high=roi(high),
        p_value=float(result.p_value),
        alpha=alpha,
        comparison=result,
        orders_per_treatment_user=orders.treatment_mean,
        orders_per_holdout_user=orders.control_mean,
        incremental_orders=n_orders,
        orders_ci_low=orders_low,
        orders_ci_high=orders_high,
        orders_p_value=float(orders.p_value),
        cost_per_incremental_order_fen=cost / n_orders if n_orders > 0 else np.nan,
        cpio_ci_low_fen=per_order(orders_high),
        cpio_ci_high_fen=per_order(orders_low),
        orders_comparison=orders,
    )


@dataclass(frozen=True)
class MetricsResult:
    """Reported campaign metrics per group, and the incremental ROI of the run.

    Attributes
    ----------
    run : str
        Run analysed.
    by : tuple of str
        Breakdown names.
    groups : DataFrame
        One row per group (see :func:`campaign_metrics` for the columns).
    total : DataFrame
        The same columns for the whole run, one row (users counted once).
    incremental : IncrementalGMV or None
        Holdout-based figures; ``None`` when the run has no holdout experiment.
    reported : DataFrame
        The columns of ``total``, one row, over the users the incremental figures
        measure: those assigned to ``incremental.treatment_arms`` of the holdout
        experiment (the whole run, i.e. ``total``, when ``incremental`` is ``None``).
        :meth:`comparison` reads its reported row from here, so both rows cover the
        same users.
    """

    run: str
    by: tuple[str, ...]
    groups: pd.DataFrame
    total: pd.DataFrame
    incremental: IncrementalGMV | None
    reported: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """One row per group: reported counts, conversions, money (fen and yuan), ROI."""
        return self.groups.copy()

    def comparison(self) -> pd.DataFrame:
        """Reported vs incremental, side by side, over the same users.

        Rows ``reported`` (redeemed amount, cost, the seed's ROI) and, with a
        holdout, ``incremental`` (incremental GMV, the treatment users' cost,
        incremental ROI with its interval). The reported row comes from
        :attr:`reported`: with a holdout it counts only the users of the treatment
        arm(s) the incremental row measures (``incremental.treatment_arms``), so
        ``treatment_arm="a"`` and ``"b"`` give different reported rows; without a
        holdout it is the whole run (:attr:`total`).

        Example
        -------
        >>> result.comparison()["measure"].tolist()  # doctest: +SKIP
        ['reported', 'incremental']
        """
        total = self.reported.iloc[0] if not self.reported.empty else None
        rows = [
            {
                "measure": "reported",
                "gmv_fen": float(total["redeemed_amount_fen"]) if total is not None else 0.0,
                "gmv_ci_low_fen": np.nan,
                "gmv_ci_high_fen": np.nan,
                "cost_fen": int(total["cost_fen"]) if total is not None else 0,
                "roi": float(total["roi"]) if total is not None else np.nan,
                "roi_ci_low": np.nan,
                "roi_ci_high": np.nan,
            }
        ]
        inc = self.incremental
        if inc is not None:
            rows.append(
                {
                    "measure": "incremental",
                    "gmv_fen": inc.incremental_gmv_fen,
                    "gmv_ci_low_fen": inc.ci_low_fen,
                    "gmv_ci_high_fen": inc.ci_high_fen,
                    "cost_fen": inc.cost_fen,
                    "roi": inc.incremental_roi,
                    "roi_ci_low": inc.roi_ci_low,
                    "roi_ci_high": inc.roi_ci_high,
                }
            )
        return _with_yuan(
            pd.DataFrame(rows), ("gmv_fen", "gmv_ci_low_fen", "gmv_ci_high_fen", "cost_fen")
        )

    def plot(self):
        """Bars: the seed's ROI per group, and reported vs incremental ROI with its CI.

        Example
        -------
        >>> result.plot()  # doctest: +SKIP
        """
        import holoviews as hv
        import holoviews.plotting.bokeh  # noqa: F401  (registers the backend .opts() needs)

        groups = self.groups.assign(
            group=[
                group_label(tuple(row))
                for row in self.groups[list(self.by)].itertuples(index=False)
            ]
        )
        per_group = hv.Bars(groups, "group", "roi").opts(
            title=f"Reported ROI by {', '.join(self.by) or 'run'}",
            xlabel=", ".join(self.by) or "run",
            ylabel="ROI (reported)",
            xrotation=45,
        )
        side = self.comparison()
        bars = hv.Bars(side, "measure", "roi").opts(
            title="Reported vs incremental ROI", ylabel="ROI", color="measure", cmap="Category10"
        )
        spread = side.dropna(subset=["roi_ci_low", "roi_ci_high"]).assign(
            below=lambda f: f["roi"] - f["roi_ci_low"], above=lambda f: f["roi_ci_high"] - f["roi"]
        )
        errors = hv.ErrorBars(spread, "measure", ["roi", "below", "above"])
        return (per_group + bars * errors).cols(2)


def campaign_metrics(
    store: Store,
    *,
    run: str,
    by: str | Sequence[str] | None = ("stock_id",),
    start=None,
    end=None,
    holdout_experiment: str | None = "holdout",
    holdout_arm: str = "holdout",
    treatment_arm: str | None = None,
    alpha: float = 0.05,
) -> MetricsResult:
    """The seed's campaign metrics per group, next to a holdout-based incremental ROI.

    Definitions are in :mod:`lab.metrics._metrics` (module docstring). Per group:
    ``exposed_users``, ``claimers``, ``claim_conversion``, ``issued``, ``redeemed``,
    ``redemption_conversion``, ``redeemed_amount_fen``/``_yuan``, ``cost_fen``/
    ``_yuan``, ``aov_fen``/``_yuan`` and ``roi`` = (redeemed amount - cost) / cost,
    the seed's formula with issuance cost = the discounts funded.

    Parameters
    ----------
    store : Store
        The store to read.
    run : str
        Run id.
    by : str or sequence of str, optional
        Breakdown: ``("stock_id",)``, ``("platform", "entry")``, ``"campaign"``,
        ``"segment"``...; ``None`` gives one row for the run.
    start, end : date, datetime or str, optional
        Exposures and claims in ``[start, end)``; also the incremental period, which
        otherwise is the run's ``[start_date, start_date + days)``.
    holdout_experiment : str or None
        Experiment in ``assignments`` with a no-coupon arm. Absent from the run (or
        ``None``): no incremental figures.
    holdout_arm : str
        Its no-coupon arm.
    treatment_arm : str, optional
        The arm compared with the holdout; ``None`` pools every other arm. It also
        selects the users of :attr:`MetricsResult.reported` (the reported row of
        :meth:`MetricsResult.comparison`); ``groups`` and ``total`` always cover
        every user of the run.
    alpha : float
        Intervals have level ``1 - alpha``.

    Returns
    -------
    MetricsResult

    Example
    -------
    >>> import lab
    >>> store = lab.Store(":memory:")
    >>> _ = store.create_run("r", origin="import")
    >>> campaign_metrics(store, run="r").total["issued"].tolist()
    [0]
    """
    check(locals())  # argument types and ranges, up front
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    _filters.require_run(store, run)
    breakdown = _filters.breakdowns(by)
    groups, total = _reported(store, run=run, by=breakdown, start=start, end=end)
    incremental = (
        None
        if holdout_experiment is None
        else _incremental(
            store,
            run=run,
            experiment=holdout_experiment,
            holdout_arm=holdout_arm,
            treatment_arm=treatment_arm,
            start=start,
            end=end,
            alpha=alpha,
        )
    )
    # the reported row of comparison() must count the users the incremental row does
    reported = (
        total
        if incremental is None
        else _reported(
            store,
            run=run,
            by=(),
            start=start,
            end=end,
            arms=(incremental.experiment, incremental.treatment_arms),
        )[1]
    )
    return MetricsResult(
        run=run,
        by=tuple(name for name, _, _ in breakdown),
        groups=groups,
        total=total,
        incremental=incremental,
        reported=reported,
    )
