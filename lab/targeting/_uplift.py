"""Uplift (heterogeneous treatment effect) learners on top of scikit-learn regressors.

All four share the sklearn-like API ``fit(X, treatment, y)`` / ``predict_uplift(X)``
and take any scikit-learn regressor as base model (cloned, never mutated); the default
is :class:`~sklearn.ensemble.HistGradientBoostingRegressor` (150 iterations at
learning rate 0.05, leaves of at least 100 rows: uplift is a small difference of noisy
outcomes and default boosting overfits it), which handles NaN features natively. A 0/1 outcome works with a regressor too: it then models the
probability.

- :class:`TLearner` fits one outcome model per arm, uplift = mu1(x) - mu0(x).
- :class:`XLearner` (Künzel et al. 2019) imputes each unit's effect with the other
  arm's model, fits an effect model per arm and blends them by the propensity.
- :class:`TransformedOutcome` (Athey & Imbens 2015) regresses
  ``z = y (t - p) / (p (1 - p))``, whose expectation given x is the uplift, on x.
- :class:`DRLearner` (Kennedy 2023) regresses the doubly robust (AIPW) pseudo-outcome
  ``mu1 - mu0 + t (y - mu1) / p - (1 - t) (y - mu0) / (1 - p)`` on x, with the outcome
  models ``mu0``, ``mu1`` cross-fitted: each row's pseudo-outcome uses models trained
  on the other folds, so a row's own noise never enters its prediction of itself.

In a randomised experiment the propensity is the treated share, which is what the
learners use unless told otherwise.

``n_threads`` caps OpenMP threads while fitting and predicting. It defaults to 1:
gradient boosting with OpenMP on a machine whose cores are busy with other work spins
and runs about 20 times slower than one thread (measured on the lab's 2-core box);
pass ``None`` to use every core on an idle machine.
"""

from __future__ import annotations

import contextlib

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

__all__ = ["DRLearner", "TLearner", "TransformedOutcome", "XLearner"]


def _default_model(random_state: int) -> RegressorMixin:
    return HistGradientBoostingRegressor(
        max_iter=150, learning_rate=0.05, min_samples_leaf=100, random_state=random_state
    )


def _check(X, treatment, y):
    X = np.asarray(X, dtype=float) if not hasattr(X, "iloc") else X.to_numpy(dtype=float)
    t = np.asarray(treatment)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be two-dimensional, got shape {X.shape}")
    if not (len(X) == len(t) == len(y)):
        raise ValueError(
            f"X, treatment and y must have the same length, got {len(X)}, {len(t)}, {len(y)}"
        )
    if not np.isin(t, (0, 1)).all():
        raise ValueError("treatment must contain only 0 (control) and 1 (treated)")
    t = t.astype(bool)
    if t.all() or not t.any():
        raise ValueError("treatment must contain both treated (1) and control (0) units")
    if not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinite values")
    return X, t, y


def _as_array(X) -> np.ndarray:
    return X.to_numpy(dtype=float) if hasattr(X, "iloc") else np.asarray(X, dtype=float)


def _propensity(value, t: np.ndarray) -> float:
    p = float(t.mean()) if value is None else float(value)
    if not 0 < p < 1:
        raise ValueError(f"propensity must be in (0, 1), got {p!r}")
    return p


class _UpliftBase(BaseEstimator):
    def _threads(self):
        if self.n_threads is None:
            return contextlib.nullcontext()
        return threadpool_limits(limits=self.n_threads, user_api="openmp")

    def fit(self, X, treatment, y):
        """Fit on features ``X``, 0/1 ``treatment`` and outcome ``y``; return self."""
        X, t, y = _check(X, treatment, y)
        with self._threads():
            self._fit(X, t, y)
        return self

    def predict_uplift(self, X) -> np.ndarray:
        """Predicted uplift (treated minus control outcome) per row of ``X``."""
        if not hasattr(self, "models_"):
            raise RuntimeError(
                f"{type(self).__name__} is not fitted; call fit(X, treatment, y) first"
            )
        with self._threads():
            return self._predict(_as_array(X))


