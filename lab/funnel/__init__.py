"""Conversion funnels: per-step counts, conversion, drop-off, time to convert and trend.

Example
-------
>>> import lab
>>> from lab.funnel import funnel
>>> store = lab.Store(":memory:")
>>> _ = store.create_run("r", origin="import")
>>> funnel(store, run="r").table["step"].tolist()
['exposure', 'rule_view', 'claim', 'redeem']
"""

from lab.funnel._channels import (
    entry_reach,
    journey_losses,
    redemption_within_day,
    share_unlock_effect,
)
from lab.funnel._funnel import (
    DEFAULT_STEPS,
    FunnelResult,
    FunnelTrend,
    dropped_at,
    funnel,
    funnel_trend,
)

__all__ = [
    "DEFAULT_STEPS",
    "FunnelResult",
    "FunnelTrend",
    "dropped_at",
    "funnel",
    "funnel_trend",
    "entry_reach",
    "journey_losses",
    "redemption_within_day",
    "share_unlock_effect",
]
