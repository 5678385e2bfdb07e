"""View classes: each takes the :class:`~dashboards.store.DataStore` and renders one section.

A view owns long-lived panes and refreshes their ``object`` when the store's selection
or language changes (cheaper than rebuilding panes). Views hold no SQL and no literal
text: data comes from the store, words from :mod:`dashboards.i18n`.

Key numbers are rendered in an HTML table whose cells carry stable attributes
(``data-metric``, ``data-run``, ``data-value``) so browser tests can read them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import io
import math
import warnings
from pathlib import Path

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend's options)
import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import DatetimeTickFormatter, FactorRange

import lab
from dashboards import idle
from dashboards.charts import (
    LEGEND,
    base_opts,
    colour_of,
    count_formatter,
    groups_named_only,
    pct_formatter,
    share_label,
    thin_steps,
    yuan_formatter,
    yuan_tick_text,
)
from dashboards.decision import (
    CARD_CSS,
    cards_html,
    memo_html,
    missing_text,
    raw,
    verdict_html,
)
from dashboards.i18n import label, t
from dashboards.names import arm_name, experiment_name
from dashboards.slicing import Slice, sliced_frame
from dashboards.store import (
    ENTRY_KEYS,
    INCREMENTAL_COLUMNS,
    LBS_RADII,
    PLATFORM_STYLES,
    WORLD_SIZES,
    DataStore,
    StrategyEdit,
    model_available,
    parse_ladder,
)
from lab.schema import MECHANICS, RISK_LEVELS, SEGMENTS

_SIZING = {"sizing_mode": "stretch_width"}
# Canvas, not HoloViews' default WebGL: charts of a few dozen bars and points gain
# nothing from the GPU, and each WebGL plot compiles shaders and copies its canvas on
# every paint (without a GPU, as in headless Chromium, about a third of a tab's first
# open went to that copy).
hv.renderer("bokeh").webgl = False
# Money's incremental-ROI interval keeps a row per strategy, all NaN under a platform
# filter (LiveChart); HoloViews' range of such error bars warns, though NaN is meant
warnings.filterwarnings(
    "ignore", "All-NaN slice encountered", RuntimeWarning, module="holoviews.element.chart"
)
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
)


def fmt(value: object, kind: str) -> str:
    """Format ``value`` for display: ``int``, ``pct`` (share), ``yuan`` (fen in), ``num``, ``text``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "pct":
        return f"{100 * float(value):.1f} %"
    if kind == "yuan":
        yuan = float(value) / 100
        return f"{'−' if yuan < 0 else ''}¥{abs(yuan):,.2f}"
    if kind == "num":
        return f"{float(value):,.2f}"
    if kind == "p":
        return f"{float(value):.2g}" if float(value) >= 1e-4 else "< 0.0001"
    if kind == "p=":
        return f"p = {float(value):.2g}" if float(value) >= 1e-4 else "p < 0.0001"
    return str(value)


def at_once(widget):
    """``widget``, acted on as soon as the browser reports a change.

    Panel waits 50 ms after each change from the browser before acting on it (its
    ``_debounce``), so that a burst of changes (keys typed, a slider dragged) is handled
    once. A click on a button, a tab or an option is one change: the wait only delayed
    every answer (a third of the server's part of a filter change on Money). Not for
    sliders or text inputs."""
    widget._debounce = 0
    return widget


def kpi_table(
    rows: list[tuple],
    frame: pd.DataFrame,
    *,
    lang: str,
    table_id: str,
    columns_key: str = "col.label",
) -> str:
    """An HTML table: one row per metric, one column per run.

    A column that ``lab``'s metric dictionary knows takes its name, formatter and
    definition (shown on hover) from there; missing holdout figures say why in words.
    ``rows`` are ``(row title, column, format)`` or ``(row title, column, format,
    (low column, high column))`` for a value with its interval. ``frame`` has one row
    per run with a ``run_id`` column. Each cell carries ``data-metric``, ``data-run``
    and the unformatted ``data-value``.
    """
    runs = frame["run_id"].astype(object).tolist()
    head = "".join(
        f'<th data-run="{html.escape(str(r))}" title="{html.escape(str(r))}">{html.escape(str(lbl))}</th>'
        for r, lbl in zip(
            runs,
            frame["label"].fillna(frame["run_id"]) if "label" in frame else runs,
            strict=True,
        )
    )
    body = []
    for title, column, kind, *interval in rows:
        if column not in frame:
            continue
        m = dictionary_metric(column)
        tip = f' title="{html.escape(m.definition(lang))}"' if m else ""
        if m:
            title = m.label(lang)
        cells = []
        for i, (run, value) in enumerate(zip(runs, frame[column].tolist(), strict=True)):
            missing = pd.isna(value) if not isinstance(value, str) else False
            if m and missing and column in _HOLDOUT_COLUMNS and "missing_reason" in frame:
                text = missing_text(frame["missing_reason"].iloc[i], lang)
            elif m:
                text = m.format(value, lang)
                if interval and not missing:
                    low, high = (frame[c].iloc[i] for c in interval[0])
                    text += " " + lab.format_interval(m.key, low, high, lang=lang, fen=m.in_fen)
            else:
                text = label(column, value, lang) if kind == "text" else fmt(value, kind)
                if interval and text != "–":
                    low, high = (frame[c].iloc[i] for c in interval[0])
                    text += f" [{fmt(low, kind)}, {fmt(high, kind)}]"
            key = f' data-key="{m.key}"' if m else ""
            cells.append(
                f'<td class="kpi" data-metric="{column}"{key} data-run="{html.escape(str(run))}" '
                f'data-value="{html.escape(raw(value))}"{tip}>{html.escape(text)}</td>'
            )
        body.append(f'<tr><th scope="row"{tip}>{html.escape(title)}</th>{"".join(cells)}</tr>')
    return (
        f'<table id="{table_id}" class="lab-kpi"><thead><tr><th>{html.escape(t("col.metric", lang))}'
        f" / {html.escape(t(columns_key, lang))}</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def dictionary_metric(column: str) -> lab.Metric | None:
    """The ``lab`` metric stored in ``column``, or None for other columns."""
    try:
        return lab.metric(column)
    except KeyError:
        return None


# columns measured from the holdout: missing means "no holdout", said in words
_HOLDOUT_COLUMNS = {*INCREMENTAL_COLUMNS, "gmv_per_cost"}


_TABLE_CSS = """
table.lab-kpi {border-collapse: collapse; font-size: 14px; width: 100%;}
table.lab-kpi th, table.lab-kpi td {border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right;}
table.lab-kpi th[scope=row], table.lab-kpi thead th:first-child {text-align: left;}
"""


@contextlib.contextmanager
def frozen(doc=None, *, only_if_changed: bool = False):
    """Hold the model bookkeeping of ``doc`` (default: the session's document) until the
    block ends.

    Every chart that gets a new Bokeh model (a plot, a tick formatter) makes Bokeh walk
    all of the document's models again; a tab with four charts did it four times per
    change (~0.1 s each on the 4 x 100k world). Frozen, it walks them once at the end.

    ``only_if_changed``: walk at the end only if a model reference changed inside the
    block (Bokeh then asks to ``invalidate``). A filter change that only sends new data
    to charts updated in place changes none, yet Bokeh walked every model of every tab
    built so far, a fifth of Money's server time. Only for blocks that add no document
    root (``add_root`` counts on the walk at the end instead of asking).
    """
    doc = doc if doc is not None else pn.state.curdoc
    if doc is None:
        yield
        return
    if not only_if_changed or "invalidate" in vars(doc.models):  # nested: the outer decides
        with doc.models.freeze():
            yield
        return
    models, changed = doc.models, []
    models._push_freeze()  # inner freezes (HoloViews, Panel) then leave the walk to us
    models.invalidate = lambda: changed.append(True)  # shadows the method while held
    try:
        yield
    finally:
        del models.invalidate
        models._freeze_count -= 1
        if changed:
            models.invalidate()  # walks now unless an outer freeze walks later


@contextlib.contextmanager
def relaid_out():
    """Send the block's layout changes (a pane's new plot, a grid's new charts) to the
    browser at once, ahead of the rest of a held refresh (:meth:`View.fresh`).

    Bokeh's browser side builds the views of new children asynchronously; a later
    change in the same message that lays the page out again (an HTML pane's new text)
    then finds a view missing, fails ("reading 'parent_style'") and drops the rest of
    the message: the Funnel's table kept its old rows after a breakdown was chosen."""
    with pn.io.immediate_dispatch():
        yield


class LiveChart:
    """A HoloViews pane whose plot is updated in place while its ``key`` stays the same.

    A new figure costs the browser a full Bokeh re-render; sending the new element
    through a :class:`holoviews.streams.Pipe` into a ``DynamicMap`` only replaces the
    plot's data. The plot is rebuilt when ``key`` changes (other strategies, another
    language: the legend and labels change).

    ``data_only``: a same-key update writes the new data straight into the plot's Bokeh
    sources, with the figure's title and axis limits, skipping HoloViews' own update
    (about 60 % of the server's time for a filter change on Money). Only for charts
    whose other options are fixed by the key, which give explicit limits to every
    numeric axis; when the layers or the categories on an axis change, the chart is
    drawn anew. ``tests/dashboards/test_dashboard_state.py`` checks the result against
    a freshly drawn chart.
    """

    def __init__(self, *, data_only: bool = False, **pane_options) -> None:
        self.pane = pn.pane.HoloViews(None, **_SIZING, **pane_options)
        self.data_only = data_only
        self._pipe: hv.streams.Pipe | None = None
        self._key: object = None
        self._categories: tuple | None = None
        self.figure = None

    def update(self, figure, *, key: object) -> None:
        self.figure = figure
        if figure is None:
            with relaid_out():
                self.pane.object, self._pipe, self._key = None, None, None
            return
        if self._pipe is not None and key == self._key:
            plots = [p[0] if isinstance(p, tuple) else p for p in self.pane._plots.values()]
            if not self.data_only or not plots:  # not drawn: its first draw takes this frame
                self._pipe.send(figure)
                self._categories = _categories(figure) if self.data_only else None
                return
            if self._write_data(figure, plots):
                return
            # else drawn anew: a DynamicMap keeps the axes' limits and the layers of its
            # first frame, so a changed layer or category would show with stale axes
        self._pipe = hv.streams.Pipe(data=figure)
        self._key, self._categories = key, _categories(figure) if self.data_only else None
        with relaid_out():
            self.pane.object = hv.DynamicMap(lambda data: data, streams=[self._pipe])

    def _write_data(self, figure, plots: list) -> bool:
        """Write ``figure``'s data, title and limits into the drawn ``plots``; False
        (nothing written) where the chart must be drawn anew."""
        if _categories(figure) != self._categories:
            return False
        limits = _fixed_limits(figure)
        if limits is None or not all(_fits(plot, figure, limits) for plot in plots):
            return False
        for plot in plots:
            _write_plot(plot, figure, limits)
        self._pipe.update(data=figure)  # a later draw of the pane (a new page) shows it too
        return True

    def __panel__(self):
        return self.pane


def _layers(figure) -> dict:
    return dict(figure.data) if isinstance(figure, hv.Overlay) else {(): figure}


def _categories(figure) -> tuple:
    """The values of every categorical key dimension of every layer, in order: what
    decides the categorical axes' factors (numbers and times are on continuous axes)."""
    return tuple(
        tuple(map(str, values))
        for element in _layers(figure).values()
        for values in (element.dimension_values(dim) for dim in element.kdims)
        if not (
            pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values)
        )
    )


