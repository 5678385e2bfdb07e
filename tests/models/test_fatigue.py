"""lab.metrics.push_fatigue against plain pandas + statsmodels OLS over user-days, and
against ``lab.calibration.measure_c13``'s fatigue slope on a small Meituan world."""

from __future__ import annotations

import itertools

import holoviews as hv
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import example, given, settings
from hypothesis import strategies as st
from reference_funnel import BASE, make_logs, write_logs

import lab
from lab import calibration as cal
from lab.metrics import PushFatigue, push_fatigue
from lab.world import simulate

STORE = lab.Store(":memory:")
_RUNS = itertools.count()


def fresh(logs, **kwargs) -> str:
    run = f"f{next(_RUNS)}"
    write_logs(STORE, run, logs, **kwargs)
    return run


def reference(offers: pd.DataFrame, *, entry, platform=None, start=None, end=None):
    """(per-pushes table, OLS fit over user-days with user-clustered errors, user-days)."""
    o = offers[offers["entry"].astype(object) == entry]
    if platform is not None:
        o = o[o["platform"].astype(object) == platform]
    if start is not None:
        o = o[o["delivered_at"] >= pd.Timestamp(start)]
    if end is not None:
        o = o[o["delivered_at"] < pd.Timestamp(end)]
    ud = (
        o.assign(day=o["delivered_at"].dt.normalize(), claimed=o["claimed_at"].notna())
        .groupby(["user_id", "day"])
        .agg(pushes=("claimed", "size"), claims=("claimed", "sum"))
        .reset_index()
    )
    ud["rate"] = ud["claims"] / ud["pushes"]
    table = (
        ud.groupby("pushes")
        .agg(user_days=("rate", "size"), claims=("claims", "sum"), claim_rate=("rate", "mean"))
        .reset_index()
    )
    fit = None
    # two user-days for two parameters leave no residual degree of freedom: statsmodels'
    # small-sample factor divides by zero there, and the model reports no error
    if ud["pushes"].nunique() >= 2 and ud["user_id"].nunique() >= 2 and len(ud) > 2:
        fit = sm.OLS(ud["rate"].to_numpy(float), sm.add_constant(ud["pushes"].to_numpy(float))).fit(
            cov_type="cluster", cov_kwds={"groups": pd.factorize(ud["user_id"])[0]}
        )
    return table, fit, ud


def fatigue_logs(seed: int, n_users: int, n_offers: int) -> dict[str, pd.DataFrame]:
    """make_logs' offers with several deliveries per user and day (a 3-hour grid over 4
    days); stock 4 is Meituan app_push, the others are other entries."""
    logs = make_logs(seed, n_users=n_users, n_offers=n_offers, n_extra=0, n_orders=0, slots=32)
    rng = np.random.default_rng(seed)
    offers = logs["offers"]
    offers["delivered_at"] = (
        BASE + pd.Timedelta(hours=3) * rng.integers(0, 32, len(offers))
    ).astype("datetime64[us]")
    # the claim probability falls with the user's deliveries of the entry that day
    day = offers["delivered_at"].dt.normalize()
    per_day = offers.groupby(["user_id", day, "entry"])["offer_id"].transform("size")
    claimed = rng.random(len(offers)) < 0.9 / per_day
    offers["claimed_at"] = offers["delivered_at"].where(claimed)
    return {"users": logs["users"], "stocks": logs["stocks"], "offers": offers}


