"""lab.retention against a plain-Python reference on small generated logs, plus golden cases."""

import itertools

import holoviews as hv
import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from reference_funnel import BASE, make_logs, write_logs
from reference_retention import reference_retention

import lab
from lab import _filters
from lab.retention import retention

SETTINGS = settings(max_examples=35, deadline=None)
STORE = lab.Store(":memory:")
_RUNS = itertools.count()

LOGS = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**32 - 1),
        "n_users": st.integers(0, 5),
        "n_offers": st.integers(0, 12),
        "n_extra": st.integers(0, 8),
        "n_orders": st.integers(0, 15),
        "slots": st.sampled_from([8, 40, 160]),
    }
)
RANGES = st.sampled_from(
    [
        (None, None),
        (BASE + pd.Timedelta(days=1), None),
        (None, BASE + pd.Timedelta(days=5)),
        (BASE + pd.Timedelta(days=1), BASE + pd.Timedelta(days=20)),
    ]
)
RUN_DAYS = st.sampled_from([None, 3, 12])


def fresh(logs, days) -> str:
    run = f"r{next(_RUNS)}"
    kw = {} if days is None else {"start_date": BASE.date(), "days": days}
    write_logs(STORE, run, logs, **kw)
    return run


def check(res, table, curves, data_end):
    assert res.data_end == data_end
    got = res.to_frame()
    assert len(got) == len(table)
    if len(table):
        pd.testing.assert_frame_equal(got.astype(object), table.astype(object), check_dtype=False)
    pd.testing.assert_frame_equal(
        res.curves.astype(object), curves.astype(object), check_dtype=False
    )


@SETTINGS
@example(  # orders logged without a platform: start_where on it must match nothing
    logs_kw={"seed": 0, "n_users": 4, "n_offers": 6, "n_extra": 2, "n_orders": 8, "slots": 8},
    start_event="order",
    return_event="order",
    period="day",
    mode="exact",
    first_time=False,
    max_periods=3,
    by=None,
    rng=(None, None),
    days=None,
    start_where={"platform": "wechat"},
)
@given(
    LOGS,
    st.sampled_from(["claim", "exposure", "order"]),
    st.sampled_from(["order", "claim", "redeem"]),
    st.sampled_from(["day", "week", "month"]),
    st.sampled_from(["exact", "on_or_after"]),
    st.booleans(),
    st.sampled_from([0, 3, 14]),
    st.sampled_from([None, "segment", "platform", ("credit_tier", "events.entry")]),
    RANGES,
    RUN_DAYS,
    st.sampled_from(
        [None, {"platform": "wechat"}, {"platform": "wechat", "entry": "pay_page"}, {"stock_id": 3}]
    ),
)
def test_matches_reference(
    logs_kw,
    start_event,
    return_event,
    period,
    mode,
    first_time,
    max_periods,
    by,
    rng,
    days,
    start_where,
):
    breakdown = _filters.breakdowns(by)
    assume(start_event != "order" or all(t == "users" for _, t, _ in breakdown))
    assume(start_event != "order" or set(start_where or {}) <= {"platform"})
    logs = make_logs(**logs_kw)
    run = fresh(logs, days)
    start, end = rng
    kw = dict(
        start_event=start_event,
        return_event=return_event,
        period=period,
        mode=mode,
        first_time=first_time,
        max_periods=max_periods,
        start=start,
        end=end,
        start_where=start_where,
    )
    res = retention(STORE, run=run, by=by, **kw)
    run_end = None if days is None else BASE + pd.Timedelta(days=days)
    check(res, *reference_retention(logs, by=breakdown, run_end=run_end, **kw))


# -- golden cases, derived by hand --------------------------------------------------------
@pytest.fixture(scope="module")
def golden_run():
    t = lambda day, hour=12: (BASE + pd.Timedelta(days=day, hours=hour)).to_datetime64()  # noqa: E731
    # user 1 claims day 0 and day 2; user 2 claims day 1; user 3 never claims
    events = pd.DataFrame(
        {
            "event_id": [3, 1, 2],
            "ts": [t(2), t(0), t(1)],
            "user_id": [1, 1, 2],
            "event_type": "claim",
        }
    )
    # user 1 orders at the claim instant (counts, same period 0), day 1 and day 3;
    # user 2 orders before the claim (does not count) and on day 3; user 3 orders day 1
    orders = pd.DataFrame(
        {
            "order_id": [1, 2, 3, 4, 5, 6],
            "user_id": [1, 1, 1, 2, 2, 3],
            "ts": [t(0), t(1), t(3), t(1, 6), t(3), t(1)],
            "amount_fen": 1000,
            "discount_fen": 0,
        }
    )
    users = pd.DataFrame({"user_id": [1, 2, 3], "segment": ["new", "active", "new"]})
    run = f"gold{next(_RUNS)}"
    write_logs(
        STORE,
        run,
        {"users": users, "events": events, "orders": orders},
        start_date=BASE.date(),
        days=4,
    )
    return run


