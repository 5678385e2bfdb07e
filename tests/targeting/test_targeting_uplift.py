"""Uplift learners: known linear uplift recovered; exact values with trivial base models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression

from lab.targeting import DRLearner, TLearner, TransformedOutcome, XLearner


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


def _ols(X, y):
    """Plain least squares with an intercept: coefficients and a predictor."""
    A = np.column_stack([np.ones(len(X)), X])
    beta = np.linalg.lstsq(A, y, rcond=None)[0]
    return lambda Z: np.column_stack([np.ones(len(Z)), Z]) @ beta


def test_dr_learner_matches_a_numpy_reference_of_the_documented_formula():
    """Kennedy's DR-learner written out in numpy on the learner's own folds.

    Each row's pseudo-outcome uses OLS outcome models fitted on the other folds;
    the effect model is OLS of the pseudo-outcome on X.
    """
    rng = np.random.default_rng(3)
    n = 900
    X = rng.normal(size=(n, 3))
    t = (rng.random(n) < 0.4).astype(int)
    y = 1 + X[:, 0] + t * (0.3 + X[:, 2] ** 2) + rng.normal(size=n)
    model = DRLearner(LinearRegression(), n_folds=3, random_state=5).fit(X, t, y)
    p = t.mean()
    phi = np.empty(n)
    for k in range(3):
        held, train = model.folds_ == k, model.folds_ != k
        mu1 = _ols(X[train & (t == 1)], y[train & (t == 1)])(X[held])
        mu0 = _ols(X[train & (t == 0)], y[train & (t == 0)])(X[held])
        th, yh = t[held], y[held]
        phi[held] = mu1 - mu0 + th * (yh - mu1) / p - (1 - th) * (yh - mu0) / (1 - p)
    np.testing.assert_allclose(model.pseudo_outcome_, phi, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(model.predict_uplift(X), _ols(X, phi)(X), rtol=1e-8, atol=1e-9)
    # folds are stratified by arm: every fold holds about the same share treated
    shares = [t[model.folds_ == k].mean() for k in range(3)]
    assert np.ptp(shares) < 0.01


def test_dr_learner_recovers_the_true_effects(linear_data):
    X, t, y, tau = linear_data
    model = DRLearner().fit(X, t, y)
    assert np.corrcoef(model.predict_uplift(X), tau)[0, 1] > 0.8
    # the mean pseudo-outcome is the AIPW average effect: true mean 0.5 + mean(x1)
    se = model.pseudo_outcome_.std() / np.sqrt(len(y))
    assert abs(model.pseudo_outcome_.mean() - tau.mean()) < 4 * se


def test_dr_learner_propensity_and_folds_are_checked(linear_data):
    X, t, y, _ = linear_data
    with pytest.raises(ValueError, match="n_folds"):
        DRLearner(n_folds=1).fit(X, t, y)
    with pytest.raises(ValueError, match="propensity"):
        DRLearner(propensity=0.0).fit(X, t, y)
    # a known propensity is used as given, not the sample share
    model = DRLearner(LinearRegression(), propensity=0.5).fit(X, t, y)
    assert model.propensity_ == 0.5
