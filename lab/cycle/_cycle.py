"""Redemption cycle: days from issue to redemption as time-to-event data.

Each issued coupon is one subject. Its clock starts when the coupon lands in the
wallet (``coupons.issued_at``, or ``claimed_at`` when the log has no issue time) and
stops at redemption, at expiry (``expired_at``, else ``valid_until``) or at the end of
the data, whichever comes first. The engine holding the logs (DuckDB, Spark...: one Ibis
expression) reduces the coupons to one row per distinct (group, duration, outcome) with
a count; both estimators run on those counts in Python, one vectorised pass over every
group, never one row per coupon.

Two estimators (see docs/models.md):

* ``"incidence"`` (default): the cumulative incidence of redemption with expiry as a
  competing event (Aalen-Johansen). It is the share of coupons redeemed by day t; on a
  fully observed log it ends at the share actually redeemed.
* ``"kaplan_meier"``: 1 - S(t) of the Kaplan-Meier curve with expiry treated as
  censoring: the share that *would* be redeemed by day t if coupons never expired.
  It answers "how fast do people redeem", not "how many redeemed".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.duration.survfunc import survdiff

from lab import _filters, schema
from lab._validate import check
from lab.engines import session
from lab.engines._calendar import microseconds_between
from lab.engines._compiled import execute_compiled
from lab.engines._expr import in_window, union, with_breakdowns
from lab.store import Store

__all__ = ["ESTIMATORS", "CycleComparison", "CycleResult", "compare_cycles", "redemption_cycle"]

_MICROSECONDS_PER_DAY = 86_400_000_000
WEIGHT_TYPES = (None, "gb", "tw")
MISSING = "(none)"
_ISSUED = ("issued", "compensated")


ESTIMATORS = ("incidence", "kaplan_meier")
# round-off of the products and sums below: a curve meant to sit exactly at 0.5 may land
# a few ulps off, and the median convention ("reaches 0.5") must still hold there
_HALF_TOLERANCE = 1e-12


def _expand(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per-coupon durations and event flags from (duration, outcome, coupons) rows.

    Only the log-rank test (``survdiff`` takes subjects) uses it; the curves are
    computed from the grouped counts.
    """
    counts = rows["coupons"].to_numpy(dtype=np.int64)
    time = np.repeat(rows["duration_days"].to_numpy(dtype=float), counts)
    event = np.repeat((rows["outcome"] == "redeemed").to_numpy(dtype=float), counts)
    return time, event