def _fixed_limits(figure) -> dict[str, tuple] | None:
    """``{"x_range"|"y_range": (start, end)}`` of the Bokeh plot's numeric axes from the
    figure's explicit ``xlim``/``ylim`` (after ``invert_axes``), and the title; None if a
    limit or the title is left to HoloViews, or a numeric axis is inverted."""
    opts = hv.Store.lookup_options("bokeh", figure, "plot").kwargs
    if not isinstance(opts.get("title"), str):
        return None
    swap = opts.get("invert_axes", False)
    limits = {}
    for lim, axis in (("xlim", "y" if swap else "x"), ("ylim", "x" if swap else "y")):
        start, end = opts.get(lim, (None, None))
        if start is None or end is None or opts.get(f"invert_{axis}axis", False):
            limits[f"{axis}_range"] = None  # fine only for a categorical axis
        else:
            limits[f"{axis}_range"] = (start, end)
    return {**limits, "title": opts["title"]}


def _fits(plot, figure, limits: dict) -> bool:
    """Whether ``figure`` has the layers ``plot`` draws (a layer per strategy and group
    changes with the groups shown) and ``limits`` give every numeric axis its range."""
    drawn = list(plot.subplots) if plot.subplots else [()]
    return list(_layers(figure)) == drawn and all(
        isinstance(plot.handles[name], FactorRange) or limits[name] is not None
        for name in ("x_range", "y_range")
    )


def _write_plot(plot, figure, limits: dict) -> None:
    """HoloViews' data mapping of each layer (``get_data``, then its style transforms such
    as a colour per row), written into the layer's source; then the limits and title."""
    subplots = dict(plot.subplots) if plot.subplots else {(): plot}
    for key, element in _layers(figure).items():
        sub = subplots[key]
        if "source" not in sub.handles:  # annotations such as HLine: nothing to write
            continue
        style = sub.lookup_options(element, "style")[sub.cyclic_index]
        data, _, style = sub.get_data(element, sub.current_ranges, style)
        sub._apply_transforms(element, data, sub.current_ranges, style)
        sub.handles["source"].data = data
        sub.current_frame = element
    for name in ("x_range", "y_range"):
        axis = plot.handles[name]
        if not isinstance(axis, FactorRange):  # a categorical one keeps its categories
            axis.start, axis.end = limits[name]
    plot.handles["plot"].title.text = limits["title"]


class View(param.Parameterized):
    """Base of the views: the store, the language helper and a refresh hook."""

    store = param.ClassSelector(class_=DataStore)
    shown = param.Boolean(default=True, doc="On screen: hidden views refresh when shown.")
    #: section key (title ``section.<key>``) and the lab module the view needs, if any
    section: str = ""
    requires: str | None = None
    #: views that only set labels are cheap: they refresh even when hidden
    lazy: bool = True
    #: store parameters the view depends on
    watches: tuple[str, ...] = ("selected", "language", "platform", "scratch_runs")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._stale = True
        self.store.param.watch(self._changed, list(self.watches))
        self.param.watch(self._changed, "shown")

    def tr(self, key: str, **values: object) -> str:
        return t(key, self.store.language, **values)

    def _changed(self, *events: param.parameterized.Event) -> None:
        """Refresh now if on screen, else when next shown (only the open tab computes)."""
        if events and events[0].name != "shown":
            self._stale = True
        if self.shown or not self.lazy:
            self.fresh()
        idle.worked()

    def fresh(self) -> None:
        """Bring the view up to date with the store.

        The refresh's changes reach the browser in one message (``pn.io.hold``): a Money
        filter change sent ~25, one per chart source and pane, each serialised apart."""
        if self._stale:
            self._stale = False
            try:
                with pn.io.hold(), frozen(only_if_changed=True):
                    self._refresh()
            except Exception:
                self._stale = True  # not brought up to date: the next showing tries again
                raise

    def _refresh(self) -> None:
        raise NotImplementedError

    #: the HoloViews object the view shows (for PNG/HTML download), or None
    _figure = None

    def figure(self):
        """The HoloViews object this view shows (for PNG/HTML download), or None."""
        return self._figure

    def chart_key(self) -> tuple:
        """Charts are rebuilt when this changes and updated in place otherwise."""
        return (self.store.language, tuple(self.store.selected))


class ChartView(View):
    """A view laid out as a chart, a note and a table."""

    def __panel__(self):
        return pn.Column(self.plot, self.note, self.table, **_SIZING)


class OverviewView(View):
    """The decision: goal and baseline, the verdict, a KPI card per strategy (the best one
    marked) and the detail table below."""

    section = "overview"
    watches = (
        "selected",
        "language",
        "platform",
        "scratch_runs",
        "goal",
        "baseline",
        "max_fraud_share",
        "max_cost_per_user_fen",
    )

    ROWS = (
        ("col.origin", "origin", "text"),
        ("col.n_users", "n_users", "int"),
        ("col.days", "days", "int"),
        ("", "treatment_users", "int"),
        ("", "holdout_users", "int"),
        ("", "gmv_per_cost", "num", ("gmv_per_cost_ci_low", "gmv_per_cost_ci_high")),
        ("", "incremental_roi", "num", ("incremental_roi_ci_low", "incremental_roi_ci_high")),
        (
            "",
            "incremental_gmv_fen",
            "yuan",
            ("incremental_gmv_ci_low_fen", "incremental_gmv_ci_high_fen"),
        ),
        (
            "",
            "incremental_orders",
            "int",
            ("incremental_orders_ci_low", "incremental_orders_ci_high"),
        ),
        (
            "",
            "cost_per_incremental_order_fen",
            "yuan",
            ("cost_per_incremental_order_ci_low_fen", "cost_per_incremental_order_ci_high_fen"),
        ),
        ("", "incremental_gmv_per_user_fen", "yuan"),
        ("", "incremental_orders_per_user", "num"),
        ("", "cost_per_user_fen", "yuan"),
        ("", "incremental_p_value", "p"),
        ("", "exposed_users", "int"),
        ("", "claimers", "int"),
        ("", "claim_conversion", "pct"),
        ("", "issued", "int"),
        ("", "redeemed", "int"),
        ("", "redemption_conversion", "pct"),
        ("", "redeemed_amount_fen", "yuan"),
        ("", "aov_fen", "yuan"),
        ("", "cost_fen", "yuan"),
        ("", "roi", "num"),
        ("", "fraud_share_flagged", "pct"),
        ("", "fraud_share_true", "pct"),
        ("", "retention_d1", "pct"),
        ("", "retention_d7", "pct"),
        ("", "mean_cycle_days", "num"),
        ("", "median_cycle_days", "num"),
    )

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.goal = at_once(pn.widgets.Select(css_classes=["lab-goal"]))
        self.baseline = at_once(pn.widgets.Select(css_classes=["lab-baseline"]))
        # guardrails the verdict holds every strategy to (percent and yuan on screen)
        self.max_fraud = pn.widgets.FloatInput(
            value=100 * self.store.max_fraud_share,
            start=0,
            end=100,
            step=0.5,
            css_classes=["lab-max-fraud"],
        )
        self.max_cost = pn.widgets.FloatInput(
            value=None, start=0, step=0.5, placeholder="—", css_classes=["lab-max-cost"]
        )
        self.note = pn.pane.Markdown("", **_SIZING)
        self.notice = pn.pane.Alert("", alert_type="warning", visible=False, **_SIZING)
        self.verdict = pn.pane.HTML(
            "", css_classes=["lab-verdict"], stylesheets=[CARD_CSS], **_SIZING
        )
        self.cards = pn.pane.HTML("", stylesheets=[CARD_CSS], **_SIZING)
        self.plot = LiveChart()
        self.table = pn.pane.HTML("", stylesheets=[_TABLE_CSS], **_SIZING)
        self.legend = pn.pane.Markdown("", **_SIZING)
        self._figure = None
        self.goal.param.watch(lambda e: setattr(self.store, "goal", e.new), "value")
        self.baseline.param.watch(lambda e: setattr(self.store, "baseline", e.new or ""), "value")
        self.max_fraud.param.watch(self._set_guardrails, "value")
        self.max_cost.param.watch(self._set_guardrails, "value")
        self._changed()

    def _set_guardrails(self, *events) -> None:
        """The inputs' limits (percent, yuan; empty means the default / no limit) to the store."""
        fraud, cost = self.max_fraud.value, self.max_cost.value
        self.store.param.update(
            max_fraud_share=lab.Guardrails().max_fraud_share if fraud is None else fraud / 100,
            max_cost_per_user_fen=None if cost is None else 100 * cost,
        )

    def _refresh(self) -> None:
        lang = self.store.language
        frame = self.store.comparison()
        self.note.object = self.tr("app.pick_runs") if len(frame) < 2 else ""
        dropped = self.store.notice
        self.notice.visible = bool(dropped)
        if dropped:
            self.notice.object = self.tr(
                "overview.dropped", run=self.store.labels().get(dropped, dropped)
            )
        self.goal.name = self.tr("overview.goal")
        self.goal.options = {lab.metric(g).label(lang): g for g in lab.decision.GOALS}
        self.goal.value = self.store.goal
        labels = self.store.labels()
        self.baseline.name = self.tr("overview.baseline")
        self.baseline.options = {
            self.tr("overview.runner_up"): "",
            **{labels[r]: r for r in self.store.compared()},
        }
        self.baseline.value = (
            self.store.baseline if self.store.baseline in self.store.compared() else ""
        )
        self.max_fraud.name = self.tr("overview.max_fraud")
        self.max_cost.name = self.tr("overview.max_cost")
        decision = self.decision()
        self.verdict.object = verdict_html(decision, lang=lang)
        self.cards.object = cards_html(frame, decision, lang=lang) if len(frame) else ""
        self._figure = self.chart(decision, lang)
        self.plot.update(self._figure, key=(*self.chart_key(), self.store.goal))
        self.table.object = kpi_table(
            self.rows(lang), frame, lang=lang, table_id="comparison-table"
        )
        self.legend.object = self.tr(
            "overview.note_platform" if self.store.platform_filter() else "overview.note"
        )

    def rows(self, lang: str) -> list[tuple]:
        """The detail table's rows with their titles in ``lang``."""
        return [(t(key, lang) if key else "", *rest) for key, *rest in self.ROWS]

    def chart(self, decision, lang: str):
        """The goal per strategy with its 95 % interval; the line marks break-even
        (1 for GMV per ¥1 of cost) or no effect."""
        if decision is None:
            return None
        df = decision.table.dropna(subset=["estimate"])
        if df.empty:
            return None
        m = lab.metric(decision.goal)
        scale = 100 if m.in_fen else 1
        run_ids = self.store.run_ids()
        data = pd.DataFrame(
            {
                "strategy": df["label"].astype(str),
                "value": df["estimate"] / scale,
                "minus": (df["estimate"] - df["ci_low"]) / scale,
                "plus": (df["ci_high"] - df["estimate"]) / scale,
                # each strategy's colour, as on every other tab
                "colour": [colour_of(run_ids, r) for r in df["run_id"]],
            }
        )
        line = 1.0 if decision.goal == "gmv_per_cost" else 0.0
        # labelled dimensions: the PNG (matplotlib) shows them too
        x = hv.Dimension("strategy", label=self.tr("col.label"))
        y = hv.Dimension("value", label=m.label(lang))
        # the line last: an overlay takes its axis labels from its first element
        return (
            hv.ErrorBars(data, x, [y, "minus", "plus"])
            * hv.Scatter(data, x, [y, "colour"]).opts(
                size=10,
                color=hv.dim("colour"),
                tools=["hover"],
                hover_tooltips=["strategy", "value"],
            )
            * hv.HLine(line).opts(color="grey", line_dash="dashed")
        ).opts(
            title=self.tr("overview.chart", goal=m.label(lang)),
            xlabel="",
            ylabel=m.label(lang),
            ylim=(min(0.0, float((data["value"] - data["minus"]).min())), None),
            **base_opts(height=300),
        )

    def decision(self):
        """``lab.decide`` over the compared strategies (None with nothing to compare)."""
        if not self.store.compared():
            return None
        return self.store.decision()

    def __panel__(self):
        return pn.Column(
            self.note,
            self.notice,
            # goal names are long ("Incremental GMV per ¥1 of cost"): two choices a row
            pn.Row(self.goal, self.baseline),
            pn.Row(self.max_fraud, self.max_cost),
            self.verdict,
            self.cards,
            self.plot,
            self.table,
            self.legend,
            **_SIZING,
        )


