"""Push fatigue: does the claim rate per push fall as a user gets more pushes a day?

Definition (the same as ``lab.calibration.measure_c13``'s ``fatigue_slope``)
---------------------------------------------------------------------------
* One observation per user and calendar day with at least one delivered offer of the
  entry (``offers.entry``, and ``offers.platform`` when ``platform`` is given):
  ``pushes`` = offers delivered to the user that day, claim rate = those of them with a
  claim (``claimed_at`` set, whatever the claim's outcome) ÷ ``pushes``.
* ``slope``: the OLS slope of the claim rate on ``pushes`` (with an intercept) over
  those user-days. A negative slope is fatigue.
* Its standard error is **cluster-robust by user** (the user-days of one user share the
  user's taste for coupons, so they are not independent), with statsmodels' usual
  small-sample factor ``G/(G-1) · (N-1)/(N-2)`` (G users, N user-days); the interval is
  the normal one, as statsmodels gives for a cluster covariance.

The engine (DuckDB, Spark...: one Ibis expression) reduces the user-days to one row per user and push count (number of days, sum
of the rates); statsmodels' WLS on those rows, weighted by the number of days, has
exactly the OLS estimates, bread and per-user scores of the user-day regression.

Example
-------
>>> import lab
>>> from lab.metrics import push_fatigue
>>> store = lab.Store(":memory:")
>>> _ = store.create_run("r", origin="import")
>>> push_fatigue(store, run="r").to_frame().empty
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lab import _filters, schema
from lab._validate import check
from lab.engines import session
from lab.engines._expr import in_window

ENTRIES = tuple(sorted({e for es in schema.ENTRIES.values() for e in es}))
PLATFORMS = tuple(schema.ENTRIES)
COV_TYPE = "cluster-robust by user"


@dataclass(frozen=True, eq=False)
class PushFatigue:
    """Claim rate per number of pushes a day, and the fitted fatigue slope.

    Attributes
    ----------
    table : DataFrame
        One row per number of pushes a day: ``pushes``, ``user_days``, ``offers``,
        ``claims`` and ``claim_rate`` (mean over the user-days of claims ÷ pushes).
    slope, intercept : float
        OLS line of the claim rate on pushes over user-days (NaN with fewer than two
        different push counts).
    slope_se, ci_low, ci_high, p_value : float
        Cluster-robust (by user) standard error, ``1 - alpha`` normal interval and
        two-sided p-value of the slope (NaN with fewer than two users).
    users, user_days : int
        Clusters and observations of the regression.
    """

    run: str
    entry: str
    platform: str | None
    alpha: float
    cov_type: str
    slope: float
    intercept: float
    slope_se: float
    ci_low: float
    ci_high: float
    p_value: float
    users: int
    user_days: int
    table: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """The per-(pushes per day) claim-rate table."""
        return self.table.copy()

    def plot(self):
        """Claim rate against pushes per day (point size: user-days), with the OLS line."""
        import holoviews as hv
        import holoviews.plotting.bokeh  # noqa: F401  (registers the backend .opts() needs)

        df = self.table.assign(
            size=4 + 16 * np.sqrt(self.table["user_days"] / max(1, self.user_days))
        )
        where = f"{self.platform} {self.entry}" if self.platform else self.entry
        points = hv.Scatter(df, "pushes", ["claim_rate", "user_days", "size"]).opts(
            size="size", tools=["hover"]
        )
        xs = np.array([df["pushes"].min(), df["pushes"].max()]) if len(df) else np.array([])
        line = hv.Curve((xs, self.intercept + self.slope * xs), "pushes", "claim_rate").opts(
            color="firebrick"
        )
        title = (
            f"Push fatigue ({where}): slope {self.slope:+.4f} "
            f"[{self.ci_low:+.4f}, {self.ci_high:+.4f}] per push"
        )
        return (points * line).opts(
            title=title, width=700, height=350, xlabel="pushes per day", ylabel="claim rate"
        )


def push_fatigue(
    store,
    *,
    run: str,
    entry: str = "app_push",
    platform: str | None = None,
    start=None,
    end=None,
    alpha: float = 0.05,
) -> PushFatigue:
    """Claim rate per push against pushes per user-day, with a cluster-robust OLS slope.

    Parameters
    ----------
    store : lab.Store
    run : str
        Run to analyse.
    entry : str
        Entry point of the offers counted as pushes (one of the schema's entries).
    platform : str, optional
        Keep only offers of this platform; None: any platform.
    start, end : date-like, optional
        Only offers delivered in ``start <= delivered_at < end`` count.
    alpha : float
        The interval has coverage ``1 - alpha``.

    Returns
    -------
    PushFatigue

    Example
    -------
    >>> import lab
    >>> from lab.metrics import push_fatigue
    >>> store = lab.Store(":memory:")
    >>> _ = store.create_run("r", origin="import")
    >>> res = push_fatigue(store, run="r", platform="meituan")
    >>> res.users, bool(np.isnan(res.slope))
    (0, True)
    """
    check(locals())  # argument types and ranges, up front
    _filters.require_run(store, run)
    if entry not in ENTRIES:
        raise ValueError(f"entry must be one of {ENTRIES}, got {entry!r}")
    if platform is not None and platform not in PLATFORMS:
        raise ValueError(f"platform must be None or one of {PLATFORMS}, got {platform!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, float | int) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a number strictly between 0 and 1, got {alpha!r}")
    rows = _user_push_rows(store, run=run, entry=entry, platform=platform, start=start, end=end)
    grouped = rows.groupby("pushes", sort=True)
    table = pd.DataFrame(
        {
            "user_days": grouped["user_days"].sum(),
            "claims": grouped["claims"].sum(),
            "rate_sum": grouped["rate_sum"].sum(),
        }
    ).reset_index()
    table["pushes"] = table["pushes"].astype("int64")
    table["user_days"] = table["user_days"].astype("int64")
    table["claims"] = table["claims"].astype("int64")
    table["offers"] = table["pushes"] * table["user_days"]
    table["claim_rate"] = table["rate_sum"] / table["user_days"]
    table = table[["pushes", "user_days", "offers", "claims", "claim_rate"]]
    fit = _fit(rows, alpha)
    return PushFatigue(
        run=run,
        entry=entry,
        platform=platform,
        alpha=float(alpha),
        cov_type=COV_TYPE,
        table=table,
        users=int(rows["user_id"].nunique()),
        user_days=int(rows["user_days"].sum()),
        **fit,
    )


def _user_push_rows(store, *, run, entry, platform, start, end) -> pd.DataFrame:
    """One row per user and push count: the sufficient statistics of the user-day OLS."""
    with session(store) as db:
        offers = db.table("offers")
        offers = offers.filter(
            *in_window(offers, run=run, start=start, end=end, ts_col="delivered_at"),
            offers.entry == entry,
            *([offers.platform == platform] if platform is not None else []),
        )
        user_days = offers.group_by(offers.user_id, day=offers.delivered_at.date()).agg(
            pushes=offers.count(), claims=offers.claimed_at.count()
        )
        rows = user_days.group_by(user_days.user_id, user_days.pushes).agg(
            user_days=user_days.count(),
            claims=user_days.claims.sum(),
            rate_sum=(user_days.claims / user_days.pushes).sum(),
        )
        return db.execute(rows.order_by(["user_id", "pushes"]))


def _fit(rows: pd.DataFrame, alpha: float) -> dict[str, float]:
    """WLS on the (user, pushes) rows; the cluster covariance scaled to the user-days'."""
    import statsmodels.api as sm
    from scipy import stats

    nan = {k: np.nan for k in ("slope", "intercept", "slope_se", "ci_low", "ci_high", "p_value")}
    if rows["pushes"].nunique() < 2:
        return nan
    x = sm.add_constant(rows["pushes"].to_numpy(dtype=float))
    w = rows["user_days"].to_numpy(dtype=float)
    y = rows["rate_sum"].to_numpy(dtype=float) / w
    groups = pd.factorize(rows["user_id"])[0]
    n_users, n = int(groups.max()) + 1, w.sum()
    out = dict(nan)
    if n_users < 2 or n <= 2:
        fit = sm.WLS(y, x, weights=w).fit()
        out.update(slope=float(fit.params[1]), intercept=float(fit.params[0]))
        return out
    # statsmodels' own factor would count the aggregated rows, not the user-days
    fit = sm.WLS(y, x, weights=w).fit(
        cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False}
    )
    cov = fit.cov_params()[1, 1] * n_users / (n_users - 1) * (n - 1) / (n - 2)
    se = float(np.sqrt(cov))
    slope = float(fit.params[1])
    z = stats.norm.ppf(1 - alpha / 2)
    out.update(
        slope=slope,
        intercept=float(fit.params[0]),
        slope_se=se,
        ci_low=slope - z * se,
        ci_high=slope + z * se,
        p_value=float(2 * stats.norm.sf(abs(slope) / se)) if se > 0 else np.nan,
    )
    return out
