"""Denomination design: which 满X减Y ladder brings the most redeemed amount per yuan.

A response model fitted on the logs (:class:`ResponseModel`) predicts any ladder
(:func:`predict_ladder`) and searches ladders under a budget
(:func:`optimize_ladder`); :func:`split_test` reads the seed's split A/B test.

Example
-------
>>> import lab
>>> from lab.world import simulate
>>> from lab.denomination import ResponseModel, predict_ladder
>>> store = lab.Store(":memory:")
>>> run = simulate("denomination_split", store=store, users=3000, days=14, pre_days=14, progress=False)
>>> fitted = ResponseModel.fit(store, run=run)
>>> 0 < predict_ladder(fitted, [(30000, 5000, 3), (10000, 2000, 1)]).redemption_rate < 1
True
"""

from lab.denomination._effects import split_effect
from lab.denomination._ladder import LadderPrediction, predict_ladder
from lab.denomination._optimize import LadderFrontier, optimize_ladder
from lab.denomination._response import FittedResponse, ResponseModel
from lab.denomination._split import SplitTestResult, split_test

__all__ = [
    "FittedResponse",
    "LadderFrontier",
    "LadderPrediction",
    "ResponseModel",
    "SplitTestResult",
    "optimize_ladder",
    "predict_ladder",
    "split_test",
    "split_effect",
]
