"""lab.funnel against a plain-Python reference on small generated logs, plus golden cases."""

import itertools

import holoviews as hv
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_funnel import (
    BASE,
    EDGES_S,
    SLOT,
    label_top,
    make_logs,
    reference_entities,
    reference_funnel,
    week_start,
    window_funnel_levels,
    write_logs,
)

import lab
from lab import _filters, schema
from lab.funnel import DEFAULT_STEPS, dropped_at, funnel, funnel_trend

SETTINGS = settings(max_examples=20, deadline=None)
STORE = lab.Store(":memory:")  # one store, a fresh run per example: runs must not leak
_RUNS = itertools.count()

LOGS = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**32 - 1),
        "n_users": st.integers(0, 5),
        "n_offers": st.integers(0, 14),
        "n_extra": st.integers(0, 10),
        "n_orders": st.just(0),
    }
)
STEPS = st.one_of(
    st.just(DEFAULT_STEPS),
    st.lists(st.sampled_from(schema.EVENT_TYPES), min_size=2, max_size=4, unique=True).map(tuple),
)
WINDOWS = st.sampled_from([None, pd.Timedelta(0), pd.Timedelta(days=2), pd.Timedelta(days=7)])
BYS = st.sampled_from(
    [
        None,
        "segment",
        "platform",
        ("segment", "entry"),
        "credit_tier",
        "events.entry",
        "arm",
        "stock_type",
    ]
)
RANGES = st.sampled_from(
    [
        (None, None),
        (BASE + pd.Timedelta(days=1), None),
        (None, BASE + pd.Timedelta(days=5)),
        (BASE + pd.Timedelta(days=1), BASE + pd.Timedelta(days=6)),
    ]
)
TOP_N = st.sampled_from([None, 1, 2, 10])


def fresh(logs) -> str:
    run = f"r{next(_RUNS)}"
    write_logs(STORE, run, logs)
    return run


def _by(by):
    return list(_filters.breakdowns(by))


def check_against_reference(res, ent, *, steps, keys, top_n):
    table, ttc, hist = reference_funnel(ent, steps=steps, keys=keys, top_n=top_n)
    got = res.table.sort_values([*keys, "step_index"], ignore_index=True)
    if table.empty:
        assert got.empty
        return
    want = table.sort_values([*keys, "step_index"], ignore_index=True)[got.columns]
    pd.testing.assert_frame_equal(got.astype(object), want.astype(object), check_dtype=False)
    for i, t in enumerate(ttc):
        sel = res.time_to_convert
        for k in keys:
            sel = sel[sel[k] == t[k]]
        assert len(sel) == 1
        row = sel.iloc[0]
        assert row["converted"] == t["converted"], i
        for name, q in zip(("p25", "median", "p75", "p90"), t["q_us"], strict=True):
            if np.isnan(q):
                assert pd.isna(row[name])
            else:
                assert abs(row[name] / pd.Timedelta(microseconds=1) - q) <= 1
    for h in hist:
        sel = res.histogram
        for k in keys:
            sel = sel[sel[k] == h[k]]
        assert sel["count"].tolist() == h["counts"]


@SETTINGS
@given(
    LOGS,
    STEPS,
    st.sampled_from(["ordered", "strict"]),
    WINDOWS,
    st.sampled_from(["offer", "user"]),
    BYS,
    TOP_N,
    RANGES,
)
def test_events_path_matches_reference(logs_kw, steps, order, window, unit, by, top_n, rng):
    logs = make_logs(**logs_kw)
    run = fresh(logs)
    start, end = rng
    res = funnel(
        STORE,
        run=run,
        steps=steps,
        order=order,
        window=window,
        unit=unit,
        by=by,
        top_n=top_n,
        start=start,
        end=end,
        source="events",
    )
    assert res.source == "events"
    ent = reference_entities(
        logs, steps=steps, order=order, window=window, unit=unit, start=start, end=end, by=_by(by)
    )
    keys = [n for n, _, _ in _by(by)]
    check_against_reference(res, ent, steps=steps, keys=keys, top_n=top_n)


