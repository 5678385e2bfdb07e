"""The slice a session looks at: a date range and a breakdown, applied through ``lab``.

:class:`Slice` holds the session's choice; :func:`sliced_frame` calls a ``lab`` model
for every compared run with the slice as the model's own ``start``/``end``/``by``
keywords (bound parameters in the model's SQL, see :mod:`lab._filters`), restricted to
the sidebar's platform. The whole date range is passed as no bound at all, so the
first view of a tab reuses the results warmed at start-up.

Example
-------
>>> s = Slice(bounds=(pd.Timestamp("2026-03-02"), pd.Timestamp("2026-03-30")))
>>> s.model_kwargs()
{}
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import param

from dashboards.charts import colour_of
from dashboards.store import DataStore

#: breakdowns offered on Funnel, Retention and Money (``lab._filters`` names)
BREAKDOWNS = ("none", "platform", "entry", "segment", "city_tier")


class Slice(param.Parameterized):
    """Date range (half-open, whole days) and breakdown of one session."""

    dates = param.DateRange(default=None, doc="First and last day shown (inclusive).")
    bounds = param.Tuple(default=(None, None), doc="The widest range: the runs' window.")
    breakdown = param.Selector(default="none", objects=list(BREAKDOWNS))

    def model_kwargs(self) -> dict:
        """``start``/``end`` for the models (ISO days, ``end`` exclusive), or nothing
        for the whole window."""
        if self.dates is None or tuple(self.dates) == tuple(self.bounds):
            return {}
        first, last = (pd.Timestamp(d).normalize() for d in self.dates)
        return {
            "start": first.date().isoformat(),
            "end": (last + pd.Timedelta(days=1)).date().isoformat(),
        }

    def by(self) -> str | None:
        return None if self.breakdown == "none" else self.breakdown


def run_window(store: DataStore) -> tuple[dt.datetime, dt.datetime] | None:
    """First and last day covered by the compared runs, or None (imported runs)."""
    starts, ends = [], []
    for run_id in store.compared():
        info = store.run_info(run_id)
        if pd.isna(info.get("start_date")) or not info.get("days"):
            continue
        first = pd.Timestamp(info["start_date"]).normalize()
        starts.append(first)
        ends.append(first + pd.Timedelta(days=int(info["days"]) - 1))
    if not starts:
        return None
    return min(starts).to_pydatetime(), max(ends).to_pydatetime()


def sliced_frame(
    store: DataStore,
    sliced: Slice,
    func_name: str,
    *,
    part: str = "to_frame",
    breakdown: bool = True,
    **kwargs,
) -> pd.DataFrame:
    """Every compared run's ``lab.<func_name>`` table under the slice, stacked.

    Adds ``run_id``, ``strategy`` (the run's name) and ``colour``. With a platform
    chosen in the sidebar, the model breaks down by platform and only that platform's
    rows are kept. With ``breakdown`` and a breakdown chosen, its column is ``group``.
    """
    platform = store.platform_filter()
    by = ["platform"] if platform else []
    chosen = sliced.by() if breakdown else None
    if chosen and chosen not in by:
        by.append(chosen)
    if by:
        kwargs["by"] = tuple(by)
    kwargs.update(sliced.model_kwargs())
    names, run_ids = store.labels(), store.run_ids()
    frames = []
    for run_id in store.compared():
        res = store.call(func_name, run_id, **kwargs)
        df = res.to_frame() if part == "to_frame" else getattr(res, part).copy()
        if platform:
            df = df[df["platform"].astype(object) == platform]
        if chosen:
            df = df.rename(columns={chosen: "group"})
        if platform and chosen != "platform":
            df = df.drop(columns="platform")
        frames.append(
            df.assign(run_id=run_id, strategy=names[run_id], colour=colour_of(run_ids, run_id))
        )
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)
