"""predict_ladder agrees with the split A/B it is fitted next to (issue 5).

On the small ``denomination_split`` world of conftest (6,000 users, 14 days, seed 3) the
response model, fitted on both arms, predicts the two tested ladders with the per-user
limits the ``stocks`` table records (满300减50 up to 3 per user, 满100减20 once).

Ground truth: the same world configuration (14 days, 14 pre-period days) at 200,000
users, seeds 21 and 22, read by ``split_test``: redeemed amount +0.270 and +0.252
(95 % intervals ±0.022), AOV −0.177 and −0.177 (±0.004). Over seeds 0-7 of the small
world the predicted changes were +0.273 ± 0.010 and −0.175 ± 0.008 (mean ± sd), so the
tolerances below are about 3-4 sd of the prediction around the truth. On this seed the
prediction also lies inside the A/B's own 95 % intervals (±0.13 and ±0.024).

Before the fix the model predicted one coupon of each rung per user (ignoring the limit
of 3 on 满300减50 and the users who never claim) and amounts from a log-scale OLS:
+0.52 and −0.30 on this world, against an A/B of +0.25 [0.12, 0.38] and
−0.16 [−0.18, −0.14].
"""

import numpy as np
import pytest
from scipy import stats

from lab.denomination import ResponseModel, predict_ladder, split_test

TRUE_AMOUNT, TRUE_AOV = 0.261, -0.177
AMOUNT_TOLERANCE, AOV_TOLERANCE = 0.04, 0.025


@pytest.fixture(scope="module")
def readout(denom_store):
    store, run = denom_store
    fitted = ResponseModel.fit(store, run=run)
    stocks = store.query(
        """
        SELECT arm, transaction_minimum_fen AS t, amount_fen AS a, max_per_user AS cap
        FROM stocks WHERE run_id = ? ORDER BY arm, t DESC
        """,
        [run],
    )
    ladders = {
        arm: [(int(r.t), int(r.a), int(r.cap)) for r in part.itertuples()]
        for arm, part in stocks.groupby("arm")
    }
    assert ladders == {"single": [(30000, 5000, 3)], "split": [(30000, 5000, 3), (10000, 2000, 1)]}
    pred = {arm: predict_ladder(fitted, ladder) for arm, ladder in ladders.items()}
    return store, run, pred, split_test(store, run=run)


def test_split_change_within_ab_interval_and_truth(readout):
    _, _, pred, ab = readout
    amount = pred["split"].redeemed_amount_fen / pred["single"].redeemed_amount_fen - 1
    aov = pred["split"].aov_fen / pred["single"].aov_fen - 1
    assert ab.redeemed_amount_ci[0] <= amount <= ab.redeemed_amount_ci[1], amount
    assert ab.aov_ci[0] <= aov <= ab.aov_ci[1], aov
    assert abs(amount - TRUE_AMOUNT) <= AMOUNT_TOLERANCE, amount
    assert abs(aov - TRUE_AOV) <= AOV_TOLERANCE, aov


def test_per_arm_figures_match_the_arms(readout):
    """Per assigned user: redeemed amount within the arm's 95 % interval (a plain normal
    interval computed here), AOV within 3 % of the arm's, share of users redeeming within
    2.5 pp.

    The share redeeming is the one figure the model still overstates (by 0.9 pp on the
    single arm, 1.9 pp on the split arm here): it treats the copies a user holds as
    redeemed independently given the user's profile, while users also differ in what the
    profile does not show (price sensitivity), so one user's copies are redeemed together
    more often and fewer distinct users redeem. Totals, amounts and AOV are unaffected.
    """
    store, run, pred, _ = readout
    per_user = store.query(
        """
        SELECT a.arm, a.user_id,
               coalesce(sum(o.amount_fen), 0) AS amount, count(o.order_id) AS orders
        FROM assignments a
        LEFT JOIN orders o ON o.run_id = a.run_id AND o.user_id = a.user_id
             AND o.coupon_id IS NOT NULL
        WHERE a.run_id = ? AND a.experiment = 'denomination'  -- not the holdout
        GROUP BY a.arm, a.user_id
        """,
        [run],
    )
    z = stats.norm.ppf(0.975)
    for arm, part in per_user.groupby("arm"):
        p = pred[arm]
        amount = part.amount.to_numpy(float)
        se = amount.std(ddof=1) / np.sqrt(len(amount))
        assert abs(p.redeemed_amount_fen / p.n_users - amount.mean()) <= z * se, arm
        assert p.redemption_rate == pytest.approx((part.orders > 0).mean(), abs=0.025), arm
        aov = amount.sum() / part.orders.sum()
        assert p.aov_fen == pytest.approx(aov, rel=0.03), arm
        # coupons issued per user: what the limits let through, within 5 % (rate limits)
        issued = store.query(
            """
            SELECT count(*) AS n FROM coupons c JOIN stocks s USING (run_id, stock_id)
            WHERE c.run_id = ? AND s.arm = ? AND c.status <> 'refused'
            """,
            [run, arm],
        )["n"].iloc[0]
        assert p.issued / p.n_users == pytest.approx(issued / len(part), rel=0.05), arm
