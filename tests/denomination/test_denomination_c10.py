"""CALIBRATION C10: splitting 满300减50 into 满300减50 + 满100减20 raises the total redeemed
amount by 23 % and lowers the AOV by 17 % (±3 pp each), read by ``split_test`` (the
lab's own A/B engine) on the world's ``denomination_split`` preset.

The world is the calibration world of this row (``lab.calibration.WORLDS``: 21 days,
seed 7), at 120,000 users so that the 95 % intervals are about ±2.4 pp on the redeemed
amount and ±0.5 pp on the AOV; the test runs in about 15 s. Across seeds 7, 10 and 11
the redeemed-amount change was 0.234, 0.196 and 0.212: the world's true split effect
sits near +21 %, inside the tolerance but not at its centre.
"""

import pytest

import lab
from lab.calibration import WORLDS, measure_c10
from lab.denomination import split_test
from lab.world import simulate

TARGET_AMOUNT, TARGET_AOV, TOLERANCE = 0.23, -0.17, 0.03


@pytest.fixture(scope="module")
def c10():
    store = lab.Store(":memory:")
    preset, _, days = WORLDS["denomination"]
    run = simulate(preset, store=store, users=120_000, days=days, seed=7, progress=False)
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
    # the whole interval inside the tolerance band: the world's true effect is within it
    assert TARGET_AMOUNT - TOLERANCE <= low <= high <= TARGET_AMOUNT + TOLERANCE


def test_c10_aov(c10):
    _, _, result = c10
    low, high = result.aov_ci
    assert abs(result.aov_change - TARGET_AOV) <= TOLERANCE, result.verdicts()
    assert TARGET_AOV - TOLERANCE <= low <= high <= TARGET_AOV + TOLERANCE
