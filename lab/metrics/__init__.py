"""Campaign metrics: the seed's reported ROI per group next to a holdout-based incremental ROI.

Example
-------
>>> import lab, lab.metrics
>>> store = lab.Store(":memory:")
>>> _ = store.create_run("r", origin="import")
>>> lab.metrics.campaign_metrics(store, run="r", by="campaign").incremental is None
True
"""

from lab.metrics._metrics import IncrementalGMV, MetricsResult, campaign_metrics

__all__ = ["IncrementalGMV", "MetricsResult", "campaign_metrics"]