def check(res: PushFatigue, offers, **kwargs) -> None:
    table, fit, ud = reference(offers, **kwargs)
    got = res.to_frame()
    assert got["pushes"].tolist() == table["pushes"].tolist()
    assert got["user_days"].tolist() == table["user_days"].tolist()
    assert got["claims"].tolist() == table["claims"].tolist()
    assert got["offers"].tolist() == (table["pushes"] * table["user_days"]).tolist()
    np.testing.assert_allclose(got["claim_rate"], table["claim_rate"], rtol=1e-12)
    assert res.user_days == len(ud)
    assert res.users == ud["user_id"].nunique()
    if fit is None:
        assert np.isnan(res.slope_se)
        return
    assert res.slope == pytest.approx(fit.params[1], rel=1e-9, abs=1e-12)
    assert res.intercept == pytest.approx(fit.params[0], rel=1e-9)
    if np.isnan(fit.bse[1]):
        # no clustered standard error exists (Hypothesis found 2 users whose residuals
        # leave the sandwich undefined): the model must say so too, interval and p-value
        assert np.isnan([res.slope_se, res.ci_low, res.ci_high, res.p_value]).all()
        return
    assert res.slope_se == pytest.approx(fit.bse[1], rel=1e-9)
    lo, hi = fit.conf_int(alpha=res.alpha)[1]
    assert res.ci_low == pytest.approx(lo, rel=1e-9, abs=1e-12)
    assert res.ci_high == pytest.approx(hi, rel=1e-9, abs=1e-12)
    # a relative error e in the t statistic (the standard error agrees to 1e-9) is about
    # t**2 * e in a normal p-value: over 1e-6 beyond t = 32, where p < 1e-200, so tiny
    # p-values are compared absolutely. A slope that is zero up to rounding (within the
    # 1e-12 checked above) has a p-value of rounding noise on both sides: not compared.
    if abs(fit.params[1]) > 1e-12:
        assert res.p_value == pytest.approx(fit.pvalues[1], rel=1e-6, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_users=st.integers(1, 8),
    n_offers=st.integers(0, 120),
    entry=st.sampled_from(["app_push", "pay_page"]),
    platform=st.sampled_from([None, "meituan", "wechat"]),
    bounds=st.sampled_from(
        [(None, None), (BASE + pd.Timedelta(days=1), None), (None, BASE + pd.Timedelta(hours=60))]
    ),
)
# found by Hypothesis: two users whose clustered standard error is undefined
@example(
    seed=25761965,
    n_users=2,
    n_offers=72,
    entry="pay_page",
    platform="wechat",
    bounds=(BASE + pd.Timedelta(days=1), None),
)
def test_matches_pandas_statsmodels_reference(seed, n_users, n_offers, entry, platform, bounds):
    logs = fatigue_logs(seed, n_users, n_offers)
    run = fresh(logs)
    start, end = bounds
    res = push_fatigue(STORE, run=run, entry=entry, platform=platform, start=start, end=end)
    check(res, logs["offers"], entry=entry, platform=platform, start=start, end=end)


def test_fatigue_is_found_and_plots():
    logs = fatigue_logs(3, 40, 2000)
    run = fresh(logs)
    res = push_fatigue(STORE, run=run, platform="meituan", alpha=0.1)
    check(res, logs["offers"], entry="app_push", platform="meituan")
    assert res.slope < 0 and res.ci_high < 0  # the generated claim rate is 0.9 / pushes
    assert res.cov_type == "cluster-robust by user"
    rate = res.table.set_index("pushes")["claim_rate"]
    assert rate[1] > rate[2] > rate[3]
    assert isinstance(res.plot(), hv.Overlay)


def test_empty_and_degenerate_runs():
    empty = push_fatigue(STORE, run=fresh({}))
    assert empty.to_frame().empty and empty.users == 0 and np.isnan(empty.slope)
    empty.plot()
    # one user: a slope, but no cluster-robust error
    logs = fatigue_logs(5, 1, 60)
    res = push_fatigue(STORE, run=fresh(logs), platform="meituan")
    check(res, logs["offers"], entry="app_push", platform="meituan")
    assert res.users == 1 and not np.isnan(res.slope) and np.isnan(res.slope_se)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"entry": "billboard"}, "entry must be one of"),
        ({"platform": "taobao"}, "platform must be None or one of"),
        ({"alpha": 1.5}, "alpha must be"),
        ({"start": "2026-03-05", "end": "2026-03-01"}, "must be before end"),
    ],
)
def test_bad_arguments(kwargs, match):
    run = fresh({})
    with pytest.raises(ValueError, match=match):
        push_fatigue(STORE, run=run, **kwargs)


def test_equals_measure_c13_on_a_small_meituan_world():
    store = lab.Store(":memory:")
    run = simulate(
        "platform_meituan", store=store, users=600, days=10, pre_days=0, seed=3, progress=False
    )
    res = push_fatigue(store, run=run, entry="app_push", platform="meituan")
    sql = cal.measure_c13(store, runs={"meituan": run, "wechat": run, "mix": run})
    assert res.slope == pytest.approx(sql["fatigue_slope"], rel=1e-9)
    assert res.user_days > 1000 and len(res.table) >= 3
