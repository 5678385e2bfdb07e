"""Coupon response model: how many coupons users claim, who redeems which denomination,
and for how much.

Two statsmodels fits over the issued coupons of a run, and one count distribution:

Redemption (GLM Binomial, logit link), one row per issued coupon::

    redeemed ~ 1 + log_threshold_ratio + log_value + log_distance + credit_tier
                 + segment[active] + segment[lapsed] + better_held + better_gap

Order amount given redemption (GLM Gamma, log link), one row per redeemed coupon::

    amount / basket ~ 1 + log_threshold + log_threshold_ratio
                        + segment[active] + segment[lapsed] + better_held + better_gap

Claims: how many coupons of a stock users try to claim (issued, or refused only
for the per-user limit), zeros included, as a Poisson mixture over user claim
rates fitted by nonparametric maximum likelihood (:mod:`lab.denomination._claims`).

with, for a user whose usual basket is ``basket`` (median pre-period order
without a coupon: the "basket median proxy") and a coupon 满T减A:

- ``log_threshold_ratio = log(max(T, 1 yuan) / basket)``: how far the
  threshold sits from what the user usually spends;
- ``log_threshold = log(max(T, 1 yuan) / 1 yuan)``. With both threshold terms
  the amount model reads ``E[amount] ∝ basket^(1 - b_ratio) * T^(b_threshold + b_ratio)``:
  ``1 - b_ratio`` is the elasticity of the order amount to the user's basket at a
  given threshold, ``b_threshold + b_ratio`` its elasticity to the threshold (top-up,
  bunching). One shared slope cannot hold both: a 满300 coupon binds most baskets
  (amounts pile up at the threshold) while a 满100 one binds few, and the
  baskets of a coupon's category need not be the user's usual basket;
- ``gap = max(0, log(T / basket))``: the top-up needed to reach the threshold
  (available to :func:`design_matrix`, not a term of the fitted models);
- ``log_value = log(A / 1 yuan)``: the face value (for discount coupons the
  expected saving on the user's basket). The seed's "amount / threshold" is
  constant within a stock, so on a run with two stocks it is collinear with the
  intercept and the threshold; the face value, whose effect the threshold term
  separates through the spread of baskets, is identified;
- ``log_distance = log(1 + distance_km)`` (LBS), ``credit_tier`` 1-5;
- ``better_held`` (the user also holds a coupon with a higher threshold and a
  higher amount) and ``better_gap = log(T_better / basket)``: a user holding a
  better coupon uses it whenever the basket reaches its threshold, so the
  smaller coupon of a ladder is redeemed less, on smaller baskets. Without
  these terms that cannibalisation would be read as a threshold effect;
  ``predict_ladder`` sets them from the ladder's own coupons.

The amount model is fitted on the mean scale (Gamma, log link) because the
ladder's totals are sums of expected amounts: a log-scale OLS would need a
retransformation (``exp(sigma**2 / 2)``) that is wrong when the spread differs
between coupons (orders of a binding threshold bunch at it, others do not).
The predicted amount is ``basket * exp(x'b)``, never below the threshold (a
coupon order must reach it).

The claims model is what turns per-coupon probabilities into per-user figures:
a user holds ``min(claims, max_per_user)`` copies of a coupon, each redeemed on
its own order, and holds a ladder's smaller rung without its better one as often
as the claim rates say. Without it a ladder would be predicted as one coupon of
each rung per user, whatever the stocks' per-user limits and reach.

Example
-------
>>> fitted = ResponseModel.fit(store, run="denomination_split-s0")  # doctest: +SKIP
>>> fitted.summary_frame()  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lab import schema
from lab.denomination._claims import claim_counts, fit_claim_classes

__all__ = ["FittedResponse", "ResponseModel", "design_matrix"]

_MIN_THRESHOLD_FEN = 100  # no-threshold coupons still need an order of 1 yuan or so
REDEMPTION_TERMS = (
    "const",
    "log_threshold_ratio",
    "log_value",
    "log_distance",
    "credit_tier",
    "segment[active]",
    "segment[lapsed]",
    "better_held",
    "better_gap",
)
AMOUNT_TERMS = (
    "const",
    "log_threshold",
    "log_threshold_ratio",
    "segment[active]",
    "segment[lapsed]",
    "better_held",
    "better_gap",
)


def design_matrix(frame: pd.DataFrame, terms) -> pd.DataFrame:
    """Regressors of the response model for rows with ``threshold_fen``, ``amount_fen``
    (or ``value_fen``), ``basket_fen``, ``distance_km``, ``credit_tier``, ``segment`` and
    optionally ``better_threshold_fen`` (NaN or absent: no better coupon held).

    Example
    -------
    >>> row = pd.DataFrame({"threshold_fen": [30000], "amount_fen": [5000], "basket_fen": [15000],
    ...                     "distance_km": [0.0], "credit_tier": [3], "segment": ["active"]})
    >>> round(float(design_matrix(row, ["gap"])["gap"].iloc[0]), 4)
    0.6931
    """
    threshold = frame["threshold_fen"].to_numpy(float)
    basket = frame["basket_fen"].to_numpy(float)
    value = frame["value_fen" if "value_fen" in frame else "amount_fen"].to_numpy(float)
    better = (
        frame["better_threshold_fen"].to_numpy(float)
        if "better_threshold_fen" in frame
        else np.full(len(frame), np.nan)
    )
    held = ~np.isnan(better)
    segment = frame["segment"].astype(object).to_numpy()
    columns = {
        "const": np.ones(len(frame)),
        "log_threshold_ratio": np.log(np.maximum(threshold, _MIN_THRESHOLD_FEN) / basket),
        "log_threshold": np.log(np.maximum(threshold, _MIN_THRESHOLD_FEN) / 100.0),
        "gap": np.maximum(0.0, np.log(np.maximum(threshold, 1.0) / basket)),
        "log_value": np.log(np.maximum(value, 1.0) / 100.0),
        "log_distance": np.log1p(frame["distance_km"].to_numpy(float)),
        "credit_tier": frame["credit_tier"].to_numpy(float),
        "segment[active]": (segment == "active").astype(float),
        "segment[lapsed]": (segment == "lapsed").astype(float),
        "better_held": held.astype(float),
        "better_gap": np.where(held, np.log(np.where(held, better, 1.0) / basket), 0.0),
    }
    return pd.DataFrame({t: columns[t] for t in terms}, index=frame.index)


@dataclass(frozen=True)
class FittedResponse:
    """A fitted :class:`ResponseModel`.

    ``redemption_params`` and ``amount_params`` are the coefficients (terms not
    estimable on the run, e.g. constant columns, are left out and count as 0);
    ``amount_dispersion`` is the Gamma dispersion of the amount model (the
    squared coefficient of variation of ``amount / basket`` around its mean).
    ``claims`` is the claims model (:mod:`lab.denomination._claims`): classes of
    users (index: claim rate) by claims on one stock (columns 0 .. N), entries
    ``P(class) * P(n | class)``, summing to 1; a user's claims on the rungs of a
    ladder are independent given the class. See :meth:`expected_issued`.
    ``users`` holds the profile the predictions use (``user_id, basket_fen,
    distance_km, credit_tier, segment``); ``data`` the training rows.
    """

    redemption_params: pd.Series
    amount_params: pd.Series
    amount_dispersion: float
    claims: pd.DataFrame
    users: pd.DataFrame
    summary: pd.DataFrame
    data: pd.DataFrame

    def summary_frame(self) -> pd.DataFrame:
        """Coefficients with standard errors, tests and 95 % intervals, both models."""
        return self.summary.copy()

    def redemption_probability(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted probability that each row's coupon is redeemed."""
        x = design_matrix(frame, self.redemption_params.index)
        return 1.0 / (1.0 + np.exp(-(x.to_numpy() @ self.redemption_params.to_numpy())))

    def expected_amount(self, frame: pd.DataFrame) -> np.ndarray:
        """Expected order amount given redemption, fen (at least the threshold)."""
        x = design_matrix(frame, self.amount_params.index)
        mu = x.to_numpy() @ self.amount_params.to_numpy()
        amount = frame["basket_fen"].to_numpy(float) * np.exp(mu)
        return np.maximum(amount, frame["threshold_fen"].to_numpy(float))

    def expected_issued(self, max_per_user: int) -> float:
        """Expected coupons a user holds of a stock limited to ``max_per_user`` per user,
        ``E[min(claims, max_per_user)]`` over the claims distribution.

        Example
        -------
        >>> fitted.expected_issued(1)  # share of users claiming at least once  # doctest: +SKIP
        """
        if isinstance(max_per_user, bool) or not isinstance(max_per_user, (int, np.integer)):
            raise ValueError(f"max_per_user must be an integer >= 1, got {max_per_user!r}")
        if max_per_user < 1:
            raise ValueError(f"max_per_user must be an integer >= 1, got {max_per_user!r}")
        n = self.claims.columns.to_numpy(float)
        return float((self.claims.to_numpy(float) @ np.minimum(n, max_per_user)).sum())

    def plot(self):
        """Coefficients with 95 % intervals, one panel per model."""
        import holoviews as hv
        import holoviews.plotting.bokeh  # noqa: F401  (registers the backend .opts() needs)

        df = self.summary.copy()
        df["minus"] = df["coef"] - df["ci_low"]
        df["plus"] = df["ci_high"] - df["coef"]
        panels = [
            (
                hv.ErrorBars(part, "term", ["coef", "minus", "plus"])
                * hv.Scatter(part, "term", "coef").opts(size=7, tools=["hover"])
            ).opts(title=f"{model} model", xrotation=30, width=450, height=320)
            for model, part in df.groupby("model", sort=False)
        ]
        return hv.Layout(panels).cols(2)


