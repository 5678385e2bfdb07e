"""Score the risk model and the issuer's risk-control levels against the world's truth.

This is a scorecard, so it reads ``truth_users`` (``is_fraud``, ``ring_id``); the
scoring itself (:func:`lab.risk.score_accounts`) never does. The share of issued
coupons captured by rings is the seed's "15 % of coupons taken by 羊毛党" figure
(CALIBRATION C9): fraud accounts' issued or compensated coupons ÷ all issued or
compensated coupons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lab._validate import check
from lab.risk._score import RiskScores, score_accounts
from lab.store import Store

__all__ = ["ControlComparison", "RiskEvaluation", "compare_control_levels", "evaluate_risk"]

_ISSUED = "status IN ('issued', 'compensated')"


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


@dataclass(frozen=True)
class RiskEvaluation:
    """How well a :class:`RiskScores` separates ring accounts from honest ones.

    Attributes
    ----------
    run : str
    metrics : DataFrame
        ``metric``, ``value`` (see :func:`evaluate_risk`).
    rings : DataFrame
        Per ring: ``ring_id``, ``members``, ``blocked``, ``flagged`` (block or
        challenge), ``recall_flagged``.
    """

    run: str
    metrics: pd.DataFrame = field(repr=False)
    rings: pd.DataFrame = field(repr=False)

    def __getitem__(self, metric: str) -> float:
        values = self.metrics.set_index("metric")["value"]
        if metric not in values.index:
            raise KeyError(f"unknown metric {metric!r}; metrics are {', '.join(values.index)}")
        return float(values[metric])

    def to_frame(self) -> pd.DataFrame:
        return self.metrics.copy()

    def plot(self):
        """Bars of the per-ring share of members flagged."""
        import holoviews as hv

        return hv.Bars(self.rings, kdims="ring_id", vdims="recall_flagged").opts(
            title=f"Ring members flagged, run {self.run}", ylim=(0, 1)
        )


def evaluate_risk(store: Store, *, run: str, scores: RiskScores | None = None) -> RiskEvaluation:
    """Compare risk decisions with the truth of a synthetic run.

    Parameters
    ----------
    store : Store
    run : str, keyword-only
        A synthetic run (it needs ``truth_users``).
    scores : RiskScores, optional
        Scores to evaluate; computed with :func:`score_accounts` defaults if omitted.

    Returns
    -------
    RiskEvaluation
        Metrics: ``accounts``, ``fraud_accounts``, ``rings``; ``precision_block`` /
        ``recall_block`` (block decisions vs ``is_fraud``), ``precision_flagged`` /
        ``recall_flagged`` (block or challenge); ``ring_coupon_share`` (issued coupons
        claimed by fraud accounts ÷ issued coupons, as logged);
        ``ring_coupon_share_after_block`` (the same once blocked accounts' coupons are
        withheld); ``legit_blocked`` and ``legit_blocked_share`` (honest accounts
        blocked, count and ÷ honest accounts); ``legit_challenged_share``.

    Examples
    --------
    >>> import lab
    >>> store = lab.Store(":memory:")
    >>> _ = store.create_run("r", origin="synthetic")
    >>> evaluate_risk(store, run="r")["accounts"]
    0.0
    """
    check(locals())  # argument types and ranges, up front
    if scores is None:
        scores = score_accounts(store, run=run)
    elif scores.run != run:
        raise ValueError(f"scores were computed for run {scores.run!r}, not {run!r}")
    truth = store.query(
        "SELECT user_id, is_fraud, ring_id FROM truth_users WHERE run_id = ?", [run]
    )
    issued = store.query(
        f"SELECT user_id, count(*) AS n_issued_coupons FROM coupons "
        f"WHERE run_id = ? AND {_ISSUED} GROUP BY user_id",
        [run],
    )
    df = scores.frame[["user_id", "decision"]].merge(truth, on="user_id", how="left")
    df = df.merge(issued, on="user_id", how="left")
    df["is_fraud"] = df["is_fraud"].fillna(False).astype(bool)
    df["n_issued_coupons"] = df["n_issued_coupons"].fillna(0)
    fraud = df["is_fraud"].to_numpy()
    block = (df["decision"] == "block").to_numpy()
    flag = block | (df["decision"] == "challenge").to_numpy()
    n_coupons = df["n_issued_coupons"].to_numpy(dtype=float)
    legit = ~fraud
    metrics = {
        "accounts": len(df),
        "fraud_accounts": int(fraud.sum()),
        "rings": int(df["ring_id"].nunique()),
        "precision_block": _ratio((block & fraud).sum(), block.sum()),
        "recall_block": _ratio((block & fraud).sum(), fraud.sum()),
        "precision_flagged": _ratio((flag & fraud).sum(), flag.sum()),
        "recall_flagged": _ratio((flag & fraud).sum(), fraud.sum()),
        "ring_coupon_share": _ratio(n_coupons[fraud].sum(), n_coupons.sum()),
        "ring_coupon_share_after_block": _ratio(
            n_coupons[fraud & ~block].sum(), n_coupons[~block].sum()
        ),
        "legit_blocked": int((block & legit).sum()),
        "legit_blocked_share": _ratio((block & legit).sum(), legit.sum()),
        "legit_challenged_share": _ratio((flag & ~block & legit).sum(), legit.sum()),
    }
    rings = (
        df[fraud & df["ring_id"].notna()]
        .assign(
            blocked=block[fraud & df["ring_id"].notna()],
            flagged=flag[fraud & df["ring_id"].notna()],
        )
        .groupby("ring_id", as_index=False)
        .agg(members=("user_id", "size"), blocked=("blocked", "sum"), flagged=("flagged", "sum"))
    )
    rings["recall_flagged"] = rings["flagged"] / rings["members"]
    return RiskEvaluation(
        run=run,
        metrics=pd.DataFrame(
            {"metric": list(metrics), "value": np.array(list(metrics.values()), dtype=float)}
        ),
        rings=rings,
    )


@dataclass(frozen=True)
class ControlComparison:
    """Issuer-side risk control levels compared on the same world.

    Attributes
    ----------
    frame : DataFrame
        One row per level: ``level``, ``run_id``, ``claims``, ``issued``,
        ``fraud_issued``, ``fraud_issued_share``, ``refused``, ``refused_share``,
        ``fraud_refused``, ``legit_refused``, ``mean_latency_ms``,
        ``latency_increase_s`` (vs the reference level).
    reference : str
        Level the latency increase is measured against (``off`` when given).
    """

    frame: pd.DataFrame = field(repr=False)
    reference: str

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def plot(self):
        """Bars of the share of issued coupons captured by rings, per level."""
        import holoviews as hv

        return hv.Bars(self.frame, kdims="level", vdims="fraud_issued_share").opts(
            title="Share of issued coupons claimed by farming rings"
        )


def compare_control_levels(store: Store, *, runs: Mapping[str, str]) -> ControlComparison:
    """Compare risk-control levels, each simulated as its own run of one world.

    Parameters
    ----------
    store : Store
    runs : mapping of str to str, keyword-only
        Level label -> run id, e.g. ``{"off": "r0", "basic": "r1", "strict": "r2"}``.
        Latency increases are measured against ``"off"`` if present, else the first.

    Returns
    -------
    ControlComparison

    Examples
    --------
    >>> import lab
    >>> store = lab.Store(":memory:")
    >>> _ = store.create_run("r", origin="synthetic")
    >>> compare_control_levels(store, runs={"off": "r"}).frame["claims"].tolist()
    [0]
    """
    check(locals())  # argument types and ranges, up front
    if not runs:
        raise ValueError("runs must map at least one level to a run id")
    for run in runs.values():
        store.run(run)
    reference = "off" if "off" in runs else next(iter(runs))
    rows = []
    for level, run in runs.items():
        r = store.query(
            f"""
            SELECT count(*) AS claims,
                count(*) FILTER (WHERE {_ISSUED}) AS issued,
                count(*) FILTER (WHERE {_ISSUED} AND t.is_fraud) AS fraud_issued,
                count(*) FILTER (WHERE status = 'refused') AS refused,
                count(*) FILTER (WHERE status = 'refused' AND t.is_fraud) AS fraud_refused,
                count(*) FILTER (WHERE status = 'refused' AND NOT coalesce(t.is_fraud, false))
                    AS legit_refused,
                avg(latency_ms) AS mean_latency_ms
            FROM coupons c
            LEFT JOIN (SELECT user_id, is_fraud FROM truth_users WHERE run_id = $run) t
                USING (user_id)
            WHERE c.run_id = $run
            """,
            {"run": run},
        ).iloc[0]
        rows.append({"level": level, "run_id": run, **r.to_dict()})
    frame = pd.DataFrame(rows)
    for col in ("claims", "issued", "fraud_issued", "refused", "fraud_refused", "legit_refused"):
        frame[col] = frame[col].astype("int64")
    frame["fraud_issued_share"] = frame["fraud_issued"] / frame["issued"].where(frame["issued"] > 0)
    frame["refused_share"] = frame["refused"] / frame["claims"].where(frame["claims"] > 0)
    frame["mean_latency_ms"] = frame["mean_latency_ms"].astype(float)
    ref_latency = frame.loc[frame["level"] == reference, "mean_latency_ms"].iloc[0]
    frame["latency_increase_s"] = (frame["mean_latency_ms"] - ref_latency) / 1000.0
    return ControlComparison(frame=frame, reference=reference)