def _segment_cumsum(values: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Running sum restarting at each group (``segment``: each row's group number, rows
    sorted by group). Summed per group, so an infinite term or a large total in one
    group never leaks into the next."""
    return pd.Series(values).groupby(segment, sort=False).cumsum().to_numpy()


def _event_table(rows: pd.DataFrame, code: np.ndarray) -> dict[str, np.ndarray]:
    """Per group code ``g`` and distinct duration ``time_days``: ``redeemed``,
    ``expired``, ``censored`` counts and ``at_risk`` (coupons whose clock had not
    stopped before that duration), sorted by group then time.

    Plain numpy on the grouped rows (sort, reduceat, running sums): one pass however
    many groups and coupons. Also ``first`` (first row of each group) and ``segment``
    (each row's group number) for the running sums that follow.
    """
    time = rows["duration_days"].to_numpy(dtype=float)
    counts = rows["coupons"].to_numpy(dtype=np.int64)
    redeemed = np.where((rows["outcome"] == "redeemed").to_numpy(dtype=bool), counts, 0)
    expired = np.where((rows["outcome"] == "expired").to_numpy(dtype=bool), counts, 0)
    order = np.lexsort((time, code))
    code, time = code[order], time[order]
    counts, redeemed, expired = counts[order], redeemed[order], expired[order]
    new_row = np.ones(len(time), dtype=bool)
    new_row[1:] = (code[1:] != code[:-1]) | (time[1:] != time[:-1])
    starts = np.flatnonzero(new_row)
    table = {
        "g": code[starts],
        "time_days": time[starts],
        "redeemed": np.add.reduceat(redeemed, starts),
        "expired": np.add.reduceat(expired, starts),
        "removed": np.add.reduceat(counts, starts),
    }
    table["censored"] = table["removed"] - table["redeemed"] - table["expired"]
    g = table["g"]
    new_group = np.ones(len(g), dtype=bool)
    new_group[1:] = g[1:] != g[:-1]
    first = np.flatnonzero(new_group)
    segment = np.cumsum(new_group) - 1
    removed = table["removed"]
    group_total = np.add.reduceat(removed, first)[segment]
    # at risk at t: the group's coupons minus those that stopped strictly before t
    table["at_risk"] = group_total - _segment_cumsum(removed, segment) + removed
    table["first"], table["segment"] = first, segment
    return table


def _segment_cumprod(values: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Running product restarting at each group (pandas' grouped cumprod, in C)."""
    return pd.Series(values).groupby(segment, sort=False).cumprod().to_numpy()


def _kaplan_meier(table: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """1 - S(t) of redemption with expiry censored, and Greenwood's standard error of S."""
    n = table["at_risk"].astype(float)
    d = table["redeemed"].astype(float)
    segment = table["segment"]
    surv = _segment_cumprod(1 - d / n, segment)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(d > 0, d / (n * (n - d)), 0.0)
    greenwood = _segment_cumsum(terms, segment)
    with np.errstate(invalid="ignore"):
        se = np.where(surv > 0, surv * np.sqrt(greenwood), np.nan)
    return 1 - surv, se


def _aalen_johansen(table: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative incidence F(t) of redemption with expiry competing, and its variance.

    F(t) = sum over t_i <= t of S(t_i-) d1_i / n_i, with S the Kaplan-Meier curve of
    either event. The variance is the delta-method (Greenwood-type) estimate of
    Collett (2015, p. 411), the one lifelines' ``AalenJohansenFitter`` reports:
    sum (F(t) - F_i)^2 d_i / (n_i (n_i - d_i)) + sum S_i-^2 d1_i (n_i - d1_i) / n_i^3
    - 2 sum (F(t) - F_i) S_i- d1_i / n_i^2. Its squares are expanded into running sums
    so every time point costs O(1).
    """
    first, segment = table["first"], table["segment"]
    n = table["at_risk"].astype(float)
    d1 = table["redeemed"].astype(float)
    d = d1 + table["expired"]
    overall = _segment_cumprod(1 - d / n, segment)
    before = np.empty_like(overall)  # S(t_i-): the previous row's value within the group
    before[1:] = overall[:-1]
    before[first] = 1.0
    f = _segment_cumsum(before * d1 / n, segment)
    with np.errstate(divide="ignore", invalid="ignore"):
        # n == d only at a group's last time, where F(t) - F_i = 0: the term is 0
        a = np.where(n > d, d / (n * (n - d)), 0.0)
    b = before**2 * d1 * (n - d1) / n**3
    c = before * d1 / n**2

    def running(x: np.ndarray) -> np.ndarray:
        return _segment_cumsum(x, segment)

    variance = (
        f**2 * running(a)
        - 2 * f * running(f * a)
        + running(f**2 * a)
        + running(b)
        - 2 * (f * running(c) - running(f * c))
    )
    return f, np.maximum(variance, 0.0)


def _loglog_band(value: np.ndarray, se: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise log-log interval for a probability; degenerate where it is 0 or 1."""
    low, high = value.copy(), value.copy()
    ok = (value > 0) & (value < 1) & np.isfinite(se)
    v = value[ok]
    half = z * se[ok] / (v * np.abs(np.log(v)))
    theta = np.log(-np.log(v))
    with np.errstate(over="ignore"):  # a huge half-width: the limit is 0, exactly
        low[ok] = np.exp(-np.exp(theta + half))
        high[ok] = np.exp(-np.exp(theta - half))
    return low, high


def _curve(table: dict[str, np.ndarray], *, estimator: str, alpha: float) -> pd.DataFrame:
    """Share-redeemed step curve per group code ``g``: a start row at time 0, then one
    row per duration with a redemption (the only times the curve moves)."""
    z = stats.norm.ppf(1 - alpha / 2)
    if estimator == "kaplan_meier":
        share, se = _kaplan_meier(table)
        # the band of S, turned around for 1 - S
        surv_low, surv_high = _loglog_band(1 - share, se, z)
        low, high = 1 - surv_high, 1 - surv_low
    else:
        share, variance = _aalen_johansen(table)
        low, high = _loglog_band(share, np.sqrt(variance), z)
    first = table["first"]
    moves = table["redeemed"] > 0
    # the start row of each group, then its moves; a stable sort keeps the start first
    columns = {
        "g": (table["g"][first], table["g"][moves]),
        "time_days": (np.zeros(len(first)), table["time_days"][moves]),
        "share_redeemed": (np.zeros(len(first)), share[moves]),
        "ci_low": (np.zeros(len(first)), low[moves]),
        "ci_high": (np.zeros(len(first)), high[moves]),
        "at_risk": (table["at_risk"][first], table["at_risk"][moves]),
        "redeemed": (np.zeros(len(first), dtype=np.int64), table["redeemed"][moves]),
    }
    joined = {name: np.concatenate(parts) for name, parts in columns.items()}
    order = np.lexsort((joined["time_days"], joined["g"]))
    return pd.DataFrame({name: values[order] for name, values in joined.items()})


def _summaries(table: dict[str, np.ndarray], curve: pd.DataFrame, *, horizon: float):
    """Per group code ``g`` (the index): counts, shares, mean cycle, restricted mean
    and median with its interval, all from whole-array operations."""
    first = table["first"]
    coupons = table["at_risk"][first]
    redeemed = np.add.reduceat(table["redeemed"], first)
    expired = np.add.reduceat(table["expired"], first)
    redeemed_days = np.add.reduceat(table["time_days"] * table["redeemed"], first)
    known = redeemed + expired
    with np.errstate(divide="ignore", invalid="ignore"):
        out = pd.DataFrame(
            {
                "coupons": coupons,
                "redeemed": redeemed,
                "expired": expired,
                "open_at_end": coupons - redeemed - expired,
                "share_redeemed": redeemed / coupons,
                "share_redeemed_by_expiry": np.where(known > 0, redeemed / known, np.nan),
                "mean_cycle_days": np.where(redeemed > 0, redeemed_days / redeemed, np.nan),
            },
            index=pd.Index(table["g"][first], name="g"),
        )

    g = curve["g"].to_numpy()
    t = curve["time_days"].to_numpy()
    share = curve["share_redeemed"].to_numpy()
    last_of_group = np.ones(len(g), dtype=bool)
    last_of_group[:-1] = g[1:] != g[:-1]
    # restricted mean: area under 1 - share, each step held to the next one (or horizon)
    upto = np.minimum(np.where(last_of_group, horizon, np.roll(t, -1)), horizon)
    width = np.maximum(upto - np.minimum(t, horizon), 0.0)
    out["restricted_mean_days"] = pd.Series((1 - share) * width).groupby(g).sum()

    steps = curve["redeemed"].to_numpy() > 0  # leaves out the start rows
    low, high = curve["ci_low"].to_numpy(), curve["ci_high"].to_numpy()
    out["median_cycle_days"] = _first_time(g, t, steps & (share >= 0.5 - _HALF_TOLERANCE))
    # interval: the times whose pointwise band holds 0.5, as statsmodels' quantile_ci
    inside = steps & (low <= 0.5) & (high >= 0.5) & (low < high)
    out["median_ci_low"] = _first_time(g, t, inside)
    following = np.where(last_of_group, np.inf, np.roll(t, -1))
    last_inside = pd.Series(following[inside]).groupby(g[inside]).last()
    out["median_ci_high"] = last_inside.reindex(out.index).to_numpy()
    return out


def _first_time(g: np.ndarray, t: np.ndarray, mask: np.ndarray) -> pd.Series:
    """Per group code, the first time where ``mask`` holds (NaN where it never does)."""
    return pd.Series(t[mask]).groupby(g[mask]).first()


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
    info = _filters.require_run(store, run)
    with session(store) as db:
        return _data_end(db, info, run)


def _data_end(db, info: dict, run: str) -> dt.datetime | None:
    def latest_time() -> ibis.Table:
        events, orders, coupons = db.table("events"), db.table("orders"), db.table("coupons")
        times = union(
            union(
                events.filter(events.run_id == run, events.event_type != "expire").select("ts"),
                orders.filter(orders.run_id == run).select("ts"),
            ),
            coupons.filter(coupons.run_id == run).select(ts=coupons.redeemed_at),
        )
        return times.ts.max().name("ts").as_table()

    latest = execute_compiled(db, ("cycle.data_end", run), latest_time)["ts"].iloc[0]
    ends = [] if pd.isna(latest) else [pd.Timestamp(latest)]
    start_date, days = info.get("start_date"), info.get("days")
    if (
        start_date is not None
        and not pd.isna(start_date)
        and days is not None
        and not pd.isna(days)
    ):
        ends.append(pd.Timestamp(start_date) + pd.Timedelta(days=int(days)))
    return max(ends).to_pydatetime() if ends else None


def _durations(
    store: Store, *, run: str, by: tuple[tuple[str, str, str], ...], start, end
) -> tuple[pd.DataFrame, dt.datetime | None]:
    """Rows (breakdown values, outcome, duration_days, coupons) from the engine.

    The engine groups by whole microseconds; the division into days happens here, so
    every engine's rows are the same numbers.
    """
    info = _filters.require_run(store, run)
    names = [name for name, _, _ in by]
    with session(store) as db:
        stop = _data_end(db, info, run)
        key = ("cycle.durations", run, by, start, end, stop)
        rows = execute_compiled(db, key, lambda: _durations_expr(db, run, by, start, end, stop))
    return _day_rows(rows, names), stop


def _durations_expr(db, run: str, by, start, end, stop) -> ibis.Table:
    """Issued coupons grouped by breakdowns, outcome and duration in microseconds."""
    names = [name for name, _, _ in by]
    coupons = db.table("coupons")
    issued = coupons.filter(coupons.run_id == run, coupons.status.isin(_ISSUED))
    base = with_breakdowns(
        db,
        issued,
        src_table="coupons",
        by=by,
        run_id=issued.run_id,
        started_at=issued.issued_at.coalesce(issued.claimed_at),
        redeemed_at=issued.redeemed_at,
        expiry=issued.expired_at.coalesce(issued.valid_until),
    )
    base = base.filter(*in_window(base, run=run, start=start, end=end, ts_col="started_at"))
    # least() skips a NULL argument on every engine; without a data end, the expiry
    ended = base.expiry if stop is None else ibis.least(base.expiry, stop)
    expired = ibis.literal(False) if stop is None else base.expiry <= stop
    timed = base.select(
        *names,
        outcome=ibis.cases(
            (base.redeemed_at.notnull(), "redeemed"), (expired, "expired"), else_="open"
        ),
        duration_us=ibis.greatest(
            microseconds_between(base.started_at, base.redeemed_at.coalesce(ended)), 0
        ),
    )
    timed = timed.filter(timed.duration_us.notnull())
    return timed.group_by(*names, "outcome", "duration_us").agg(coupons=timed.count())


def _day_rows(rows: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The engine's rows sorted, with durations turned into days."""
    rows = rows.sort_values([*names, "outcome", "duration_us"], na_position="last", kind="stable")
    rows.insert(
        len(names) + 1,
        "duration_days",
        rows.pop("duration_us").astype(float) / _MICROSECONDS_PER_DAY,
    )
    rows["coupons"] = rows["coupons"].astype("int64")
    return rows.reset_index(drop=True)


@dataclass(frozen=True)
class CycleResult:
    """Redemption cycle per group: share redeemed against days since issue.

    Attributes
    ----------
    run : str
        Run analysed.
    by : tuple of str
        Breakdown names (empty: one group, ``all``).
    summary : DataFrame
        One row per group, see :func:`redemption_cycle`.
    curve : DataFrame
        Tidy share-redeemed step curves: breakdown columns, ``group``, ``estimator``,
        ``time_days``, ``share_redeemed`` (the cumulative incidence F(t), or 1 - S(t)
        for ``"kaplan_meier"``), its pointwise log-log interval ``ci_low``/``ci_high``,
        ``at_risk`` and ``redeemed`` at that time. One start row at 0, then one row
        per duration with a redemption.
    durations : DataFrame
        The sufficient statistics from the engine: breakdown columns, ``outcome``
        (``redeemed``, ``expired``, ``open``), ``duration_days``, ``coupons``.
    horizon_days : float
        Upper limit of the restricted mean.
    data_end : datetime or None
        Where unexpired, unredeemed coupons are censored.
    alpha : float
        Intervals have level ``1 - alpha``.
    estimator : {"incidence", "kaplan_meier"}
        Which curve ``curve`` and the median describe.
    """

    run: str
    by: tuple[str, ...]
    summary: pd.DataFrame
    curve: pd.DataFrame
    durations: pd.DataFrame
    horizon_days: float
    data_end: dt.datetime | None
    alpha: float
    estimator: str = "incidence"

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
    "estimator",
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
    "estimator",
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


def _fit_all(
    rows: pd.DataFrame, names: list[str], *, estimator: str, horizon: float, alpha: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Summary and curve of every group, from the grouped counts in one pass."""
    if rows.empty:
        return (
            pd.DataFrame(columns=[*names, *_SUMMARY_COLUMNS]),
            pd.DataFrame(columns=[*names, *_CURVE_COLUMNS]),
        )
    if names:
        code = rows.groupby(names, dropna=False, sort=True).ngroup().to_numpy(dtype=np.int64)
    else:
        code = np.zeros(len(rows), dtype=np.int64)
    table = _event_table(rows, code)
    curve = _curve(table, estimator=estimator, alpha=alpha)
    summary = _summaries(table, curve, horizon=horizon)
    keys = rows[names].assign(g=code).drop_duplicates("g").set_index("g").sort_index()
    keys["group"] = [group_label(tuple(k)) for k in keys[names].itertuples(index=False)]
    keys["estimator"] = estimator
    summary = keys.join(summary).reset_index(drop=True)
    curve = curve.join(keys, on="g")
    return summary[[*names, *_SUMMARY_COLUMNS]], curve[[*names, *_CURVE_COLUMNS]]


def redemption_cycle(
    store: Store,
    *,
    run: str,
    by: str | Sequence[str] | None = None,
    start=None,
    end=None,
    horizon_days: float | None = None,
    alpha: float = 0.05,
    estimator: str = "incidence",
) -> CycleResult:
    """Redemption cycle: share of coupons redeemed against days since issue, per group.

    One subject per issued coupon (``status`` ``issued`` or ``compensated``). The
    clock starts at ``issued_at`` (``claimed_at`` if missing) and stops at
    ``redeemed_at`` (redemption), at the coupon's expiry (``expired_at``, else
    ``valid_until``; the competing event) or at the end of the data
    (:func:`data_end`; censored), whichever is first. Durations are in days; a stop
    before the start counts as 0.

    ``estimator="incidence"`` (default) gives the Aalen-Johansen cumulative incidence
    of redemption with expiry as a competing event: the share redeemed by day t. Its
    pointwise interval is the log-log transform of the delta-method variance that
    lifelines' ``AalenJohansenFitter`` reports (Collett). ``estimator="kaplan_meier"``
    treats expiry as censoring and gives 1 - S(t), the share that would be redeemed
    if coupons never expired, with Greenwood's variance and the log-log interval.
    Both run on the grouped counts, with events before censorings at tied times.

    Per group the summary holds ``estimator``, ``coupons``, ``redeemed``,
    ``expired`` (expired unredeemed before the data end), ``open_at_end`` (still
    valid at the data end), ``share_redeemed`` (redeemed / coupons),
    ``share_redeemed_by_expiry`` (redeemed / (redeemed + expired): coupons whose fate
    is known), ``mean_cycle_days`` (mean duration of the redeemed coupons),
    ``restricted_mean_days`` (area under 1 - curve up to ``horizon_days``: for the
    Kaplan-Meier view the mean of min(T, horizon); for the incidence the same with
    unredeemed coupons counted at the horizon), ``median_cycle_days`` (the first
    time the curve reaches 0.5: S(t) <= 0.5, or F(t) >= 0.5; NaN if never, which
    for the incidence means fewer than half were redeemed) and its
    ``median_ci_low``/``median_ci_high`` (the times whose pointwise interval holds
    0.5, as statsmodels' ``quantile_ci`` and SAS; ``inf`` when the upper limit is
    never reached).

    Parameters
    ----------
    store : Store
        The store to read (or a store on another engine, :meth:`Store.from_ibis`).
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
    estimator : {"incidence", "kaplan_meier"}
        Cumulative incidence with expiry competing (the share redeemed), or the
        Kaplan-Meier view with expiry censored (the share redeemed without expiry).

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
    >>> redemption_cycle(store, run="r", estimator="kaplan_meier").estimator
    'kaplan_meier'
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
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
    summary, curve = _fit_all(
        rows, names, estimator=estimator, horizon=float(horizon_days), alpha=alpha
    )
    return CycleResult(
        run=run,
        by=tuple(names),
        summary=summary,
        curve=curve,
        durations=rows,
        horizon_days=float(horizon_days),
        data_end=stop,
        alpha=alpha,
        estimator=estimator,
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

    Same subjects as :func:`redemption_cycle`, expiry censored; the test is
    ``statsmodels.duration.survfunc.survdiff`` on the redemption hazards, and the
    comparison carries the ``"kaplan_meier"`` curves.

    Parameters
    ----------
    store : Store
        The store to read (or a store on another engine, :meth:`Store.from_ibis`).
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
    # the log-rank test compares redemption hazards, the quantity behind the
    # Kaplan-Meier view, so that is the view the comparison carries and plots
    cycle = redemption_cycle(store, run=run, by=by, start=start, end=end, estimator="kaplan_meier")
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
