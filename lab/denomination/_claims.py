"""How many coupons of a stock a user claims: a Poisson mixture over user claim rates.

A user's claims on each stock offered to them are independent Poisson counts with
the user's own rate ``lambda``; rates differ between users (reach, engagement, a
muted entry gives ``lambda = 0``) following a discrete distribution estimated
without a parametric form: the nonparametric maximum likelihood estimator, by EM
on a grid of rates. Users offered several stocks (the rungs of a tested ladder)
show how strongly claims on rungs go together: a user who never opens the entry
holds no rung, while two rungs still reach a regular visitor a different number
of times. A count is a claim attempt the per-user limit may refuse: issued, or
refused only for that limit (a higher limit would have issued it); other
refusals (budget, risk, rate limits) do not count.

The fitted table has one row per class (index: its rate ``lambda``) and one
column per count ``0 .. N``, entries ``P(class) * P(n | class)``; the last column
holds the tail ``P(n >= N)``, with ``N`` far above any limit that matters.

Example
-------
>>> counts = pd.DataFrame({"user_id": [1, 1, 2, 2], "claims": [0, 0, 3, 2]})
>>> table = fit_claim_classes(counts)
>>> round(float(table.to_numpy().sum()), 6)
1.0
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["claim_counts", "fit_claim_classes"]

_GRID = 60  # rates on the EM grid besides 0
_MIN_WEIGHT = 1e-7  # classes lighter than this are dropped (the NPMLE is sparse)


def claim_counts(store, run: str) -> pd.DataFrame:
    """``user_id, stock_id, claims`` for every user of every stock's audience, zeros included.

    A stock's audience is its arm's assigned users when the stock belongs to an
    experiment with assignments, else every user of the run.
    """
    return store.query(
        """
        WITH st AS (
            SELECT s.stock_id, s.experiment, s.arm,
                   EXISTS (SELECT 1 FROM assignments a
                           WHERE a.run_id = s.run_id AND a.experiment = s.experiment) AS assigned
            FROM stocks s WHERE s.run_id = $run
        ),
        audience AS (
            SELECT st.stock_id, a.user_id
            FROM st JOIN assignments a
              ON a.run_id = $run AND a.experiment = st.experiment AND a.arm = st.arm
            WHERE st.assigned
            UNION ALL
            SELECT st.stock_id, u.user_id
            FROM st JOIN users u ON u.run_id = $run
            WHERE NOT st.assigned
        ),
        wanted AS (
            SELECT stock_id, user_id, count(*) AS claims
            FROM coupons
            WHERE run_id = $run AND (status <> 'refused' OR refusal_reason = $limit)
            GROUP BY stock_id, user_id
        )
        SELECT a.user_id, a.stock_id, CAST(coalesce(w.claims, 0) AS BIGINT) AS claims
        FROM audience a LEFT JOIN wanted w USING (stock_id, user_id)
        ORDER BY a.user_id, a.stock_id
        """,
        {"run": run, "limit": "per_user_limit"},
    )


def fit_claim_classes(
    counts: pd.DataFrame,
    *,
    user_col: str = "user_id",
    claims_col: str = "claims",
    max_iter: int = 5000,
    tol: float = 1e-10,
) -> pd.DataFrame:
    """NPMLE of the claim-rate distribution from per-(user, stock) claim counts.

    Parameters
    ----------
    counts : DataFrame
        One row per user and stock offered to the user, with the number of claims.
    user_col, claims_col : str
        Columns of ``counts`` holding the user and the count.
    max_iter, tol : int, float
        EM stops after ``max_iter`` steps or when the log-likelihood gains less than ``tol``.

    Returns
    -------
    DataFrame
        Classes (index ``rate``) by counts ``0 .. N``: ``P(class) * P(n | class)``.

    Example
    -------
    >>> fit_claim_classes(pd.DataFrame({"user_id": [1, 2], "claims": [0, 4]})).shape[0] >= 1
    True
    """
    for col in (user_col, claims_col):
        if col not in counts:
            raise ValueError(f"counts has no column {col!r}; columns are {list(counts.columns)}")
    if counts.empty:
        raise ValueError("counts must hold at least one (user, stock) row")
    n = counts[claims_col].to_numpy()
    if (n < 0).any():
        raise ValueError(f"{claims_col} must be counts >= 0")
    top = int(n.max())
    rates = np.r_[0.0, np.geomspace(0.01, max(1.0, 1.5 * top), _GRID)]
    # users with the same counts (in any order) have the same likelihood: group them
    patterns = (
        counts.groupby(user_col)[claims_col]
        .agg(lambda s: tuple(sorted(int(v) for v in s)))
        .value_counts()
    )
    loglik = np.array(
        [
            stats.poisson.logpmf(np.array(p)[:, None], rates[None, :]).sum(axis=0)
            for p in patterns.index
        ]
    )  # patterns x rates
    mult = patterns.to_numpy(float)
    shift = loglik.max(axis=1, keepdims=True)
    like = np.exp(loglik - shift)
    weight = np.full(len(rates), 1 / len(rates))
    previous = -np.inf
    for _ in range(max_iter):
        mix = like @ weight
        current = float(mult @ (np.log(mix) + shift[:, 0]))
        weight = weight * ((mult / mix) @ like) / mult.sum()
        if current - previous < tol:
            break
        previous = current
    keep = weight > _MIN_WEIGHT
    rates, weight = rates[keep], weight[keep] / weight[keep].sum()
    # counts up to far in the tail of the largest rate; the last column is P(n >= N)
    cap = int(np.ceil(rates.max() + 10 * np.sqrt(rates.max()) + 10))
    k = np.arange(cap + 1)
    pmf = stats.poisson.pmf(k[None, :], rates[:, None])
    pmf[:, -1] = stats.poisson.sf(cap - 1, rates)
    return pd.DataFrame(
        weight[:, None] * pmf,
        index=pd.Index(rates, name="rate"),
        columns=pd.Index(k, name="claims"),
    )
