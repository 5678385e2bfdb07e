"""ResponseModel.fit against statsmodels fitted directly on features built here by hand."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from lab.denomination import FittedResponse, ResponseModel


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
            "gap": np.maximum(0, np.log(t / b)),
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


def test_amount_ols_matches_statsmodels(fitted):
    d = fitted.data[fitted.data.redeemed == 1]
    x = _features(d)[list(fitted.amount_params.index)]
    ref = sm.OLS(np.log(d.order_amount_fen.to_numpy(float) / d.basket_fen.to_numpy(float)), x).fit()
    np.testing.assert_allclose(fitted.amount_params, ref.params, rtol=1e-6)
    assert fitted.amount_sigma == pytest.approx(np.sqrt(ref.scale), rel=1e-9)
    # top-up toward the threshold: the further the threshold, the larger the basket
    assert 0 < fitted.amount_params["gap"] <= 1.05


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
