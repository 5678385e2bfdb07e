"""ResponseModel.fit against statsmodels fitted directly on features built here by hand."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.denomination import FittedResponse, ResponseModel
from lab.denomination._claims import claim_counts, fit_claim_classes


@pytest.fixture(scope="module")
def fitted(denom_store):
    store, run = denom_store
    return ResponseModel.fit(store, run=run)


def test_training_rows_are_the_issued_coupons(denom_store, fitted):
    store, run = denom_store
    n = store.query(
        "SELECT count(*) AS n FROM coupons WHERE run_id = ? AND status <> 'refused'", [run]
    )["n"][0]
    redeemed = store.query(
        "SELECT count(*) AS n FROM coupons WHERE run_id = ? AND redeemed_at IS NOT NULL", [run]
    )["n"][0]
    assert len(fitted.data) == n
    assert fitted.data["redeemed"].sum() == redeemed


def test_basket_proxy_is_pre_period_median(denom_store, fitted):
    store, run = denom_store
    orders = store.query(
        "SELECT user_id, ts, amount_fen, coupon_id FROM orders WHERE run_id = ?", [run]
    )
    start = pd.Timestamp(store.run(run)["start_date"])
    pre = orders[(orders.ts < start) & orders.coupon_id.isna()]
    med = pre.groupby("user_id").amount_fen.median()
    users = fitted.users.set_index("user_id")
    common = med.index[:200]
    np.testing.assert_allclose(users.loc[common, "basket_fen"], med.loc[common].astype(float))
    missing = users.index.difference(med.index)
    assert (users.loc[missing, "basket_fen"] == float(pre.amount_fen.median())).all()


def _features(d: pd.DataFrame) -> pd.DataFrame:
    b = d.basket_fen.to_numpy(float)
    t = d.threshold_fen.to_numpy(float)
    seg = d.segment.astype(object)
    held = d.better_threshold_fen.notna().to_numpy()
    return pd.DataFrame(
        {
            "const": 1.0,
            "log_threshold_ratio": np.log(np.maximum(t, 100) / b),
            "log_value": np.log(d.amount_fen.to_numpy(float) / 100),
            "log_distance": np.log1p(d.distance_km.to_numpy(float)),
            "credit_tier": d.credit_tier.to_numpy(float),
            "segment[active]": (seg == "active").to_numpy(float),
            "segment[lapsed]": (seg == "lapsed").to_numpy(float),
            "better_held": held.astype(float),
            "better_gap": np.where(
                held, np.log(d.better_threshold_fen.fillna(1).to_numpy(float) / b), 0.0
            ),
            "log_threshold": np.log(np.maximum(t, 100) / 100),
        },
        index=d.index,
    )


def test_redemption_logit_matches_statsmodels(fitted):
    d = fitted.data
    x = _features(d)[list(fitted.redemption_params.index)]
    ref = sm.GLM(d.redeemed.to_numpy(float), x, family=sm.families.Binomial()).fit()
    np.testing.assert_allclose(fitted.redemption_params, ref.params, rtol=1e-6)
    got = fitted.summary_frame().query("model == 'redemption (logit)'")
    np.testing.assert_allclose(got["std_err"], ref.bse, rtol=1e-6)
    # larger distance lowers redemption in the world; the fit must see it
    assert fitted.redemption_params["log_distance"] < 0


def test_amount_glm_matches_statsmodels(fitted):
    d = fitted.data[fitted.data.redeemed == 1]
    x = _features(d)[list(fitted.amount_params.index)]
    y = d.order_amount_fen.to_numpy(float) / d.basket_fen.to_numpy(float)
    ref = sm.GLM(y, x, family=sm.families.Gamma(sm.families.links.Log())).fit()
    np.testing.assert_allclose(fitted.amount_params, ref.params, rtol=1e-6)
    got = fitted.summary_frame().query("model == 'amount (Gamma log)'")
    np.testing.assert_allclose(got["std_err"], ref.bse, rtol=1e-6)
    assert fitted.amount_dispersion == pytest.approx(ref.scale, rel=1e-9)
    # elasticities: the order amount grows with the user's basket and with the threshold
    # (top-up), each less than proportionally
    basket = 1 - fitted.amount_params["log_threshold_ratio"]
    threshold = fitted.amount_params["log_threshold"] + fitted.amount_params["log_threshold_ratio"]
    assert 0 < basket < 1 and 0 < threshold < 1


def test_amount_model_reproduces_mean_amount_per_coupon_type(fitted):
    # a log-link GLM with an intercept reproduces the mean of the fitted amounts, and with
    # a threshold term and a better-held term, the mean of each coupon type of a 2-stock
    # run (what the split A/B's AOV is made of); the log-scale OLS it replaced missed the
    # 满100减20 orders by 5 % (held) to 35 % (not held)
    d = fitted.data[fitted.data.redeemed == 1]
    d = d.assign(expected=fitted.expected_amount(d), held=d.better_threshold_fen.notna())
    for _, part in d.groupby(["threshold_fen", "held"]):
        assert part.expected.mean() == pytest.approx(part.order_amount_fen.mean(), rel=0.01)


def test_claim_counts_match_pandas(denom_store):
    store, run = denom_store
    coupons = store.query(
        "SELECT stock_id, user_id, status, refusal_reason FROM coupons WHERE run_id = ?", [run]
    )
    stocks = store.query("SELECT stock_id, arm FROM stocks WHERE run_id = ?", [run])
    assigned = store.query("SELECT user_id, arm FROM assignments WHERE run_id = ?", [run])
    audience = assigned.merge(stocks, on="arm")[["user_id", "stock_id"]]
    wanted = coupons[
        (coupons.status.astype(object) != "refused")
        | (coupons.refusal_reason.astype(object) == "per_user_limit")
    ]
    n = wanted.groupby(["stock_id", "user_id"]).size().rename("claims").reset_index()
    ref = audience.merge(n, on=["stock_id", "user_id"], how="left").fillna({"claims": 0})
    ref = ref.sort_values(["user_id", "stock_id"], ignore_index=True)
    got = claim_counts(store, run)
    pd.testing.assert_frame_equal(got, ref, check_dtype=False)


def test_claims_model_fits_the_run(denom_store, fitted):
    """The Poisson mixture reproduces the counts per stock, how often a user offered both
    rungs claims neither or one, and the coupons the stocks' limits let through."""
    store, run = denom_store
    counts = claim_counts(store, run)
    table = fitted.claims
    assert table.to_numpy().sum() == pytest.approx(1.0, abs=1e-9)
    share = counts.claims.value_counts(normalize=True).sort_index()
    for n in range(6):
        assert table[n].sum() == pytest.approx(share[n], abs=0.01), n
    pairs = counts.groupby("user_id").claims.agg(["size", lambda s: int((s == 0).sum())])
    zeros = pairs[pairs["size"] == 2].iloc[:, 1]
    weight = table.sum(axis=1).to_numpy()
    miss = table[0].to_numpy() / weight
    assert weight @ miss**2 == pytest.approx((zeros == 2).mean(), abs=0.015)
    assert weight @ (2 * miss * (1 - miss)) == pytest.approx((zeros == 1).mean(), abs=0.015)
    for cap in (1, 3):
        empirical = np.minimum(counts.claims, cap).mean()
        assert fitted.expected_issued(cap) == pytest.approx(empirical, rel=0.02), cap
    # issued coupons are what the limits let through (other refusals such as rate limits
    # aside: within 5 %)
    issued = store.query(
        """
        SELECT s.max_per_user, count(*) AS issued, any_value(arm_users.n) AS users
        FROM coupons c JOIN stocks s USING (run_id, stock_id)
        JOIN (SELECT arm, count(*) AS n FROM assignments WHERE run_id = $run GROUP BY arm)
             arm_users ON arm_users.arm = s.arm
        WHERE c.run_id = $run AND c.status <> 'refused'
        GROUP BY s.stock_id, s.max_per_user
        """,
        {"run": run},
    )
    for row in issued.itertuples():
        assert row.issued / row.users == pytest.approx(
            fitted.expected_issued(int(row.max_per_user)), rel=0.05
        )
    with pytest.raises(ValueError, match="max_per_user"):
        fitted.expected_issued(0)


