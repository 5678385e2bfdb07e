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


def claims(table: dict[int, list[float]]) -> pd.DataFrame:
    """Claims model: class -> [P(class) * P(n = 0 | class), P(class) * P(n = 1 | class), ...]."""
    return pd.DataFrame.from_dict(table, orient="index").fillna(0.0)


def hand_model(claim_table=None) -> FittedResponse:
    # logit p = -log(T / b) + log(A / 1 yuan) - better_held ; E[amount] = b * exp(gap) = max(b, T).
    # Every user claims every rung exactly once unless ``claim_table`` says otherwise: with one
    # claim and the default limit of 1 each user holds one coupon of each rung, which is what
    # the first two golden tests were derived for (before claims and limits were modelled),
    # so their values stand.
    return FittedResponse(
        redemption_params=pd.Series(
            {"const": 0.0, "log_threshold_ratio": -1.0, "log_value": 1.0, "better_held": -1.0}
        ),
        amount_params=pd.Series({"const": 0.0, "gap": 1.0}),
        amount_dispersion=0.0,
        claims=claims({0: [0.0, 1.0]}) if claim_table is None else claim_table,
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


def test_claims_and_limits_golden():
    # two classes: half the users never claim, half claim each rung twice; 满300减50 limited to
    # 3 per user, 满100减20 to 1: a claiming user holds 2 big coupons and 1 small one (always
    # with a big one), so per user E[copies] = 1 and 0.5
    fitted = hand_model(claims({0: [0.5], 1: [0.0, 0.0, 0.5]}))
    pred = predict_ladder(fitted, [(30000, 5000, 3), (10000, 2000)])
    big = np.array([odds(50 / 3), odds(50 / 1.5)])
    small = np.array([odds(20 * 1 / math.e), odds(20 * 2 / math.e)])
    amounts_small = np.array([10000, 20000])
    assert pred.ladder == ((30000, 5000, 3), (10000, 2000, 1))
    assert pred.issued == pytest.approx(2 * (1.0 + 0.5), rel=1e-12)
    assert pred.redemptions == pytest.approx(big.sum() + 0.5 * small.sum(), rel=1e-12)
    redeemed = 30000 * big.sum() + 0.5 * (small * amounts_small).sum()
    assert pred.redeemed_amount_fen == pytest.approx(redeemed, rel=1e-12)
    assert pred.cost_fen == pytest.approx(5000 * big.sum() + 0.5 * 2000 * small.sum(), rel=1e-12)
    assert pred.aov_fen == pytest.approx(redeemed / (big.sum() + 0.5 * small.sum()), rel=1e-12)
    # a non-claimer redeems nothing; a claimer redeems nothing if all three coupons go unused
    rate = np.mean(0.5 * (1 - (1 - big) ** 2 * (1 - small)))
    assert pred.redemption_rate == pytest.approx(rate, rel=1e-12)
    assert list(pred.by_coupon["issued"]) == pytest.approx([2.0, 1.0], rel=1e-12)
    assert list(pred.by_coupon["redemption_rate"]) == pytest.approx(
        [big.mean(), small.mean()], rel=1e-12
    )
    assert pred.to_frame()["ladder"].iloc[0] == "满300减50×3 + 满100减20"
    # the limit is what makes a second copy count: with limit 1 the big coupon counts once
    single = predict_ladder(fitted, [(30000, 5000, 1)])
    assert single.redemptions == pytest.approx(0.5 * big.sum(), rel=1e-12)


def test_small_rung_held_alone_golden():
    # one class claiming each rung 0 or 1 times, independently, with probability 1/2: a
    # quarter of users hold neither rung, a quarter only 满300减50, a quarter only 满100减20
    # (redeemed as if no better coupon were held) and a quarter both
    pred = predict_ladder(hand_model(claims({0: [0.5, 0.5]})), [(30000, 5000), (10000, 2000)])
    big = np.array([odds(50 / 3), odds(50 / 1.5)])
    alone = np.array([odds(20 * 1), odds(20 * 2)])  # odds = 20 * b / 100 yuan
    held = np.array([odds(20 * 1 / math.e), odds(20 * 2 / math.e)])
    amounts_small = np.array([10000, 20000])
    assert pred.issued == pytest.approx(2 * (0.5 + 0.5), rel=1e-12)
    redemptions = 0.5 * big.sum() + 0.25 * alone.sum() + 0.25 * held.sum()
    assert pred.redemptions == pytest.approx(redemptions, rel=1e-12)
    redeemed = 0.5 * 30000 * big.sum() + 0.25 * ((alone + held) * amounts_small).sum()
    assert pred.redeemed_amount_fen == pytest.approx(redeemed, rel=1e-12)
    none = 0.25 + 0.25 * (1 - big) + 0.25 * (1 - alone) + 0.25 * (1 - big) * (1 - held)
    assert pred.redemption_rate == pytest.approx(np.mean(1 - none), rel=1e-12)
    assert list(pred.by_coupon["redemption_rate"]) == pytest.approx(
        [big.mean(), (alone.mean() + held.mean()) / 2], rel=1e-12
    )


@pytest.mark.parametrize(
    "ladder",
    [
        [],
        [(10000, 10000)],
        [(30000, 5000, 0)],
        [(30000, 5000, 1, 1)],
        [30000],
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