@pytest.mark.parametrize("order", ["ordered", "strict"])
@pytest.mark.parametrize("unit", ["offer", "user"])
def test_busy_logs_match_reference(order, unit):
    """Denser logs than hypothesis tends to draw: many ties, repeats and window cut-offs."""
    for seed in range(4):
        logs = make_logs(seed, n_users=6, n_offers=30, n_extra=30, n_orders=0, slots=3 + 4 * seed)
        run = fresh(logs)
        for steps, by in ((DEFAULT_STEPS, "segment"), (("delivery", "share", "claim"), None)):
            window = pd.Timedelta(days=1)
            res = funnel(
                STORE,
                run=run,
                steps=steps,
                order=order,
                window=window,
                unit=unit,
                by=by,
                source="events",
            )
            ent = reference_entities(
                logs, steps=steps, order=order, window=window, unit=unit, by=_by(by)
            )
            keys = [n for n, _, _ in _by(by)]
            check_against_reference(res, ent, steps=steps, keys=keys, top_n=10)


@SETTINGS
@given(LOGS, STEPS, WINDOWS, BYS, TOP_N, RANGES)
def test_offers_path_equals_events_path(logs_kw, steps, window, by, top_n, rng):
    logs = make_logs(**logs_kw)
    run = fresh(logs)
    start, end = rng
    kw = dict(run=run, steps=steps, window=window, by=by, top_n=top_n, start=start, end=end)
    fast = funnel(STORE, source="offers", **kw)
    slow = funnel(STORE, source="events", **kw)
    auto = funnel(STORE, **kw)
    assert (fast.source, slow.source) == ("offers", "events")
    # an imported log whose events name offers is read from its events (the contract)
    offer_events = logs["events"]["offer_id"].notna().any()
    assert auto.source == ("offers" if len(logs["offers"]) and not offer_events else "events")
    for a, b in ((fast, slow), (auto, slow)):
        pd.testing.assert_frame_equal(a.table, b.table)
        pd.testing.assert_frame_equal(a.time_to_convert, b.time_to_convert)
        pd.testing.assert_frame_equal(a.histogram, b.histogram)


@SETTINGS
@given(
    LOGS,
    STEPS,
    st.sampled_from(["ordered", "strict"]),
    st.sampled_from(["offer", "user"]),
    st.sampled_from(["day", "week"]),
    st.sampled_from([None, "segment"]),
    st.sampled_from([None, 1, 10]),  # 1: the other segments pooled, in every period
)
def test_trend_matches_reference(logs_kw, steps, order, unit, interval, by, top_n):
    logs = make_logs(**logs_kw)
    run = fresh(logs)
    res = funnel_trend(
        STORE,
        run=run,
        interval=interval,
        steps=steps,
        order=order,
        unit=unit,
        by=by,
        top_n=top_n,
        source="events",
    )
    keys = [n for n, _, _ in _by(by)]
    ent = label_top(
        reference_entities(logs, steps=steps, order=order, unit=unit, by=_by(by)), keys, top_n
    )
    ent["period"] = ent["t0"].dt.normalize() if interval == "day" else week_start(ent["t0"])
    rows = []
    for (period, *g), d in ent.groupby(["period", *keys], sort=True):
        n0 = d["t0"].notna().sum()
        for i, s in enumerate(steps):
            c = int(d[f"t{i}"].notna().sum())
            rows.append(
                {
                    "period": period,
                    **dict(zip(keys, g, strict=True)),
                    "step_index": i,
                    "step": s,
                    "count": c,
                    "conversion_from_start": c / n0,
                }
            )
    want = pd.DataFrame(
        rows, columns=["period", *keys, "step_index", "step", "count", "conversion_from_start"]
    )
    got = res.to_frame()
    assert len(got) == len(want)
    if len(want):
        pd.testing.assert_frame_equal(got.astype(object), want.astype(object), check_dtype=False)
        last = res.conversion()
        assert len(last) == len(want) // len(steps)


