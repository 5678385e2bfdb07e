import pytest

import lab
from lab.world import simulate


@pytest.fixture(scope="session")
def denom_store():
    """A small denomination_split world (fit checks, not calibration)."""
    store = lab.Store(":memory:")
    run = simulate(
        "denomination_split", store=store, users=6000, days=14, pre_days=14, seed=3, progress=False
    )
    return store, run
