"""analyze(): SQL sufficient statistics + compare() against plain pandas / scipy / statsmodels."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.multitest import multipletests

import lab
from lab.experiments import experiment_users_status, refresh_experiment_users
from lab.experiments._analyze import analyze, default_control

START = dt.datetime(2026, 3, 2)
DAYS, PRE_DAYS = 14, 14


def _store(n_users=600, *, seed=0, arms=("a", "b"), weights=None, strategy=None):
    """A hand-built store: users, assignments and orders inside and outside the periods."""
    rng = np.random.default_rng(seed)
    store = lab.Store(":memory:")
    store.create_run(
        "r",
        origin="import",
        strategy=strategy,
        n_users=n_users,
        days=DAYS,
        pre_days=PRE_DAYS,
        start_date=START.date(),
    )
    user_id = np.arange(1, n_users + 1)
    arm = rng.choice(arms, n_users, p=weights)
    store.write(
        "users",
        pd.DataFrame(
            {
                "user_id": user_id,
                "segment": rng.choice(["new", "active", "lapsed"], n_users),
            }
        ),
        run_id="r",
    )
    store.write(
        "assignments",
        pd.DataFrame({"experiment": "exp", "user_id": user_id, "arm": arm}),
        run_id="r",
    )
    # pre-period spend predicts campaign spend; arm "b" spends 10 % more and redeems more
    skill = rng.gamma(2.0, 1.0, n_users)
    rows = []
    oid = 0
    for u, a, k in zip(user_id, arm, skill, strict=True):
        for offset_lo, offset_hi, lift in (
            (-PRE_DAYS - 3, 0, 1.0),
            (0, DAYS + 3, 1.1 if a == "b" else 1.0),
        ):
            for _ in range(rng.poisson(k)):
                oid += 1
                day = rng.uniform(offset_lo, offset_hi)
                amount = int(rng.gamma(3.0, 1500 * k * lift)) + 100
                coupon = rng.random() < (0.35 if a == "b" else 0.25) and day >= 0
                rows.append(
                    (
                        oid,
                        u,
                        START + dt.timedelta(days=day),
                        amount,
                        int(0.1 * amount) if coupon else 0,
                        oid if coupon else None,
                    )
                )
    orders = pd.DataFrame(
        rows, columns=["order_id", "user_id", "ts", "amount_fen", "discount_fen", "coupon_id"]
    )
    store.write("orders", orders, run_id="r")
    return store, orders, pd.DataFrame({"user_id": user_id, "arm": arm})


def _reference(orders, users):
    """Per-user metrics in plain pandas."""
    end = START + dt.timedelta(days=DAYS)
    post = orders[(orders.ts >= START) & (orders.ts < end)].copy()
    pre = orders[(orders.ts >= START - dt.timedelta(days=PRE_DAYS)) & (orders.ts < START)]
    post["gmv"] = post.amount_fen - post.discount_fen
    post["has_coupon"] = post.coupon_id.notna()
    post["ra"] = post.amount_fen.where(post.has_coupon, 0)
    g = post.groupby("user_id").agg(
        orders=("order_id", "size"),
        gmv=("gmv", "sum"),
        redeemed_amount=("ra", "sum"),
        redeemed_orders=("has_coupon", "sum"),
    )
    p = (
        pre.assign(g=pre.amount_fen - pre.discount_fen)
        .groupby("user_id")
        .agg(pre_gmv=("g", "sum"), pre_orders=("order_id", "size"))
    )
    df = users.set_index("user_id").join(g).join(p).fillna(0).reset_index()
    df["redeemed"] = (df.redeemed_orders > 0).astype(float)
    return df


@pytest.fixture(scope="module", params=["orders", "experiment_users"])
def hand(request):
    """The hand-built store, analysed from orders (never refreshed) or from the derived table."""
    store, orders, users = _store()
    if request.param == "experiment_users":
        refresh_experiment_users(store, "r")
    assert experiment_users_status(store, "r") == (
        "fresh" if request.param != "orders" else "missing"
    )
    return store, _reference(orders, users)


@pytest.mark.parametrize("metric", ["orders", "gmv", "redeemed_amount"])
def test_welch_matches_scipy(hand, metric):
    store, ref = hand
    res = analyze(store, run="r", experiment="exp", metrics=(metric,), difference="absolute")
    row = res.row(metric)
    a, b = ref.loc[ref.arm == "a", metric], ref.loc[ref.arm == "b", metric]
    t = stats.ttest_ind(b, a, equal_var=False)
    ci = t.confidence_interval(0.95)
    assert row["p_value"] == pytest.approx(t.pvalue, rel=1e-9, abs=1e-12)
    assert row["effect"] == pytest.approx(b.mean() - a.mean(), rel=1e-9)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert (row["control_n"], row["n"]) == (len(a), len(b))


def test_relative_effect_is_delta_method(hand):
    store, ref = hand
    row = analyze(store, run="r", experiment="exp", metrics=("gmv",)).row("gmv")
    a, b = ref.loc[ref.arm == "a", "gmv"], ref.loc[ref.arm == "b", "gmv"]
    ma, mb = a.mean(), b.mean()
    va, vb = a.var() / len(a), b.var() / len(b)
    se = np.sqrt(vb / ma**2 + mb**2 * va / ma**4)
    assert row["effect"] == pytest.approx(mb / ma - 1, rel=1e-9)
    assert row["std_error"] == pytest.approx(se, rel=1e-9)


def test_proportion_matches_wald_z(hand):
    store, ref = hand
    row = analyze(
        store, run="r", experiment="exp", metrics=("redeemed",), difference="absolute"
    ).row("redeemed")
    a, b = ref.loc[ref.arm == "a", "redeemed"], ref.loc[ref.arm == "b", "redeemed"]
    pa_, pb = a.mean(), b.mean()
    se = np.sqrt(pa_ * (1 - pa_) / len(a) + pb * (1 - pb) / len(b))
    assert row["effect"] == pytest.approx(pb - pa_, rel=1e-12)
    assert row["p_value"] == pytest.approx(2 * stats.norm.sf(abs(pb - pa_) / se), rel=1e-9)


def test_aov_ratio_means(hand):
    store, ref = hand
    row = analyze(store, run="r", experiment="exp", metrics=("aov",)).row("aov")
    for arm, col in (("a", "control_mean"), ("b", "treatment_mean")):
        part = ref[ref.arm == arm]
        assert row[col] == pytest.approx(
            part.redeemed_amount.sum() / part.redeemed_orders.sum(), rel=1e-12
        )


@pytest.mark.parametrize("covariate", ["pre_gmv", "pre_orders"])
def test_cuped_equals_ols_coefficient(hand, covariate):
    store, ref = hand
    row = analyze(
        store,
        run="r",
        experiment="exp",
        metrics=("gmv",),
        covariate=covariate,
        difference="absolute",
    ).row("gmv")
    fit = smf.ols(f"gmv ~ C(arm) + {covariate}", data=ref).fit()
    assert row["effect"] == pytest.approx(fit.params["C(arm)[T.b]"], rel=1e-9)
    plain = analyze(store, run="r", experiment="exp", metrics=("gmv",), difference="absolute").row(
        "gmv"
    )
    assert row["std_error"] < plain["std_error"]


def test_holm_column_and_breakdown(hand):
    store, ref = hand
    metrics = ("redeemed", "orders", "gmv", "redeemed_amount")
    res = analyze(
        store, run="r", experiment="exp", metrics=metrics, by="segment", difference="absolute"
    )
    table = res.to_frame()
    assert len(table) == 3 * len(metrics)
    expected = multipletests(table["p_value"], method="holm")[1]
    np.testing.assert_allclose(table["p_value_holm"], expected, rtol=1e-12)
    users = store.query("SELECT user_id, segment FROM users")
    seg = ref.merge(users, on="user_id")
    row = res.row("gmv", by="lapsed")
    part = seg[seg.segment.astype(object) == "lapsed"]
    t = stats.ttest_ind(
        part.loc[part.arm == "b", "gmv"], part.loc[part.arm == "a", "gmv"], equal_var=False
    )
    assert row["p_value"] == pytest.approx(t.pvalue, rel=1e-9)
    assert len(res.verdicts()) == len(table)


def test_srm_flags_planted_imbalance():
    store, _, _ = _store(2000, seed=1, weights=[0.6, 0.4])
    res = analyze(store, run="r", experiment="exp", metrics=("orders",))
    assert res.srm.is_mismatch and res.srm.p_value < 1e-6
    assert res.verdicts()[0].startswith("Warning: Sample-ratio mismatch")


def test_srm_uses_recorded_weights():
    strategy = {
        "experiments": [
            {"name": "exp", "arms": [{"name": "a", "weight": 0.6}, {"name": "b", "weight": 0.4}]}
        ]
    }
    store, _, _ = _store(2000, seed=1, weights=[0.6, 0.4], strategy=strategy)
    res = analyze(store, run="r", experiment="exp", metrics=("orders",))
    assert not res.srm.is_mismatch
    assert res.srm.expected == pytest.approx((1200, 800))


def test_bayesian_and_sequential_run(hand):
    store, _ = hand
    bayes = analyze(store, run="r", experiment="exp", metrics=("gmv",), method="bayesian").row(
        "gmv"
    )
    assert 0 <= bayes["chance_to_win"] <= 1 and np.isnan(bayes["p_value"])
    fixed = analyze(store, run="r", experiment="exp", metrics=("gmv",)).row("gmv")
    seq = analyze(store, run="r", experiment="exp", metrics=("gmv",), method="sequential").row(
        "gmv"
    )
    assert seq["ci_high"] - seq["ci_low"] > fixed["ci_high"] - fixed["ci_low"]


def test_plot_and_frame(hand):
    store, _ = hand
    res = analyze(store, run="r", experiment="exp")
    assert res.plot() is not None
    assert list(res.to_frame()["metric"]) == ["redeemed", "orders", "gmv", "redeemed_amount"]


def test_default_control():
    assert default_control(["treatment", "holdout"]) == "holdout"
    assert default_control(["split", "single"]) == "single"
    assert default_control(["zeta", "beta"]) == "beta"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metrics": ("revenue",)}, "unknown metric"),
        ({"covariate": "pre_spend"}, "covariate"),
        ({"by": "device_id"}, "by must be"),
        ({"control": "c"}, "control must be"),
        ({"method": "magic"}, "method"),
        ({"experiment": "nope"}, "no assignments"),
    ],
)
def test_bad_arguments(hand, kwargs, match):
    store, _ = hand
    with pytest.raises(ValueError, match=match):
        analyze(store, **{"run": "r", "experiment": "exp", **kwargs})