@SETTINGS
@given(
    LOGS,
    STEPS,
    st.sampled_from(["ordered", "strict"]),
    st.sampled_from(["offer", "user"]),
    st.data(),
)
def test_dropped_at_matches_reference(logs_kw, steps, order, unit, data):
    logs = make_logs(**logs_kw)
    run = fresh(logs)
    i = data.draw(st.integers(1, len(steps) - 1))
    got = dropped_at(
        STORE, run=run, step=steps[i], steps=steps, order=order, unit=unit, source="events"
    )
    ent = reference_entities(logs, steps=steps, order=order, unit=unit)
    want = sorted(set(ent.loc[ent[f"t{i - 1}"].notna() & ent[f"t{i}"].isna(), "user_id"]))
    assert got["user_id"].tolist() == want
    if unit == "offer" and order == "ordered" and len(logs["offers"]):
        fast = dropped_at(STORE, run=run, step=steps[i], steps=steps, source="offers")
        assert fast["user_id"].tolist() == want


# -- golden cases, derived by hand --------------------------------------------------------
def _events(rows):
    """rows: (event_id, minutes after BASE, user_id, event_type, offer_id)."""
    df = pd.DataFrame(rows, columns=["event_id", "minute", "user_id", "event_type", "offer_id"])
    df["ts"] = (BASE + pd.to_timedelta(df.pop("minute"), unit="min")).astype("datetime64[us]")
    df["stock_id"] = 1
    return df


@pytest.fixture
def tie_run():
    # user 1: exposure and claim logged in the same instant, the claim with the smaller id
    # user 2: exposure, share, claim (share breaks strict order)
    # user 3: exposure twice in a row, then claim (repeats collapse in strict order)
    # user 4: claim only (never starts the funnel); user 5: exposure, claim 8 days later
    ev = _events(
        [
            (2, 0, 1, "exposure", None),
            (1, 0, 1, "claim", None),
            (3, 0, 2, "exposure", None),
            (4, 5, 2, "share", None),
            (5, 6, 2, "claim", None),
            (6, 0, 3, "exposure", None),
            (7, 1, 3, "exposure", None),
            (8, 2, 3, "claim", None),
            (9, 0, 4, "claim", None),
            (10, 0, 5, "exposure", None),
            (11, 8 * 24 * 60, 5, "claim", None),
        ]
    ).sample(frac=1, random_state=1)
    users = pd.DataFrame({"user_id": [1, 2, 3, 4, 5], "segment": ["new"] * 5})
    run = f"tie{next(_RUNS)}"
    write_logs(STORE, run, {"users": users, "events": ev})
    return run


def test_golden_ties_and_strict(tie_run):
    kw = dict(run=tie_run, steps=("exposure", "claim"), unit="user")
    ordered = funnel(STORE, order="ordered", **kw).table["count"].tolist()
    # ordered: equal timestamps count as after -> users 1, 2, 3 convert; 5 is outside 7 days
    assert ordered == [4, 3]
    # strict: user 1's claim (id 1) sorts before its exposure (id 2), user 2 shared between
    assert funnel(STORE, order="strict", **kw).table["count"].tolist() == [4, 1]
    assert funnel(STORE, order="ordered", window=None, **kw).table["count"].tolist() == [4, 4]
    res = funnel(STORE, order="ordered", **kw)
    assert res.table["dropoff"].tolist() == [0, 1]
    assert res.table["conversion_from_previous"].tolist() == [1.0, 0.75]
    # converters took 0, 6 and 2 minutes
    assert res.time_to_convert["median"].iloc[0] == pd.Timedelta(minutes=2)
    assert res.histogram["count"].tolist()[:4] == [1, 1, 1, 0]  # <1m, 1-5m, 5-15m
    assert dropped_at(STORE, step="claim", **kw)["user_id"].tolist() == [5]


