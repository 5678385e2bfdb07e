"""Synthetic data with a known uplift, for the targeting tests."""

from __future__ import annotations

import numpy as np
import pytest


def linear_uplift(n: int = 3000, *, seed: int = 0, noise: float = 0.5):
    """Four features; outcome 1 + x0 + t * (0.5 + x1) + noise; true uplift 0.5 + x1."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    t = rng.integers(0, 2, size=n)
    tau = 0.5 + X[:, 1]
    y = 1 + X[:, 0] + t * tau + rng.normal(scale=noise, size=n)
    return X, t, y, tau


@pytest.fixture(scope="module")
def linear_data():
    return linear_uplift()