@settings(max_examples=5, deadline=None)
@given(
    reached=st.floats(0.2, 0.8),
    rate=st.floats(1.0, 4.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_claim_classes_recover_a_known_mixture(reached, rate, seed):
    # users reach the entry or not; reached users claim each of 2 stocks Poisson(rate) times.
    # Rates from 1: below, a reached user claims nothing on both stocks so often (e^-1 at
    # 0.5) that the classes overlap, and the NPMLE moves 0.01-0.02 of the reached users'
    # weight into the no-claim class at every seed (a bias of the estimator, not noise)
    rng = np.random.default_rng(seed)
    users = 20_000
    lam = np.where(rng.random(users) < reached, rate, 0.0)
    counts = pd.DataFrame(
        {"user_id": np.repeat(np.arange(users), 2), "claims": rng.poisson(np.repeat(lam, 2))}
    )
    table = fit_claim_classes(counts)
    weight = table.sum(axis=1)
    rates = table.index.to_numpy()
    # the NPMLE may smear a class over neighbouring grid rates: compare moments
    assert weight[rates < 0.25 * rate].sum() == pytest.approx(1 - reached, abs=0.02)
    assert weight.to_numpy() @ rates == pytest.approx(reached * rate, rel=0.05)
    assert (table.to_numpy() >= 0).all() and table.to_numpy().sum() == pytest.approx(1.0)


def test_fit_claim_classes_arguments():
    with pytest.raises(ValueError, match="claims"):
        fit_claim_classes(pd.DataFrame({"user_id": [1]}))
    with pytest.raises(ValueError, match="at least one"):
        fit_claim_classes(pd.DataFrame({"user_id": [], "claims": []}))
    with pytest.raises(ValueError, match=">= 0"):
        fit_claim_classes(pd.DataFrame({"user_id": [1], "claims": [-1]}))


def test_summary_frame_columns(fitted):
    frame = fitted.summary_frame()
    assert list(frame.columns) == [
        "model",
        "term",
        "coef",
        "std_err",
        "statistic",
        "p_value",
        "ci_low",
        "ci_high",
    ]
    assert (frame.ci_low < frame.coef).all() and (frame.coef < frame.ci_high).all()
    assert fitted.plot() is not None


def test_fit_needs_coupons():
    import lab

    store = lab.Store(":memory:")
    store.create_run("empty", origin="import", days=7, start_date=pd.Timestamp("2026-03-02").date())
    with pytest.raises(ValueError, match="no users|no issued coupons"):
        ResponseModel.fit(store, run="empty")
    assert FittedResponse  # the result type is public