def test_golden_exact_and_on_or_after(golden_run):
    res = retention(STORE, run=golden_run, max_periods=3)
    assert res.data_end == BASE + pd.Timedelta(days=4)
    t = res.table.set_index(["cohort", "period"])
    day0, day1 = BASE, BASE + pd.Timedelta(days=1)
    assert t.loc[day0, "retained"].tolist() == [1, 1, 0, 1]  # user 1: days 0, 1, 3
    assert t.loc[day1, "retained"].tolist() == [0, 0, 1, 0]  # user 2: day 3 = period 2
    assert t.loc[day0, "complete"].tolist() == [True] * 4
    assert t.loc[day1, "complete"].tolist() == [True, True, True, False]
    # curve: period 3 averages the day-0 cohort only
    assert res.curves["rate"].tolist() == [0.5, 0.5, 0.5, 1.0]
    assert res.curves["cohorts"].tolist() == [2, 2, 2, 1]
    after = retention(STORE, run=golden_run, max_periods=3, mode="on_or_after")
    t = after.table.set_index(["cohort", "period"])
    assert t.loc[day0, "retained"].tolist() == [1, 1, 1, 1]
    assert t.loc[day1, "retained"].tolist() == [1, 1, 1, 0]


def test_golden_recurring_and_repeat_orders(golden_run):
    rec = retention(STORE, run=golden_run, max_periods=1, first_time=False)
    # user 1 is a member of the day-0 and day-2 cohorts; on day 2 it returns on day 3
    t = rec.table.set_index(["cohort", "period"])
    assert t.loc[BASE + pd.Timedelta(days=2), "retained"].tolist() == [0, 1]
    assert t.loc[BASE + pd.Timedelta(days=2), "cohort_size"].tolist() == [1, 1]
    # order -> order: the anchor order is not its own return
    rep = retention(STORE, run=golden_run, start_event="order", max_periods=2, by="segment")
    t = rep.table.set_index(["cohort", "segment", "period"])
    assert t.loc[(BASE, "new"), "cohort_size"].tolist() == [1, 1, 1]  # user 1
    assert t.loc[(BASE, "new"), "retained"].tolist() == [0, 1, 0]
    assert t.loc[(BASE + pd.Timedelta(days=1), "new"), "retained"].tolist() == [0, 0, 0]  # user 3


@pytest.fixture(scope="module")
def claims_run():
    """Claims with coupons of each status, through two entries.

    user 1: refused pay-page claim day 0, issued card-wallet claim day 1, issued pay-page
    claim day 2; orders days 1 and 3. user 2: compensated pay-page claim day 1, order
    day 2. user 3: refused pay-page claim day 0 only, order day 1.
    """
    t = lambda day: (BASE + pd.Timedelta(days=day, hours=12)).to_datetime64()  # noqa: E731
    entries = ["pay_page", "card_wallet", "pay_page", "pay_page", "pay_page"]
    events = pd.DataFrame(
        {
            "event_id": [1, 2, 3, 4, 5],
            "ts": [t(0), t(1), t(2), t(1), t(0)],
            "user_id": [1, 1, 1, 2, 3],
            "event_type": "claim",
            "platform": "wechat",
            "entry": entries,
            "coupon_id": [11, 12, 13, 14, 15],
        }
    )
    coupons = pd.DataFrame(
        {
            "coupon_id": [11, 12, 13, 14, 15],
            "stock_id": 1,
            "user_id": [1, 1, 1, 2, 3],
            "platform": "wechat",
            "entry": entries,
            "claimed_at": events["ts"],
            "status": ["refused", "issued", "issued", "compensated", "refused"],
        }
    )
    orders = pd.DataFrame(
        {
            "order_id": [1, 2, 3, 4],
            "user_id": [1, 1, 2, 3],
            "ts": [t(1), t(3), t(2), t(1)],
            "amount_fen": 1000,
            "discount_fen": 0,
        }
    )
    run = f"claims{next(_RUNS)}"
    logs = {"events": events, "coupons": coupons, "orders": orders}
    write_logs(STORE, run, logs, start_date=BASE.date(), days=5)
    return run, logs


