"""State tests of the dashboard, without a browser: data store, views, i18n, app."""

from __future__ import annotations

import ast
import contextlib
import html
import io
import re
import string
import time
from pathlib import Path

import holoviews as hv
import pandas as pd
import panel as pn
import pytest

import lab
from dashboards import i18n
from dashboards.app import App, build
from dashboards.charts import pct_formatter
from dashboards.names import arm_name
from dashboards.store import RETENTION, DataStore, StrategyEdit, model_available, parse_ladder
from dashboards.views import ExperimentsView, FunnelView, OverviewView, verdict
from lab.cycle import redemption_cycle
from lab.experiments import analyze
from lab.funnel import funnel
from lab.metrics import campaign_metrics
from lab.retention import retention
from lab.risk import evaluate_risk, score_accounts

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
RUNS = ["default-s0", "platform_wechat-s0", "platform_meituan-s0"]


@pytest.fixture
def ds(test_db) -> DataStore:
    store = DataStore(test_db)
    store.selected = RUNS[:2]
    return store


@pytest.fixture(scope="module")
def main(test_db) -> lab.Store:
    return lab.Store(test_db, read_only=True)


def _stacked(results: dict[str, pd.DataFrame], labels: dict[str, str]) -> pd.DataFrame:
    return pd.concat(
        [df.assign(run_id=r, strategy=labels[r]) for r, df in results.items()], ignore_index=True
    )


# -- data store == lab -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("func_name", "func", "part", "kwargs"),
    [
        ("funnel.funnel", lambda s, **k: funnel(s, **k), "to_frame", {}),
        (
            "retention.retention",
            lambda s, **k: retention(s, **k),
            "curves",
            RETENTION,
        ),
        ("cycle.redemption_cycle", lambda s, **k: redemption_cycle(s, **k), "curve", {}),
        (
            "metrics.campaign_metrics",
            lambda s, **k: campaign_metrics(s, **k),
            "to_frame",
            {"by": None},
        ),
    ],
)
def test_store_frames_equal_lab(ds, main, func_name, func, part, kwargs):
    """The data store returns exactly what the lab function returns for the same runs."""
    ds.selected = RUNS
    got = ds.frame(func_name, part=part, **kwargs)
    expected = {}
    for run in RUNS:
        res = func(main, run=run, **kwargs)
        expected[run] = res.to_frame() if part == "to_frame" else getattr(res, part)
    pd.testing.assert_frame_equal(got, _stacked(expected, ds.labels()))


def test_platform_filter_is_lab_breakdown(ds, main):
    """Choosing a platform keeps that platform's rows of the lab breakdown by platform."""
    ds.platform = "wechat"
    got = ds.frame("funnel.funnel")
    parts = {}
    for run in ds.selected:
        df = funnel(main, run=run, by="platform").to_frame()
        parts[run] = df[df["platform"] == "wechat"].drop(columns="platform").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, _stacked(parts, ds.labels()))
    assert got["count"].sum() > 0


def test_comparison_matches_lab(ds, main):
    """Every number of the comparison table is the lab's number for that run."""
    table = ds.comparison().set_index("run_id")
    assert list(table.index) == RUNS[:2]
    for run in RUNS[:2]:
        m = campaign_metrics(main, run=run, by=None)
        for col in (
            "issued",
            "redemption_conversion",
            "redeemed_amount_fen",
            "aov_fen",
            "cost_fen",
            "roi",
        ):
            assert table.loc[run, col] == pytest.approx(m.total[col].iloc[0], rel=1e-12)
        inc = m.incremental
        if inc is None:
            assert pd.isna(table.loc[run, "incremental_roi"])
        else:
            assert table.loc[run, "incremental_roi"] == pytest.approx(inc.incremental_roi)
            assert table.loc[run, "incremental_roi_ci_low"] == pytest.approx(inc.roi_ci_low)
            assert table.loc[run, "incremental_roi_ci_high"] == pytest.approx(inc.roi_ci_high)
        scores = score_accounts(main, run=run).frame
        flagged = (
            scores.loc[scores["decision"] == "block", "n_issued"].sum() / scores["n_issued"].sum()
        )
        assert table.loc[run, "fraud_share_flagged"] == pytest.approx(flagged)
        truth = evaluate_risk(main, run=run)["ring_coupon_share"]
        assert table.loc[run, "fraud_share_true"] == pytest.approx(truth)
        curves = retention(main, run=run, **RETENTION).curves
        assert table.loc[run, "retention_d1"] == pytest.approx(
            curves.loc[curves["period"] == 1, "rate"].iloc[0]
        )
        cycle = redemption_cycle(main, run=run).to_frame()
        assert table.loc[run, "mean_cycle_days"] == pytest.approx(cycle["mean_cycle_days"].iloc[0])
    for run in RUNS[:2]:
        inc = campaign_metrics(main, run=run, by=None).incremental
        assert table.loc[run, "incremental_orders"] == pytest.approx(inc.incremental_orders)
        assert table.loc[run, "cost_per_incremental_order_fen"] == pytest.approx(
            inc.cost_per_incremental_order_fen, nan_ok=True
        )
        assert table.loc[run, "gmv_per_cost"] == pytest.approx(
            inc.incremental_gmv_fen / inc.cost_fen
        )
    # every preset keeps a holdout, so every strategy has incremental figures
    assert table["incremental_roi"].notna().tolist() == [True, True]


