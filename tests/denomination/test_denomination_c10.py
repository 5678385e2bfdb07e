"""CALIBRATION C10: splitting 满300减50 into 满300减50 + 满100减20 raises the total redeemed
amount by 23 % and lowers the AOV by 17 % (±3 pp each), read by ``split_test`` (the
lab's own A/B engine) on the world's ``denomination_split`` preset.

120,000 users over 28 days give 95 % intervals of about ±3 pp on the redeemed amount
and ±1.5 pp on the AOV, and the test runs in about 15 s.
"""

import pytest

import lab
from lab.calibration import measure_c10
from lab.denomination import split_test
from lab.world import simulate

TARGET_AMOUNT, TARGET_AOV, TOLERANCE = 0.23, -0.17, 0.03


@pytest.fixture(scope="module")
def c10():
    store = lab.Store(":memory:")
    run = simulate(
        "denomination_split", store=store, users=120_000, days=28, seed=10, progress=False
    )
    return store, run, split_test(store, run=run)


def test_split_test_agrees_with_calibration_measure(c10):
    store, run, result = c10
    measured = measure_c10(store, run=run)
    assert result.redeemed_amount_change == pytest.approx(
        measured["redeemed_amount_change"], rel=1e-9
    )
    assert result.aov_change == pytest.approx(measured["aov_change"], rel=1e-9)


def test_c10_redeemed_amount(c10):
    _, _, result = c10
    low, high = result.redeemed_amount_ci
    assert abs(result.redeemed_amount_change - TARGET_AMOUNT) <= TOLERANCE, result.verdicts()
    assert low <= TARGET_AMOUNT <= high


def test_c10_aov(c10):
    _, _, result = c10
    low, high = result.aov_ci
    assert abs(result.aov_change - TARGET_AOV) <= TOLERANCE, result.verdicts()
    assert low <= TARGET_AOV <= high