def test_golden_refused_claims_do_not_start_cohorts(claims_run):
    run, logs = claims_run
    res = retention(STORE, run=run, max_periods=2)
    t = res.table.set_index(["cohort", "period"])
    day1 = BASE + pd.Timedelta(days=1)
    # user 1 starts day 1 (the day-0 attempt was refused), user 2 day 1; user 3 never
    assert set(res.table["cohort"]) == {day1}
    assert t.loc[day1, "cohort_size"].tolist() == [2, 2, 2]
    # user 1: orders at the claim instant on day 1 (period 0) and on day 3 (period 2);
    # user 2: order on day 2 (period 1). User 3's day-1 order does not count.
    assert t.loc[day1, "retained"].tolist() == [1, 1, 1]
    empty = {"users": pd.DataFrame({"user_id": []}), "stocks": pd.DataFrame({"stock_id": []})}
    ref = reference_retention({**logs, **empty}, max_periods=2, run_end=BASE + pd.Timedelta(days=5))
    check(res, *ref)


def test_golden_start_where(claims_run):
    run, logs = claims_run
    where = {"platform": "wechat", "entry": "pay_page"}
    res = retention(STORE, run=run, max_periods=2, start_where=where)
    t = res.table.set_index(["cohort", "period"])
    day1, day2 = BASE + pd.Timedelta(days=1), BASE + pd.Timedelta(days=2)
    # user 1 anchors at the issued pay-page claim on day 2 (not the card-wallet one on
    # day 1, nor the refused one on day 0); user 2 at day 1; user 3 is refused only
    assert t.loc[day1, "retained"].tolist() == [0, 1, 0]  # user 2: order day 2
    assert t.loc[day2, "retained"].tolist() == [0, 1, 0]  # user 1: order day 3
    assert t.loc[day2, "cohort_size"].tolist() == [1, 1, 1]
    assert res.curves.loc[1, "rate"] == 1.0
    # return events are not filtered: user 1's card-wallet cohort (day 1) returns with
    # the pay-page claim of day 2
    back = retention(
        STORE, run=run, return_event="claim", max_periods=2, start_where={"entry": "card_wallet"}
    )
    assert back.table["retained"].tolist() == [0, 1, 0]
    empty = retention(STORE, run=run, start_where={"entry": "app_push"})
    assert empty.table.empty
    with pytest.raises(ValueError, match="allowed keys are .*entry"):
        retention(STORE, run=run, start_where={"status": "issued"})
    with pytest.raises(ValueError, match="start_where"):
        retention(STORE, run=run, start_where=[("entry", "pay_page")])


def test_errors_name_the_argument(golden_run):
    for kw, word in [
        ({"period": "year"}, "period"),
        ({"mode": "rolling"}, "mode"),
        ({"start_event": "click"}, "start_event"),
        ({"return_event": "visit"}, "return_event"),
        ({"max_periods": -1}, "max_periods"),
        ({"start_event": "order", "by": "platform"}, "by"),
        ({"by": "nope"}, "by"),
        ({"first_time": "yes"}, "first_time"),
    ]:
        with pytest.raises(ValueError, match=word):
            retention(STORE, run=golden_run, **kw)


def test_plot_is_holoviews(golden_run):
    assert isinstance(retention(STORE, run=golden_run).plot(), hv.Layout)
    assert isinstance(retention(STORE, run=golden_run, by="segment").plot(), hv.Layout)


def test_month_cohorts_cross_a_boundary():
    """Claims on 30 March and 2 April fall in two month cohorts; returns count by calendar month."""
    ts = np.array(["2026-03-30T10:00", "2026-04-02T10:00"], dtype="datetime64[us]")
    events = pd.DataFrame({"event_id": [1, 2], "ts": ts, "user_id": [1, 2], "event_type": "claim"})
    orders = pd.DataFrame(
        {
            "order_id": [1, 2],
            "user_id": [1, 2],
            "ts": np.array(["2026-04-01", "2026-05-03"], dtype="datetime64[us]"),
            "amount_fen": 1,
            "discount_fen": 0,
        }
    )
    run = f"m{next(_RUNS)}"
    write_logs(STORE, run, {"events": events, "orders": orders})
    res = retention(STORE, run=run, period="month", max_periods=1)
    assert res.table["retained"].tolist() == [0, 1, 0, 1]
    assert res.data_end == pd.Timestamp("2026-05-04")
    assert res.table["complete"].tolist() == [True, True, True, False]


