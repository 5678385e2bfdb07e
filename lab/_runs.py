"""Shared checks for figures read from one run: the run exists, its campaign period, a
ratio with a named denominator, and the two arms of an experiment."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from lab.store import Store

SECONDS_PER_DAY = 86_400.0


def require_run(store: Store, run: str) -> dict:
    """The run's `runs` row; KeyError naming the known runs if it does not exist."""
    return store.run(run)


def campaign_period(store: Store, run: str) -> tuple[dt.datetime, dt.datetime, int]:
    """(start, end exclusive, pre_days) of the run's campaign period, from `runs`."""
    info = require_run(store, run)
    start, days = info["start_date"], info["days"]
    if pd.isna(start) or pd.isna(days):
        raise ValueError(
            f"run {run!r} has no start_date/days in `runs`; this figure needs the campaign period"
        )
    begin = pd.Timestamp(start).to_pydatetime()
    pre = 0 if pd.isna(info["pre_days"]) else int(info["pre_days"])
    return begin, begin + dt.timedelta(days=int(days)), pre


def ratio(num: float, den: float, what: str) -> float:
    if den == 0:
        raise ValueError(f"{what}: the denominator is zero, the figure is undefined")
    return float(num) / float(den)


def check_arms(arms: tuple[str, str]) -> tuple[str, str]:
    if (
        not isinstance(arms, tuple | list)
        or len(arms) != 2
        or not all(isinstance(a, str) for a in arms)
        or arms[0] == arms[1]
    ):
        raise ValueError(f"arms must be two distinct arm names (treatment, control), got {arms!r}")
    return arms[0], arms[1]


def pick_arms(
    df: pd.DataFrame, arms: tuple[str, str], *, experiment: str, run: str, what: str
) -> tuple[pd.Series, pd.Series]:
    """The rows of the treatment and control arms of a per-arm frame, or a clear error."""
    found = sorted(str(a) for a in df["arm"].dropna())
    missing = [a for a in arms if a not in found]
    if missing:
        raise ValueError(
            f"arms: experiment {experiment!r} of run {run!r} has no {what} for arm(s) "
            f"{missing}; arms found: {found or 'none'}"
        )
    indexed = df.set_index("arm")
    return indexed.loc[arms[0]], indexed.loc[arms[1]]
