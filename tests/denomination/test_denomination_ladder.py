"""predict_ladder / optimize_ladder on a hand-made response model with golden values."""

import math

import numpy as np
import pandas as pd
import pytest

from lab.denomination import FittedResponse, optimize_ladder, predict_ladder

USERS = pd.DataFrame(
    {
        "user_id": [1, 2],
        "basket_fen": [10000.0, 20000.0],
        "distance_km": [0.0, 0.0],
        "credit_tier": [3.0, 3.0],
        "segment": ["new", "new"],
    }
)


def hand_model() -> FittedResponse:
    # logit p = -log(T / b) + log(A / 1 yuan) - better_held ; log(amount / b) = gap ; sigma 0
    return FittedResponse(
        redemption_params=pd.Series(
            {"const": 0.0, "log_threshold_ratio": -1.0, "log_value": 1.0, "better_held": -1.0}
        ),
        amount_params=pd.Series({"const": 0.0, "gap": 1.0}),
        amount_sigma=0.0,
        users=USERS,
        summary=pd.DataFrame(),
        data=pd.DataFrame(),
    )


def odds(o):
    return o / (1 + o)


def test_single_coupon_golden():
    pred = predict_ladder(hand_model(), [(30000, 5000)])
    p1, p2 = odds(50 / 3), odds(50 / 1.5)  # odds = (A / 1 yuan) * (b / T)
    assert pred.redemptions == pytest.approx(p1 + p2, rel=1e-12)
    assert pred.redemption_rate == pytest.approx((p1 + p2) / 2, rel=1e-12)
    # both users top up to exactly the threshold: b * T / b = 300 yuan
    assert pred.redeemed_amount_fen == pytest.approx(30000 * (p1 + p2), rel=1e-12)
    assert pred.aov_fen == pytest.approx(30000, rel=1e-12)
    assert pred.cost_fen == pytest.approx(5000 * (p1 + p2), rel=1e-12)
    assert pred.roi == pytest.approx(5.0, rel=1e-12)
    assert pred.incremental_gmv_fen == pytest.approx(p1 * 20000 + p2 * 10000, rel=1e-12)
    assert pred.incremental_roi == pytest.approx(
        (p1 * 20000 + p2 * 10000) / (5000 * (p1 + p2)) - 1, rel=1e-12
    )


def test_split_ladder_golden():
    pred = predict_ladder(hand_model(), [(30000, 5000), (10000, 2000)])
    big = [odds(50 / 3), odds(50 / 1.5)]
    # the 满100减20 coupon is held with a better one: odds * e^-1
    small = [odds(20 * 1 / math.e), odds(20 * 2 / math.e)]
    amounts_small = [10000, 20000]  # user 1 tops up to 100 yuan; user 2's basket is above it
    assert pred.redemptions == pytest.approx(sum(big) + sum(small), rel=1e-12)
    expected_rate = np.mean([1 - (1 - b) * (1 - s) for b, s in zip(big, small, strict=True)])
    assert pred.redemption_rate == pytest.approx(expected_rate, rel=1e-12)
    redeemed = 30000 * sum(big) + sum(s * a for s, a in zip(small, amounts_small, strict=True))
    assert pred.redeemed_amount_fen == pytest.approx(redeemed, rel=1e-12)
    assert pred.cost_fen == pytest.approx(5000 * sum(big) + 2000 * sum(small), rel=1e-12)
    assert pred.aov_fen == pytest.approx(redeemed / (sum(big) + sum(small)), rel=1e-12)
    assert list(pred.by_coupon["redemptions"]) == pytest.approx([sum(big), sum(small)], rel=1e-12)
    assert "满300减50 + 满100减20" in pred.to_frame()["ladder"].iloc[0]


@pytest.mark.parametrize(
    "ladder",
    [
        [],
        [(10000, 10000)],
        [(-1, 5)],
        [(30000, 5000), (30000, 2000)],
        [(10000, 2000), (20000, 2000)],
    ],
)
def test_bad_ladders(ladder):
    with pytest.raises(ValueError, match="ladder"):
        predict_ladder(hand_model(), ladder)


def test_optimize_consistent_with_predict():
    fitted = hand_model()
    front = optimize_ladder(
        fitted, budget_fen=6000, thresholds=(0, 10000, 30000), amounts=(1000, 2000, 5000)
    )
    table = front.to_frame()
    for row in table.itertuples():
        pred = predict_ladder(fitted, row.coupons)
        assert row.redeemed_amount_fen == pytest.approx(pred.redeemed_amount_fen, rel=1e-12)
        assert row.roi == pytest.approx(pred.roi, rel=1e-12)
    eligible = table[table.within_budget]
    assert (eligible.cost_fen <= 6000).all() and not table[~table.within_budget].on_frontier.any()
    frontier = front.frontier
    for row in frontier.itertuples():  # nothing within budget beats a frontier ladder on both axes
        beats = (
            (eligible.redeemed_amount_fen >= row.redeemed_amount_fen)
            & (eligible.roi >= row.roi)
            & ((eligible.redeemed_amount_fen > row.redeemed_amount_fen) | (eligible.roi > row.roi))
        )
        assert not beats.any()
    assert front.best == frontier.loc[frontier.redeemed_amount_fen.idxmax(), "coupons"]
    assert front.plot() is not None


def test_optimize_arguments():
    with pytest.raises(ValueError, match="budget_fen"):
        optimize_ladder(hand_model(), budget_fen=0)
    with pytest.raises(ValueError, match="max_coupons"):
        optimize_ladder(hand_model(), budget_fen=1, max_coupons=9)