class TLearner(_UpliftBase):
    """Two-model learner: one outcome model per arm.

    Parameters
    ----------
    model : sklearn regressor, optional
        Base outcome model (cloned per arm); default a gradient-boosted tree regressor.
    random_state : int
        Seed of the default model.
    n_threads : int or None
        OpenMP thread cap (see the module notes); None = no cap.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2000, 2)); t = rng.integers(0, 2, 2000)
    >>> y = X[:, 0] + t * (1 + X[:, 1]) + rng.normal(scale=0.1, size=2000)
    >>> tau = TLearner().fit(X, t, y).predict_uplift(X)
    >>> bool(np.corrcoef(tau, 1 + X[:, 1])[0, 1] > 0.9)
    True
    """

    def __init__(self, model=None, *, random_state: int = 0, n_threads: int | None = 1):
        self.model = model
        self.random_state = random_state
        self.n_threads = n_threads

    def _fit(self, X, t, y):
        base = self.model if self.model is not None else _default_model(self.random_state)
        self.models_ = {arm: clone(base).fit(X[t == arm], y[t == arm]) for arm in (False, True)}

    def _predict(self, X):
        return self.models_[True].predict(X) - self.models_[False].predict(X)


class XLearner(_UpliftBase):
    """X-learner: imputed effects, one effect model per arm, blended by propensity.

    Parameters
    ----------
    model : sklearn regressor, optional
        Outcome model of stage one (cloned per arm).
    effect_model : sklearn regressor, optional
        Effect model of stage two (cloned per arm); defaults to ``model``.
    propensity : float, optional
        P(treated); default the treated share of the training data.
    random_state : int
    n_threads : int or None

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2000, 2)); t = rng.integers(0, 2, 2000)
    >>> y = X[:, 0] + t * (1 + X[:, 1]) + rng.normal(scale=0.1, size=2000)
    >>> tau = XLearner().fit(X, t, y).predict_uplift(X)
    >>> bool(np.corrcoef(tau, 1 + X[:, 1])[0, 1] > 0.9)
    True
    """

    def __init__(
        self,
        model=None,
        *,
        effect_model=None,
        propensity: float | None = None,
        random_state: int = 0,
        n_threads: int | None = 1,
    ):
        self.model = model
        self.effect_model = effect_model
        self.propensity = propensity
        self.random_state = random_state
        self.n_threads = n_threads

    def _fit(self, X, t, y):
        self.propensity_ = _propensity(self.propensity, t)
        base = self.model if self.model is not None else _default_model(self.random_state)
        effect = self.effect_model if self.effect_model is not None else base
        mu = {arm: clone(base).fit(X[t == arm], y[t == arm]) for arm in (False, True)}
        d1 = y[t] - mu[False].predict(X[t])  # treated: observed minus imputed control
        d0 = mu[True].predict(X[~t]) - y[~t]  # control: imputed treated minus observed
        self.models_ = {
            "mu0": mu[False],
            "mu1": mu[True],
            "tau1": clone(effect).fit(X[t], d1),
            "tau0": clone(effect).fit(X[~t], d0),
        }

    def _predict(self, X):
        g = self.propensity_
        # weight each arm's effect model by how well the *other* arm is estimated
        return g * self.models_["tau0"].predict(X) + (1 - g) * self.models_["tau1"].predict(X)


