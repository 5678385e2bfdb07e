"""The synthetic coupon world: strategies in, issuance logs and ground truth out.

Example
-------
>>> import lab
>>> from lab.world import simulate, preset
>>> store = lab.Store(":memory:")
>>> simulate(preset("aa_test"), store=store, users=500, days=7, pre_days=7, progress=False)
'aa_test-s0'
"""

from lab.world._params import PARAMS, Params, parameters_frame
from lab.world._presets import PRESETS, preset
from lab.world._rush import claim_rush
from lab.world._simulate import simulate
from lab.world._strategy import (
    DEFAULT_HOLDOUT_SHARE,
    Arm,
    Campaign,
    Experiment,
    Stock,
    Strategy,
    Targeting,
)

__all__ = [
    "DEFAULT_HOLDOUT_SHARE",
    "PARAMS",
    "PRESETS",
    "Arm",
    "Campaign",
    "Experiment",
    "Params",
    "Stock",
    "Strategy",
    "Targeting",
    "claim_rush",
    "parameters_frame",
    "preset",
    "simulate",
]
