"""Qini and uplift curves, and the areas under them.

Units are ranked by predicted uplift, highest first. After targeting the top ``k``
units (``N_t(k)`` treated with outcome sum ``Y_t(k)``, ``N_c(k)`` control with ``Y_c(k)``):

- Qini curve (Radcliffe 2007): ``Q(k) = Y_t(k) - Y_c(k) N_t(k) / N_c(k)``, the
  incremental outcome among the treated targeted so far;
- uplift curve: ``U(k) = (Y_t(k) / N_t(k) - Y_c(k) / N_c(k)) k``, the incremental
  outcome had all ``k`` targeted units been treated.

A term whose denominator is 0 counts as 0. Units with tied scores enter together: the
curve has one point per distinct score (plus the origin), so the order of tied rows
cannot change it. The x axis is the fraction of units targeted, ``k / N``. Areas are
trapezoids over that axis; the *random* curve is the straight line from the origin to
the curve's end point (what targeting in random order yields on average), and a
curve's *coefficient* is its area minus the random curve's area. When the true uplift
is known (synthetic worlds), the *oracle* curve ranks by it instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["UpliftCurve", "auuc", "qini_curve", "uplift_curve"]

_KINDS = ("qini", "uplift")


def _inputs(scores, treatment, y):
    s = np.asarray(scores, dtype=float)
    t = np.asarray(treatment)
    y = np.asarray(y, dtype=float)
    if not (s.ndim == t.ndim == y.ndim == 1) or not (len(s) == len(t) == len(y)):
        raise ValueError("uplift_scores, treatment and y must be 1-D arrays of the same length")
    if len(s) == 0:
        raise ValueError("uplift_scores is empty")
    if not np.isin(t, (0, 1)).all():
        raise ValueError("treatment must contain only 0 (control) and 1 (treated)")
    if not (np.isfinite(s).all() and np.isfinite(y).all()):
        raise ValueError("uplift_scores and y must be finite")
    return s, t.astype(float), y


def _points(kind: str, scores, t, y) -> tuple[np.ndarray, np.ndarray]:
    """x (fraction targeted) and curve value at the origin and the end of each tie group."""
    order = np.argsort(-scores, kind="stable")
    s, t, y = scores[order], t[order], y[order]
    nt, nc = np.cumsum(t), np.cumsum(1 - t)
    yt, yc = np.cumsum(y * t), np.cumsum(y * (1 - t))
    ends = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]
    nt, nc, yt, yc = nt[ends], nc[ends], yt[ends], yc[ends]
    k = ends + 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "qini":
            value = yt - np.where(nc > 0, yc * nt / nc, 0.0)
        else:
            value = (np.where(nt > 0, yt / nt, 0.0) - np.where(nc > 0, yc / nc, 0.0)) * k
    return np.r_[0.0, k / len(s)], np.r_[0.0, value]


def _area(x, v) -> float:
    return float(np.sum((x[1:] - x[:-1]) * (v[1:] + v[:-1]) / 2))


@dataclass(frozen=True)
class UpliftCurve:
    """A Qini or uplift curve with its random baseline (and oracle, if known).

    Attributes
    ----------
    kind : {"qini", "uplift"}
    frame : DataFrame
        Tidy: ``curve`` (``model``, ``random``, ``oracle``), ``fraction`` (share of
        units targeted) and ``value``.
    areas : dict
        Area under each curve.
    """

    kind: str
    frame: pd.DataFrame = field(repr=False)
    areas: dict = field(repr=False)

    @property
    def area(self) -> float:
        """Area under the model curve (AUUC for ``kind='uplift'``, AUQC for ``'qini'``)."""
        return self.areas["model"]

    @property
    def coefficient(self) -> float:
        """Model area minus random area (the Qini coefficient for ``kind='qini'``)."""
        return self.areas["model"] - self.areas["random"]

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def plot(self):
        """The curves over the fraction of units targeted."""
        import holoviews as hv

        curves = {
            name: hv.Curve(d, "fraction", "value", label=name)
            for name, d in self.frame.groupby("curve", sort=False)
        }
        return hv.NdOverlay(curves, kdims="curve").opts(
            title=f"{self.kind.capitalize()} curve (area {self.area:.4g}, coefficient {self.coefficient:.4g})"
        )


def _curve(kind, uplift_scores, treatment, y, true_uplift) -> UpliftCurve:
    s, t, y = _inputs(uplift_scores, treatment, y)
    x, v = _points(kind, s, t, y)
    parts = {"model": (x, v), "random": (np.array([0.0, 1.0]), np.array([0.0, v[-1]]))}
    if true_uplift is not None:
        true = np.asarray(true_uplift, dtype=float)
        if true.shape != s.shape:
            raise ValueError(
                f"true_uplift must have the same length as uplift_scores, got {true.shape}"
            )
        parts["oracle"] = _points(kind, true, t, y)
    frame = pd.concat(
        [
            pd.DataFrame({"curve": name, "fraction": px, "value": pv})
            for name, (px, pv) in parts.items()
        ],
        ignore_index=True,
    )
    areas = {name: _area(px, pv) for name, (px, pv) in parts.items()}
    return UpliftCurve(kind=kind, frame=frame, areas=areas)


def qini_curve(uplift_scores, treatment, y, *, true_uplift=None) -> UpliftCurve:
    """Qini curve of a ranking by ``uplift_scores``.

    Parameters
    ----------
    uplift_scores : array-like
        Predicted uplift per unit (higher = target first).
    treatment : array-like of 0/1
    y : array-like
        Observed outcome.
    true_uplift : array-like, optional, keyword-only
        Known true uplift per unit; adds the ``oracle`` curve.

    Returns
    -------
    UpliftCurve

    Examples
    --------
    >>> c = qini_curve([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [1, 0, 1, 0, 1, 0], [1, 0, 1, 1, 0, 0])
    >>> c.area, c.coefficient
    (1.0, 0.5)
    """
    return _curve("qini", uplift_scores, treatment, y, true_uplift)


def uplift_curve(uplift_scores, treatment, y, *, true_uplift=None) -> UpliftCurve:
    """Uplift curve ``(Y_t/N_t - Y_c/N_c) k`` of a ranking by ``uplift_scores``.

    Parameters are as for :func:`qini_curve`.

    Examples
    --------
    >>> c = uplift_curve([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [1, 0, 1, 0, 1, 0], [1, 0, 1, 1, 0, 0])
    >>> round(c.area, 6)
    1.638889
    """
    return _curve("uplift", uplift_scores, treatment, y, true_uplift)


def auuc(uplift_scores, treatment, y, *, kind: str = "uplift") -> float:
    """Area under the uplift curve (``kind='uplift'``) or the Qini curve (``'qini'``).

    Examples
    --------
    >>> auuc([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [1, 0, 1, 0, 1, 0], [1, 0, 1, 1, 0, 0], kind="qini")
    1.0
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    s, t, y = _inputs(uplift_scores, treatment, y)
    return _area(*_points(kind, s, t, y))
