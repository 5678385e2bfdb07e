"""Chart conventions, names and slicing of the dashboard, checked against ``lab``."""

from __future__ import annotations

import pandas as pd
import pytest

import lab
from dashboards.charts import PALETTE, colour_of, thin_steps, yuan_tick_text
from dashboards.i18n import STRINGS
from dashboards.names import run_name, run_names
from dashboards.slicing import Slice, sliced_frame
from dashboards.store import DataStore
from lab.metrics import daily_trend
from lab.world import PRESETS


def test_yuan_ticks_use_separators_and_wan():
    assert yuan_tick_text(7_000_000, "en") == "¥7,000,000"
    assert yuan_tick_text(7_000_000, "zh") == "¥700万"
    assert yuan_tick_text(1_234_567, "zh") == "¥123.5万"
    assert yuan_tick_text(9_999, "zh") == "¥9,999"
    assert yuan_tick_text(-2_500, "en") == "−¥2,500"


def test_colour_follows_the_run_not_the_selection():
    runs = ["a", "b", "c"]
    assert colour_of(runs, "c") == PALETTE[2]
    # the same run keeps its colour whatever else is selected
    assert colour_of(runs, "c") == colour_of(["a", "b", "c", "d"], "c")
    assert len(set(PALETTE)) == len(PALETTE)


def test_thin_steps_keeps_the_shape():
    x = pd.Series(range(10_000), dtype=float) / 100
    df = pd.DataFrame({"t": x, "s": x / x.max()})
    thin = thin_steps(df, "t", ["s"], max_points=300)
    assert len(thin) <= 300
    assert thin["t"].iloc[-1] == df["t"].iloc[-1] and thin["s"].iloc[-1] == 1.0
    assert thin["t"].is_monotonic_increasing


def test_every_preset_has_a_name_in_both_languages():
    for preset in PRESETS:
        for lang in ("en", "zh"):
            assert f"preset.{preset}" in STRINGS, preset
            name = run_name({"run_id": f"{preset}-s0", "label": preset}, lang)
            assert name != preset and preset not in name
    runs = [
        {"run_id": "default-s0", "label": "default", "seed": 0},
        {"run_id": "default-s1", "label": "default", "seed": 1},
    ]
    assert run_names(runs, "zh") == {
        "default-s0": "默认组合 · 种子 0",
        "default-s1": "默认组合 · 种子 1",
    }
    edited = run_name({"run_id": "edited_meituan_0a1b2c3d_10k", "label": None}, "zh")
    assert edited == "编辑的美团风格，10k 用户"


def test_daily_trend_adds_up_to_campaign_metrics(test_db):
    store = lab.Store(test_db, read_only=True)
    for by in (None, "segment", "city_tier"):
        trend = daily_trend(store, run="default-s0", by=by, start="2026-03-04", end="2026-03-10")
        metrics = lab.campaign_metrics(
            store, run="default-s0", by=by, start="2026-03-04", end="2026-03-10"
        )
        expected = metrics.groups if by else metrics.total
        table = trend.to_frame()
        got = (
            table.groupby(by)[["claims", "redemptions", "cost_fen"]].sum()
            if by
            else table[["claims", "redemptions", "cost_fen"]].sum().to_frame().T
        )
        want = (expected.set_index(by) if by else expected)[["issued", "redeemed", "cost_fen"]]
        assert got.to_numpy().tolist() == want.to_numpy().tolist()
        assert table["claims"].sum() > 0
        # claims fall on claim days inside the window; redemptions may come later
        claim_days = table.loc[table["claims"] > 0, "day"]
        assert claim_days.min() >= pd.Timestamp("2026-03-04")
        assert claim_days.max() < pd.Timestamp("2026-03-10")


@pytest.fixture(scope="module")
def store(test_db):
    ds = DataStore(test_db)
    ds.selected = ["default-s0", "platform_wechat-s0"]
    return ds


def test_slice_reaches_the_models_as_their_own_filters(store, test_db):
    """Dates and breakdown give exactly what lab's funnel gives with start/end/by."""
    raw = lab.Store(test_db, read_only=True)
    steps = ("delivery", "exposure", "claim", "redeem")
    whole = Slice(bounds=(pd.Timestamp("2026-03-02"), pd.Timestamp("2026-03-15")))
    whole.dates = whole.bounds
    assert whole.model_kwargs() == {}
    part = Slice(bounds=whole.bounds, breakdown="segment")
    part.dates = (pd.Timestamp("2026-03-05"), pd.Timestamp("2026-03-09"))
    assert part.model_kwargs() == {"start": "2026-03-05", "end": "2026-03-10"}
    got = sliced_frame(store, part, "funnel.funnel", steps=steps)
    for run in store.selected:
        want = lab.funnel(
            raw, run=run, steps=steps, by="segment", start="2026-03-05", end="2026-03-10"
        ).to_frame()
        mine = got[got["run_id"] == run].rename(columns={"group": "segment"})
        assert mine["count"].tolist() == want["count"].tolist()
        assert mine["segment"].tolist() == want["segment"].tolist()
    # the slice changes the numbers
    full = sliced_frame(store, whole, "funnel.funnel", steps=steps)
    assert full["count"].sum() > got["count"].sum()


def test_platform_and_breakdown_combine(store, test_db):
    raw = lab.Store(test_db, read_only=True)
    store.platform = "wechat"
    try:
        part = Slice(breakdown="city_tier")
        got = sliced_frame(store, part, "metrics.daily_trend")
        want = daily_trend(raw, run="default-s0", by=("platform", "city_tier")).to_frame()
        want = want[want["platform"] == "wechat"]
        mine = got[got["run_id"] == "default-s0"]
        assert mine["claims"].sum() == want["claims"].sum() > 0
        assert set(mine["group"]) == set(want["city_tier"])
    finally:
        store.platform = "all"


