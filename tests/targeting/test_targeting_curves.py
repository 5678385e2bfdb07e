"""Qini / uplift curves: a hand-derived 6-row example and a plain-numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.targeting import auuc, qini_curve, uplift_curve

SCORES = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
T = [1, 0, 1, 0, 1, 0]
Y = [1, 0, 1, 1, 0, 0]


def _model(curve):
    return curve.frame.query("curve == 'model'")["value"].to_numpy()


def test_golden_qini():
    # k: 1..6 -> Nt, Yt, Nc, Yc = (1,1,0,0) (1,1,1,0) (2,2,1,0) (2,2,2,1) (3,2,2,1) (3,2,3,1)
    # Q = Yt - Yc Nt/Nc = 1, 1, 2, 2 - 1, 2 - 1.5, 2 - 1
    c = qini_curve(SCORES, T, Y)
    np.testing.assert_allclose(_model(c), [0, 1, 1, 2, 1, 0.5, 1])
    # trapezoids of width 1/6: (0/2 + 1 + 1 + 2 + 1 + 0.5 + 1/2) / 6 = 1
    assert c.area == pytest.approx(1.0)
    assert c.areas["random"] == pytest.approx(0.5)
    assert c.coefficient == pytest.approx(0.5)
    assert auuc(SCORES, T, Y, kind="qini") == pytest.approx(1.0)


def test_golden_uplift():
    # U = (Yt/Nt - Yc/Nc) k = 1, 2, 3, (1 - 1/2) 4, (2/3 - 1/2) 5, (2/3 - 1/3) 6
    c = uplift_curve(SCORES, T, Y)
    np.testing.assert_allclose(_model(c), [0, 1, 2, 3, 2, 5 / 6, 2])
    assert c.area == pytest.approx(59 / 36)
    assert c.areas["random"] == pytest.approx(1.0)
    assert auuc(SCORES, T, Y) == pytest.approx(59 / 36)


def _reference(kind, s, t, y):
    """Plain loop over k, no ties: the textbook definitions."""
    order = np.argsort(-s, kind="stable")
    t, y = t[order], y[order]
    values = [0.0]
    for k in range(1, len(s) + 1):
        tt, yy = t[:k], y[:k]
        nt, nc = tt.sum(), (1 - tt).sum()
        yt, yc = (yy * tt).sum(), (yy * (1 - tt)).sum()
        if kind == "qini":
            values.append(yt - (yc * nt / nc if nc else 0.0))
        else:
            values.append(((yt / nt if nt else 0.0) - (yc / nc if nc else 0.0)) * k)
    x = np.arange(len(s) + 1) / len(s)
    return np.array(values), np.trapezoid(values, x)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 60), st.integers(0, 10_000), st.sampled_from(["qini", "uplift"]))
def test_matches_numpy_reference(n, seed, kind):
    rng = np.random.default_rng(seed)
    s = rng.permutation(n).astype(float)  # distinct scores
    t = rng.integers(0, 2, size=n)
    y = rng.poisson(1.0, size=n).astype(float)
    curve = (qini_curve if kind == "qini" else uplift_curve)(s, t, y)
    values, area = _reference(kind, s, t, y)
    np.testing.assert_allclose(_model(curve), values, atol=1e-9)
    assert curve.area == pytest.approx(area, abs=1e-9)
    assert auuc(s, t, y, kind=kind) == pytest.approx(area, abs=1e-9)


def test_ties_enter_together():
    s = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    t = np.array([1, 0, 1, 0, 1, 0])
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    a = qini_curve(s, t, y)
    b = qini_curve(s[[2, 1, 0, 5, 4, 3]], t[[2, 1, 0, 5, 4, 3]], y[[2, 1, 0, 5, 4, 3]])
    np.testing.assert_allclose(_model(a), _model(b))
    assert len(_model(a)) == 3  # origin + one point per distinct score


def test_oracle_curve():
    rng = np.random.default_rng(0)
    n = 4000
    tau = rng.normal(0.2, 0.3, size=n)
    t = rng.integers(0, 2, size=n)
    y = (rng.random(n) < np.clip(0.3 + t * tau, 0, 1)).astype(float)
    noisy = tau + rng.normal(scale=0.3, size=n)
    c = qini_curve(noisy, t, y, true_uplift=tau)
    assert set(c.frame["curve"]) == {"model", "random", "oracle"}
    assert c.areas["oracle"] > c.area > c.areas["random"]
    assert qini_curve(-tau, t, y).coefficient < 0


def test_validation_and_plot():
    import holoviews as hv

    hv.extension("bokeh")
    with pytest.raises(ValueError, match="same length"):
        qini_curve([1, 2], [0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="only 0"):
        uplift_curve([1, 2], [0, 2], [0, 1])
    with pytest.raises(ValueError, match="kind must be"):
        auuc([1, 2], [0, 1], [0, 1], kind="gain")
    with pytest.raises(ValueError, match="true_uplift"):
        qini_curve([1, 2], [0, 1], [0, 1], true_uplift=[1])
    assert isinstance(qini_curve(SCORES, T, Y).plot(), hv.NdOverlay)