def test_small_world_matches_reference():
    """A simulated world (3,000 users, 14 days + 7 pre-period days) against the reference."""
    from lab.world import simulate

    store = lab.Store(":memory:")
    run = simulate("default", store=store, users=3000, days=14, pre_days=7, seed=3, progress=False)
    logs = {
        t: store.query(f"SELECT * FROM {t} WHERE run_id = ?", [run])
        for t in ("users", "stocks", "events", "orders", "coupons")
    }
    info = store.run(run)
    run_end = pd.Timestamp(info["start_date"]) + pd.Timedelta(days=int(info["days"]))
    for kw in (
        {},
        {"mode": "on_or_after", "period": "week", "by": "platform"},
        {"first_time": False, "by": "segment", "max_periods": 7},
        {"start_where": {"platform": "wechat", "entry": "pay_page"}, "by": "segment"},
    ):
        res = retention(store, run=run, **kw)
        by = _filters.breakdowns(kw.pop("by", None))
        check(res, *reference_retention(logs, by=by, run_end=run_end, **kw))
    assert res.table["retained"].sum() > 100


# -- rolling periods and NULL anchors (issue 15) ---------------------------------------


@SETTINGS
@example(  # claims at the same time: the smaller event_id anchors, and gives the entry
    logs_kw={"seed": 2, "n_users": 1, "n_offers": 10, "n_extra": 0, "n_orders": 0, "slots": 8},
    start_event="claim",
    return_event="order",
    period="day",
    mode="exact",
    first_time=False,
    max_periods=0,
    by="events.entry",
    days=None,
    p_null=0.0,
)
@given(
    LOGS,
    st.sampled_from(["claim", "exposure", "order"]),
    st.sampled_from(["order", "claim"]),
    st.sampled_from(["day", "week", "month"]),
    st.sampled_from(["exact", "on_or_after"]),
    st.booleans(),
    st.sampled_from([0, 3, 14]),
    st.sampled_from([None, "segment", "events.entry", "stock_type"]),
    RUN_DAYS,
    st.sampled_from([0.0, 0.4]),
)
def test_rolling_and_null_anchors_match_reference(
    logs_kw, start_event, return_event, period, mode, first_time, max_periods, by, days, p_null
):
    """Rolling periods on a 6-hour grid (returns land exactly on 24-hour boundaries) and
    imported logs whose events lack stock, platform or entry."""
    breakdown = _filters.breakdowns(by)
    assume(start_event != "order" or all(t == "users" for _, t, _ in breakdown))
    logs = make_logs(**logs_kw, p_null=p_null)
    run = fresh(logs, days)
    kw = dict(
        start_event=start_event,
        return_event=return_event,
        period=period,
        mode=mode,
        first_time=first_time,
        max_periods=max_periods,
    )
    run_end = None if days is None else BASE + pd.Timedelta(days=days)
    for buckets in ("calendar", "rolling"):
        res = retention(STORE, run=run, by=by, buckets=buckets, **kw)
        assert res.buckets == buckets
        ref = reference_retention(logs, by=breakdown, run_end=run_end, buckets=buckets, **kw)
        check(res, *ref)


def test_golden_rolling_day_around_midnight():
    """A claim at 23:59 and an order two minutes later: a day-1 return on calendar days,
    a day-0 return on rolling 24-hour days; an order 24 hours after the claim is day 1."""
    claim = BASE + pd.Timedelta(hours=23, minutes=59)
    events = pd.DataFrame({"event_id": [1], "ts": [claim], "user_id": [1], "event_type": "claim"})
    orders = pd.DataFrame(
        {
            "order_id": [1, 2],
            "user_id": [1, 1],
            "ts": [claim + pd.Timedelta(minutes=2), claim + pd.Timedelta(hours=24)],
            "amount_fen": 1000,
            "discount_fen": 0,
        }
    )
    run = f"mid{next(_RUNS)}"
    write_logs(STORE, run, {"events": events, "orders": orders}, start_date=BASE.date(), days=5)
    calendar = retention(STORE, run=run, max_periods=2).table["retained"].tolist()
    rolling = retention(STORE, run=run, max_periods=2, buckets="rolling")
    assert calendar == [0, 1, 0]  # both orders fall on the next calendar day
    assert rolling.table["retained"].tolist() == [1, 1, 0]
    # rolling period 2 of the day-0 cohort ends by day 4: complete in a 5-day run
    assert rolling.table["complete"].tolist() == [True, True, True]
    with pytest.raises(ValueError, match="buckets"):
        retention(STORE, run=run, buckets="hourly")


def test_breakdown_reads_a_null_anchor_as_none():
    """The first claim has no platform, a later one has: the user is '(none)'."""
    events = pd.DataFrame(
        {
            "event_id": [1, 2],
            "ts": [BASE, BASE + pd.Timedelta(hours=1)],
            "user_id": [1, 1],
            "event_type": "claim",
            "platform": [None, "wechat"],
        }
    )
    run = f"nul{next(_RUNS)}"
    write_logs(STORE, run, {"events": events}, start_date=BASE.date(), days=2)
    res = retention(STORE, run=run, by="events.platform", max_periods=0)
    assert res.table[res.by[0]].tolist() == ["(none)"]
