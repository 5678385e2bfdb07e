"""Redemption cycle: Kaplan-Meier days from issue to redemption, and the log-rank test.

Example
-------
>>> import lab, lab.cycle
>>> store = lab.Store(":memory:")
>>> _ = store.create_run("r", origin="import")
>>> lab.cycle.redemption_cycle(store, run="r", by="platform").to_frame().empty
True
"""

from lab.cycle._cycle import CycleComparison, CycleResult, compare_cycles, redemption_cycle

__all__ = ["CycleComparison", "CycleResult", "compare_cycles", "redemption_cycle"]