class ChartGrid:
    """Small multiples: one :class:`LiveChart` per figure, in a grid.

    While the number of figures and the key stay the same, each chart's data is
    replaced in place (no new Bokeh figure for the browser to build).
    """

    def __init__(self, *, ncols: int = 2, data_only: bool = False) -> None:
        self.grid = pn.GridBox(ncols=ncols, **_SIZING)
        self.data_only = data_only
        self.charts: list[LiveChart] = []
        self.figures: list = []

    def update(self, figures: list, *, key: object = None) -> None:
        self.figures = list(figures)
        regrid = len(self.charts) != len(figures)
        if regrid:
            self.charts = [LiveChart(data_only=self.data_only, linked_axes=False) for _ in figures]
        for chart, fig in zip(self.charts, figures, strict=True):
            chart.update(fig, key=key)
        if regrid:  # the new charts join the grid drawn: one change of the grid's children
            with relaid_out():
                self.grid.objects = [c.pane for c in self.charts]

    def layout(self):
        """The figures as one HoloViews layout (for downloads), or None."""
        if not self.figures:
            return None
        return hv.Layout(self.figures).cols(self.grid.ncols)

    def __panel__(self):
        return self.grid


def legend_strip(store: DataStore) -> str:
    """The compared strategies' colours and names as one HTML line (run ids on hover),
    shown above the charts so small multiples need no legend of their own."""
    names, run_ids = store.labels(), store.run_ids()
    items = "".join(
        f'<span class="lab-key" data-run="{html.escape(r)}" title="{html.escape(r)}" '
        f'data-colour="{colour_of(run_ids, r)}">'
        f'<i style="background:{colour_of(run_ids, r)}"></i>{html.escape(names[r])}</span>'
        for r in store.compared()
    )
    return f'<div class="lab-legend">{items}</div>'


_LEGEND_CSS = """
.lab-legend {display: flex; flex-wrap: wrap; gap: 6px 18px; font-size: 14px; margin: 4px 0;}
.lab-key {display: inline-flex; align-items: center; gap: 6px;}
.lab-key i {display: inline-block; width: 14px; height: 14px; border-radius: 3px;}
"""


