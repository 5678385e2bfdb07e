"""lab.cycle: Kaplan-Meier redemption cycle against hand-derived and plain references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from reference_cycle_metrics import (
    START,
    STOCKS,
    coupon_logs,
    load,
    loglog_band,
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
    result = redemption_cycle(store, run="r")
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
    result = redemption_cycle(store, run="r", horizon_days=2.5)
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
    result = redemption_cycle(store, run="r", by="platform")
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
