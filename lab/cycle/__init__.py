"""Redemption cycle: share redeemed by day since issue (cumulative incidence or
Kaplan-Meier), and the log-rank test.

Example
-------
>>> import lab, lab.cycle
>>> store = lab.Store(":memory:")
>>> _ = store.create_run("r", origin="import")
>>> lab.cycle.redemption_cycle(store, run="r", by="platform").to_frame().empty
True
"""

from lab.cycle._cycle import (
    ESTIMATORS,
    CycleComparison,
    CycleResult,
    compare_cycles,
    redemption_cycle,
)

__all__ = ["ESTIMATORS", "CycleComparison", "CycleResult", "compare_cycles", "redemption_cycle"]