def test_golden_offer_funnel_and_top_n():
    offers = pd.DataFrame(
        {
            "offer_id": [1, 2, 3, 4, 5],
            "user_id": [1, 1, 2, 3, 4],
            "stock_id": [1, 2, 1, 3, 1],
            "delivered_at": [BASE] * 5,
            "exposed_at": [BASE, BASE, BASE, BASE, pd.NaT],
            "rule_viewed_at": [BASE + SLOT, pd.NaT, BASE, BASE - SLOT, pd.NaT],
            "claimed_at": [BASE + 2 * SLOT, pd.NaT, BASE, BASE, pd.NaT],
            "redeemed_at": [BASE + 3 * SLOT, pd.NaT, pd.NaT, BASE, pd.NaT],
        }
    )
    stocks = pd.DataFrame(
        {
            "stock_id": [1, 2, 3],
            "platform": ["wechat", "alipay", "meituan"],
            "stock_type": "threshold",
        }
    )
    run = f"g{next(_RUNS)}"
    write_logs(STORE, run, {"offers": offers, "stocks": stocks})
    res = funnel(STORE, run=run)
    assert res.source == "offers"
    # offer 4 viewed the rules before its exposure: it stops at exposure
    assert res.table["count"].tolist() == [4, 2, 2, 1]
    by = funnel(STORE, run=run, by="platform", top_n=1).table
    assert by.loc[by["platform"] == "wechat", "count"].tolist() == [2, 2, 2, 1]
    assert by.loc[by["platform"] == "other", "count"].tolist() == [2, 0, 0, 0]
    assert list(dict.fromkeys(by["platform"])) == ["wechat", "other"]


@pytest.mark.parametrize(
    ("by", "top_n", "ranked_by"),
    [
        ("segment", 10, None),  # 3 segments and "(none)": at most 4 groups
        ("segment", 3, 3),
        (("segment", "entry"), 10, 10),  # up to 4 x 9 groups
        ("segment", None, None),
    ],
)
def test_groups_are_ranked_in_the_query_only_where_they_can_exceed_top_n(
    by, top_n, ranked_by, monkeypatch
):
    from lab.funnel import _queries

    ranked, labelled = [], _queries.labelled
    monkeypatch.setattr(
        _queries, "labelled", lambda db, spec, n: ranked.append(n) or labelled(db, spec, n)
    )
    logs = make_logs(1, n_users=5, n_offers=14, n_extra=10, n_orders=0)
    run = fresh(logs)
    got = funnel(STORE, run=run, by=by, top_n=top_n, window=None, source="events")
    assert ranked == [ranked_by]
    ent = reference_entities(logs, steps=DEFAULT_STEPS, window=None, by=_by(by))
    keys = [n for n, _, _ in _by(by)]
    check_against_reference(got, ent, steps=DEFAULT_STEPS, keys=keys, top_n=top_n)


def test_errors_name_the_argument(tie_run):
    with pytest.raises(ValueError, match="steps"):
        funnel(STORE, run=tie_run, steps=("exposure", "click"))
    with pytest.raises(ValueError, match="steps"):
        funnel(STORE, run=tie_run, steps=("exposure",))
    with pytest.raises(ValueError, match="order"):
        funnel(STORE, run=tie_run, order="loose")
    with pytest.raises(ValueError, match="unit"):
        funnel(STORE, run=tie_run, unit="device")
    with pytest.raises(ValueError, match="by"):
        funnel(STORE, run=tie_run, by="colour")
    with pytest.raises(ValueError, match="source"):
        funnel(STORE, run=tie_run, source="offers", order="strict")
    with pytest.raises(ValueError, match="top_n"):
        funnel(STORE, run=tie_run, top_n=0)
    with pytest.raises(ValueError, match="interval"):
        funnel_trend(STORE, run=tie_run, interval="hour")
    with pytest.raises(ValueError, match="step"):
        dropped_at(STORE, run=tie_run, step="exposure")
    with pytest.raises(ValueError, match="start"):
        funnel(STORE, run=tie_run, start="2026-02-01", end="2026-01-01")
    with pytest.raises(KeyError, match="nope"):
        funnel(STORE, run="nope")


