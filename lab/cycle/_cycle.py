"""Redemption cycle: days from issue to redemption as time-to-event data.

Each issued coupon is one subject. Its clock starts when the coupon lands in the
wallet (``coupons.issued_at``, or ``claimed_at`` when the log has no issue time) and
stops at redemption (the event) or, unredeemed, at the first of its expiry
(``expired_at``, else ``valid_until``) and the end of the data (censoring). DuckDB
reduces the coupons to one row per distinct (group, duration, redeemed) with a count;
Kaplan-Meier curves (``statsmodels.duration.survfunc.SurvfuncRight`` with frequency
weights, which is exact) and the log-rank test (``survdiff``) run in Python.

Treating expiry as censoring makes the Kaplan-Meier curve the redemption-time
distribution a coupon would follow if it never expired; the raw shares next to it
(``share_redeemed``, ``share_redeemed_by_expiry``) say what actually happened.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from lab import _filters, schema
from lab._validate import check
from lab.store import Store

__all__ = ["CycleComparison", "CycleResult", "compare_cycles", "redemption_cycle"]

_MICROSECONDS_PER_DAY = 86_400_000_000
WEIGHT_TYPES = (None, "gb", "tw")
MISSING = "(none)"


def _expand(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per-coupon durations and event flags from (duration, outcome, coupons) rows.

    SurvfuncRight's frequency-weight path switches to Tsiatis' variance, which is not
    Greenwood's; expanding the counts keeps the textbook standard errors exactly.
    """
    counts = rows["coupons"].to_numpy(dtype=np.int64)
    time = np.repeat(rows["duration_days"].to_numpy(dtype=float), counts)
    event = np.repeat((rows["outcome"] == "redeemed").to_numpy(dtype=float), counts)
    return time, event


def _restricted_mean(times: np.ndarray, surv: np.ndarray, horizon: float) -> float:
    """Area under the Kaplan-Meier step function from 0 to ``horizon`` (days)."""
    keep = times < horizon
    edges = np.concatenate([[0.0], times[keep], [horizon]])
    heights = np.concatenate([[1.0], surv[keep]])
    return float(np.sum(heights * np.diff(edges)))


