"""Uplift learners: known linear uplift recovered; exact values with trivial base models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression

from lab.targeting import TLearner, TransformedOutcome, XLearner


def test_t_learner_recovers_linear_uplift(linear_data):
    X, t, y, tau = linear_data
    pred = TLearner().fit(X, t, y).predict_uplift(X)
    assert np.corrcoef(pred, tau)[0, 1] > 0.8


@pytest.mark.parametrize(("learner", "min_corr"), [(XLearner, 0.8), (TransformedOutcome, 0.6)])
def test_other_learners_recover_linear_uplift(linear_data, learner, min_corr):
    X, t, y, tau = linear_data
    pred = learner().fit(X, t, y).predict_uplift(X)
    assert np.corrcoef(pred, tau)[0, 1] > min_corr


def test_linear_base_model_gives_the_exact_effect():
    """Noise-free linear data: a T-learner on OLS recovers 0.5 + x1 to rounding."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    t = rng.integers(0, 2, size=200)
    y = 2 + X[:, 0] - X[:, 2] + t * (0.5 + X[:, 1])
    for learner in (TLearner(LinearRegression()), XLearner(LinearRegression())):
        np.testing.assert_allclose(learner.fit(X, t, y).predict_uplift(X), 0.5 + X[:, 1], atol=1e-9)


@pytest.mark.parametrize("learner", [XLearner, TransformedOutcome, TLearner])
def test_constant_model_gives_difference_in_means(learner):
    """With a mean-only base model every learner returns mean(y | t=1) - mean(y | t=0)."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(500, 2))
    t = (rng.random(500) < 0.3).astype(int)
    y = rng.exponential(size=500) + t
    expected = y[t == 1].mean() - y[t == 0].mean()
    pred = learner(DummyRegressor()).fit(X, t, y).predict_uplift(X[:5])
    np.testing.assert_allclose(pred, expected, rtol=1e-10)


def test_accepts_frames_and_validates(linear_data):
    X, t, y, _ = linear_data
    frame = pd.DataFrame(X, columns=list("abcd"))
    model = TLearner(LinearRegression()).fit(frame, pd.Series(t), pd.Series(y))
    assert model.predict_uplift(frame).shape == (len(frame),)
    with pytest.raises(RuntimeError, match="not fitted"):
        TLearner().predict_uplift(X)
    with pytest.raises(ValueError, match="only 0"):
        TLearner().fit(X, t + 1, y)
    with pytest.raises(ValueError, match="both treated"):
        TLearner().fit(X, np.zeros_like(t), y)
    with pytest.raises(ValueError, match="same length"):
        TLearner().fit(X, t[:-1], y)
    with pytest.raises(ValueError, match="propensity"):
        XLearner(propensity=1.5).fit(X, t, y)
