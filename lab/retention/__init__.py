"""Cohort retention: retention tables and curves over complete cohorts.

Example
-------
>>> import lab
>>> from lab.retention import retention
>>> store = lab.Store(":memory:")
>>> _ = store.create_run("r", origin="import")
>>> retention(store, run="r", period="week").curves.shape[0]
15
"""

from lab.retention._claimers import claimer_retention
from lab.retention._retention import RetentionResult, retention

__all__ = ["RetentionResult", "retention", "claimer_retention"]
