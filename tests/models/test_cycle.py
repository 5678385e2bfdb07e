"""lab.cycle: redemption cycle (Aalen-Johansen incidence and Kaplan-Meier) against
hand-derived values, plain references and lifelines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_cycle_metrics import (
    START,
    STOCKS,
    coupon_logs,
    cycle_log,
    load,
    loglog_band,
    manual_aalen_johansen,
    manual_km,
    manual_logrank,
    manual_median,
    manual_restricted_mean,
    reference_data_end,
    reference_durations,
)

import lab
from lab.cycle import CycleComparison, CycleResult, compare_cycles, redemption_cycle


def day(d: float) -> pd.Timestamp:
    return START + pd.Timedelta(days=d)


def five_coupons() -> dict[str, pd.DataFrame]:
    """Hand-derivable example, all issued at day 0 of a 4-day run.

    Coupons: redeemed at 1, expired at 2, redeemed at 2, redeemed at 3, still valid at
    the data end (day 4). Kaplan-Meier by hand (events before censorings at ties):
    t=1: 5 at risk, 1 event, S = 4/5 = 0.8
    t=2: 4 at risk, 1 event, S = 0.8 * 3/4 = 0.6
    t=3: 2 at risk, 1 event, S = 0.6 * 1/2 = 0.3
    """
    redeemed = [day(1), None, day(2), day(3), None]
    return {
        "coupons": pd.DataFrame(
            {
                "coupon_id": [1, 2, 3, 4, 5],
                "stock_id": 1,
                "user_id": [1, 2, 3, 4, 5],
                "platform": "wechat",
                "entry": "pay_page",
                "claimed_at": day(0),
                "status": "issued",
                "issued_at": day(0),
                "valid_until": [day(7), day(2), day(7), day(7), day(7)],
                "expired_at": [None, day(2), None, None, None],
                "redeemed_at": pd.to_datetime(redeemed),
            }
        )
    }


@pytest.fixture
def store():
    s = lab.Store(":memory:")
    yield s
    s.close()


def test_five_coupon_golden_values(store):
    load(store, "r", five_coupons(), days=4)
    result = redemption_cycle(store, run="r", estimator="kaplan_meier")
    assert isinstance(result, CycleResult)
    row = result.to_frame().iloc[0]
    assert (row["coupons"], row["redeemed"], row["expired"], row["open_at_end"]) == (5, 3, 1, 1)
    assert row["share_redeemed"] == pytest.approx(0.6)
    assert row["share_redeemed_by_expiry"] == pytest.approx(0.75)
    assert row["mean_cycle_days"] == pytest.approx(2.0)  # (1 + 2 + 3) / 3
    # horizon = longest duration = 4 days: 1*1 + 0.8*1 + 0.6*1 + 0.3*1
    assert result.horizon_days == pytest.approx(4.0)
    assert row["restricted_mean_days"] == pytest.approx(2.7)
    assert row["median_cycle_days"] == pytest.approx(3.0)  # first t with S < 0.5
    curve = result.curves()
    assert curve["time_days"].tolist() == pytest.approx([0, 1, 2, 3])
    assert curve["share_redeemed"].tolist() == pytest.approx([0, 0.2, 0.4, 0.7])
    assert curve["at_risk"].tolist() == [5, 5, 4, 2]
    assert curve["redeemed"].tolist() == [0, 1, 1, 1]
    # Greenwood at t=3: 0.3 * sqrt(1/(5*4) + 1/(4*3) + 1/(2*1)) = 0.238747...
    se = 0.3 * np.sqrt(1 / 20 + 1 / 12 + 1 / 2)
    assert se == pytest.approx(0.238747, abs=1e-6)
    low, high = loglog_band(0.3, se)
    last = curve.iloc[-1]
    assert (last["ci_low"], last["ci_high"]) == pytest.approx((1 - high, 1 - low))
    assert last["ci_low"] < 0.7 < last["ci_high"]


def test_horizon_and_issue_time_filter(store):
    load(store, "r", five_coupons(), days=4)
    result = redemption_cycle(store, run="r", horizon_days=2.5, estimator="kaplan_meier")
    # 1*1 + 0.8*1 + 0.6*0.5
    assert result.to_frame()["restricted_mean_days"].iloc[0] == pytest.approx(2.1)
    assert redemption_cycle(store, run="r", start=day(0.5)).to_frame().empty


def test_compensated_coupon_clock_starts_at_issue(store):
    log = five_coupons()
    c = log["coupons"].iloc[:1].copy()
    c["status"], c["issued_at"] = "compensated", day(0.5)
    load(store, "r", {"coupons": c}, days=4)
    row = redemption_cycle(store, run="r").to_frame().iloc[0]
    assert row["mean_cycle_days"] == pytest.approx(0.5)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=coupon_logs())
def test_matches_manual_kaplan_meier(log):
    store = lab.Store(":memory:")
    load(store, "r", log)
    result = redemption_cycle(store, run="r", by="platform", estimator="kaplan_meier")
    ref = reference_durations(log["coupons"], reference_data_end(log))
    summary = result.to_frame().set_index("platform")
    assert sorted(summary.index) == sorted(ref["platform"].unique())
    horizon = ref["duration_days"].max() if not ref.empty else 0.0
    assert result.horizon_days == pytest.approx(horizon)
    for platform, g in ref.groupby("platform"):
        row = summary.loc[platform]
        assert row["coupons"] == len(g)
        assert row["redeemed"] == g["redeemed"].sum()
        assert row["expired"] == (g["outcome"] == "expired").sum()
        assert row["open_at_end"] == (g["outcome"] == "open").sum()
        km = manual_km(g["duration_days"], g["redeemed"])
        curve = result.curves().query("platform == @platform").iloc[1:]
        assert curve["time_days"].tolist() == pytest.approx(km["time"].tolist())
        assert curve["share_redeemed"].tolist() == pytest.approx((1 - km["surv"]).tolist())
        assert curve["at_risk"].tolist() == km["at_risk"].tolist()
        assert row["restricted_mean_days"] == pytest.approx(manual_restricted_mean(km, horizon))
        assert row["median_cycle_days"] == pytest.approx(manual_median(km), nan_ok=True)
        redeemed = g.loc[g["redeemed"], "duration_days"]
        assert row["mean_cycle_days"] == pytest.approx(
            redeemed.mean() if len(redeemed) else np.nan, nan_ok=True
        )
    store.close()


def test_empty_run(store):
    store.create_run("r", origin="import")
    result = redemption_cycle(store, run="r", by="platform")
    assert result.to_frame().empty and result.curves().empty
    assert result.data_end is None
    assert result.plot() is not None


def test_all_censored_one_user(store):
    c = five_coupons()["coupons"].iloc[[1, 4]].assign(user_id=7)
    load(store, "r", {"coupons": c}, days=4)
    result = redemption_cycle(store, run="r", by="entry")
    row = result.to_frame().iloc[0]
    assert row["redeemed"] == 0 and row["share_redeemed"] == 0
    assert np.isnan(row["median_cycle_days"]) and np.isnan(row["mean_cycle_days"])
    assert row["restricted_mean_days"] == pytest.approx(result.horizon_days)
    assert result.curves()["share_redeemed"].tolist() == [0.0]


def test_breakdowns_from_stocks_and_users(store):
    log = five_coupons()
    log["stocks"] = STOCKS
    log["users"] = pd.DataFrame(
        {"user_id": [1, 2, 3, 4, 5], "segment": ["new"] * 2 + ["active"] * 3}
    )
    load(store, "r", log, days=4)
    frame = redemption_cycle(store, run="r", by=["campaign", "segment"]).to_frame()
    assert frame["group"].tolist() == ["a / active", "a / new"]
    assert frame["coupons"].tolist() == [3, 2]
    assert frame["redeemed"].tolist() == [2, 1]


def test_compare_cycles_matches_manual_logrank(store):
    log = five_coupons()
    extra = log["coupons"].assign(
        coupon_id=lambda f: f["coupon_id"] + 10,
        platform="meituan",
        redeemed_at=pd.to_datetime([day(0.5), None, day(0.5), day(1), day(1)]),
        expired_at=pd.to_datetime([None, day(2), None, None, None]),
    )
    load(store, "r", {"coupons": pd.concat([log["coupons"], extra])}, days=4)
    comparison = compare_cycles(store, run="r", by="platform")
    assert isinstance(comparison, CycleComparison)
    ref = reference_durations(
        pd.concat([log["coupons"], extra]), pd.Timestamp(comparison.cycle.data_end)
    )
    expected = manual_logrank(ref["duration_days"], ref["redeemed"], ref["platform"])
    assert comparison.statistic == pytest.approx(expected)
    assert comparison.df == 1
    frame = comparison.to_frame()
    assert frame["test"].iloc[0] == "log-rank" and 0 < frame["p_value"].iloc[0] < 1
    weighted = compare_cycles(store, run="r", by="platform", weight_type="gb")
    assert weighted.statistic != pytest.approx(comparison.statistic)
    assert comparison.plot() is not None


def test_plot_renders(store):
    import holoviews as hv

    load(store, "r", five_coupons(), days=4)
    plot = redemption_cycle(store, run="r", by="platform").plot()
    assert isinstance(plot, hv.Overlay)
    hv.renderer("bokeh").get_plot(plot)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"by": "nope"}, "unknown breakdown"),
        ({"alpha": 1.5}, "alpha"),
        ({"horizon_days": 0}, "horizon_days"),
        ({"by": "events.event_type"}, "events column"),
    ],
)
def test_bad_arguments(store, kwargs, message):
    load(store, "r", five_coupons(), days=4)
    with pytest.raises(ValueError, match=message):
        redemption_cycle(store, run="r", **kwargs)


def test_compare_errors(store):
    load(store, "r", five_coupons(), days=4)
    with pytest.raises(ValueError, match="at least 2"):
        compare_cycles(store, run="r", by="platform")
    with pytest.raises(ValueError, match="weight_type"):
        compare_cycles(store, run="r", by="platform", weight_type="fh")
    with pytest.raises(KeyError, match="no run"):
        redemption_cycle(store, run="missing")


def test_data_end_uses_events_but_not_expiry_events(store):
    """The run window ends at day 4; a later claim event extends the data, an expiry
    event written ahead of time does not."""
    log = five_coupons()
    log["events"] = pd.DataFrame(
        {
            "event_id": [1, 2],
            "ts": [day(5), day(9)],
            "user_id": 1,
            "event_type": ["claim", "expire"],
        }
    )
    load(store, "r", log, days=4)
    result = redemption_cycle(store, run="r")
    assert result.data_end == day(5)
    row = result.to_frame().iloc[0]
    # coupon 5 (valid to day 7) is now censored at day 5
    assert (row["open_at_end"], result.horizon_days) == (1, pytest.approx(5.0))


# -- cumulative incidence (the default) and the lifelines references ------------------


def test_five_coupon_incidence_golden_values(store):
    """Aalen-Johansen by hand on the five coupons (expiry competes at day 2):
    t=1: 5 at risk, S(1-) = 1, F = 1/5 = 0.2; S(1) = 0.8
    t=2: 4 at risk, S(2-) = 0.8, one redemption, F = 0.2 + 0.8/4 = 0.4; S(2) = 0.4
    t=3: 2 at risk, S(3-) = 0.4, F = 0.4 + 0.4/2 = 0.6 (3 of the 5 were redeemed)."""
    load(store, "r", five_coupons(), days=4)
    result = redemption_cycle(store, run="r")
    assert result.estimator == "incidence"
    curve = result.curves()
    assert curve["estimator"].unique().tolist() == ["incidence"]
    assert curve["share_redeemed"].tolist() == pytest.approx([0, 0.2, 0.4, 0.6])
    row = result.to_frame().iloc[0]
    assert row["estimator"] == "incidence"
    assert row["restricted_mean_days"] == pytest.approx(1 + 0.8 + 0.6 + 0.4)
    assert row["median_cycle_days"] == pytest.approx(3.0)  # first t with F(t) >= 0.5


def test_incidence_ends_at_the_share_redeemed_when_every_fate_is_known(store):
    """No coupon open at the data end: the incidence curve ends at redeemed / coupons,
    while 1 - KM overstates it (expired coupons counted as if they could still redeem)."""
    rng = np.random.default_rng(7)
    stops = [(float(d), "redeemed") for d in rng.uniform(0, 5, 30).round(1)]
    stops += [(float(d), "expired") for d in rng.uniform(0, 5, 70).round(0)]
    load(store, "r", cycle_log(stops))
    incidence = redemption_cycle(store, run="r")
    km = redemption_cycle(store, run="r", estimator="kaplan_meier")
    assert incidence.to_frame()["open_at_end"].iloc[0] == 0
    assert incidence.curves()["share_redeemed"].iloc[-1] == pytest.approx(0.3, abs=1e-12)
    assert km.curves()["share_redeemed"].iloc[-1] > 0.3 + 0.1


@st.composite
def untied_competing_stops(draw):
    """(days, outcome) pairs on a grid where redemptions (odd hours) never tie with
    expiries (whole days), so lifelines' Aalen-Johansen needs no jitter; ties within a
    kind and censoring at the data end are common."""
    stops = []
    for _ in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from(["redeemed", "redeemed", "expired", "open"]))
        if kind == "redeemed":
            days = (2 * draw(st.integers(0, 60)) + 1) / 24
        else:
            days = float(draw(st.integers(1, 6)))
        stops.append((days, kind))
    return stops


def _lifelines_frames(result):
    """Per-coupon durations and causes (1 redeemed, 2 expired, 0 open) from the counts."""
    rows = result.durations
    cause = rows["outcome"].map({"redeemed": 1, "expired": 2, "open": 0}).to_numpy()
    counts = rows["coupons"].to_numpy()
    return np.repeat(rows["duration_days"].to_numpy(), counts), np.repeat(cause, counts)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stops=untied_competing_stops())
def test_incidence_matches_lifelines_aalen_johansen(stops):
    from lifelines import AalenJohansenFitter

    store = lab.Store(":memory:")
    load(store, "r", cycle_log(stops))
    result = redemption_cycle(store, run="r")
    store.close()
    time, cause = _lifelines_frames(result)
    curve = result.curves().iloc[1:]
    if not (cause == 1).any():
        assert curve.empty
        return
    aj = AalenJohansenFitter(calculate_variance=True).fit(time, cause, event_of_interest=1)
    at = curve["time_days"].to_numpy()
    expected = aj.cumulative_density_.iloc[:, 0].reindex(at).to_numpy()
    assert curve["share_redeemed"].to_numpy() == pytest.approx(expected, rel=1e-12, abs=1e-14)
    # lifelines labels its AJ bounds the wrong way round ("upper" holds the lower one)
    inner = (expected > 0) & (expected < 1)
    bounds = aj.confidence_interval_.reindex(at).to_numpy()[inner]
    low, high = bounds.min(axis=1), bounds.max(axis=1)
    assert curve["ci_low"].to_numpy()[inner] == pytest.approx(low, rel=1e-9)
    assert curve["ci_high"].to_numpy()[inner] == pytest.approx(high, rel=1e-9)
    assert curve["at_risk"].tolist() == aj.event_table["at_risk"].reindex(at).tolist()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=coupon_logs(max_coupons=14))
def test_incidence_matches_plain_aalen_johansen_with_ties(log):
    """Redemptions tie with expiries on the half-day grid: lifelines would jitter them,
    the plain subject-by-subject reference handles them as simultaneous."""
    store = lab.Store(":memory:")
    load(store, "r", log)
    result = redemption_cycle(store, run="r", by="platform")
    store.close()
    ref = reference_durations(log["coupons"], reference_data_end(log))
    z = 1.959963984540054
    for platform, g in ref.groupby("platform"):
        cause = g["outcome"].map({"redeemed": 1, "expired": 2, "open": 0})
        expected = manual_aalen_johansen(g["duration_days"], cause)
        curve = result.curves().query("platform == @platform").iloc[1:]
        assert curve["time_days"].tolist() == pytest.approx(expected["time"].tolist())
        assert curve["share_redeemed"].tolist() == pytest.approx(expected["cif"].tolist())
        assert curve["at_risk"].tolist() == expected["at_risk"].tolist()
        for (_, row), var in zip(curve.iterrows(), expected["variance"], strict=True):
            if 0 < row["share_redeemed"] < 1 and var > 0:
                low, high = loglog_band(row["share_redeemed"], np.sqrt(var), z)
                assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-7)
        row = result.to_frame().set_index("platform").loc[platform]
        reached = expected[expected["cif"] >= 0.5 - 1e-12]
        median = reached["time"].iloc[0] if len(reached) else np.nan
        assert row["median_cycle_days"] == pytest.approx(median, nan_ok=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=coupon_logs(max_coupons=14))
def test_kaplan_meier_matches_lifelines(log):
    from lifelines import KaplanMeierFitter

    store = lab.Store(":memory:")
    load(store, "r", log)
    result = redemption_cycle(store, run="r", estimator="kaplan_meier")
    store.close()
    time, cause = _lifelines_frames(result)
    if not (cause == 1).any():
        return
    km = KaplanMeierFitter().fit(time, cause == 1)
    curve = result.curves().iloc[1:]
    at = curve["time_days"].to_numpy()
    surv = km.survival_function_.iloc[:, 0].reindex(at).to_numpy()
    assert curve["share_redeemed"].to_numpy() == pytest.approx(1 - surv, rel=1e-12, abs=1e-14)
    bounds = km.confidence_interval_.reindex(at).to_numpy()  # lower, upper of S
    inner = (surv > 0) & (surv < 1)
    assert curve["ci_low"].to_numpy()[inner] == pytest.approx(1 - bounds[inner, 1], rel=1e-9)
    assert curve["ci_high"].to_numpy()[inner] == pytest.approx(1 - bounds[inner, 0], rel=1e-9)
    median = km.median_survival_time_
    survival = km.survival_function_.iloc[:, 0]
    if not np.isfinite(median) and survival.iloc[-1] == pytest.approx(0.5, abs=1e-12):
        # lifelines leaves the median undefined when the curve ends exactly at one half;
        # the lab reports it once the curve reaches one half, as for a curve that goes on
        median = survival.index[survival <= 0.5 + 1e-12][0]
    row = result.to_frame().iloc[0]
    assert row["median_cycle_days"] == pytest.approx(
        median if np.isfinite(median) else np.nan, nan_ok=True
    )


@pytest.mark.parametrize("estimator", ["kaplan_meier", "incidence"])
def test_median_when_the_curve_sits_exactly_at_one_half(store, estimator):
    """Two of four coupons redeem at day 1 and the rest stay open: the curve is exactly
    0.5 from day 1, so the median is day 1 (lifelines, R's survival), not NaN."""
    from lifelines import AalenJohansenFitter, KaplanMeierFitter

    stops = [(1.0, "redeemed"), (1.0, "redeemed"), (0.0, "open"), (0.0, "open")]
    load(store, "r", cycle_log(stops))
    result = redemption_cycle(store, run="r", estimator=estimator)
    assert result.curves()["share_redeemed"].iloc[-1] == 0.5
    time, cause = _lifelines_frames(result)
    if estimator == "kaplan_meier":
        expected = KaplanMeierFitter().fit(time, cause == 1).median_survival_time_
    else:
        cif = AalenJohansenFitter().fit(time, cause, event_of_interest=1).cumulative_density_
        expected = cif.index[cif.iloc[:, 0] >= 0.5][0]
    assert expected == 1.0
    assert result.to_frame()["median_cycle_days"].iloc[0] == expected


def test_median_interval_matches_statsmodels_test_inversion(store):
    """The Kaplan-Meier median interval inverts the log-log test as statsmodels does."""
    from statsmodels.duration.survfunc import SurvfuncRight

    rng = np.random.default_rng(3)
    stops = [(float(d), "redeemed") for d in rng.uniform(0, 6, 40).round(2)]
    stops += [(float(d), "expired") for d in rng.uniform(0, 6, 20).round(2)]
    stops += [(0.0, "open")] * 10
    load(store, "r", cycle_log(stops))
    result = redemption_cycle(store, run="r", estimator="kaplan_meier")
    time, cause = _lifelines_frames(result)
    sf = SurvfuncRight(time, (cause == 1).astype(float))
    row = result.to_frame().iloc[0]
    assert (row["median_ci_low"], row["median_ci_high"]) == pytest.approx(sf.quantile_ci(0.5))


def test_unknown_estimator(store):
    load(store, "r", five_coupons(), days=4)
    with pytest.raises(ValueError, match="estimator"):
        redemption_cycle(store, run="r", estimator="nelson_aalen")


@pytest.mark.parametrize("estimator", ["kaplan_meier", "incidence"])
def test_groups_are_estimated_independently(store, estimator):
    """Group 'alipay' ends with every coupon at risk redeemed (S = 0, an infinite
    Greenwood term) and comes first in the sort: 'wechat' must get exactly the
    curve it gets on its own."""
    rng = np.random.default_rng(11)
    wechat = [(float(d), "redeemed") for d in rng.uniform(0, 5, 20).round(2)]
    wechat += [(float(d), "expired") for d in rng.uniform(0, 5, 20).round(2)] + [(0.0, "open")] * 5
    log = cycle_log([(1.0, "redeemed"), (1.0, "redeemed")] + wechat)
    log["coupons"].loc[:1, "platform"] = "alipay"
    load(store, "both", log)
    load(store, "alone", cycle_log(wechat))
    both = redemption_cycle(store, run="both", by="platform", estimator=estimator)
    alone = redemption_cycle(store, run="alone", estimator=estimator)
    cols = ["time_days", "share_redeemed", "ci_low", "ci_high", "at_risk", "redeemed"]
    got = both.curves().query("platform == 'wechat'")[cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, alone.curves()[cols], check_dtype=False, rtol=1e-12)
    assert both.curves().query("platform == 'alipay'")["share_redeemed"].iloc[-1] == 1.0