class TransformedOutcome(_UpliftBase):
    """Transformed-outcome learner: regress ``y (t - p) / (p (1 - p))`` on X.

    Parameters
    ----------
    model : sklearn regressor, optional
    propensity : float, optional
        P(treated); default the treated share of the training data.
    random_state : int
    n_threads : int or None

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(4000, 2)); t = rng.integers(0, 2, 4000)
    >>> y = t * (1 + X[:, 1]) + rng.normal(scale=0.1, size=4000)
    >>> tau = TransformedOutcome().fit(X, t, y).predict_uplift(X)
    >>> bool(np.corrcoef(tau, 1 + X[:, 1])[0, 1] > 0.8)
    True
    """

    def __init__(
        self,
        model=None,
        *,
        propensity: float | None = None,
        random_state: int = 0,
        n_threads: int | None = 1,
    ):
        self.model = model
        self.propensity = propensity
        self.random_state = random_state
        self.n_threads = n_threads

    def _fit(self, X, t, y):
        p = self.propensity_ = _propensity(self.propensity, t)
        z = y * (t - p) / (p * (1 - p))
        base = self.model if self.model is not None else _default_model(self.random_state)
        self.models_ = {"z": clone(base).fit(X, z)}

    def _predict(self, X):
        return self.models_["z"].predict(X)


class DRLearner(_UpliftBase):
    """Doubly robust learner: regress the cross-fitted AIPW pseudo-outcome on X.

    For each of ``n_folds`` folds (stratified by arm), outcome models ``mu0`` and
    ``mu1`` are fitted on the other folds and give the fold's pseudo-outcome

    ``phi = mu1(x) - mu0(x) + t (y - mu1(x)) / p - (1 - t) (y - mu0(x)) / (1 - p)``

    whose expectation given x is the uplift whenever either the outcome models or the
    propensity ``p`` are right (in a randomised experiment ``p`` is known). The effect
    model is then fitted on every row's ``phi``.

    Parameters
    ----------
    model : sklearn regressor, optional
        Outcome model (cloned per arm and fold); default a gradient-boosted tree regressor.
    effect_model : sklearn regressor, optional
        Model of ``phi`` on X; defaults to ``model``.
    propensity : float, optional
        P(treated); default the treated share of the training data.
    n_folds : int
        Cross-fitting folds (at least 2).
    random_state : int
        Seed of the fold split and of the default model.
    n_threads : int or None

    Attributes
    ----------
    pseudo_outcome_ : ndarray
        The cross-fitted ``phi`` of each training row; its mean is the AIPW estimate
        of the average effect.
    folds_ : ndarray
        Fold of each training row.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2000, 2)); t = rng.integers(0, 2, 2000)
    >>> y = X[:, 0] + t * (1 + X[:, 1]) + rng.normal(scale=0.1, size=2000)
    >>> tau = DRLearner().fit(X, t, y).predict_uplift(X)
    >>> bool(np.corrcoef(tau, 1 + X[:, 1])[0, 1] > 0.9)
    True
    """

    def __init__(
        self,
        model=None,
        *,
        effect_model=None,
        propensity: float | None = None,
        n_folds: int = 2,
        random_state: int = 0,
        n_threads: int | None = 1,
    ):
        self.model = model
        self.effect_model = effect_model
        self.propensity = propensity
        self.n_folds = n_folds
        self.random_state = random_state
        self.n_threads = n_threads

    def _fit(self, X, t, y):
        if not isinstance(self.n_folds, int | np.integer) or self.n_folds < 2:
            raise ValueError(f"n_folds must be an integer of at least 2, got {self.n_folds!r}")
        p = self.propensity_ = _propensity(self.propensity, t)
        base = self.model if self.model is not None else _default_model(self.random_state)
        effect = self.effect_model if self.effect_model is not None else base
        splitter = StratifiedKFold(self.n_folds, shuffle=True, random_state=self.random_state)
        phi = np.empty(len(y))
        folds = np.empty(len(y), dtype=np.int64)
        for k, (train, held) in enumerate(splitter.split(X, t)):
            tt = t[train]
            mu1 = clone(base).fit(X[train][tt], y[train][tt]).predict(X[held])
            mu0 = clone(base).fit(X[train][~tt], y[train][~tt]).predict(X[held])
            th, yh = t[held], y[held]
            phi[held] = mu1 - mu0 + th * (yh - mu1) / p - (~th) * (yh - mu0) / (1 - p)
            folds[held] = k
        self.pseudo_outcome_, self.folds_ = phi, folds
        self.models_ = {"tau": clone(effect).fit(X, phi)}

    def _predict(self, X):
        return self.models_["tau"].predict(X)