class SlicedView(ChartView):
    """A chart view that follows the session's date range and breakdown (:class:`Slice`)."""

    slice = param.ClassSelector(class_=Slice)
    #: whether the view offers the breakdown (Funnel, Retention, Money)
    breaks_down = True

    def __init__(self, **params) -> None:
        if params.get("slice") is None:
            params["slice"] = Slice()
        super().__init__(**params)
        self.slice.param.watch(self._changed, ["dates", "breakdown"])
        self.key = pn.pane.HTML("", stylesheets=[_LEGEND_CSS], css_classes=["lab-keys"], **_SIZING)

    def by(self) -> str | None:
        return self.slice.by() if self.breaks_down else None

    def group_dimension(self) -> hv.Dimension:
        """The breakdown's groups as a chart dimension, named in the session's language."""
        return hv.Dimension("group", label=self.tr(f"slice.{self.by()}"))

    def by_group_dimensions(self) -> list[hv.Dimension]:
        """Bars nested by group, then strategy in the legend's order (HoloViews sorts the
        strategies by name otherwise, which reverses them in 中文)."""
        return [self.group_dimension(), hv.Dimension("strategy", values=list(self.colours()))]

    def frame(self, func_name: str, *, breakdown: bool | None = None, **kwargs) -> pd.DataFrame:
        """:func:`sliced_frame` of the compared runs, broken down as the view is unless
        ``breakdown`` says otherwise, with the groups' labels in the session's language."""
        if breakdown is None:
            breakdown = self.breaks_down
        frame = sliced_frame(self.store, self.slice, func_name, breakdown=breakdown, **kwargs)
        if "group" in frame:
            by, lang = self.by(), self.store.language
            frame["group"] = [label(by, v, lang) for v in frame["group"].astype(object)]
        return frame

    def colours(self) -> dict[str, str]:
        """``{strategy name: colour}`` of the compared runs."""
        names, run_ids = self.store.labels(), self.store.run_ids()
        return {names[r]: colour_of(run_ids, r) for r in self.store.compared()}

    def by_strategy(self, df: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
        """``(name, colour, rows)`` of every compared strategy, in order; a strategy with no
        rows under the platform filter gets an empty frame. Charts keep one layer per
        compared strategy whatever the filter, so a change replaces their data in place
        instead of building new figures (docs/dashboard-speed.md)."""
        groups = dict(tuple(df.groupby("strategy", sort=False))) if len(df) else {}
        return [
            (name, colour, groups.get(name, df.iloc[0:0]))
            for name, colour in self.colours().items()
        ]

    def chart_key(self) -> tuple:
        return (*super().chart_key(), self.by())

    def _refresh(self) -> None:
        self.key.object = legend_strip(self.store)
        self._draw()

    def _draw(self) -> None:
        raise NotImplementedError

    def wide_table(
        self, df: pd.DataFrame, rows: list[tuple], *, table_id: str, value: str, column: str
    ):
        """A :func:`kpi_table` with one column per strategy (and group), one row per ``column``
        value (``rows`` are ``(title, column value, format)``)."""
        keys = ["run_id", "group"] if "group" in df else ["run_id"]
        wide = df.pivot_table(index=keys, columns=column, values=value, aggfunc="first")
        wide.columns = [f"{table_id}:{c}" for c in wide.columns]
        wide = wide.reset_index()
        # strategies in the legend's order, groups in lab's order as the charts show them
        # (sorted by their translated names, the columns of 中文 ran in another order)
        order = {
            "run_id": {r: i for i, r in enumerate(self.store.compared())},
            "group": {g: i for i, g in enumerate(dict.fromkeys(df.get("group", [])))},
        }
        wide = wide.sort_values(by=keys, key=lambda s: s.map(order[s.name]))
        names = self.store.labels()
        wide["label"] = wide["run_id"].map(names)
        if "group" in wide:
            wide["label"] = wide["label"] + " · " + wide["group"].astype(str)
        body = [(title, f"{table_id}:{c}", kind) for title, c, kind in rows]
        return kpi_table(body, wide, lang=self.store.language, table_id=table_id)


class FunnelView(SlicedView):
    """Funnel from delivery to redemption: one small chart per strategy, bars in step
    order with the step-to-step conversion printed on them. With a breakdown: the share
    of delivered offers redeemed per group, one bar per strategy."""

    section = "funnel"
    requires = "funnel"

    STEPS = ("delivery", "exposure", "rule_view", "claim", "redeem")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.grid = ChartGrid(ncols=2, data_only=True)  # every numeric axis has limits
        self.note = pn.pane.Markdown("", **_SIZING)
        self.table = pn.pane.HTML("", stylesheets=[_TABLE_CSS], **_SIZING)
        self._changed()

    def data(self) -> pd.DataFrame:
        return self.frame("funnel.funnel", steps=self.STEPS)

    def _draw(self) -> None:
        lang = self.store.language
        self.note.object = self.tr("funnel.note")
        df = self.data()
        if df.empty:
            self.grid.update([])
            self.table.object, self._figure = "", None
            return
        df["step_name"] = [label("event", s, lang) for s in df["step"]]
        if "group" in df:
            figures = [self._by_group(df)]
        else:
            figures = [self._steps(d, name, colour) for name, colour, d in self.by_strategy(df)]
        self.grid.update(figures, key=self.chart_key())
        self._figure = self.grid.layout()
        rows = [(label("event", s, lang), s, "pct") for s in self.STEPS]
        self.table.object = self.wide_table(
            df, rows, table_id="funnel-table", value="conversion_from_start", column="step"
        )

    def _steps(self, d: pd.DataFrame, name: str, colour: str):
        """Horizontal bars, first step on top, each labelled with its share of delivered
        offers and its conversion from the previous step (no bars: no offers on the
        chosen platform)."""
        if d.empty:
            lang = self.store.language
            d = pd.DataFrame(
                {
                    "step": self.STEPS,
                    "step_index": range(len(self.STEPS)),
                    "step_name": [label("event", s, lang) for s in self.STEPS],
                    "conversion_from_start": 0.0,
                    "conversion_from_previous": float("nan"),
                    "count": 0,
                }
            )
        d = d.sort_values("step_index").copy()
        offered = bool(d["count"].sum())  # no offers: no bars and no labels
        d["text"] = [
            ""
            if not offered
            else " " + share_label(s)
            if i == 0
            else f" {share_label(s)} · {self.tr('funnel.step_of_previous', pct=share_label(p))}"
            for i, s, p in zip(
                d["step_index"],
                d["conversion_from_start"],
                d["conversion_from_previous"],
                strict=True,
            )
        ]
        step = hv.Dimension("step_name", label=self.tr("funnel.step"))
        share = hv.Dimension("conversion_from_start", label=self.tr("funnel.axis"))
        bars = hv.Bars(d, step, [share, "count"]).opts(
            color=colour, line_color=None, tools=["hover"]
        )
        texts = hv.Labels(d, [step, share], "text").opts(
            text_font_size="10pt", text_align="left", text_baseline="middle", text_color="#222222"
        )
        return (bars * texts).opts(
            title=name,
            invert_axes=True,
            invert_yaxis=True,
            ylim=(0, 1.75),
            xformatter=pct_formatter(),
            # three ticks: with five, "100 %" ran into "75 %" in a chart of a 1280 px
            # page, and Bokeh left it out
            xticks=[0, 0.5, 1.0],
            xlabel="",
            ylabel=self.tr("funnel.axis"),
            show_legend=False,
            **base_opts(height=260),
        )

    def _by_group(self, df: pd.DataFrame):
        last = df[df["step"] == self.STEPS[-1]]
        colours = self.colours()
        return hv.Bars(
            last,
            self.by_group_dimensions(),
            [hv.Dimension("conversion_from_start", label=self.tr("funnel.redeemed_axis")), "count"],
        ).opts(
            title=self.tr("funnel.by_title", by=self.tr(f"slice.{self.by()}")),
            color=hv.dim("strategy").categorize(colours),
            line_color=None,
            multi_level=True,
            tools=["hover"],
            xlabel="",
            ylabel=self.tr("funnel.redeemed_axis"),
            yformatter=pct_formatter(decimals=1),
            ylim=(0, _headroom(last["conversion_from_start"])),
            show_legend=False,
            xrotation=0,
            **base_opts(height=360, hooks=(groups_named_only,)),
        )

    def __panel__(self):
        return pn.Column(self.key, self.grid, self.note, self.table, **_SIZING)


#: line styles that tell breakdown groups apart within one strategy's colour
DASHES = ("solid", "dashed", "dotted", "dotdash", "dashdot")


class RetentionView(SlicedView):
    """Claim-cohort retention curves (share of claimers ordering on day k), one colour per
    strategy, beside the cohort grid (claim day × days after) of one strategy."""

    section = "retention"
    requires = "retention"
    KWARGS = {"start_event": "claim", "return_event": "order", "period": "day", "max_periods": 14}
    DAYS = (1, 3, 7, 14)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        # its limits are explicit; not linked to the cohort grid's days, whose cells
        # centre on whole days (an axis from -0.5), which would override them
        self.plot = LiveChart(data_only=True, linked_axes=False)
        self.cohort_of = at_once(pn.widgets.Select(css_classes=["lab-cohort-of"], width=260))
        # updated in place on a filter change, as the curves are (it was a new figure)
        self.heat = LiveChart()
        self.note = pn.pane.Markdown("", **_SIZING)
        self.table = pn.pane.HTML("", stylesheets=[_TABLE_CSS], **_SIZING)
        self.cohort_of.param.watch(self._draw_heat, "value")
        self._changed()

    def data(self) -> pd.DataFrame:
        return self.frame("retention.retention", part="curves", **self.KWARGS)

    def _draw(self) -> None:
        self.note.object = self.tr("retention.note")
        self.cohort_of.name = self.tr("retention.cohort_of")
        df = self.data()
        if df.empty:
            self.plot.update(None, key=None)
            self.heat.update(None, key=None)
            self.table.object, self._figure = "", None
            return
        groups = ["strategy", "group"] if "group" in df else ["strategy"]
        dashes = {
            g: DASHES[i % len(DASHES)] for i, g in enumerate(dict.fromkeys(df.get("group", [])))
        }
        if "group" in df:
            parts = [
                (" · ".join(map(str, key)), d["colour"].iloc[0], dashes[key[1]], d)
                for key, d in df.groupby(groups, sort=False)
            ]
        else:
            parts = [(name, colour, None, d) for name, colour, d in self.by_strategy(df)]
        layers = []
        for name, colour, dash, d in parts:
            style = {"color": colour} if dash is None else {"color": colour, "line_dash": dash}
            layers.append(
                hv.Curve(
                    d,
                    hv.Dimension("period", label=self.tr("retention.days_axis")),
                    hv.Dimension("rate", label=self.tr("retention.axis")),
                    label=name,
                ).opts(tools=["hover"], line_width=2.5, **style)
            )
            layers.append(hv.Scatter(d, "period", "rate", label=name).opts(size=5, color=colour))
        self._figure = hv.Overlay(layers).opts(
            title=self.tr("retention.chart_title"),
            xlabel=self.tr("retention.days_axis"),
            ylabel=self.tr("retention.axis"),
            yformatter=pct_formatter(),
            xlim=(0, max(1, int(df["period"].max()))),
            ylim=(0, _headroom(df["rate"])),
            # colours are named in the strip above; a legend only tells groups apart
            **(LEGEND if "group" in df else {"show_legend": False}),
            **base_opts(height=380),
        )
        self.plot.update(self._figure, key=self.chart_key())
        options = {self.store.labels()[r]: r for r in self.store.compared()}
        value = self.cohort_of.value if self.cohort_of.value in options.values() else None
        self.cohort_of.options = options
        self.cohort_of.value = value or next(iter(options.values()), None)
        self._draw_heat()
        kept = df[df["period"].isin(self.DAYS)]
        rows = [(self.tr("retention.day_k", k=k), k, "pct") for k in self.DAYS]
        self.table.object = self.wide_table(
            kept, rows, table_id="retention-table", value="rate", column="period"
        )

    def _draw_heat(self, *events) -> None:
        run_id = self.cohort_of.value
        if run_id is None or run_id not in self.store.compared():
            self.heat.update(None, key=None)
            return
        kwargs = {**self.KWARGS, **self.slice.model_kwargs()}
        platform = self.store.platform_filter()
        if platform:
            kwargs["by"] = ("platform",)
        grid = self.store.call("retention.retention", run_id, **kwargs).table
        if platform:
            grid = grid[grid["platform"].astype(object) == platform]
        grid = grid[grid["complete"]].copy()
        grid["cohort"] = grid["cohort"].dt.strftime("%m-%d")
        heat = hv.HeatMap(
            grid,
            [
                hv.Dimension("period", label=self.tr("retention.days_axis")),
                hv.Dimension("cohort", label=self.tr("retention.cohort")),
            ],
            [hv.Dimension("rate", label=self.tr("retention.axis")), "retained", "cohort_size"],
        ).opts(
            title=self.tr("retention.cohorts_title", strategy=self.store.labels()[run_id]),
            cmap="Blues",
            colorbar=True,
            colorbar_opts={"formatter": pct_formatter()},
            tools=["hover"],
            invert_yaxis=True,
            **base_opts(height=380),
        )
        self.heat.update(heat, key=(self.chart_key(), run_id))

    def __panel__(self):
        return pn.Column(
            self.key,
            pn.Row(self.plot, pn.Column(self.cohort_of, self.heat, **_SIZING), **_SIZING),
            self.note,
            self.table,
            **_SIZING,
        )


def _headroom(values) -> float:
    """Top of a value axis from zero: the largest value plus a tenth (1 when none)."""
    top = float(np.nanmax(np.asarray(values, dtype=float), initial=0.0))
    return 1.1 * top if top > 0 else 1.0


def _steps(df: pd.DataFrame, x: str, ys: list[str]) -> pd.DataFrame:
    """Corner points of right-continuous step curves (each value held until the next x)."""
    xs = df[x].to_numpy(dtype=float)
    ends = list(xs[1:]) + [xs[-1]]
    values = df[ys].to_numpy(dtype=float).repeat(2, axis=0)
    corners = pd.DataFrame(values, columns=ys)
    corners[x] = [v for pair in zip(xs, ends, strict=True) for v in pair]
    return corners


class CycleView(SlicedView):
    """Share of issued coupons redeemed against days since issue, one curve per strategy
    (``lab.redemption_cycle``), drawn from at most a few hundred points per curve."""

    section = "cycle"
    requires = "cycle"
    breaks_down = False
    #: points per curve sent to the browser (a 100k-user run has ~40,000 steps)
    MAX_POINTS = 300
    ROWS = (
        ("cycle.coupons", "coupons", "int"),
        # the dictionary's redeemed-per-issued coupon: the name and format of every tab
        ("", "redemption_conversion", "pct"),
        ("cycle.share_by_expiry", "share_redeemed_by_expiry", "pct"),
        ("cycle.mean_days", "mean_cycle_days", "num"),
        ("cycle.median_days", "median_cycle_days", "num"),
    )

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.plot = LiveChart(data_only=True)  # its limits are explicit
        self.note = pn.pane.Markdown("", **_SIZING)
        self.table = pn.pane.HTML("", stylesheets=[_TABLE_CSS], **_SIZING)
        self._changed()

    def _draw(self) -> None:
        lang = self.store.language
        self.note.object = self.tr("cycle.note")
        curves = self.frame("cycle.redemption_cycle", part="curve")
        summary = self.frame("cycle.redemption_cycle")
        if curves.empty:
            self.plot.update(None, key=None)
            self.table.object, self._figure = "", None
            return
        ys = ["share_redeemed", "ci_low", "ci_high"]
        layers = []
        for name, colour, d in self.by_strategy(curves):
            if len(d):
                d = thin_steps(d, "time_days", ys, max_points=self.MAX_POINTS)
                d = _steps(d, "time_days", ys)
            layers.append(
                hv.Area(d, "time_days", ["ci_low", "ci_high"], label=name).opts(
                    alpha=0.15, line_alpha=0, color=colour
                )
            )
            layers.append(
                hv.Curve(
                    d,
                    hv.Dimension("time_days", label=self.tr("cycle.days_axis")),
                    hv.Dimension("share_redeemed", label=self.tr("cycle.axis")),
                    label=name,
                ).opts(tools=["hover"], color=colour, line_width=2.5)
            )
        self._figure = hv.Overlay(layers).opts(
            title=self.tr("cycle.title"),
            xlabel=self.tr("cycle.days_axis"),
            ylabel=self.tr("cycle.axis"),
            yformatter=pct_formatter(),
            xlim=(0, float(curves["time_days"].max() or 1)),
            ylim=(0, _headroom(curves[["share_redeemed", "ci_high"]])),
            show_legend=False,
            **base_opts(height=380),
        )
        self.plot.update(self._figure, key=self.chart_key())
        summary["label"] = summary["run_id"].map(self.store.labels())
        summary["redemption_conversion"] = summary["share_redeemed"]
        rows = [(t(key, lang) if key else "", column, kind) for key, column, kind in self.ROWS]
        self.table.object = kpi_table(rows, summary, lang=lang, table_id="cycle-table")

    def __panel__(self):
        return pn.Column(self.key, self.plot, self.note, self.table, **_SIZING)


class MoneyView(SlicedView):
    """Reported vs incremental ROI from zero with the break-even line; redeemed amount and
    cost per strategy (per group with a breakdown); the daily trend of claims,
    redemptions and cost."""

    section = "money"
    requires = "metrics"
    ROWS = (
        ("kpi.redeemed_amount", "redeemed_amount_fen", "yuan"),
        ("kpi.cost", "cost_fen", "yuan"),
        ("kpi.aov", "aov_fen", "yuan"),
        ("kpi.roi", "roi", "num"),
        (
            "kpi.incremental_roi",
            "incremental_roi",
            "num",
            ("incremental_roi_ci_low", "incremental_roi_ci_high"),
        ),
    )
    TREND = (
        ("trend.claims", "claims"),
        ("trend.redemptions", "redemptions"),
        ("trend.cost", "cost_yuan"),
    )

    def __init__(self, **params) -> None:
        super().__init__(**params)
        # a filter change writes new data only (LiveChart): the charts' limits are explicit
        self.roi_plot = LiveChart(data_only=True)
        self.money = ChartGrid(ncols=2, data_only=True)
        self.trend = LiveChart(data_only=True)
        self.trend_title = pn.pane.Markdown("", **_SIZING)
        # one trend chart at a time: a chart costs the page more than a click
        self.measure = at_once(
            pn.widgets.RadioButtonGroup(
                options={self.tr(key): column for key, column in self.TREND},
                value="claims",
                css_classes=["lab-trend-measure"],
                width=420,
            )
        )
        self._trend_data = pd.DataFrame()
        self.measure.param.watch(self._draw_trend, "value")
        self.note = pn.pane.Markdown("", **_SIZING)
        self.table = pn.pane.HTML("", stylesheets=[_TABLE_CSS], **_SIZING)
        self._figure = None
        self._changed()

    def metrics(self) -> pd.DataFrame:
        """One row per compared run (and group): the reported money metrics and, for the
        whole run, the holdout's incremental ROI (``lab.campaign_metrics``)."""
        platform, by = self.store.platform_filter(), self.by()
        names = [n for n in ("platform" if platform else None, by) if n]
        kwargs = {"by": tuple(dict.fromkeys(names)) or None, **self.slice.model_kwargs()}
        if names:  # the holdout's incremental ROI is shown for whole runs only
            kwargs["holdout_experiment"] = None
        rows, run_ids, labels = [], self.store.run_ids(), self.store.labels()
        for run_id in self.store.compared():
            res = self.store.call("metrics.campaign_metrics", run_id, **kwargs)
            table = res.groups if names else res.total
            if platform:
                table = table[table["platform"].astype(object) == platform]
            inc = res.incremental if not platform and not by else None
            for row in table.to_dict("records"):
                row.update(
                    run_id=run_id,
                    strategy=labels[run_id],
                    colour=colour_of(run_ids, run_id),
                    group=label(by, row[by], self.store.language) if by else None,
                    incremental_roi=inc.incremental_roi if inc else float("nan"),
                    incremental_roi_ci_low=inc.roi_ci_low if inc else float("nan"),
                    incremental_roi_ci_high=inc.roi_ci_high if inc else float("nan"),
                )
                rows.append(row)
        return pd.DataFrame(rows)

    def _draw(self) -> None:
        lang = self.store.language
        self.note.object = self.tr("overview.note")
        self.trend_title.object = f"#### {self.tr('trend.title')}"
        self.measure.options = {self.tr(key): column for key, column in self.TREND}
        df = self.metrics()
        if df.empty:
            self.roi_plot.update(None, key=None)
            self.money.update([])
            self.trend.update(None, key=None)
            self._figure, self.table.object = None, ""
            return
        # a row per compared strategy (empty without data on the platform): same charts
        charted = df
        if not self.by():
            charted = pd.concat(
                [
                    d if len(d) else pd.DataFrame({"strategy": [name], "colour": [colour]})
                    for name, colour, d in self.by_strategy(df)
                ],
                ignore_index=True,
            )
        roi = self._roi(charted)
        self.roi_plot.update(roi, key=self.chart_key())
        self.money.update(
            [
                self._bars(charted, "redeemed_amount_fen", "money.amount_title"),
                self._bars(charted, "cost_fen", "money.cost_title"),
            ],
            key=(self.chart_key(), len(charted)),
        )
        # whole strategies (the groups are in the bars): the run's cached trend, not a
        # trend per group to add up again
        self._trend_data = self.frame("metrics.daily_trend", breakdown=False)
        self._draw_trend()
        self._figure = (roi + self.money.layout()).cols(1)
        frame = df.copy()
        if self.by():
            frame["label"] = frame["strategy"] + " · " + frame["group"].astype(str)
        else:
            frame["label"] = frame["strategy"]
        rows = [(t(key, lang), *rest) for key, *rest in self.ROWS]
        self.table.object = kpi_table(rows, frame, lang=lang, table_id="money-table")

    def _roi(self, df: pd.DataFrame):
        """ROI per strategy from zero: reported (diamond) and incremental (circle, with its
        interval), the break-even line at ROI 0 (redeemed amount = cost)."""
        whole = df.drop_duplicates("run_id") if self.by() else df
        points = df.assign(roi_value=df["roi"])  # by group: a point per group and strategy
        # each row's own colour: a colour mapped from the strategy over a layer with no
        # rows (a strategy without data on a platform) made HoloViews add a numeric
        # colour mapper, a new model on every update
        # a group's points share their strategy's place: the hover names the group
        group = [self.group_dimension()] if self.by() else []
        by_colour = {
            "color": hv.dim("colour"),
            "tools": ["hover"],
            "hover_tooltips": ["strategy", *(g.name for g in group), "roi_value"],
        }
        reported = hv.Scatter(
            points,
            "strategy",
            ["roi_value", "strategy", "colour", *group],
            label="reported",  # labels keep the two markers' layers and options apart
        ).opts(marker="diamond", size=14, **by_colour)
        layers = [hv.HLine(0).opts(color="#555555", line_dash="dashed", line_width=1.5), reported]
        spread = whole.dropna(subset=["incremental_roi"])
        lows = [0.0, *points["roi_value"].dropna()]
        highs = [0.0, *points["roi_value"].dropna()]
        if not self.by():
            # layers kept, with a row per strategy (NaN, not drawn, where there is no
            # incremental ROI): the same categories, so a filter writes new data only
            layers.append(
                hv.ErrorBars(
                    (
                        whole["strategy"],
                        whole["incremental_roi"],
                        whole["incremental_roi"] - whole["incremental_roi_ci_low"],
                        whole["incremental_roi_ci_high"] - whole["incremental_roi"],
                    ),
                    "strategy",
                    ["roi_value", "low", "high"],
                ).opts(color="#333333", line_width=1.5)
            )
            layers.append(
                hv.Scatter(
                    whole.assign(roi_value=whole["incremental_roi"]),
                    "strategy",
                    ["roi_value", "strategy", "colour"],
                    label="incremental",
                ).opts(marker="circle", size=12, **by_colour)
            )
            lows += spread["incremental_roi_ci_low"].tolist()
            highs += spread["incremental_roi_ci_high"].tolist()
        low, high = min(lows), max(highs)
        pad = 0.12 * ((high - low) or 1.0)
        # a little above the line: the dashes crossed the label's CJK glyphs at 0
        first = points["strategy"].iloc[0]
        layers.append(
            hv.Text(
                first, 0.2 * pad, f" {self.tr('money.break_even')}", halign="left", valign="bottom"
            ).opts(text_font_size="9pt", text_color="#555555")
        )
        # the title names the markers: a legend outside the plot is taken out and put
        # back by HoloViews on every update, which made Bokeh walk every model again
        return hv.Overlay(layers).opts(
            title=self.tr("money.roi_title" if len(spread) else "money.roi_title_reported"),
            xlabel="",
            ylabel=self.tr("money.roi_axis"),
            ylim=(min(0.0, low - pad), high + pad),
            show_legend=False,
            **base_opts(height=320),
        )

    def _bars(self, df: pd.DataFrame, column: str, title_key: str):
        """Horizontal bars (strategy names never overlap), each labelled with its amount."""
        lang = self.store.language
        data = df.assign(yuan=df[column] / 100)
        data["text"] = ["" if pd.isna(v) else " " + yuan_tick_text(v, lang) for v in data["yuan"]]
        value = hv.Dimension("yuan", label=self.tr("money.yuan_axis"))
        if self.by():
            x = self.by_group_dimensions()
        else:
            x = [hv.Dimension("strategy", label=self.tr("money.strategy"))]
        figure = hv.Bars(data, x, [value, "text"]).opts(
            color=hv.dim("strategy").categorize(self.colours()),
            line_color=None,
            tools=["hover"],
            multi_level=bool(self.by()),
            show_legend=False,
        )
        if not self.by():
            figure = figure * hv.Labels(data, [x[0], value], "text").opts(
                text_font_size="10pt",
                text_align="left",
                text_baseline="middle",
                text_color="#222222",
            )
        return figure.opts(
            title=self.tr(title_key),
            invert_axes=True,
            invert_yaxis=True,
            xlabel="",
            ylabel=self.tr("money.yuan_axis"),
            xformatter=yuan_formatter(lang),
            # about three ticks: with Bokeh's six, English amounts (¥4,000,000) ran into
            # each other at 1280 px and every other one was left out
            xticks=3,
            ylim=(0, 1.45 * float(data["yuan"].max() or 1)),
            show_legend=False,
            **base_opts(height=90 + 34 * len(data)),
        )

    def _draw_trend(self, *events) -> None:
        """The daily trend of the chosen measure, one line per strategy."""
        trend, column = self._trend_data, self.measure.value or "claims"
        if trend.empty:
            self.trend.update(None, key=None)
            return
        lang = self.store.language
        value = hv.Dimension(
            column,
            label=self.tr("money.yuan_axis")
            if column == "cost_yuan"
            else self.tr("trend.count_axis"),
        )
        lines = [
            hv.Curve(d, hv.Dimension("day", label=self.tr("trend.date")), value, label=name).opts(
                color=colour, line_width=2.5, tools=["hover"]
            )
            for name, colour, d in self.by_strategy(trend)
        ]
        title = next(self.tr(key) for key, c in self.TREND if c == column)
        # explicit limits (the data's days; from zero to the top line plus a tenth), so a
        # filter change can write new data only, and the axis fits the filtered lines
        first, last = trend["day"].min().to_datetime64(), trend["day"].max().to_datetime64()
        if first == last:
            last = first + np.timedelta64(1, "D")
        self.trend.update(
            hv.Overlay(lines).opts(
                title=title,
                yformatter=yuan_formatter(lang) if column == "cost_yuan" else count_formatter(),
                xformatter=DatetimeTickFormatter(days="%m-%d", months="%m-%d", context=None),
                show_legend=False,
                xlim=(first, last),
                ylim=(0, _headroom(trend[column])),
                **base_opts(height=300),
            ),
            key=(self.chart_key(), column),
        )

    def __panel__(self):
        return pn.Column(
            self.key,
            self.roi_plot,
            self.money,
            self.trend_title,
            self.measure,
            self.trend,
            self.note,
            self.table,
            **_SIZING,
        )


def arm_html(arm: object, lang: str) -> str:
    """An arm's display name, HTML-escaped: arm names are data (an imported log's)."""
    return html.escape(arm_name(str(arm), lang))


def verdict(row: pd.Series, *, control: str, alpha: float, lang: str) -> str:
    """A plain-language sentence for one row of ``lab.experiments.analyze`` (relative effects)."""
    metric = label("metric", row["metric"], lang)
    if pd.isna(row["effect"]):
        return t("verdict.none", lang, metric=metric)
    values = {
        "metric": metric,
        "arm": arm_html(row["arm"], lang),  # Markdown renders HTML
        "control": arm_html(control, lang),
        "effect": f"{100 * abs(row['effect']):.1f} %",
        "low": f"{100 * row['ci_low']:.1f}",
        "high": f"{100 * row['ci_high']:.1f} %",
        "level": f"{100 * (1 - alpha):g} %",
        "alpha": f"{100 * alpha:g} %",
        "p": fmt(row["p_value"], "p="),
    }
    if not row["significant"]:
        return t("verdict.flat", lang, **values)
    return t("verdict.up" if row["effect"] > 0 else "verdict.down", lang, **values)


#: experiment metrics only coupon holders have: no comparison against a no-coupon arm
COUPON_METRICS = ("redeemed", "redeemed_amount", "aov")


class ExperimentsView(View):
    """Each stored experiment read as a decision: goal and guardrails, CUPED, sequential
    status, minimum detectable effect, SRM and a ship / don't ship / keep running line
    (``lab.experiment_decision``); then the per-metric comparisons. A holdout's coupon
    metrics have no counterpart in the no-coupon arm: its incremental figures are shown
    instead."""

    section = "experiments"
    requires = "experiments.analyze"
    watches = (*View.watches, "max_fraud_share")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.which = at_once(pn.widgets.Select(css_classes=["lab-experiment"]))
        self.cuped = pn.widgets.Checkbox(value=True, css_classes=["lab-cuped"])
        self.decision = pn.pane.Alert("", alert_type="info", css_classes=["lab-ship"], **_SIZING)
        self.summary = pn.pane.HTML("", stylesheets=[_TABLE_CSS], **_SIZING)
        self.srm = pn.pane.Alert("", alert_type="success", css_classes=["lab-srm"], **_SIZING)
        self.verdicts = pn.pane.Markdown("", css_classes=["lab-verdicts"], **_SIZING)
        self.plot = LiveChart()
        self.table = pn.pane.HTML("", stylesheets=[_TABLE_CSS], **_SIZING)
        self.note = pn.pane.Markdown("", **_SIZING)
        self._figure = None
        self._table_frame = pd.DataFrame()
        self.which.param.watch(self._show, "value")
        self.cuped.param.watch(self._show, "value")
        self._changed()

    def _refresh(self) -> None:
        labels = self.store.labels()
        options = {
            f"{labels[r]} · {experiment_name(e, self.store.language)}": f"{r}\x1f{e}"
            for r, e in self.store.experiments()
        }
        value = self.which.value
        self.which.name = self.tr("exp.pick")
        self.cuped.name = self.tr("exp.cuped")
        self.which.options = options
        keep = value if value in options.values() else next(iter(options.values()), None)
        if keep != self.which.value:
            self.which.value = keep  # the watcher shows it
        else:
            self.which.param.trigger("value")  # new options: the browser re-selects it

    def table_frame(self) -> pd.DataFrame:
        """The comparisons on screen (for the CSV download)."""
        return self._table_frame.copy()

    def _show(self, *events) -> None:
        lang = self.store.language
        self.note.object = self.tr("exp.note")
        if not self.which.value:
            self.srm.visible = self.decision.visible = False
            self.verdicts.object = self.tr("exp.none")
            self.plot.update(None, key=None)
            self.table.object, self.summary.object, self._figure = "", "", None
            self._table_frame = pd.DataFrame()
            return
        run_id, experiment = self.which.value.split("\x1f")
        # the comparisons use the same CUPED setting as the ship line
        pre = (self.store.run_info(run_id).get("pre_days") or 0) > 0
        covariate = "pre_gmv" if self.cuped.value and pre else None
        res = self.store.analysis(run_id, experiment, covariate=covariate)
        holdout = self._show_decision(run_id, experiment, lang)
        srm = res.srm
        self.srm.visible = True
        self.srm.alert_type = "danger" if srm.is_mismatch else "success"
        self.srm.object = self.tr(
            "exp.srm_bad" if srm.is_mismatch else "exp.srm_ok",
            observed=", ".join(
                f"{arm_html(a, lang)}: {n:,}" for a, n in zip(res.arms, srm.observed, strict=True)
            ),
            expected=", ".join(
                f"{arm_html(a, lang)}: {n:,.0f}"
                for a, n in zip(res.arms, srm.expected, strict=True)
            ),
            p=fmt(srm.p_value, "p="),
        )
        # a metric the control cannot have (coupons in a no-coupon arm) is no comparison
        table = res.to_frame().dropna(subset=["effect"])
        if holdout:  # (CUPED would give the empty arm an adjusted, non-zero mean)
            table = table[~table["metric"].isin(COUPON_METRICS)]
        table = table.reset_index(drop=True)
        self._table_frame = table.assign(run_id=run_id, experiment=experiment)
        sentences = [
            verdict(r, control=res.control, alpha=res.alpha, lang=lang) for _, r in table.iterrows()
        ]
        self.verdicts.object = "\n".join(f"- {s}" for s in sentences)
        shown = table.copy()
        shown["name"] = [
            f"{label('metric', m, lang)} · {arm_name(a, lang)}"
            if len(res.arms) > 2
            else label("metric", m, lang)
            for m, a in zip(shown["metric"], shown["arm"], strict=True)
        ]
        shown["minus"] = shown["effect"] - shown["ci_low"]
        shown["plus"] = shown["ci_high"] - shown["effect"]
        self._figure = (
            hv.HLine(0).opts(color="grey", line_dash="dashed")
            * hv.ErrorBars(shown, "name", ["effect", "minus", "plus"])
            * hv.Scatter(shown, "name", ["effect", "p_value"]).opts(size=9, tools=["hover"])
        ).opts(
            title=self.tr(
                "exp.title",
                experiment=experiment_name(experiment, lang),
                control=arm_name(res.control, lang),
            ),
            xlabel="",
            ylabel=self.tr("exp.effect"),
            yformatter=pct_formatter(decimals=1),
            **base_opts(height=340),
        )
        self.plot.update(self._figure, key=self.chart_key())
        rows = "".join(
            f'<tr class="exp-row" data-metric="{html.escape(r.metric)}" data-arm="{html.escape(str(r.arm))}">'
            f"<th scope=row>{html.escape(label('metric', r.metric, lang))}</th>"
            f"<td>{arm_html(r.arm, lang)}</td><td>{r.control_n:,} / {r.n:,}</td>"
            f'<td class="kpi" data-value="{raw(r.effect)}">{fmt(r.effect, "pct")}</td>'
            f"<td>{fmt(r.ci_low, 'pct')} … {fmt(r.ci_high, 'pct')}</td>"
            f"<td>{fmt(r.p_value, 'p')}</td><td>{fmt(r.p_value_holm, 'p')}</td></tr>"
            for r in table.itertuples()
        )
        head = "".join(
            f"<th>{html.escape(self.tr(k))}</th>"
            for k in (
                "exp.metric",
                "exp.arm",
                "exp.n",
                "exp.effect",
                "exp.ci",
                "exp.p",
                "exp.p_holm",
            )
        )
        self.table.object = (
            f'<table id="experiment-table" class="lab-kpi"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )

    def _show_decision(self, run_id: str, experiment: str, lang: str) -> bool:
        """The ship line and the table of what it rests on; True for a holdout."""
        d = self.store.experiment_decision(run_id, experiment, cuped=self.cuped.value)
        self.decision.visible = True
        self.decision.alert_type = {"ship": "success", "dont_ship": "danger"}.get(
            d.status, "warning"
        )
        names = {a: arm_name(a, lang) for a in (d.arm, d.control)}
        self.decision.object = (
            f'<span id="ship-line" data-status="{d.status}" data-reason="{d.reason}">'
            f"{html.escape(d.sentence(lang, arm_names=names))}</span>"
        )

        def pct(x: float) -> str:
            return f"{100 * x:+.1f}%"

        yes_no = {True: self.tr("exp.yes"), False: self.tr("exp.no")}
        items = [
            (
                "exp.goal",
                "goal",
                f"{pct(d.goal_effect)} [{pct(d.goal_ci_low)}, {pct(d.goal_ci_high)}]",
                d.goal_effect,
            ),
            ("exp.cuped_row", "cuped", yes_no[d.cuped], d.cuped),
            (
                "exp.sequential",
                "can_stop",
                self.tr("exp.can_stop" if d.can_stop else "exp.keep_going")
                + f" [{pct(d.sequential_ci_low)}, {pct(d.sequential_ci_high)}]",
                d.can_stop,
            ),
            ("exp.mde", "mde", f"{100 * d.mde:.1f}%", d.mde),
            ("exp.srm_row", "srm_ok", yes_no[d.srm_ok] + f" (p = {d.srm_p_value:.2g})", d.srm_ok),
        ]
        for g in d.guardrails.itertuples():
            if g.breached is None:
                text = self.tr(f"exp.guard_na.{g.reason}")
            else:
                text = self.tr("exp.breached" if g.breached else "exp.within")
                if g.guardrail == "cost":
                    text += " · " + self.tr(
                        "exp.cost_detail",
                        arm=lab.format_metric("cost_per_user", g.value, lang=lang, fen=True),
                        control=lab.format_metric("cost_per_user", g.control, lang=lang, fen=True),
                    )
                elif g.guardrail == "aov":
                    text += f" · {pct(g.value)}"
                elif g.guardrail == "fraud_share":
                    text += " · " + self.tr(
                        "exp.fraud_detail",
                        arm=lab.format_metric("fraud_share", g.value, lang=lang),
                        limit=lab.format_metric("fraud_share", g.limit, lang=lang),
                    )
            items.append((f"exp.guard.{g.guardrail}", f"guardrail_{g.guardrail}", text, g.breached))
        if d.is_holdout:
            inc = self.store.incremental(run_id)
            if inc is not None:
                for key, value, low, high in (
                    ("incremental_gmv", inc.incremental_gmv_fen, inc.ci_low_fen, inc.ci_high_fen),
                    (
                        "incremental_orders",
                        inc.incremental_orders,
                        inc.orders_ci_low,
                        inc.orders_ci_high,
                    ),
                    ("incremental_roi", inc.incremental_roi, inc.roi_ci_low, inc.roi_ci_high),
                    (
                        "cost_per_incremental_order",
                        inc.cost_per_incremental_order_fen,
                        inc.cpio_ci_low_fen,
                        inc.cpio_ci_high_fen,
                    ),
                ):
                    m = lab.metric(key)
                    items.append(
                        (
                            m.label(lang),
                            key,
                            f"{m.format(value, lang)} "
                            + lab.format_interval(key, low, high, lang=lang, fen=m.in_fen),
                            value,
                        )
                    )
        rows = "".join(
            f'<tr data-item="{item}"><th scope=row>{html.escape(self.tr(key) if key.startswith("exp.") else key)}</th>'
            f'<td class="kpi" data-value="{html.escape(raw(value))}">{html.escape(text)}</td></tr>'
            for key, item, text, value in items
        )
        self.summary.object = (
            f'<table id="experiment-decision" class="lab-kpi"><tbody>{rows}</tbody></table>'
        )
        return d.is_holdout

    def chart_key(self) -> tuple:
        return (self.store.language, self.which.value)

    def __panel__(self):
        return pn.Column(
            pn.Row(self.which, self.cuped),
            self.decision,
            self.summary,
            self.srm,
            self.verdicts,
            self.plot,
            self.table,
            self.note,
            **_SIZING,
        )


class EditorView(View):
    """Edit a strategy (channel and entry mix, denomination ladder, targeting, mechanic,
    risk level, budget) on top of a platform style, and simulate it into a scratch world."""

    section = "editor"
    requires = "world"
    lazy = False
    watches = ("language", "selected")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.style = pn.widgets.RadioButtonGroup(value=self.store.style, css_classes=["lab-style"])
        self.size = pn.widgets.RadioButtonGroup(
            options=self._size_options(),
            value=self.store.world_size,
            css_classes=["lab-world-size"],
        )
        self.entries = pn.widgets.MultiChoice(css_classes=["lab-entries"])
        self.ladder = pn.widgets.TextInput(placeholder="300:50, 100:20", css_classes=["lab-ladder"])
        self.segments = pn.widgets.MultiChoice(css_classes=["lab-segments"])
        self.lbs = pn.widgets.Select(css_classes=["lab-lbs"])
        self.credit = pn.widgets.MultiChoice(css_classes=["lab-credit"])
        self.mechanic = pn.widgets.Select(css_classes=["lab-mechanic"])
        self.risk = pn.widgets.RadioButtonGroup(value="basic", css_classes=["lab-risk"])
        self.budget = pn.widgets.IntInput(value=0, start=0, step=10_000, css_classes=["lab-budget"])
        self.button = pn.widgets.Button(color="primary", css_classes=["lab-simulate"])
        self.progress = pn.indicators.Progress(
            active=False, visible=False, value=-1, css_classes=["lab-progress"]
        )
        self.status = pn.pane.Markdown("", css_classes=["lab-status"], **_SIZING)
        self.labels = {
            k: pn.pane.Markdown(margin=(5, 10, 0, 10)) for k in ("style", "size", "risk")
        }
        self.help = pn.pane.Markdown("", **_SIZING)
        pn.bind(self._set_style, self.style.param.value, watch=True)
        pn.bind(self._set_size, self.size.param.value, watch=True)
        self.button.on_click(self._simulate)
        self.store.param.watch(self._busy, "busy")
        self._changed()
        self.entries.value = self._style_entries(self.store.style)

    def _size_options(self) -> dict[str, int]:
        """World sizes; the first (0) simulates as many users as the compared presets."""
        same = self.tr("editor.size_same", users=f"{self.store.preset_users():,}")
        return {same: 0, **{f"{n // 1000}k": n for n in WORLD_SIZES if n}}

    @staticmethod
    def _style_entries(style: str) -> list[str]:
        base = StrategyEdit(style=style).strategy()
        return list(dict.fromkeys(f"{c.platform}/{c.entry}" for c in base.campaigns))

    def _set_style(self, value: str | None) -> None:
        if value is None:  # a radio group rendered before its options has no value
            return
        self.store.style = value
        self.entries.value = self._style_entries(value)

    def _set_size(self, value: int | None) -> None:
        if value is not None:
            self.store.world_size = value

    def _busy(self, event) -> None:
        self.progress.active = self.progress.visible = event.new
        self.button.disabled = event.new

    def _refresh(self) -> None:
        lang = self.store.language
        self.help.object = self.tr("editor.help")
        self.labels["style"].object = f"**{self.tr('side.platform_style')}**"
        self.labels["size"].object = f"**{self.tr('side.world_size')}**"
        value = self.size.value
        self.size.options = self._size_options()
        self.size.value = value
        self.labels["risk"].object = f"**{self.tr('editor.risk')}**"
        self.style.options = {label("platform", p, lang): p for p in PLATFORM_STYLES}
        self.entries.name = self.tr("editor.entries")
        self.entries.options = {
            f"{label('platform', k.split('/')[0], lang)} · {label('entry', k.split('/')[1], lang)}": k
            for k in ENTRY_KEYS
        }
        self.ladder.name = self.tr("editor.ladder")
        self.segments.name = self.tr("editor.segments")
        self.segments.options = {label("segment", s, lang): s for s in SEGMENTS}
        self.lbs.name = self.tr("editor.lbs")
        # 0 and "" stand for "no radius" and "keep": a None value shows as a blank select
        self.lbs.options = {
            (self.tr("editor.lbs_km", km=f"{r:g}") if r else self.tr("editor.lbs_none")): r or 0.0
            for r in LBS_RADII
        }
        # a Select whose value is not among its options shows blank: start at "no radius"
        if self.lbs.value not in self.lbs.options.values():
            self.lbs.value = 0.0
        self.credit.name = self.tr("editor.credit")
        self.credit.options = {self.tr("editor.credit_tier", tier=k): k for k in range(1, 6)}
        self.mechanic.name = self.tr("editor.mechanic")
        self.mechanic.options = {
            self.tr("editor.keep"): "",
            **{label("mechanic", m, lang): m for m in MECHANICS},
        }
        if self.mechanic.value not in self.mechanic.options.values():
            self.mechanic.value = ""
        self.risk.options = {label("risk", r, lang): r for r in RISK_LEVELS}
        self.budget.name = self.tr("editor.budget")
        self.button.name = self.tr("editor.simulate")

    def edit(self) -> StrategyEdit:
        """The edit the widgets describe (``ValueError`` for an unreadable ladder)."""
        return StrategyEdit(
            style=self.style.value,
            entries=tuple(self.entries.value),
            ladder=parse_ladder(self.ladder.value),
            segments=tuple(self.segments.value),
            lbs_radius_km=self.lbs.value or None,
            credit_tiers=tuple(self.credit.value),
            mechanic=self.mechanic.value or None,
            risk_level=self.risk.value,
            budget_yuan=self.budget.value or None,
        )

    async def _simulate(self, event=None) -> None:
        try:
            edit = self.edit()
            if not edit.entries:
                raise ValueError(self.tr("editor.no_entries"))
        except ValueError as exc:
            self.status.object = self.tr("editor.invalid", reason=html.escape(str(exc)))
            return
        self.store.busy = True
        users = self.store.world_size or self.store.preset_users()
        self.status.object = self.tr("editor.running", users=f"{users:,}")
        try:
            # the simulation runs in a worker thread so the page stays responsive
            run_id, _ = await asyncio.to_thread(self.store.simulate_edit, edit)
        except (ValueError, lab.StoreError) as exc:
            self.status.object = self.tr("editor.failed", reason=str(exc))
            return
        finally:
            self.store.busy = False
        dropped = self.store.add_scratch(run_id)
        done = self.tr("editor.done", run=self.store.labels().get(run_id, run_id))
        if dropped:
            done += " " + self.tr("overview.dropped", run=self.store.labels().get(dropped, dropped))
        if users != self.store.preset_users():
            done += " " + self.tr("editor.per_user")
        self.status.object = done

    def __panel__(self):
        return pn.Column(
            self.help,
            self.labels["style"],
            self.style,
            self.labels["size"],
            self.size,
            self.entries,
            self.ladder,
            pn.Row(self.segments, self.credit),
            pn.Row(self.lbs, self.mechanic),
            self.labels["risk"],
            self.risk,
            self.budget,
            self.button,
            self.progress,
            self.status,
            **_SIZING,
        )


VIEWS: tuple[type[View], ...] = (
    OverviewView,
    FunnelView,
    RetentionView,
    CycleView,
    MoneyView,
    ExperimentsView,
    EditorView,
)


def available_views() -> list[type[View]]:
    """The views whose lab model exists in this checkout, in display order."""
    return [v for v in VIEWS if v.requires is None or model_available(v.requires)]


@functools.cache
def _cjk_fonts() -> list[str]:
    """Installed CJK font families for matplotlib, registering system fonts installed after
    matplotlib built its font cache (e.g. ``fonts-noto-cjk``)."""
    from matplotlib import font_manager

    known = {f.name for f in font_manager.fontManager.ttflist}
    if not known & set(CJK_FONTS):
        for path in font_manager.findSystemFonts():
            if "CJK" in Path(path).name and "Sans" in Path(path).name:
                font_manager.fontManager.addfont(path)
        known = {f.name for f in font_manager.fontManager.ttflist}
    return [f for f in CJK_FONTS if f in known]


def without_text(fig):
    """``fig`` without its text layers (``Labels``, ``Text``): matplotlib cannot place text
    on a categorical axis. The rest keeps its options (a clone shares them)."""
    if isinstance(fig, hv.Layout):
        return fig.clone([(key, without_text(item)) for key, item in fig.data.items()])
    if isinstance(fig, hv.Overlay):
        return fig.clone(
            [(k, v) for k, v in fig.data.items() if not isinstance(v, (hv.Labels, hv.Text))]
        )
    return fig


def figure_png(fig, *, title: str) -> io.BytesIO:
    """Render a HoloViews object to PNG with the matplotlib backend (for downloads)."""
    fig = without_text(fig)
    hv.renderer("matplotlib")  # loads the backend's options without switching to it
    buf = io.BytesIO()
    # Chinese labels need a CJK font; matplotlib falls back through the list glyph by
    # glyph. Without any CJK font installed, Chinese shows as boxes.
    # (the fallback goes through font.family itself, not through a generic family's list)
    fonts = {"font.family": ["DejaVu Sans", *_cjk_fonts()]}
    plot_opts = {"fig_size": 250, "aspect": 2.2, "fig_rcparams": fonts, "backend": "matplotlib"}
    if isinstance(fig, hv.Layout):  # size its panels, stacked as on screen
        styled = hv.Layout([panel.opts(clone=True, **plot_opts) for panel in fig]).cols(1)
        styled = styled.opts(
            title=title, fig_rcparams=fonts, sublabel_format="", backend="matplotlib"
        )
    else:
        styled = fig.opts(title=title, clone=True, **plot_opts)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        hv.save(styled, buf, fmt="png", backend="matplotlib")
    buf.seek(0)
    return buf


def figure_html(fig) -> io.StringIO:
    """Render a HoloViews object to a self-contained interactive HTML page (Bokeh)."""
    buf = io.StringIO()
    hv.save(fig, buf, fmt="html", backend="bokeh", resources="inline")
    buf.seek(0)
    return buf


class DownloadsView(View):
    """CSV of every table, PNG and HTML of every chart, and the one-page decision memo."""

    section = "downloads"
    lazy = False
    watches = ("language",)
    views = param.Dict(default={}, doc="Views by section whose figures can be downloaded.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.help = pn.pane.Markdown("", **_SIZING)
        self.memo = pn.widgets.FileDownload(
            callback=self._memo, filename="decision-memo.html", css_classes=["lab-download-memo"]
        )
        self.tables = pn.widgets.Select(css_classes=["lab-table"])
        self.csv = pn.widgets.FileDownload(
            callback=self._csv, filename="overview.csv", css_classes=["lab-download-csv"]
        )
        self.which = pn.widgets.Select(css_classes=["lab-figure"])
        self.png = pn.widgets.FileDownload(
            callback=self._png, filename="figure.png", css_classes=["lab-download-png"]
        )
        self.html = pn.widgets.FileDownload(
            callback=self._html, filename="figure.html", css_classes=["lab-download-html"]
        )
        self.which.param.watch(self._filenames, "value")
        self.tables.param.watch(self._filenames, "value")
        self._changed()
        self._filenames()

    def charted(self) -> list[str]:
        """Sections whose view draws a chart."""
        return [
            k
            for k, v in self.views.items()
            if any(isinstance(x, LiveChart | ChartGrid) for x in vars(v).values())
        ]

    def tabled(self) -> list[str]:
        """Sections with a table to download (``overview`` is the comparison)."""
        found = [
            k
            for k, v in self.views.items()
            if k == "overview" or callable(getattr(v, "data", None)) or hasattr(v, "table_frame")
        ]
        return [*found[:1], "decision", *found[1:]] if "overview" in found else found

    def _filenames(self, *events) -> None:
        self.png.filename = f"{self.which.value}.png"
        self.html.filename = f"{self.which.value}.html"
        self.csv.filename = f"{self.tables.value}.csv"

    def _refresh(self) -> None:
        self.help.object = self.tr("dl.help")
        self.memo.label = self.tr("dl.memo")
        self.csv.label = self.tr("dl.csv")
        self.png.label = self.tr("dl.png")
        self.html.label = self.tr("dl.html")
        self.which.name = self.tr("dl.figure")
        self.tables.name = self.tr("dl.table")
        for widget, keys in ((self.which, self.charted()), (self.tables, self.tabled())):
            # options and value in one change: given options alone, Panel picked the
            # first for the widget but the page's select stayed blank
            value = widget.value if widget.value in keys else next(iter(keys), None)
            widget.param.update(options={self.tr(f"section.{k}"): k for k in keys}, value=value)

    def table(self, key: str) -> pd.DataFrame:
        """The table of section ``key`` as downloaded: metric names from ``lab``'s
        dictionary, money in yuan."""
        if key == "overview":
            frame = self.store.comparison()
        elif key == "decision":
            frame = self.store.decision().table
        else:
            view = self.views[key]
            view.fresh()
            frame = view.table_frame() if hasattr(view, "table_frame") else view.data()
        return lab.metric_frame(frame)

    def figure_of(self, key: str):
        """The chart of section ``key`` (brought up to date first)."""
        view = self.views.get(key)
        if view is None:
            raise ValueError(self.tr("dl.no_figure"))
        view.fresh()
        fig = view.figure()
        if fig is None:
            raise ValueError(self.tr("dl.no_figure"))
        return fig

    def _csv(self) -> io.StringIO:
        return io.StringIO(self.table(self.tables.value or "overview").to_csv(index=False))

    def _png(self) -> io.BytesIO:
        key = self.which.value
        return figure_png(self.figure_of(key), title=self.tr(f"section.{key}"))

    def _html(self) -> io.StringIO:
        return figure_html(self.figure_of(self.which.value))

    def memo_text(self) -> str:
        """The decision memo (self-contained HTML) in the session's language."""
        lang = self.store.language
        overview = self.views["overview"]
        overview.fresh()
        frame = self.store.comparison()
        decision = overview.decision()
        charts = []
        for key in ("overview", "money"):
            if key in self.charted():
                try:
                    fig = self.figure_of(key)
                except ValueError:
                    continue
                title = self.tr(f"section.{key}")
                charts.append((title, figure_png(fig, title=title).getvalue()))
        return memo_html(
            lang=lang,
            decision=decision,
            cards=cards_html(frame, decision, lang=lang),
            table=kpi_table(overview.rows(lang), frame, lang=lang, table_id="comparison-table"),
            charts=charts,
            strategies=list(self.store.labels()[r] for r in self.store.compared()),
        )

    def _memo(self) -> io.StringIO:
        return io.StringIO(self.memo_text())

    def __panel__(self):
        return pn.Column(
            self.help,
            self.memo,
            pn.Row(self.tables, self.csv),
            pn.Row(self.which, self.png, self.html),
            **_SIZING,
        )