def test_platform_change_updates_charts_in_place(test_db):
    """Under a platform where a compared strategy has no offers, every tab still draws
    one chart (Funnel) or layer per strategy, so the change reuses the plots: the same
    DynamicMap objects, fed new data (docs/dashboard-speed.md)."""
    from dashboards.app import App

    app = App(test_db)
    runs = ["default-s0", "platform_wechat-s0", "platform_meituan-s0"]
    app.store.selected = runs
    raw = lab.Store(test_db, read_only=True)
    offered = {
        r: set(lab.funnel(raw, run=r, by="platform").to_frame()["platform"].astype(str))
        for r in runs
    }
    # a platform some compared strategy never offers on, and one every strategy offers on
    lacking = next(p for p in lab.schema.PLATFORMS if any(p not in o for o in offered.values()))
    views = {name: app.views[name] for name in ("funnel", "retention", "cycle", "money")}
    shown = {}
    for name, view in views.items():
        view.shown = True
        panes = {k: v for k, v in vars(view).items() if hasattr(v, "pane") or hasattr(v, "charts")}
        shown[name] = panes
    before = {
        name: [c.pane.object for p in panes.values() for c in getattr(p, "charts", [p])]
        for name, panes in shown.items()
    }
    app.store.platform = lacking
    after = {
        name: [c.pane.object for p in panes.values() for c in getattr(p, "charts", [p])]
        for name, panes in shown.items()
    }
    assert len(views["funnel"].grid.charts) == len(runs)
    for name in views:
        assert all(a is b for a, b in zip(before[name], after[name], strict=True)), name
    # the strategy without offers there has an empty chart, not another strategy's bars
    names = app.store.labels()
    missing = next(r for r in runs if lacking not in offered[r])
    figure = views["funnel"].grid.figures[runs.index(missing)]
    assert figure.opts.get().kwargs["title"] == names[missing]
    assert figure.get(0).dframe()["count"].sum() == 0


def _outcomes_computed(monkeypatch) -> list[str]:
    """Names of the ``lab`` functions the data store computes (cache misses) from now on."""
    import dashboards.store as store_module

    computed = []
    resolve = store_module._resolve
    monkeypatch.setattr(
        store_module, "_resolve", lambda name: computed.append(name) or resolve(name)
    )
    return computed


def test_outcome_under_a_platform_is_cached(test_db, monkeypatch):
    """With a platform chosen the fraud share is unknown; the Overview's outcome is still
    answered from the cache (a NaN in the key would miss every time)."""
    ds = DataStore(test_db)
    ds.selected = ["default-s0", "platform_wechat-s0"]
    for platform in ("wechat", "all"):
        ds.platform = platform
        ds.outcome("default-s0")
        computed = _outcomes_computed(monkeypatch)
        ds.outcome("default-s0")
        assert computed == []


def test_a_language_switch_computes_no_outcome(test_db, monkeypatch):
    """The outcome is cached without its display name: switching language while another
    process wrote the database raised StoreBusyError in the Overview's refresh (the
    name in 中文 was part of the cache key, never computed), and the page stayed in
    English."""
    ds = DataStore(test_db)
    ds.selected = ["default-s0", "platform_wechat-s0"]
    english = ds.outcome("default-s0")
    computed = _outcomes_computed(monkeypatch)
    ds.language = "zh"
    chinese = ds.outcome("default-s0")
    assert computed == []
    assert chinese.label == ds.labels()["default-s0"] != english.label
    assert chinese.incremental == english.incremental


def _figures(view) -> list:
    """The HoloViews figures a view shows now: its live charts and chart grids."""
    figures = []
    for part in vars(view).values():
        if hasattr(part, "figures"):
            figures += [f for f in part.figures if f is not None]
        elif getattr(part, "figure", None) is not None:
            figures.append(part.figure)
    return figures


def test_the_tick_label_policy_is_set_once_per_axis():
    """Hooks run again on every in-place update: the policy stays the same model, so an
    update sends the browser no new one."""
    import holoviews as hv

    from dashboards.charts import base_opts, labels_never_overlap

    plot = hv.render(hv.Curve([(0, 1), (1, 2)]).opts(**base_opts()), backend="bokeh")

    def policies() -> list[int]:
        return [id(a.major_label_policy) for a in (*plot.xaxis, *plot.yaxis)]

    drawn = policies()

    class Rendered:  # what HoloViews passes a hook: the plot, its Bokeh figure as .state
        state = plot

    labels_never_overlap(Rendered, None)
    assert policies() == drawn


def test_every_chart_hides_overlapping_tick_labels_and_its_toolbar(test_db):
    """On every tab's charts, Bokeh leaves out a tick label that would overlap its
    neighbour (``¥2,000,000`` ran into ``¥4,000,000`` on Money's narrow bars at 1400 px
    over 100k users), and no toolbar covers the chart (the Overview's and the
    Experiments' charts had one)."""
    import holoviews as hv
    from bokeh.models import NoOverlap

    from dashboards.app import App

    app = App(test_db)
    app.store.selected = ["default-s0", "platform_wechat-s0"]
    drawn = {}
    for name, view in app.views.items():
        view.shown = True
        view.fresh()
        drawn[name] = _figures(view)
    assert {"overview", "funnel", "retention", "cycle", "money", "experiments"} <= {
        name for name, figures in drawn.items() if figures
    }
    for name, figures in drawn.items():
        for figure in figures:
            plot = hv.render(figure, backend="bokeh")
            axes = [*plot.xaxis, *plot.yaxis]
            assert axes and all(isinstance(a.major_label_policy, NoOverlap) for a in axes), name
            assert plot.toolbar_location is None, name