class ResponseModel:
    """Fit the redemption and order-amount models from a run's logs (see the module docstring).

    Example
    -------
    >>> fitted = ResponseModel.fit(store, run="denomination_split-s0")  # doctest: +SKIP
    """

    @classmethod
    def fit(cls, store, *, run: str) -> FittedResponse:
        """Fit both models on the issued coupons of ``run``.

        Parameters
        ----------
        store : lab.Store
        run : str
            A run with issued coupons (and ideally a pre-period for the basket proxy).

        Returns
        -------
        FittedResponse
        """
        import statsmodels.api as sm

        users = _user_profiles(store, run)
        coupons = store.query(
            """
            WITH issued AS (
                SELECT * FROM coupons WHERE run_id = $run AND status <> 'refused'
            ),
            better AS (  -- lowest threshold among the user's coupons that beat this one
                SELECT c.coupon_id, min(b.transaction_minimum_fen) AS better_threshold_fen
                FROM issued c JOIN issued b ON b.user_id = c.user_id
                 AND b.transaction_minimum_fen > c.transaction_minimum_fen
                 AND b.amount_fen > c.amount_fen
                GROUP BY c.coupon_id
            )
            SELECT c.user_id, c.transaction_minimum_fen AS threshold_fen, c.amount_fen,
                   s.stock_type, s.discount_rate, CAST(bt.better_threshold_fen AS DOUBLE)
                       AS better_threshold_fen,
                   CAST(c.redeemed_at IS NOT NULL AND o.order_id IS NOT NULL AS INTEGER) AS redeemed,
                   o.amount_fen AS order_amount_fen
            FROM issued c
            JOIN stocks s ON s.run_id = c.run_id AND s.stock_id = c.stock_id
            LEFT JOIN better bt ON bt.coupon_id = c.coupon_id
            LEFT JOIN orders o ON o.run_id = c.run_id AND o.order_id = c.order_id
            ORDER BY c.coupon_id
            """,
            {"run": run},
        )
        if coupons.empty:
            raise ValueError(f"run {run!r} has no issued coupons to fit a response model on")
        data = coupons.merge(users, on="user_id", how="left")
        data["threshold_fen"] = data["threshold_fen"].fillna(0).astype(float)
        data["amount_fen"] = data["amount_fen"].astype(float)
        data["value_fen"] = np.where(
            data["stock_type"].astype(object) == "discount",
            (1.0 - data["discount_rate"].astype(float)) * data["basket_fen"],
            data["amount_fen"],
        )
        data = data.dropna(subset=["value_fen"]).reset_index(drop=True)

        x = _estimable(design_matrix(data, REDEMPTION_TERMS))
        y = data["redeemed"].to_numpy(float)
        if y.min() == y.max():
            raise ValueError(
                f"run {run!r}: every issued coupon has the same outcome; nothing to fit"
            )
        redemption = sm.GLM(y, x, family=sm.families.Binomial()).fit()

        red = data[data["redeemed"] == 1]
        if len(red) < len(AMOUNT_TERMS) + 2:
            raise ValueError(
                f"run {run!r} has only {len(red)} redeemed coupons; too few to fit amounts"
            )
        xa = _estimable(design_matrix(red, AMOUNT_TERMS))
        ya = red["order_amount_fen"].to_numpy(float) / red["basket_fen"].to_numpy(float)
        amount = sm.GLM(ya, xa, family=sm.families.Gamma(sm.families.links.Log())).fit()

        summary = pd.concat(
            [_summary("redemption (logit)", redemption), _summary("amount (Gamma log)", amount)],
            ignore_index=True,
        )
        return FittedResponse(
            redemption_params=redemption.params,
            amount_params=amount.params,
            amount_dispersion=float(amount.scale),
            claims=fit_claim_classes(claim_counts(store, run)),
            users=users,
            summary=summary,
            data=data,
        )


