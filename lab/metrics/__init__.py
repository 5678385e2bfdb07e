"""Campaign metrics: the seed's reported ROI per group next to a holdout-based incremental
ROI, push fatigue (claim rate per push against pushes per day), and issuance over time
(when a stock's budget runs out).

Example
-------
>>> import lab, lab.metrics
>>> store = lab.Store(":memory:")
>>> _ = store.create_run("r", origin="import")
>>> lab.metrics.campaign_metrics(store, run="r", by="campaign").incremental is None
True
"""

from lab.metrics._dictionary import (
    METRICS,
    Metric,
    format_interval,
    format_metric,
    metric,
    metric_frame,
)
from lab.metrics._fatigue import PushFatigue, push_fatigue
from lab.metrics._issuance import IssuanceTimeline, issuance_timeline
from lab.metrics._metrics import IncrementalGMV, MetricsResult, campaign_metrics
from lab.metrics._timing import coupons_per_active_user_day, morning_shift, rainy_day_effect
from lab.metrics._trend import DailyTrend, daily_trend

__all__ = [
    "METRICS",
    "Metric",
    "format_interval",
    "format_metric",
    "metric",
    "metric_frame",
    "DailyTrend",
    "IncrementalGMV",
    "IssuanceTimeline",
    "MetricsResult",
    "PushFatigue",
    "campaign_metrics",
    "daily_trend",
    "issuance_timeline",
    "push_fatigue",
    "coupons_per_active_user_day",
    "morning_shift",
    "rainy_day_effect",
]
