"""Campaign metrics: the seed's reported ROI per group next to a holdout-based incremental
ROI, and push fatigue (claim rate per push against pushes per day).

Example
-------
>>> import lab, lab.metrics
>>> store = lab.Store(":memory:")
>>> _ = store.create_run("r", origin="import")
>>> lab.metrics.campaign_metrics(store, run="r", by="campaign").incremental is None
True
"""

from lab.metrics._fatigue import PushFatigue, push_fatigue
from lab.metrics._metrics import IncrementalGMV, MetricsResult, campaign_metrics

__all__ = ["IncrementalGMV", "MetricsResult", "PushFatigue", "campaign_metrics", "push_fatigue"]