def _estimable(x: pd.DataFrame) -> pd.DataFrame:
    """Drop regressors that are constant (besides the intercept) on this run."""
    keep = [c for c in x.columns if c == "const" or x[c].nunique() > 1]
    return x[keep]


def _summary(model: str, res) -> pd.DataFrame:
    ci = res.conf_int(0.05)
    return pd.DataFrame(
        {
            "model": model,
            "term": res.params.index,
            "coef": res.params.to_numpy(),
            "std_err": res.bse.to_numpy(),
            "statistic": res.tvalues.to_numpy(),
            "p_value": res.pvalues.to_numpy(),
            "ci_low": ci.iloc[:, 0].to_numpy(),
            "ci_high": ci.iloc[:, 1].to_numpy(),
        }
    )


def _user_profiles(store, run: str) -> pd.DataFrame:
    """Every user of the run with the profile the model needs, gaps filled with medians.

    ``basket_fen`` is the median amount of the user's pre-period orders without a
    coupon (all coupon-free orders when the run has no pre-period), or the median
    over all users' coupon-free orders when the user has none.
    """
    info = store.run(run)
    start, pre_days = info.get("start_date"), info.get("pre_days")
    has_pre = (
        start is not None
        and not pd.isna(start)
        and pre_days is not None
        and not pd.isna(pre_days)
        and pre_days > 0
    )
    # without a pre-period every coupon-free order counts
    cutoff = pd.Timestamp(start).to_pydatetime() if has_pre else dt.datetime(9999, 1, 1)
    schema.table("users").column("segment")  # the columns read below are part of the contract
    users = store.query(
        """
        WITH b AS (
            SELECT user_id, median(amount_fen) AS basket_fen
            FROM orders WHERE run_id = $run AND coupon_id IS NULL AND ts < $cutoff
            GROUP BY user_id
        )
        SELECT u.user_id, CAST(b.basket_fen AS DOUBLE) AS basket_fen, u.distance_km,
               CAST(u.credit_tier AS DOUBLE) AS credit_tier, CAST(u.segment AS VARCHAR) AS segment
        FROM users u LEFT JOIN b ON b.user_id = u.user_id
        WHERE u.run_id = $run
        ORDER BY u.user_id
        """,
        {"run": run, "cutoff": cutoff},
    )
    if users.empty:
        raise ValueError(f"run {run!r} has no users")
    overall = store.query(
        "SELECT median(amount_fen) AS m FROM orders WHERE run_id = ? AND coupon_id IS NULL AND ts < ?",
        [run, cutoff],
    )["m"].iloc[0]
    if overall is None or pd.isna(overall):
        raise ValueError(f"run {run!r} has no coupon-free orders to estimate baskets from")
    users["basket_fen"] = users["basket_fen"].fillna(float(overall))
    users["distance_km"] = users["distance_km"].fillna(users["distance_km"].median()).fillna(0.0)
    users["credit_tier"] = users["credit_tier"].fillna(users["credit_tier"].median()).fillna(3.0)
    users["segment"] = users["segment"].astype(object).fillna("active")
    return users