def test_plots_are_holoviews(tie_run):
    assert isinstance(funnel(STORE, run=tie_run, unit="user").plot(), hv.Bars)
    assert isinstance(funnel(STORE, run=tie_run, unit="user", by="segment").plot(), hv.Bars)
    assert isinstance(funnel_trend(STORE, run=tie_run, unit="user").plot(), hv.Curve)
    assert isinstance(
        funnel_trend(STORE, run=tie_run, unit="user", by="segment").plot(), hv.NdOverlay
    )


def test_histogram_edges_match_reference():
    from lab.funnel._funnel import HISTOGRAM_EDGES

    assert tuple(HISTOGRAM_EDGES) == EDGES_S


def test_small_world_paths_agree_with_pandas():
    """A simulated world (3,000 users, 14 days): offers path == events path == pandas."""
    from reference_funnel import vectorized_offer_counts

    from lab.world import simulate

    store = lab.Store(":memory:")
    run = simulate("default", store=store, users=3000, days=14, pre_days=0, seed=3, progress=False)
    events = store.query("SELECT * FROM events WHERE run_id = ?", [run])
    for steps, window in (
        (DEFAULT_STEPS, pd.Timedelta(days=7)),
        (("delivery", "exposure", "share", "claim"), None),
    ):
        for by in (None, "platform", ("segment", "entry")):
            kw = dict(run=run, steps=steps, window=window, by=by, top_n=None)
            fast, slow = funnel(store, source="offers", **kw), funnel(store, source="events", **kw)
            pd.testing.assert_frame_equal(fast.table, slow.table)
            pd.testing.assert_frame_equal(fast.time_to_convert, slow.time_to_convert)
            pd.testing.assert_frame_equal(fast.histogram, slow.histogram)
        want = vectorized_offer_counts(events, steps=steps, window=window)
        assert fast.table.groupby("step_index")["count"].sum().tolist() == want
    assert want[0] > 1000 and 0 < want[-1] < want[0]  # the world has a real funnel


# -- imported logs: NULL breakdowns, repeated steps, offers tables (issue 15) -------------

IMPORTED = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**32 - 1),
        "n_users": st.integers(1, 4),
        "n_offers": st.integers(0, 10),
        "n_extra": st.integers(0, 8),
        "n_orders": st.just(0),
        "p_repeat": st.sampled_from([0.0, 0.3, 0.6]),
        "p_null": st.sampled_from([0.0, 0.4]),
    }
)
IMPORTED_BYS = st.sampled_from([None, "events.entry", "platform", "stock_type", "segment"])


@SETTINGS
@given(
    IMPORTED,
    STEPS,
    st.sampled_from(["ordered", "strict"]),
    WINDOWS,
    st.sampled_from(["offer", "user"]),
    IMPORTED_BYS,
    st.sampled_from(["first", "any"]),
)
def test_imported_logs_auto_follows_the_event_rules(logs_kw, steps, order, window, unit, by, entry):
    """Repeated steps, NULL breakdown columns and an offers table holding each step's
    first occurrence: source='auto' gives what the documented event rules give."""
    logs = make_logs(**logs_kw)
    run = fresh(logs)
    kw = dict(run=run, steps=steps, order=order, window=window, unit=unit, by=by, top_n=None)
    auto = funnel(STORE, entry=entry, **kw)
    slow = funnel(STORE, entry=entry, source="events", **kw)
    pd.testing.assert_frame_equal(auto.table, slow.table)
    pd.testing.assert_frame_equal(auto.time_to_convert, slow.time_to_convert)
    ent = reference_entities(
        logs, steps=steps, order=order, window=window, unit=unit, by=_by(by), entry=entry
    )
    keys = [n for n, _, _ in _by(by)]
    check_against_reference(auto, ent, steps=steps, keys=keys, top_n=None)