def _loglog_band(surv: np.ndarray, se: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise log-log confidence band for S(t); degenerate where S is 0 or 1."""
    low, high = surv.copy(), surv.copy()
    ok = (surv > 0) & (surv < 1) & np.isfinite(se)
    s = surv[ok]
    half = z * se[ok] / (s * np.abs(np.log(s)))
    theta = np.log(-np.log(s))
    low[ok] = np.exp(-np.exp(theta + half))
    high[ok] = np.exp(-np.exp(theta - half))
    return low, high


def _fit_group(
    rows: pd.DataFrame, *, horizon: float, alpha: float
) -> tuple[dict[str, float], pd.DataFrame]:
    """Summary numbers and the share-redeemed curve of one group."""
    time, event = _expand(rows)
    n = len(time)
    redeemed = int(event.sum())
    expired = int(rows.loc[rows["outcome"] == "expired", "coupons"].sum())
    summary: dict[str, float] = {
        "coupons": n,
        "redeemed": redeemed,
        "expired": expired,
        "open_at_end": n - redeemed - expired,
        "share_redeemed": redeemed / n if n else np.nan,
        "share_redeemed_by_expiry": (
            redeemed / (redeemed + expired) if redeemed + expired else np.nan
        ),
        "mean_cycle_days": float(time[event == 1].mean()) if redeemed else np.nan,
    }
    curve = pd.DataFrame(
        {
            "time_days": [0.0],
            "share_redeemed": [0.0],
            "ci_low": [0.0],
            "ci_high": [0.0],
            "at_risk": [n],
            "redeemed": [0],
        }
    )
    if redeemed == 0:
        # no event: the curve stays flat at 0 and no quantile exists
        summary |= {
            "restricted_mean_days": horizon,
            "median_cycle_days": np.nan,
            "median_ci_low": np.nan,
            "median_ci_high": np.nan,
        }
        return summary, curve
    sf = SurvfuncRight(time, event)
    surv = np.asarray(sf.surv_prob, dtype=float)
    times = np.asarray(sf.surv_times, dtype=float)
    low, high = _loglog_band(
        surv, np.asarray(sf.surv_prob_se, dtype=float), stats.norm.ppf(1 - alpha / 2)
    )
    median_low, median_high = _median_ci(sf, alpha)
    summary |= {
        "restricted_mean_days": _restricted_mean(times, surv, horizon),
        "median_cycle_days": float(sf.quantile(0.5)),
        "median_ci_low": median_low,
        "median_ci_high": median_high,
    }
    steps = pd.DataFrame(
        {
            "time_days": times,
            "share_redeemed": 1 - surv,
            "ci_low": 1 - high,
            "ci_high": 1 - low,
            "at_risk": np.asarray(sf.n_risk, dtype=np.int64),
            "redeemed": np.asarray(sf.n_events, dtype=np.int64),
        }
    )
    return summary, pd.concat([curve, steps], ignore_index=True)


def _median_ci(sf: SurvfuncRight, alpha: float) -> tuple[float, float]:
    """statsmodels' cloglog interval for the median; NaN where it is not defined."""
    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = sf.quantile_ci(0.5, alpha=alpha)
    return float(low), float(high)


# Breakdowns read from the coupon (or offer) row itself when it has them: they equal the
# stock's values in synthetic runs, and imported logs may have no `stocks` rows.
OWN_COLUMNS = ("platform", "entry", "stock_id", "user_id")


def group_sql(
    by: tuple[tuple[str, str, str], ...], *, src: str, src_table: str
) -> tuple[list[str], list[str]]:
    """Select expressions (aliased by breakdown name) and joins for breakdowns of ``src``.

    ``by`` comes from :func:`lab._filters.breakdowns`, so every table and column is a
    documented one. ``src`` is the alias of a ``src_table`` row carrying ``run_id``,
    ``user_id`` and ``stock_id``. The names in :data:`OWN_COLUMNS`, and breakdowns
    that resolve to ``events``, are read from ``src`` itself; others join ``users``
    or ``stocks``.
    """
    own = schema.table(src_table).column_names
    exprs, tables = [], set()
    for name, table_name, column in by:
        if table_name == "events" or (name in OWN_COLUMNS and name in own):
            if column not in own:
                raise ValueError(
                    f"by: {name!r} is an events column that {src_table} lacks; break down "
                    f"by a column of users, stocks or {src_table} ({', '.join(own)})"
                )
            exprs.append(f'{src}.{column} AS "{name}"')
            continue
        alias = {"users": "u", "stocks": "s"}[table_name]
        tables.add(table_name)
        exprs.append(f'{alias}.{column} AS "{name}"')
    joins = []
    if "users" in tables:
        joins.append(f"LEFT JOIN users u ON u.run_id = {src}.run_id AND u.user_id = {src}.user_id")
    if "stocks" in tables:
        joins.append(
            f"LEFT JOIN stocks s ON s.run_id = {src}.run_id AND s.stock_id = {src}.stock_id"
        )
    return exprs, joins


def data_end(store: Store, run: str) -> dt.datetime | None:
    """Last moment the run's log covers.

    The later of the run's window end (``start_date + days``) and the latest order,
    redemption or non-expiry event; expiry events are left out because a log may
    write them ahead of time. ``None`` if none of these is known.
    """
    row = store.query(
        """
        SELECT greatest(
            (SELECT max(ts) FROM events WHERE run_id = $run AND event_type <> 'expire'),
            (SELECT max(ts) FROM orders WHERE run_id = $run),
            (SELECT max(redeemed_at) FROM coupons WHERE run_id = $run),
            (SELECT CAST(start_date AS TIMESTAMP) + to_days(days) FROM runs WHERE run_id = $run)
        ) AS data_end
        """,
        {"run": run},
    )
    value = row["data_end"].iloc[0]
    return None if pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def _durations(
    store: Store, *, run: str, by: tuple[tuple[str, str, str], ...], start, end
) -> tuple[pd.DataFrame, dt.datetime | None]:
    """Rows (breakdown values, outcome, duration_days, coupons) from DuckDB."""
    _filters.require_run(store, run)
    where, params = _filters.where(run=run, start=start, end=end, ts_col="t0")
    stop = data_end(store, run)
    exprs, joins = group_sql(by, src="c", src_table="coupons")
    names = [f'"{name}"' for name, _, _ in by]
    sql = f"""
        WITH base AS (
            SELECT c.run_id, {"".join(e + ", " for e in exprs)}
                   coalesce(c.issued_at, c.claimed_at) AS t0, c.redeemed_at,
                   coalesce(c.expired_at, c.valid_until) AS expiry
            FROM coupons c {" ".join(joins)}
            WHERE c.run_id = ? AND c.status IN ('issued', 'compensated')
        ), timed AS (
            SELECT {"".join(n + ", " for n in names)}
                CASE WHEN redeemed_at IS NOT NULL THEN 'redeemed'
                     WHEN expiry <= CAST(? AS TIMESTAMP) THEN 'expired'
                     ELSE 'open' END AS outcome,
                greatest(date_diff('microsecond', t0,
                    coalesce(redeemed_at, least(expiry, CAST(? AS TIMESTAMP)))), 0)
                    / {_MICROSECONDS_PER_DAY} AS duration_days
            FROM base WHERE {where}
        )
        SELECT {"".join(n + ", " for n in names)} outcome, duration_days, count(*) AS coupons
        FROM timed WHERE duration_days IS NOT NULL
        GROUP BY ALL ORDER BY ALL
    """
    rows = store.query(sql, [run, stop, stop, *params])
    rows["duration_days"] = rows["duration_days"].astype(float)
    rows["coupons"] = rows["coupons"].astype("int64")
    return rows, stop


@dataclass(frozen=True)
class CycleResult:
    """Kaplan-Meier redemption cycle per group.

    Attributes
    ----------
    run : str
        Run analysed.
    by : tuple of str
        Breakdown names (empty: one group, ``all``).
    summary : DataFrame
        One row per group, see :func:`redemption_cycle`.
    curve : DataFrame
        Tidy share-redeemed curves: breakdown columns, ``group``, ``time_days``,
        ``share_redeemed`` (1 - S(t)), ``ci_low``, ``ci_high``, ``at_risk``, ``redeemed``.
    durations : DataFrame
        The sufficient statistics from DuckDB: breakdown columns, ``outcome``
        (``redeemed``, ``expired``, ``open``), ``duration_days``, ``coupons``.
    horizon_days : float
        Upper limit of the restricted mean.
    data_end : datetime or None
        Where unexpired, unredeemed coupons are censored.
    alpha : float
        Intervals have level ``1 - alpha``.
    """

    run: str
    by: tuple[str, ...]
    summary: pd.DataFrame
    curve: pd.DataFrame
    durations: pd.DataFrame
    horizon_days: float
    data_end: dt.datetime | None
    alpha: float

    def to_frame(self) -> pd.DataFrame:
        """One row per group: counts, shares, mean, restricted mean and median cycle."""
        return self.summary.copy()

    def curves(self) -> pd.DataFrame:
        """Tidy step curves: time, share redeemed and its pointwise interval per group."""
        return self.curve.copy()

    def plot(self, *, ci: bool = True):
        """Step curves of the share redeemed against days since issue (HoloViews).

        Example
        -------
        >>> plot = result.plot()  # doctest: +SKIP
        """
        import holoviews as hv
        import holoviews.plotting.bokeh  # noqa: F401  (registers the backend .opts() needs)

        time = hv.Dimension("time_days", label="days since issue")
        share = hv.Dimension("share_redeemed", label="share redeemed", range=(0, 1))
        band = hv.Dimension("ci_low", label="share redeemed", range=(0, 1))
        layers = []
        for label, g in self.curve.groupby("group", sort=False):
            steps = _step_points(g, self.horizon_days)
            if ci:
                layers.append(
                    hv.Area(steps, time, [band, "ci_high"], label=str(label)).opts(
                        alpha=0.15, line_alpha=0
                    )
                )
            layers.append(hv.Curve(steps, time, share, label=str(label)))
        overlay = hv.Overlay(layers or [hv.Curve([], time, share)])
        return overlay.opts(title=f"Redemption cycle ({self.run})", legend_position="bottom_right")


def _step_points(curve: pd.DataFrame, horizon: float) -> pd.DataFrame:
    """Corner points of a right-continuous step curve, held flat up to ``horizon``."""
    cols = ["share_redeemed", "ci_low", "ci_high"]
    times = curve["time_days"].to_numpy(dtype=float)
    ends = np.append(times[1:], max(horizon, times[-1]))
    values = curve[cols].to_numpy(dtype=float)
    # each step contributes its start and its end, at the same height
    return pd.DataFrame(np.repeat(values, 2, axis=0), columns=cols).assign(
        time_days=np.column_stack([times, ends]).ravel()
    )


_SUMMARY_COLUMNS = (
    "group",
    "coupons",
    "redeemed",
    "expired",
    "open_at_end",
    "share_redeemed",
    "share_redeemed_by_expiry",
    "mean_cycle_days",
    "restricted_mean_days",
    "median_cycle_days",
    "median_ci_low",
    "median_ci_high",
)
_CURVE_COLUMNS = (
    "group",
    "time_days",
    "share_redeemed",
    "ci_low",
    "ci_high",
    "at_risk",
    "redeemed",
)


def group_label(key: tuple) -> str:
    """Readable group name: breakdown values joined by `` / ``, ``all`` without any."""
    return " / ".join(MISSING if pd.isna(v) else str(v) for v in key) if key else "all"


def _groups(rows: pd.DataFrame, names: list[str]):
    """(key tuple, rows) per group, missing breakdown values kept as their own group."""
    if not names:
        return [((), rows)] if not rows.empty else []
    return [
        (key if isinstance(key, tuple) else (key,), g)
        for key, g in rows.groupby(names, dropna=False, sort=True)
    ]


def _fit_all(
    rows: pd.DataFrame, names: list[str], *, horizon: float, alpha: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    summaries, curves = [], []
    for key, g in _groups(rows, names):
        summary, curve = _fit_group(g, horizon=horizon, alpha=alpha)
        label = group_label(key)
        summaries.append({**dict(zip(names, key, strict=True)), "group": label, **summary})
        curves.append(curve.assign(group=label, **dict(zip(names, key, strict=True))))
    summary = pd.DataFrame(summaries, columns=[*names, *_SUMMARY_COLUMNS])
    curve = (
        pd.concat(curves, ignore_index=True)
        if curves
        else pd.DataFrame(columns=[*names, *_CURVE_COLUMNS])
    )
    return summary, curve[[*names, *_CURVE_COLUMNS]]


def redemption_cycle(
    store: Store,
    *,
    run: str,
    by: str | Sequence[str] | None = None,
    start=None,
    end=None,
    horizon_days: float | None = None,
    alpha: float = 0.05,
) -> CycleResult:
    """Kaplan-Meier redemption cycle: days from issue to redemption, per group.

    One subject per issued coupon (``status`` ``issued`` or ``compensated``). The
    clock starts at ``issued_at`` (``claimed_at`` if missing) and stops at
    ``redeemed_at`` (event) or, unredeemed, at the coupon's expiry (``expired_at``,
    else ``valid_until``) or the end of the data (:func:`data_end`), whichever is
    first (censored). Durations are in days; a stop before the start counts as 0.

    Per group the summary holds ``coupons``, ``redeemed``, ``expired`` (expired
    unredeemed before the data end), ``open_at_end`` (still valid at the data end),
    ``share_redeemed`` (redeemed / coupons), ``share_redeemed_by_expiry`` (redeemed /
    (redeemed + expired): coupons whose fate is known), ``mean_cycle_days`` (mean
    duration of the redeemed coupons), ``restricted_mean_days`` (area under the
    Kaplan-Meier survival curve up to ``horizon_days``: the mean of min(T, horizon)),
    ``median_cycle_days`` (statsmodels' Kaplan-Meier median: the first event time at
    which S(t) < 0.5, NaN if never) and its ``median_ci_low``/``median_ci_high``
    (statsmodels' cloglog interval; ``inf`` when the upper limit is never reached).

    Parameters
    ----------
    store : Store
        The store to read.
    run : str
        Run id.
    by : str or sequence of str, optional
        Breakdown names (``"platform"``, ``"entry"``, ``"campaign"``, ``"segment"``...,
        see :func:`lab._filters.resolve_column`); ``None`` pools all coupons.
    start, end : date, datetime or str, optional
        Keep coupons issued in ``[start, end)``; follow-up still runs to the data end.
    horizon_days : float, optional
        Limit of the restricted mean; defaults to the longest duration observed, the
        same for every group so they compare.
    alpha : float
        Curve bands and median intervals have level ``1 - alpha``.

    Returns
    -------
    CycleResult

    Example
    -------
    >>> import lab
    >>> store = lab.Store(":memory:")
    >>> _ = store.create_run("r", origin="import")
    >>> redemption_cycle(store, run="r").to_frame().empty
    True
    """
    check(locals())  # argument types and ranges, up front
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    if horizon_days is not None and not horizon_days > 0:
        raise ValueError(f"horizon_days must be positive or None, got {horizon_days!r}")
    breakdown = _filters.breakdowns(by)
    rows, stop = _durations(store, run=run, by=breakdown, start=start, end=end)
    names = [name for name, _, _ in breakdown]
    if horizon_days is None:
        horizon_days = float(rows["duration_days"].max()) if not rows.empty else 0.0
    summary, curve = _fit_all(rows, names, horizon=float(horizon_days), alpha=alpha)
    return CycleResult(
        run=run,
        by=tuple(names),
        summary=summary,
        curve=curve,
        durations=rows,
        horizon_days=float(horizon_days),
        data_end=stop,
        alpha=alpha,
    )


@dataclass(frozen=True)
class CycleComparison:
    """Log-rank (or weighted) test that groups share one redemption-time curve.

    Attributes
    ----------
    cycle : CycleResult
        The curves compared.
    statistic : float
        Chi-square statistic from ``statsmodels.duration.survfunc.survdiff``.
    df : int
        Degrees of freedom (groups - 1).
    p_value : float
        Upper chi-square tail of ``statistic``.
    weight_type : str or None
        ``None`` (log-rank), ``"gb"`` (Gehan-Breslow) or ``"tw"`` (Tarone-Ware).
    """

    cycle: CycleResult
    statistic: float
    df: int
    p_value: float
    weight_type: str | None

    def to_frame(self) -> pd.DataFrame:
        """One row: test, groups, statistic, df, p-value."""
        test = {None: "log-rank", "gb": "Gehan-Breslow", "tw": "Tarone-Ware"}[self.weight_type]
        return pd.DataFrame(
            [
                {
                    "test": test,
                    "groups": len(self.cycle.summary),
                    "statistic": self.statistic,
                    "df": self.df,
                    "p_value": self.p_value,
                }
            ]
        )

    def plot(self):
        """The compared curves, titled with the test's p-value (HoloViews)."""
        return self.cycle.plot().opts(
            title=f"Redemption cycle by {', '.join(self.cycle.by)}: p = {self.p_value:.3g}"
        )


def compare_cycles(
    store: Store,
    *,
    run: str,
    by: str | Sequence[str],
    start=None,
    end=None,
    weight_type: str | None = None,
) -> CycleComparison:
    """Test whether redemption-time curves differ between groups (log-rank).

    Same subjects and censoring as :func:`redemption_cycle`; the test is
    ``statsmodels.duration.survfunc.survdiff``.

    Parameters
    ----------
    store : Store
        The store to read.
    run : str
        Run id.
    by : str or sequence of str
        Breakdown defining the groups (at least two groups must have coupons).
    start, end : optional
        Issue-time range ``[start, end)``.
    weight_type : {None, "gb", "tw"}
        ``None`` for the log-rank test, ``"gb"`` Gehan-Breslow (weights early
        differences), ``"tw"`` Tarone-Ware.

    Returns
    -------
    CycleComparison

    Example
    -------
    >>> compare_cycles(store, run="r", by="platform").p_value  # doctest: +SKIP
    0.003
    """
    check(locals())  # argument types and ranges, up front
    if weight_type not in WEIGHT_TYPES:
        raise ValueError(f"weight_type must be one of {WEIGHT_TYPES}, got {weight_type!r}")
    if not by:
        raise ValueError("by: name at least one breakdown to compare groups")
    cycle = redemption_cycle(store, run=run, by=by, start=start, end=end)
    if len(cycle.summary) < 2:
        raise ValueError(
            f"by={by!r} gives {len(cycle.summary)} group(s) with coupons; need at least 2"
        )
    rows = cycle.durations
    labels = np.repeat(
        [group_label(tuple(r)) for r in rows[list(cycle.by)].itertuples(index=False)],
        rows["coupons"].to_numpy(dtype=np.int64),
    )
    time, event = _expand(rows)
    if event.sum() == 0:
        raise ValueError("no coupon was redeemed: there is no redemption time to compare")
    try:
        statistic, p_value = survdiff(time, event, labels, weight_type=weight_type)
    except np.linalg.LinAlgError:
        raise ValueError(
            "the groups cannot be compared: some group has nobody at risk at any redemption time"
        ) from None
    return CycleComparison(
        cycle=cycle,
        statistic=float(statistic),
        df=len(cycle.summary) - 1,
        p_value=float(p_value),
        weight_type=weight_type,
    )
