"""Per-account risk score: explicit rules plus an unsupervised anomaly score.

The rules (:data:`lab.risk.RULES`) catch the patterns we know; an
:class:`~sklearn.ensemble.IsolationForest` on the standardised features catches
accounts that are odd in a way no rule names. Count features are ``log1p``-transformed
before standardising, so one huge ring does not squash everyone else into one point.

Scores combine by noisy-or::

    risk = 1 - (1 - rule_score) * (1 - ANOMALY_WEIGHT * anomaly)

where ``anomaly`` is 0 for accounts the forest does not call outliers (at the given
``contamination``) and rises linearly to 1 with the forest's anomaly score
``s(x) ∈ (0, 1]`` (Liu et al. 2008) above the outlier cut-off. Decisions:

- ``block`` when ``risk >= BLOCK_AT`` (0.7): e.g. a shared device plus any other signal;
- ``challenge`` (real-name / face check) when ``risk >= CHALLENGE_AT`` (0.3): e.g. a
  virtual-number segment alone, or an outlier with no rule fired;
- ``allow`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.preprocessing import StandardScaler

from lab._validate import check
from lab.risk._features import FEATURES, risk_features
from lab.risk._rules import RULES, Rule, apply_rules
from lab.store import Store

__all__ = [
    "ANOMALY_WEIGHT",
    "BLOCK_AT",
    "CHALLENGE_AT",
    "DECISIONS",
    "RiskScores",
    "score_accounts",
]

ANOMALY_WEIGHT = 0.5
BLOCK_AT = 0.7
CHALLENGE_AT = 0.3
DECISIONS = ("allow", "challenge", "block")
_RATIO_FEATURES = ("virtual_number", "unredeemed_share", "near_threshold_share")


@dataclass(frozen=True)
class RiskScores:
    """Risk scores of every account of one run.

    Attributes
    ----------
    run : str
        Run scored.
    frame : DataFrame
        One row per account: ``user_id``, the features, ``rule_<name>`` flags,
        ``rules_fired``, ``rule_score``, ``anomaly``, ``risk`` in [0, 1] and
        ``decision`` (``allow`` / ``challenge`` / ``block``).
    block_at, challenge_at : float
        Decision cut-offs used.
    """

    run: str
    frame: pd.DataFrame = field(repr=False)
    block_at: float = BLOCK_AT
    challenge_at: float = CHALLENGE_AT

    def to_frame(self) -> pd.DataFrame:
        """The per-account frame (a copy)."""
        return self.frame.copy()

    def counts(self) -> pd.Series:
        """Accounts per decision, in ``allow, challenge, block`` order."""
        return self.frame["decision"].value_counts().reindex(list(DECISIONS), fill_value=0)

    def plot(self):
        """Histogram of the risk score, one overlaid histogram per decision."""
        import holoviews as hv

        edges = np.linspace(0, 1, 41)
        hists = []
        for decision in DECISIONS:
            values = self.frame.loc[self.frame["decision"] == decision, "risk"].to_numpy()
            counts, _ = np.histogram(values, bins=edges)
            hists.append(
                hv.Histogram((edges, counts), kdims="risk", vdims="accounts", label=decision)
            )
        return hv.Overlay(hists).opts(title=f"Risk scores, run {self.run}")


def _anomaly(features: pd.DataFrame, *, contamination, random_state: int) -> np.ndarray:
    """Isolation-forest anomaly in [0, 1]: 0 for inliers, rising to 1 above the cut-off."""
    if len(features) < 2:
        return np.zeros(len(features))
    x = features[list(FEATURES)].astype(float)
    x["account_age_hours"] = x["account_age_hours"].fillna(x["account_age_hours"].max()).fillna(0)
    counts = [c for c in FEATURES if c not in _RATIO_FEATURES and c != "account_age_hours"]
    x[counts] = np.log1p(x[counts].clip(lower=0))
    x["account_age_hours"] = np.sign(x["account_age_hours"]) * np.log1p(
        x["account_age_hours"].abs()
    )
    z = StandardScaler().fit_transform(x.to_numpy())
    forest = IsolationForest(contamination=contamination, random_state=random_state, n_jobs=1)
    forest.fit(z)
    s = -forest.score_samples(z)  # the paper's anomaly score, in (0, 1]
    cut = -forest.offset_
    return np.clip((s - cut) / max(1 - cut, 1e-12), 0, 1)


def score_accounts(
    store: Store,
    *,
    run: str,
    contamination: float | str = 0.05,
    random_state: int = 0,
    rules: tuple[Rule, ...] = RULES,
    block_at: float = BLOCK_AT,
    challenge_at: float = CHALLENGE_AT,
) -> RiskScores:
    """Score every account of ``run`` and decide allow / challenge / block.

    Parameters
    ----------
    store : Store
        The lab store.
    run : str, keyword-only
        Run id.
    contamination : float or "auto", keyword-only
        Share of accounts the isolation forest calls outliers (only those get a
        non-zero ``anomaly``).
    random_state : int, keyword-only
        Seed of the isolation forest.
    rules : tuple of Rule, keyword-only
        Explicit rules; default :data:`lab.risk.RULES`.
    block_at, challenge_at : float, keyword-only
        Decision cut-offs on ``risk``; ``0 < challenge_at <= block_at <= 1``.

    Returns
    -------
    RiskScores

    Examples
    --------
    >>> import lab
    >>> store = lab.Store(":memory:")
    >>> _ = store.create_run("r", origin="import")
    >>> score_accounts(store, run="r").frame.empty
    True
    """
    check(locals())  # argument types and ranges, up front
    if not 0 < challenge_at <= block_at <= 1:
        raise ValueError(
            f"need 0 < challenge_at <= block_at <= 1, got challenge_at={challenge_at!r}, "
            f"block_at={block_at!r}"
        )
    if contamination != "auto" and not (
        isinstance(contamination, int | float) and 0 < contamination <= 0.5
    ):
        raise ValueError(f"contamination must be 'auto' or in (0, 0.5], got {contamination!r}")
    features = risk_features(store, run=run)
    ruled = apply_rules(features, rules=rules)
    anomaly = _anomaly(features, contamination=contamination, random_state=random_state)
    frame = pd.concat([features, ruled.drop(columns="user_id")], axis=1)
    frame["anomaly"] = anomaly
    frame["risk"] = 1 - (1 - frame["rule_score"]) * (1 - ANOMALY_WEIGHT * anomaly)
    frame["decision"] = np.select(
        [frame["risk"] >= block_at, frame["risk"] >= challenge_at],
        ["block", "challenge"],
        default="allow",
    )
    return RiskScores(run=run, frame=frame, block_at=block_at, challenge_at=challenge_at)