def test_selection_change_updates_views(ds, main):
    overview, funnel = OverviewView(store=ds), FunnelView(store=ds)
    assert 'data-run="platform_meituan-s0"' not in overview.table.object
    ds.selected = [RUNS[0], RUNS[2]]
    assert 'data-run="platform_meituan-s0"' in overview.table.object
    assert 'data-run="platform_wechat-s0"' not in overview.table.object
    assert set(funnel.data()["run_id"]) == {RUNS[0], RUNS[2]}
    issued = campaign_metrics(main, run=RUNS[2], by=None).total["issued"].iloc[0]
    cell = re.search(
        r'data-metric="issued" data-key="issued" data-run="platform_meituan-s0" '
        r'data-value="([^"]+)"[^>]*>([^<]+)<',
        overview.table.object,
    )
    assert cell.group(2) == f"{issued:,}"


def test_main_store_is_read_only(ds):
    assert ds.main.read_only
    with pytest.raises(lab.StoreError):
        ds.main.create_run("x", origin="import")


# -- edited strategies -------------------------------------------------------------------
def test_parse_ladder():
    assert parse_ladder("300:50, 100:20") == ((30000, 5000), (10000, 2000))
    assert parse_ladder("0:8") == ((0, 800),)
    assert parse_ladder("  ") == ()
    for bad in ("300", "20:50", "a:b"):
        with pytest.raises(ValueError, match="ladder"):
            parse_ladder(bad)


def test_strategy_edit_builds_campaigns():
    edit = StrategyEdit(
        style="mix", ladder=((30000, 5000), (10000, 2000)), budget_yuan=8000, risk_level="strict"
    )
    strategy = edit.strategy()
    assert len(strategy.campaigns) == 2 * 4  # two rungs on each of the mix's four entries
    assert {c.risk_level for c in strategy.campaigns} == {"strict"}
    assert sum(c.stock.total_budget_fen for c in strategy.campaigns) == 8000 * 100
    assert [e.name for e in strategy.experiments] == ["holdout"]
    with pytest.raises(ValueError, match="style"):
        StrategyEdit(style="taobao")