@SETTINGS
@given(IMPORTED, STEPS, WINDOWS, st.sampled_from(["offer", "user"]))
def test_entry_any_matches_window_funnel(logs_kw, steps, window, unit):
    """entry='any' counts, step by step, the units whose windowFunnel level reaches it."""
    logs = make_logs(**logs_kw)
    run = fresh(logs)
    res = funnel(STORE, run=run, steps=steps, window=window, unit=unit, entry="any")
    levels = window_funnel_levels(logs, steps=steps, window=window, unit=unit)
    want = [sum(level > i for level in levels.values()) for i in range(len(steps))]
    assert res.table["count"].tolist() == want
    first = funnel(STORE, run=run, steps=steps, window=window, unit=unit, entry="first")
    assert (res.table["count"] >= first.table["count"]).all()
    assert res.table["count"].iloc[0] == first.table["count"].iloc[0]


def test_repeated_step_with_an_offers_table_uses_the_event_rules():
    """The issue's case: offer 1 views the rules before and after its exposure. The
    offers table keeps the first view (before the exposure), the event rules carry the
    offer on to the claim from the second view."""
    t = [BASE + i * SLOT for i in range(5)]
    ev = _events(
        [
            (1, 0, 1, "rule_view", 1),
            (2, 6 * 60, 1, "exposure", 1),
            (3, 12 * 60, 1, "rule_view", 1),
            (4, 18 * 60, 1, "claim", 1),
            (5, 0, 2, "exposure", 2),
            (6, 6 * 60, 2, "rule_view", 2),
        ]
    )
    offers = pd.DataFrame(
        {
            "offer_id": [1, 2],
            "user_id": [1, 2],
            "stock_id": 1,
            "delivered_at": [t[0], t[0]],
            "exposed_at": [t[1], t[0]],
            "rule_viewed_at": [t[0], t[1]],
            "claimed_at": [t[3], pd.NaT],
        }
    )
    run = f"rep{next(_RUNS)}"
    write_logs(STORE, run, {"offers": offers, "events": ev})
    steps = ("exposure", "rule_view", "claim")
    auto = funnel(STORE, run=run, steps=steps)
    assert auto.source == "events"
    assert auto.table["count"].tolist() == [2, 2, 1]
    assert funnel(STORE, run=run, steps=steps, source="offers").table["count"].tolist() == [2, 1, 0]


def test_breakdown_is_read_from_the_anchor_even_when_null():
    """User 1's first exposure has no entry, a later one has: the user is '(none)'.
    Same for the stock (NULL stock_id on the anchor) and for retention's anchor claim."""
    ev = _events(
        [
            (1, 0, 1, "exposure", None),
            (2, 60, 1, "exposure", None),
            (3, 120, 1, "claim", None),
            (4, 0, 2, "exposure", None),
            (5, 30, 2, "claim", None),
        ]
    )
    ev["entry"] = [None, "pay_page", "pay_page", "app_push", "app_push"]
    ev["stock_id"] = pd.array([None, 1, 1, 2, 2], dtype="Int64")
    stocks = pd.DataFrame({"stock_id": [1, 2], "stock_type": ["threshold", "random"]})
    run = f"null{next(_RUNS)}"
    write_logs(STORE, run, {"events": ev, "stocks": stocks})
    kw = dict(run=run, steps=("exposure", "claim"), unit="user", top_n=None)
    for by, values in (
        ("events.entry", ["(none)", "app_push"]),
        ("stock_type", ["(none)", "random"]),
    ):
        table = funnel(STORE, by=by, **kw).table
        col = table.columns[0]
        got = table[table["step_index"] == 0].set_index(col)["count"]
        assert sorted(got.index) == sorted(values) and (got == 1).all()
        for entry in ("first", "any"):
            strict = funnel(STORE, by=by, order="strict", entry=entry, **kw).table
            assert sorted(strict[col].unique()) == sorted(values)