def test_simulated_edit_joins_comparison_without_touching_main(ds, main, test_db):
    before = main.runs()["run_id"].tolist()
    run_id, scratch = ds.simulate_edit(StrategyEdit(style="meituan"), users=1_000)
    ds.add_scratch(run_id)
    assert run_id in ds.selected and run_id in ds.run_ids()
    assert lab.Store(test_db, read_only=True).runs()["run_id"].tolist() == before
    got = ds.frame("funnel.funnel")
    got = got[got["run_id"] == run_id].drop(columns=["run_id", "strategy"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, funnel(scratch, run=run_id).to_frame())


# -- i18n --------------------------------------------------------------------------------
def test_every_key_has_both_languages_with_the_same_fields():
    fields = string.Formatter()
    for key, texts in i18n.STRINGS.items():
        assert set(texts) == set(i18n.LANGUAGES), key
        assert all(texts[lang].strip() for lang in i18n.LANGUAGES), key
        names = [{f for _, f, _, _ in fields.parse(texts[lang]) if f} for lang in i18n.LANGUAGES]
        assert names[0] == names[1], key


def test_every_key_used_in_the_code_exists():
    """Literal keys passed to t()/tr() and section/label prefixes all have a text."""
    used = set()
    for path in DASHBOARDS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            if name in ("t", "tr") and isinstance(node.args[0], ast.Constant):
                used.add(node.args[0].value)
    assert used and not used - set(i18n.STRINGS)
    for view in (
        "overview",
        "funnel",
        "retention",
        "cycle",
        "money",
        "experiments",
        "editor",
        "downloads",
    ):
        assert f"section.{view}" in i18n.STRINGS


def test_t_rejects_unknown_language_and_key():
    with pytest.raises(ValueError, match="lang"):
        i18n.t("app.title", "fr")
    with pytest.raises(KeyError):
        i18n.t("no.such.key", "en")


def test_verdicts_in_both_languages():
    row = pd.Series(
        {
            "metric": "gmv",
            "arm": "split",
            "effect": 0.25,
            "ci_low": 0.1,
            "ci_high": 0.4,
            "p_value": 0.003,
            "significant": True,
        }
    )
    assert verdict(row, control="single", alpha=0.05, lang="en") == (
        "**GMV per user**: split coupons is 25.0 % higher than single coupon (95 % CI 10.0 to 40.0 %); "
        "significant at 5 % (p = 0.003)."
    )
    zh = verdict(row, control="single", alpha=0.05, lang="zh")
    assert "高 25.0 %" in zh and "拆分券" in zh and "单张券" in zh  # arms by name
    # names carry their own 组 (实验组, 对照组（不发券）, A 组): the sentence adds none
    for arm, control in (("treatment", "holdout"), ("b", "a")):
        named = verdict(pd.Series({**row, "arm": arm}), control=control, alpha=0.05, lang="zh")
        assert "组 组" not in named and "组组" not in named and "） 组" not in named, named
    flat = row.copy()
    flat[["effect", "ci_low", "significant", "p_value"]] = [-0.05, -0.2, False, 0.4]
    assert "no significant difference" in verdict(flat, control="single", alpha=0.05, lang="en")
    assert "无显著差异" in verdict(flat, control="single", alpha=0.05, lang="zh")


# -- the app -----------------------------------------------------------------------------
def test_app_builds_with_expected_sections(test_db):
    app = App(test_db)
    assert isinstance(app.template, pn.template.FastListTemplate)
    expected = ["overview", "funnel", "retention", "cycle", "money", "editor", "downloads"]
    if model_available("experiments.analyze"):
        expected.insert(5, "experiments")
    assert list(app.views) == expected
    assert app.tabs._names == [i18n.t(f"section.{s}", "en") for s in expected]
    app.language.value = "zh"
    assert app.tabs._names == [i18n.t(f"section.{s}", "zh") for s in expected]
    assert "优惠券策略实验室" in app.heading.object
    app.strategies.value = RUNS
    assert app.store.selected == RUNS


def test_missing_database_page_says_what_to_do(tmp_path):
    template = build(tmp_path / "absent.duckdb")
    text = template.main[0].object
    assert "make data" in text and "absent.duckdb" in text


def test_downloads(test_db):
    app = App(test_db)
    downloads = app.views["downloads"]
    downloads.shown = True  # as when its tab is opened
    csv = pd.read_csv(io.StringIO(downloads._csv().getvalue()))
    expected = app.store.comparison()
    assert csv["run_id"].tolist() == expected["run_id"].tolist()
    # one name per metric (lab's dictionary), money in yuan
    assert csv["reported_roi"].tolist() == pytest.approx(expected["roi"].tolist())
    assert csv["cost"].tolist() == pytest.approx((expected["cost_fen"] / 100).tolist())
    assert csv["gmv_per_cost"].notna().all()
    downloads.which.value = "funnel"
    assert downloads._png().getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<html" in downloads._html().getvalue()[:500]


def test_experiments_view_shows_lab_analysis(ds, main):
    ds.selected = ["default-s0", "denomination_split-s0"]
    view = ExperimentsView(store=ds)
    assert list(view.which.options.values()) == [
        "default-s0\x1fholdout",
        "denomination_split-s0\x1fdenomination",
        "denomination_split-s0\x1fholdout",
    ]
    view.which.value = "denomination_split-s0\x1fdenomination"
    expected = analyze(
        main,
        run="denomination_split-s0",
        experiment="denomination",
        metrics=("redeemed", "orders", "gmv", "redeemed_amount", "aov"),
    )
    pd.testing.assert_frame_equal(
        ds.analysis("denomination_split-s0", "denomination").to_frame(), expected.to_frame()
    )
    shown = re.findall(
        r'data-metric="(\w+)" data-arm="split">.*?data-value="([^"]+)"', view.table.object
    )
    # the view applies CUPED (on by default) to its comparisons, as to its ship line
    cuped = analyze(
        main,
        run="denomination_split-s0",
        experiment="denomination",
        metrics=("redeemed", "orders", "gmv", "redeemed_amount", "aov"),
        covariate="pre_gmv",
    )
    assert [(m, float(v)) for m, v in shown] == [
        (r.metric, r.effect) for r in cuped.to_frame().itertuples()
    ]
    assert ("Sample-ratio mismatch" in view.srm.object) == expected.srm.is_mismatch
    # effects are relative: the axis reads them as percentages, like the table
    axis = hv.render(view.figure(), backend="bokeh").yaxis[0]
    assert axis.formatter.code == pct_formatter(decimals=1).code
    assert view.verdicts.object.count("\n- ") == len(expected.to_frame()) - 1
    ds.language = "zh"
    assert "各组" in view.srm.object or "样本比例失衡" in view.srm.object


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_table_chart_and_memo_downloads(test_db, lang):
    app = App(test_db)
    app.store.language = lang
    downloads = app.views["downloads"]
    downloads.shown = True
    assert {"overview", "decision", "funnel", "experiments"} <= set(downloads.tabled())
    for key in downloads.tabled():
        downloads.tables.value = key
        frame = pd.read_csv(io.StringIO(downloads._csv().getvalue()))
        assert len(frame) > 0, key
    assert {"overview", "funnel", "retention", "cycle", "money", "experiments"} <= set(
        downloads.charted()
    )
    for key in downloads.charted():
        downloads.which.value = key
        assert downloads._png().getvalue()[:8] == b"\x89PNG\r\n\x1a\n", key
        assert "<html" in downloads._html().getvalue()[:2000], key
    memo = downloads._memo().getvalue()
    decision = app.views["overview"].decision()
    assert html.escape(decision.sentence(lang)) in memo and "<script" not in memo


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_guardrails_reach_the_verdict_and_the_ship_line(ds, main, lang):
    """The Overview's limits reach ``lab.decide`` with each run's whole-run fraud share
    (the risk model's), and the ship line's fraud guardrail uses the blocked accounts."""
    from lab.decision import Guardrails, blocker_text, decide, experiment_decision, strategy_outcome

    ds.language = lang
    view = OverviewView(store=ds)
    shares = {}
    for run in RUNS[:2]:
        scores = score_accounts(main, run=run).frame
        blocked = scores["decision"] == "block"
        shares[run] = scores.loc[blocked, "n_issued"].sum() / scores["n_issued"].sum()
    # a limit between the two shares: the higher one breaches, also with a platform shown
    riskier = max(shares, key=shares.get)
    view.max_fraud.value = 100 * sum(shares.values()) / 2
    ds.platform = "wechat"
    labels = ds.labels()
    outcomes = [
        strategy_outcome(main, run=r, label=labels[r], fraud_share=shares[r]) for r in RUNS[:2]
    ]
    expected = decide(outcomes, guardrails=Guardrails(max_fraud_share=sum(shares.values()) / 2))
    assert ("guardrail_fraud", riskier) in expected.blockers
    assert html.escape(expected.sentence(lang)) in view.verdict.object
    breach = blocker_text(
        "guardrail_fraud",
        labels[riskier],
        lang,
        value=shares[riskier],
        limit=sum(shares.values()) / 2,
    )
    assert html.escape(breach) in view.verdict.object
    # the cost guardrail, in yuan on screen
    ds.platform = "all"
    view.max_fraud.value = 100.0
    cost = {r: o.incremental.cost_per_user_fen for r, o in zip(RUNS[:2], outcomes, strict=True)}
    view.max_cost.value = sum(cost.values()) / 2 / 100
    expected = decide(outcomes, guardrails=Guardrails(1.0, sum(cost.values()) / 2))
    assert ("guardrail_cost", max(cost, key=cost.get)) in expected.blockers
    assert html.escape(expected.sentence(lang)) in view.verdict.object
    # the ship line holds the arm to the same fraud limit with the blocked accounts
    exp = ExperimentsView(store=ds)
    run, experiment = exp.which.value.split("\x1f")
    scores = score_accounts(main, run=run).frame
    d = experiment_decision(
        main,
        run=run,
        experiment=experiment,
        blocked_users=scores.loc[scores["decision"] == "block", "user_id"].tolist(),
        max_fraud_share=1.0,
    )
    assert "fraud_share" in set(d.guardrails["guardrail"])
    assert 'data-item="guardrail_fraud_share"' in exp.summary.object
    names = {a: arm_name(a, lang) for a in (d.arm, d.control)}
    assert html.escape(d.sentence(lang, arm_names=names)) in exp.decision.object


# -- how the page is drawn (docs/dashboard-speed.md) ------------------------------------
@contextlib.contextmanager
def _session(test_db):
    """An App whose page is in a Bokeh document, as in a served session (the document is
    the ``curdoc`` inside the block)."""
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    doc = Document()
    with set_curdoc(doc):
        app = App(test_db)
        app.template.server_doc(doc)
        yield app


@pytest.fixture
def served(test_db):
    with _session(test_db) as app:
        yield app


def _walks(monkeypatch) -> list[int]:
    """Count Bokeh's walks over every model of a document (``recompute``)."""
    from bokeh.document.models import DocumentModelManager

    walks: list[int] = []
    recompute = DocumentModelManager.recompute

    def counted(self):
        walks.append(1)
        return recompute(self)

    monkeypatch.setattr(DocumentModelManager, "recompute", counted)
    return walks


def test_the_downloads_selects_show_their_choice_when_opened(served):
    """The table and figure selects show the choice a download would use: their first
    options were set with no value, Panel chose the first one for the widget, and the
    page's select stayed blank."""
    downloads = served.views["downloads"]
    served.tabs.active = list(served.views).index("downloads")
    for widget in (downloads.tables, downloads.which):
        assert widget.value == "overview"
        [(model, _)] = [m for ref, m in widget._models.items() if ref in pn.state._views]
        assert model.value == widget.value


def test_an_opened_tab_is_drawn_after_its_view_is_up_to_date(test_db, monkeypatch):
    views: dict = {}
    stale_when_drawn = []
    draw = pn.Tabs._update_active

    def record(self, *events):
        stale_when_drawn.append(views["money"]._stale)
        return draw(self, *events)

    # patched before the App exists: its Tabs' watchers are bound at construction
    monkeypatch.setattr(pn.Tabs, "_update_active", record)
    with _session(test_db) as app:
        views.update(app.views)
        assert views["money"]._stale  # never shown yet
        app.tabs.active = list(app.views).index("money")
    # drawn once, with its charts: the view refreshed before the Tabs drew the tab
    assert stale_when_drawn == [False]
    assert views["money"].roi_plot.pane.object is not None


def test_a_filter_change_walks_the_document_once_at_most(served, monkeypatch):
    app = served
    app.tabs.active = list(app.views).index("money")
    walks = _walks(monkeypatch)
    app.platform.value = "wechat"
    # four charts updated in place: one walk of the document's models at most, not one
    # per chart (none where no model reference changed)
    assert len(walks) <= 1


def test_a_filter_change_gives_the_charts_no_new_model(served):
    app = served
    app.tabs.active = list(app.views).index("money")
    view = app.views["money"]
    charts = [view.roi_plot, *view.money.charts, view.trend]

    def chart_models() -> set[str]:
        return {
            m.id
            for chart in charts
            for model, _ in chart.pane._models.values()
            for m in model.references()
        }

    drawn = chart_models()
    app.platform.value = "wechat"  # a strategy of the test world has no data there
    # new data only: a tick-label policy made anew by a hook, or a colour mapper over an
    # empty layer, was a new model for every update to register and the browser to build
    assert chart_models() == drawn


def test_a_change_that_draws_new_charts_registers_their_models(served, monkeypatch):
    app = served
    doc = pn.state.curdoc
    app.tabs.active = list(app.views).index("money")
    walks = _walks(monkeypatch)
    before = set(doc.models)
    app.breakdown.value = "segment"  # a new key: new figures, not new data
    assert len(walks) == 1  # once, for the whole change
    reachable = set().union(*(root.references() for root in doc.roots))
    assert reachable - before  # the change did draw new models...
    assert reachable <= set(doc.models)  # ...and the document knows every one


def test_the_cohort_grid_is_updated_in_place(served):
    app = served
    app.tabs.active = list(app.views).index("retention")
    view = app.views["retention"]
    shown = view.heat.pane.object
    assert shown is not None
    app.platform.value = "wechat"
    assert view.heat.pane.object is shown  # same plot, new data
    assert set(view.heat.figure.data["platform"].astype(object)) == {"wechat"}


def test_hidden_tabs_are_built_ahead_in_tab_order_once_up_to_date(served):
    app = served
    sections = list(app.views)
    built, more = [], []
    for _ in sections:
        more.append(app._build_ahead())
        now = [s for i, s in enumerate(sections) if app.tabs.built(i) and i != app.tabs.active]
        built.append(now)
        for section in now:
            assert not app.views[section]._stale  # built from up-to-date views
    # one more tab per step, in tab order, never the open one; then nothing left
    assert built[-1] == sections[1:]
    assert [len(b) for b in built] == list(range(1, len(sections))) + [len(sections) - 1]
    assert more == [True] * (len(sections) - 2) + [False, False]


def test_building_ahead_stops_quietly_while_a_writer_holds_the_database(served, monkeypatch):
    """A hidden tab whose results were never read cannot be computed while another
    process writes: building ahead stops without an error (it ran in a callback, and the
    server logged a traceback per session), and the view stays due for a refresh."""
    import lab

    app = served
    view = app.views[list(app.views)[1]]  # the first hidden tab, built first
    view._stale = True

    def busy():
        raise lab.StoreBusyError("another process is writing to the database")

    monkeypatch.setattr(view, "_refresh", busy)
    assert app._build_ahead() is False
    assert view._stale  # brought up to date when next shown
    assert not app.tabs.built(1)


def test_a_session_is_forgotten_when_its_websocket_closes(test_db, monkeypatch):
    """Bokeh now keeps an unconnected session for a minute (its page may be slow to
    connect); a closed page must not hold off other sessions' building ahead that long."""
    from bokeh.events import ConnectionLost

    from dashboards import idle, writes

    monkeypatch.setattr(idle, "_live", set())
    watched = writes.watched()
    with _session(test_db):
        doc = pn.state.curdoc
        assert id(doc) in idle._live  # counted from the page request on
        assert writes.watched() == watched + 1
        doc.callbacks.trigger_event(ConnectionLost())
        assert id(doc) not in idle._live
        assert writes.watched() == watched


def test_a_session_has_no_periodic_callback(served):
    """A periodic callback toggles the page's busy indicator at every call (a websocket
    message each way, a restyle in the browser); the writer is watched per process."""
    doc = pn.state.curdoc
    assert doc.session_callbacks == [] and not pn.state._periodic.get(doc)


def test_opening_a_tab_built_ahead_builds_no_chart(served, monkeypatch):
    from panel.pane.holoviews import HoloViews

    app = served
    money = list(app.views).index("money")
    while not app.tabs.built(money):
        app._build_ahead()
    charts_built = []
    build = HoloViews._get_model
    monkeypatch.setattr(
        HoloViews,
        "_get_model",
        lambda self, *a, **k: charts_built.append(self) or build(self, *a, **k),
    )
    app.tabs.active = money
    assert charts_built == []  # its four charts were built ahead
    assert app.views["money"].roi_plot.pane.object is not None


def _process_group(pgid: int) -> set[int]:
    """Ids of the live processes in process group ``pgid`` (Linux ``/proc``)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_stop_ends_the_workers_a_server_forked(test_db, tmp_path):
    from dashboards.local import serve, stop

    proc, _ = serve(test_db, log=tmp_path / "serve.log", timeout=120, flags=("--num-procs", "2"))
    assert len(_process_group(proc.pid)) >= 3  # the first process and its two workers
    stop(proc)
    deadline = time.monotonic() + 10
    while _process_group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _process_group(proc.pid) == set()


def test_a_reply_to_a_closed_page_is_not_logged_as_an_error():
    import asyncio

    from tornado.websocket import WebSocketClosedError

    from dashboards.app import quiet_closed_sockets

    loop = asyncio.new_event_loop()
    seen = []
    loop.default_exception_handler = seen.append
    try:
        quiet_closed_sockets(loop, {"message": "closed", "exception": WebSocketClosedError()})
        assert seen == []
        other = {"message": "boom", "exception": ValueError("boom")}
        quiet_closed_sockets(loop, other)
        assert seen == [other]  # every other error is still logged
    finally:
        loop.close()


def test_money_trend_stays_whole_strategies_under_a_breakdown(served, monkeypatch):
    app = served
    app.tabs.active = list(app.views).index("money")
    view = app.views["money"]
    whole = view._trend_data.copy()
    asked = []
    call = type(app.store).call

    def recorded(store, func_name, run_id, **kwargs):
        asked.append((func_name, kwargs.get("by")))
        return call(store, func_name, run_id, **kwargs)

    monkeypatch.setattr(type(app.store), "call", recorded)
    app.breakdown.value = "segment"
    assert view.metrics()["group"].notna().all()  # the bars and the table are by segment
    # the trend chart shows whole strategies: the run's trend, not one per segment
    assert ("metrics.daily_trend", ("segment",)) not in asked
    pd.testing.assert_frame_equal(view._trend_data, whole)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_money_bars_by_group_keep_the_legends_order(served, lang):
    app = served
    app.language.value = lang
    app.tabs.active = list(app.views).index("money")
    app.breakdown.value = "segment"
    view = app.views["money"]
    legend = list(view.colours())  # the strategies in the order of the legend strip
    for figure in view.money.figures:
        # horizontal bars, (group, strategy) listed from the bottom: read top to bottom
        factors = hv.render(figure).y_range.factors[::-1]
        for group in dict.fromkeys(g for g, _ in factors):
            shown = [s for g, s in factors if g == group]
            assert shown == [s for s in legend if s in shown], (group, shown)
    # a group's ROI points share their strategy's place: the hover names the group
    reported = next(layer for layer in view.roi_plot.figure if layer.label == "reported")
    assert "group" in [d.name for d in reported.vdims]
    # the Funnel's bars by group stand upright: read left to right
    app.tabs.active = list(app.views).index("funnel")
    (figure,) = app.views["funnel"].grid.figures
    plot = hv.render(figure)
    factors = plot.x_range.factors
    for group in dict.fromkeys(g for g, _ in factors):
        shown = [s for g, s in factors if g == group]
        assert shown == [s for s in legend if s in shown], (group, shown)
    # the table's columns run in the chart's order: strategy, then group as on the axis
    html_table = app.views["funnel"].table.object
    shown = re.findall(r'<th data-run="[^"]*" title="[^"]*">([^<]*)</th>', html_table)
    names = app.store.labels()
    assert shown == [
        f"{names[r]} · {g}" for r in app.store.compared() for g, s in factors if s == names[r]
    ]
    # only the groups are named below the bars: side by side, the strategies' names
    # collided and all but one per group were left out; the key above names the colours
    (axis,) = plot.xaxis
    assert axis.major_label_text_alpha == 0


def test_the_break_even_label_sits_above_its_line(served):
    app = served
    app.tabs.active = list(app.views).index("money")
    figure = app.views["money"].roi_plot.figure
    (label,) = [layer for layer in figure if isinstance(layer, hv.Text)]
    top = hv.render(figure).y_range.end
    # the dashed line is at ROI 0: on it, the dashes crossed the label's CJK glyphs
    assert 0 < label.y < 0.1 * top


def _drawn(plot) -> dict:
    """What a Bokeh plot of a chart shows: each layer's data, the axes' ranges, the title."""
    subplots = plot.subplots or {(): plot}
    shown = {
        key: {c: list(map(str, v)) for c, v in sub.handles["source"].data.items()}
        for key, sub in subplots.items()
        if "source" in sub.handles
    }
    for name in ("x_range", "y_range"):
        axis = plot.handles[name]
        shown[name] = (str(axis.start), str(axis.end), list(getattr(axis, "factors", [])))
    return {**shown, "title": plot.handles["plot"].title.text}


#: the charts each tab updates by writing data (LiveChart(data_only=True))
WRITTEN_CHARTS = {
    "funnel": lambda view: view.grid.charts,
    "retention": lambda view: [view.plot],
    "cycle": lambda view: [view.plot],
    "money": lambda view: [view.roi_plot, *view.money.charts, view.trend],
}


@pytest.mark.parametrize("section", list(WRITTEN_CHARTS))
def test_a_filter_change_writes_what_a_fresh_chart_draws(served, monkeypatch, section):
    import dashboards.views as views

    app = served
    app.tabs.active = list(app.views).index(section)
    view = app.views[section]
    written = []
    write = views._write_plot
    monkeypatch.setattr(
        views, "_write_plot", lambda plot, *a: (written.append(plot), write(plot, *a))[1]
    )
    first, last = app.slice.bounds
    changes = [
        ("platform", "wechat"),  # a strategy of the test world has no data there
        ("platform", "all"),  # the holdout's incremental ROI comes back (Money)
        ("dates", (first, first + pd.Timedelta(days=3))),  # fewer days
        ("dates", (first, last)),
        ("breakdown", "segment"),  # new charts (a new key)
        ("platform", "alipay"),
    ]
    for name, value in changes:
        written.clear()
        if name == "dates":
            app.slice.dates = value
        else:
            getattr(app, name).value = value
        charts = WRITTEN_CHARTS[section](view)
        for chart in charts:
            ((plot, _),) = chart.pane._plots.values()
            # the data, limits and title written in place are those of a chart drawn anew
            assert _drawn(plot) == _drawn(hv.renderer("bokeh").get_plot(chart.figure)), name
        # the same charts: new data only, written past HoloViews; by group, a group
        # missing on a platform changes the layers or categories, and HoloViews updates
        if app.breakdown.value == "none" or not view.breaks_down:
            assert len(written) == len(charts), name


def test_a_live_chart_whose_categories_change_is_drawn_anew():
    from dashboards.views import LiveChart

    def bars(names):
        return hv.Bars(pd.DataFrame({"name": names, "value": range(1, len(names) + 1)})).opts(
            title="t", ylim=(0, 10)
        )

    chart = LiveChart(data_only=True)
    chart.update(bars(["a", "b"]), key="k")
    chart.pane.get_root()
    ((drawn, _),) = chart.pane._plots.values()
    chart.update(bars(["a", "b"]), key="k")  # the same categories: data written in place
    assert [p for p, _ in chart.pane._plots.values()] == [drawn]
    chart.update(bars(["a", "c"]), key="k")  # another category: the axis must change
    ((plot, _),) = chart.pane._plots.values()
    assert plot is not drawn
    assert plot.handles["x_range"].factors == ["a", "c"]
    assert _drawn(plot) == _drawn(hv.renderer("bokeh").get_plot(chart.figure))


def test_clicks_and_choices_are_acted_on_without_panels_wait(served):
    app = served
    # Panel waits 50 ms after each change from the browser (for typing and dragging);
    # a click on a tab, a button or an option is one change and is acted on at once
    discrete = [app.language, app.strategies, app.platform, app.breakdown, app.tabs]
    discrete += [app.views["money"].measure, app.views["retention"].cohort_of]
    discrete += [app.views["overview"].goal, app.views["overview"].baseline]
    assert [w._debounce for w in discrete] == [0] * len(discrete)
    assert app.dates._debounce > 0  # a drag is still handled once


def test_a_refresh_reaches_the_browser_in_one_message(served, monkeypatch):
    app = served
    app.tabs.active = list(app.views).index("money")
    view = app.views["money"]
    holds = []
    refresh = type(view)._refresh

    def recorded(self):
        holds.append(pn.state.curdoc.callbacks.hold_value)
        return refresh(self)

    monkeypatch.setattr(type(view), "_refresh", recorded)
    app.platform.value = "wechat"
    # events held and combined: Panel writes them as one PATCH-DOC (each chart source
    # and pane was a message of its own)
    assert holds == ["combine"]


def test_a_filter_change_leaves_other_pages_indicators_alone(test_db):
    """Panel's busy flag is one per process: every page of a worker was told of every
    other session's work (two messages and a restyle each)."""
    told: dict[str, list[bool]] = {"other": [], "own": []}
    with _session(test_db) as other:
        other.template.busy_indicator.param.watch(lambda e: told["other"].append(e.new), "value")
        with _session(test_db) as own:
            own.template.busy_indicator.param.watch(lambda e: told["own"].append(e.new), "value")
            wechat = list(own.platform.options.values()).index("wechat")
            # as Panel handles a change from the page, inside the session's document
            own.platform._process_events({"active": wechat})
            assert own.store.platform == "wechat"
    assert told == {"other": [], "own": [True, False]}
