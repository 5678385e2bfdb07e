"""The dashboard app: ``python dashboards/app.py`` (``make dashboard``; localhost only).

Served this way, the app answers only requests whose ``Host`` is ``localhost`` or
``127.0.0.1`` (plus names given with ``--allow-host``), for pages, static
files and the websocket alike, and accepts websockets only from those origins: a web
page on a DNS-rebinding domain cannot read the dashboard through a visitor's browser
(docs/reliability.md). Under plain ``panel serve dashboards/app.py`` the app checks the
``Host`` of each page request itself (names in ``LAB_ALLOW_HOSTS``, comma-separated, are
allowed too): a foreign one gets a refusal instead of the dashboard, and no data is
read; Bokeh checks the websocket's origin. Static files (Bokeh's and Panel's scripts,
no data) are then not checked: serve with this module's entry point for that.

Reads the database named by the ``LAB_DB`` environment variable (default
``data/lab.duckdb``), opened read-only so a notebook can write while the app runs.
:func:`build` assembles a FastListTemplate from the data store and the views; widgets are
bound to the store through ``widget.param.value``.

Example
-------
>>> template = build("data/lab.duckdb")  # doctest: +SKIP
>>> template.servable()  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import html
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

# `panel serve dashboards/app.py` puts dashboards/ on sys.path, not the project root
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import pandas as pd  # noqa: E402
import panel as pn  # noqa: E402
import panel.reactive  # noqa: E402
from bokeh.events import ConnectionLost  # noqa: E402
from bokeh.io import curdoc  # noqa: E402
from bokeh.resources import Resources  # noqa: E402
from panel.io.resources import LOCAL_DIST  # noqa: E402
from panel.theme.base import Inherit  # noqa: E402
from tornado import routing, web, websocket  # noqa: E402

import lab  # noqa: E402
from dashboards import busy, idle, writes  # noqa: E402
from dashboards.balancer import PENDING_S, host_allowed  # noqa: E402
from dashboards.i18n import LANGUAGES, label, t  # noqa: E402
from dashboards.slicing import BREAKDOWNS, Slice, run_window  # noqa: E402
from dashboards.store import DEFAULT_DB, MAX_SELECTED, PLATFORM_FILTERS, DataStore  # noqa: E402
from dashboards.views import (  # noqa: E402
    DownloadsView,
    SlicedView,
    at_once,
    available_views,
    frozen,
)

pn.extension(sizing_mode="stretch_width")

#: Fonts the machine has: nothing is fetched (the Fast design's default pulls Open Sans
#: from Google Fonts, which is blocked in mainland China and absent offline).
FONT_STACK = (
    'system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK SC", '
    '"PingFang SC", "Microsoft YaHei", "WenQuanYi Zen Hei", sans-serif'
)
#: The selected option of a radio group is filled with the accent colour, the others
#: are outlined: told apart without relying on a light grey shade.
RADIO_CSS = """
.bk-btn-group .bk-btn.bk-btn-default {
  background: #ffffff !important; color: #1f2d3d !important; border: 1px solid #8a99a8 !important;
}
.bk-btn-group .bk-btn.bk-btn-default:hover:not(.bk-active) { background: #e8f1f8 !important; }
.bk-btn-group .bk-btn.bk-btn-default.bk-active {
  background: #0b5394 !important; color: #ffffff !important; border-color: #0b5394 !important;
  font-weight: 600; box-shadow: inset 0 -3px 0 #f1c232 !important;
}
"""
#: The busy indicator marks a session's work with its half-filled ring without turning
#: it. Turning, it drew a frame every 1/60 s for as long as it showed (about 24 frames a
#: filter change), composited in software where there is no GPU: ~33 ms of the browser's
#: CPU per update, about as much as drawing the new charts and table (measured in
#: Chromium's trace; docs/dashboard-speed.md, session 15).
STILL_BUSY_CSS = ":host(.loader.spin) div::after { animation: none; }"
#: Tab titles that do not fit the bar's width go on to a second row. Bokeh keeps them on
#: one row and scrolls it without a scroll bar: at 1280 px in English, "Downloads" was
#: cut at the page's edge and nothing showed that more tabs were there.
TABS_CSS = ":host(.bk-above) .bk-headers-wrapper { flex-wrap: wrap; }"

# The Fast design lists Open Sans from Google Fonts among its resources, whatever
# ``font_url`` says; this server's pages use installed fonts only (FONT_STACK).
pn.theme.Fast._resources = {**pn.theme.Fast._resources, "font": {}}
#: The BokehJS bundles a page loads. Bokeh's server lists all five; the page draws no
#: WebGL plot (HoloViews' webgl is off) and no TeX, so BokehJS's GL (189 kB) and MathJax
#: (1.7 MB) bundles were fetched and parsed by every page for nothing. The tables bundle
#: stays: Panel's own bundle imports it (docs/dashboard-speed.md).
BOKEH_COMPONENTS = ["bokeh", "bokeh-widgets", "bokeh-tables"]
# every radio group of the page, the editor's included, gets RADIO_CSS
pn.theme.Fast.modifiers = {
    **pn.theme.Fast.modifiers,
    pn.widgets.RadioButtonGroup: {"stylesheets": [Inherit, RADIO_CSS]},
}


class _Tabs(pn.Tabs):
    """Dynamic tabs that bring the opened tab's view up to date before drawing it, and
    that can build a hidden tab's Bokeh models ahead of its opening.

    Panel's Tabs draws a newly active tab as soon as ``active`` changes; a watcher on
    ``active`` runs after that, so the view then replaced its charts and tables one by
    one on a tab already drawn empty: a message and a browser layout each (Money sent
    its ROI chart twice and its chart grid three times). ``on_open(index)`` runs first
    here, while the tab has no Bokeh models, so the tab is drawn once, complete.

    Hidden tabs stay out of the browser (``dynamic``): a page holding every tab's charts
    made the browser lay them all out again whenever a tab was added, and the fourth
    tab opened took twice as long. :meth:`build_ahead` only builds a hidden tab's models
    on the server, where Panel's dynamic Tabs keep a tab's models once built: opening it
    then sends them without building them.
    """

    def __init__(self, *objects, on_open=None, **params) -> None:
        self._on_open = on_open
        super().__init__(*objects, dynamic=True, **params)

    def _update_active(self, *events) -> None:
        if self._on_open is not None and any(e.name == "active" for e in events):
            self._on_open(self.active)
        super()._update_active(*events)

    def built(self, index: int) -> bool:
        """Whether tab ``index``'s models exist on every page showing these tabs."""
        pane = self.objects[index]
        return all(id(pane) in self._rendered[ref] for ref in self._pages())

    def build_ahead(self, index: int) -> None:
        """Build hidden tab ``index``'s Bokeh models on every page showing these tabs."""
        pane = self.objects[index]
        for ref in self._pages():
            if id(pane) not in self._rendered[ref]:
                model = self._models[ref][0]
                _, root, doc, comm = pn.state._views[ref]
                self._rendered[ref][id(pane)] = pane._get_model(doc, root, model, comm)

    def _pages(self) -> list[str]:
        # a template's fake root aliases the real page's models: skip it, as Panel does
        return [r for r in self._models if r in pn.state._views and r not in pn.state._fake_roots]


class _Template(pn.template.FastListTemplate):
    """The page, added to a session's document with Bokeh's model bookkeeping frozen:
    each of the template's roots made Bokeh walk every model of the document again
    (14 walks, ~0.3 s of the first table on the 4 x 100k world); frozen, it walks once.
    Its busy indicator shows this session's work only (:mod:`dashboards.busy`), and does
    not turn (:data:`STILL_BUSY_CSS`)."""

    def __init__(self, **params) -> None:
        super().__init__(**params)
        # each template has its own indicator (param copies the default per instance)
        self.busy_indicator.stylesheets = [*self.busy_indicator.stylesheets, STILL_BUSY_CSS]

    def server_doc(self, doc=None, title=None, location=True):
        doc = doc if doc is not None else curdoc()
        with frozen(doc):
            doc = super().server_doc(doc, title, location)
        busy.track(doc, self.busy_indicator)
        return doc


class App:
    """Widgets, views and the template of one session.

    Parameters
    ----------
    db_path : str or Path
        Database to read.

    Example
    -------
    >>> app = App("data/lab.duckdb")  # doctest: +SKIP
    >>> app.template  # doctest: +SKIP
    """

    def __init__(self, db_path: str | Path) -> None:
        self.store = DataStore(db_path)
        self._renaming = False
        self.slice = Slice()
        self._set_window()
        # only the open tab computes; the others catch up when opened
        self.views = {
            cls.section: cls(
                store=self.store,
                shown=cls.section == "overview",
                **({"slice": self.slice} if issubclass(cls, SlicedView) else {}),
            )
            for cls in available_views()
        }
        self.views["downloads"] = DownloadsView(
            store=self.store, views=dict(self.views), shown=False
        )
        # clicks and choices are acted on at once (at_once); the date slider keeps
        # Panel's wait, which handles a drag once
        self.language = at_once(
            pn.widgets.RadioButtonGroup(
                options={name: code for code, name in LANGUAGES.items()},
                value=self.store.language,
                css_classes=["lab-language"],
            )
        )
        self.strategies = at_once(
            pn.widgets.MultiChoice(
                options=self.store.run_options(),
                value=list(self.store.selected),
                max_items=MAX_SELECTED,
                css_classes=["lab-strategies"],
            )
        )
        self.platform = at_once(
            pn.widgets.RadioButtonGroup(
                options=self._platform_options(),
                value=self.store.platform,
                css_classes=["lab-platform"],
            )
        )
        window = self.slice.bounds
        self.dates = (
            pn.widgets.DateRangeSlider(
                start=window[0],
                end=window[1],
                value=window,
                step=1,
                format="%Y-%m-%d",
                disabled=window[0] is None,
                css_classes=["lab-dates"],
            )
            if window[0] is not None
            else pn.widgets.StaticText(css_classes=["lab-dates"])
        )
        self.breakdown = at_once(pn.widgets.Select(value="none", css_classes=["lab-breakdown"]))
        pn.bind(self._set_language, self.language.param.value, watch=True)
        if isinstance(self.dates, pn.widgets.DateRangeSlider):
            self.dates.param.watch(self._set_dates, "value_throttled")
        self.breakdown.param.watch(self._set_breakdown, "value")
        pn.bind(self._set_selected, self.strategies.param.value, watch=True)
        pn.bind(self._set_platform, self.platform.param.value, watch=True)
        self.store.param.watch(self._sync_runs, ["scratch_runs", "selected"])

        # radio groups show no name: each gets a label pane
        self.language_label = pn.pane.Markdown(margin=(5, 10, 0, 10))
        self.platform_label = pn.pane.Markdown(margin=(5, 10, 0, 10))
        self.heading = pn.pane.Markdown(**{"object": "", "css_classes": ["lab-heading"]})
        # shown while another process writes to the database (readers never wait for it)
        self.writing = pn.pane.Alert(
            "", alert_type="warning", visible=False, css_classes=["lab-writing"]
        )
        self._writer: str | None = None
        self.layouts = {s: pn.panel(v) for s, v in self.views.items()}
        self.tabs = at_once(
            _Tabs(*self._tab_items(), on_open=self._show_tab, stylesheets=[TABS_CSS])
        )
        self._doc = None  # the session's document, once its page is drawn
        self.template = _Template(
            title=" · ".join(t("app.title", lang) for lang in LANGUAGES),
            sidebar=[
                self.language_label,
                self.language,
                self.strategies,
                self.platform_label,
                self.platform,
                self.dates,
                self.breakdown,
            ],
            main=[pn.Column(self.writing, self.heading, self.tabs)],
            sidebar_width=360,
            font=FONT_STACK,
            font_url="",
        )
        self._relabel()
        self._check_writer()
        if pn.state.curdoc is not None:
            doc = pn.state.curdoc
            writes.watch(doc, self._writer_changed, self._check_writer)
            # counted from the page request on: while many pages open at once, none builds
            # ahead; counted until the page's websocket closes, or Bokeh drops a session
            # whose page never connected
            idle.opened(doc)
            doc.on_event(ConnectionLost, lambda event: self._closed(doc))
            doc.on_session_destroyed(lambda context: self._closed(doc))
            pn.state.onload(self._start_building_ahead)
        idle.worked()

    # -- widget -> store ---------------------------------------------------------------
    def _set_language(self, value: str) -> None:
        self.store.language = value
        self._relabel()

    def _set_selected(self, value: list[str]) -> None:
        if self._renaming:
            return
        self.store.selected = list(value)

    def _set_platform(self, value: str) -> None:
        self.store.platform = value

    def _set_window(self) -> None:
        window = run_window(self.store)
        self.slice.bounds = window or (None, None)
        self.slice.dates = window

    def _set_dates(self, event) -> None:
        first, last = event.new
        self.slice.dates = (pd.Timestamp(first).to_pydatetime(), pd.Timestamp(last).to_pydatetime())

    def _set_breakdown(self, event) -> None:
        self.slice.breakdown = event.new

    def _sync_runs(self, *events) -> None:
        """Store -> picker: an edited strategy adds an option and joins the selection."""
        options = self.store.run_options()
        if options != self.strategies.options:
            self.strategies.options = options
        if list(self.strategies.value) != list(self.store.selected):
            self.strategies.value = list(self.store.selected)

    @staticmethod
    def _closed(doc) -> None:
        idle.closed(doc)
        writes.forget(doc)
        busy.forget(doc)

    def _writer_changed(self) -> bool:
        return self.store.writer() != self._writer

    def _check_writer(self) -> None:
        """Show or hide the write-in-progress notice; pick up new runs when a write ends."""
        writer = self.store.writer()
        if writer == self._writer:
            return
        finished = self._writer is not None and writer is None
        self._writer = writer
        self.writing.visible = writer is not None
        self._relabel_writing()
        if finished:
            self.store.refresh_runs()
            self._sync_runs()

    def _relabel_writing(self) -> None:
        if self._writer is not None:
            self.writing.object = html.escape(
                t("app.writing", self.store.language, writer=self._writer)
            )

    def _show_tab(self, active: int) -> None:
        for i, view in enumerate(self.views.values()):
            view.shown = i == active

    # -- hidden tabs built ahead (dashboards/idle.py) --------------------------------------
    def _start_building_ahead(self) -> None:
        idle.worked()  # the page has just been drawn: its user may click at once
        self._doc = doc = pn.state.curdoc
        idle.build_ahead(doc, self._build_ahead)

    def _build_ahead(self) -> bool:
        """Build the next hidden tab, in tab order; whether any is left to build.

        While a writer holds the database, a result not computed before cannot be read:
        building ahead stops, and the tabs are built when opened."""
        hidden = [
            i for i in range(len(self.views)) if i != self.tabs.active and not self.tabs.built(i)
        ]
        if not hidden:
            return False
        try:
            list(self.views.values())[hidden[0]].fresh()
        except lab.StoreBusyError:
            return False
        with frozen():
            self.tabs.build_ahead(hidden[0])
        return len(hidden) > 1

    # -- language ----------------------------------------------------------------------
    def _platform_options(self) -> dict[str, str]:
        return {label("platform", p, self.store.language): p for p in PLATFORM_FILTERS}

    def _relabel(self) -> None:
        lang = self.store.language
        self.heading.object = f"## {t('app.title', lang)}\n{t('app.subtitle', lang)}"
        self.language_label.object = f"**{t('app.language', lang)}**"
        self.strategies.name = t("side.strategies", lang)
        self.platform.options = self._platform_options()
        self.platform_label.object = f"**{t('side.platform_filter', lang)}**"
        self._relabel_writing()
        # the picker shows names: its chips are redrawn with the new language's names
        self._renaming = True
        try:
            self.strategies.value = []
            self.strategies.options = self.store.run_options()
            self.strategies.value = list(self.store.selected)
        finally:
            self._renaming = False
        self.dates.name = t("slice.dates", lang)
        self.breakdown.name = t("slice.breakdown", lang)
        self.breakdown.options = {t(f"slice.{b}", lang): b for b in BREAKDOWNS}
        active = self.tabs.active
        # Tabs keep a rendered tab's title, so renamed tabs get a fresh wrapper (to be
        # built again)
        self.tabs[:] = self._tab_items()
        self.tabs.active = active
        if self._doc is not None:
            idle.build_ahead(self._doc, self._build_ahead)

    def _tab_items(self) -> list[tuple[str, pn.Column]]:
        lang = self.store.language
        return [
            (t(f"section.{s}", lang), pn.Column(layout, css_classes=[f"lab-section-{s}"]))
            for s, layout in self.layouts.items()
        ]


def build(db_path: str | Path | None = None) -> pn.template.FastListTemplate:
    """Build the template of one session over ``db_path`` (default: ``$LAB_DB`` or data/lab.duckdb).

    A missing or unreadable database gives a page that says what to do, in both languages.
    """
    path = db_path or os.environ.get("LAB_DB", str(DEFAULT_DB))
    try:
        return App(path).template
    except lab.StoreError as exc:
        return pn.template.FastListTemplate(
            title=" · ".join(t("app.title", lang) for lang in LANGUAGES),
            main=[
                pn.pane.Alert(
                    "\n\n".join([str(exc), *(t("app.no_runs", lang) for lang in LANGUAGES)]),
                    alert_type="warning",
                    css_classes=["lab-no-database"],
                )
            ],
        )


#: Host names the served app answers to, whatever the port.
LOCAL_HOSTS = ("localhost", "127.0.0.1")


#: what a request for a foreign ``Host`` gets instead of the dashboard
REFUSED = "403: this dashboard answers only to localhost (see --allow-host)"


def quiet_closed_sockets(loop, context: dict) -> None:
    """asyncio exception handler: a reply written after its browser page closed is not an
    error of the app (Bokeh already logs "Failed sending message as connection was
    closed"); Tornado's write task would log it again, with a traceback, as an
    unretrieved exception. Every other exception goes to asyncio's default handler."""
    if isinstance(context.get("exception"), websocket.WebSocketClosedError):
        return
    loop.default_exception_handler(context)


class _ForeignHost(routing.Matcher):
    """Matches a request whose ``Host`` header names none of ``allowed``."""

    def __init__(self, allowed: Iterable[str]) -> None:
        self.allowed = tuple(allowed)

    def match(self, request) -> dict | None:
        return None if host_allowed(request.host, self.allowed) else {}


class _RefuseHost(web.RequestHandler):
    def prepare(self) -> None:
        self.set_status(403)
        self.finish(f"{REFUSED}\n")


def _host_rule(hosts: Iterable[str]) -> routing.Rule:
    """A Tornado routing rule that refuses every request whose ``Host`` is not in ``hosts``."""
    return routing.Rule(_ForeignHost(hosts), _RefuseHost)


def served_hosts() -> tuple[str, ...]:
    """Host names plain ``panel serve`` sessions answer to: local ones and ``LAB_ALLOW_HOSTS``."""
    extra = os.environ.get("LAB_ALLOW_HOSTS", "")
    return (*LOCAL_HOSTS, *(h.strip() for h in extra.split(",") if h.strip()))


def refusal() -> pn.pane.Markdown:
    """The page a session for a foreign ``Host`` gets: no data, no database opened."""
    return pn.pane.Markdown(REFUSED, css_classes=["lab-refused"])


def serve(
    *,
    address: str = "127.0.0.1",
    port: int = 5006,
    allow_hosts: Iterable[str] = (),
    num_procs: int = 1,
    warm: bool = False,
) -> None:
    """Serve the app until interrupted, answering only to local host names and ``allow_hosts``.

    With ``num_procs`` above 1, that many worker processes serve the sessions, behind a
    relay in this process that sends each page's websocket to the worker that drew the
    page (:mod:`dashboards.balancer`). With ``warm`` the model caches are filled once
    before the workers fork, so each starts with every run's default results
    (docs/dashboard-speed.md).

    Example
    -------
    >>> serve(port=5006)  # doctest: +SKIP
    """
    hosts = (*LOCAL_HOSTS, *allow_hosts)
    if warm:
        from dashboards.warm import warm_default

        warm_default()
    if num_procs <= 1:
        server = _start_server(address=address, port=port, public_port=port, hosts=hosts)
        server.io_loop.start()
        return
    from tornado.ioloop import IOLoop

    from dashboards import balancer

    workers = balancer.fork_workers(
        num_procs,
        lambda: _start_server(address="127.0.0.1", port=0, public_port=port, hosts=hosts),
    )
    relay = balancer.relay_app(
        balancer.Balancer(workers),
        hosts=hosts,
        app_paths=["/app"],
        rules=[_host_rule(hosts)],
    )
    relay.listen(port, address)
    loop = IOLoop.current()
    loop.asyncio_loop.set_exception_handler(quiet_closed_sockets)
    balancer.watch_workers(workers, loop)
    print(f"Dashboard at http://{address}:{port}/app ({num_procs} worker processes)", flush=True)
    loop.start()


def _start_server(*, address: str, port: int, public_port: int, hosts: tuple[str, ...]):
    """A started Panel server of :func:`build` on ``address:port`` (0: a free port) that
    answers only to ``hosts``, for pages and websockets reached at ``public_port``."""
    server = pn.serve(
        {"app": build},  # at /app, as `panel serve dashboards/app.py` serves it
        address=address,
        port=port,
        websocket_origin=[f"{h}:{public_port}" for h in hosts],
        show=False,
        start=False,
        verbose=port != 0,  # a worker's own port is no address for people
        # Tornado gzips pages and scripts for browsers that accept it: the page's 3.6 MB
        # of scripts are ~1 MB on the wire, for users far from the server
        compress_response=True,
        # Bokeh drops a session whose websocket has not come within 15 s; twenty pages
        # opened at once take longer than that, and a page that then connects gets a
        # session built anew, unstyled, its stylesheets at Panel's CDN. A session waits
        # as long as the relay keeps its page's token.
        unused_session_lifetime_milliseconds=PENDING_S * 1000,
    )
    # Bokeh has no public hook for a Host check: a first routing rule refuses foreign
    # hosts before any page, static file or websocket handler sees the request
    server._tornado.default_router.rules.insert(0, _host_rule(hosts))
    server._tornado.resources = _page_resources(server._tornado.resources)
    # Panel points a stylesheet at its page's copy through the model's document, and at
    # its CDN when the model has none: the models of a hidden tab (built ahead, or shown
    # once) have none, so a language switch repointed stylesheets they share with the
    # page at cdn.holoviz.org, which the browser then fetched. The fallback is the
    # server's own copy here.
    panel.reactive.CDN_DIST = LOCAL_DIST
    server.io_loop.asyncio_loop.set_exception_handler(quiet_closed_sockets)
    server.start()
    return server


def _page_resources(resources: Callable[..., Resources]) -> Callable[..., Resources]:
    """The server's ``resources`` method with the page's BokehJS bundles only."""

    def trimmed(absolute_url: str | bool | None = None) -> Resources:
        return resources(absolute_url).clone(components=list(BOKEH_COMPONENTS))

    return trimmed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the coupon lab dashboard.")
    parser.add_argument("--address", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5006")))
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        help="another host name the app may be reached by (repeatable)",
    )
    parser.add_argument(
        "--num-procs", type=int, default=1, help="worker processes sharing the port (default 1)"
    )
    parser.add_argument(
        "--warm", action="store_true", help="fill the model caches before taking requests"
    )
    args = parser.parse_args(argv)
    serve(
        address=args.address,
        port=args.port,
        allow_hosts=args.allow_host,
        num_procs=args.num_procs,
        warm=args.warm,
    )


if pn.state.served:
    # plain `panel serve`: no routing rule checks Host (serve() adds one), so each session
    # checks the Host of the page request that opened it (DNS rebinding)
    host = str(pn.state.headers.get("Host", ""))
    if host_allowed(host, served_hosts()):
        build().servable()
    else:
        print(f"refused a session for Host {host[:100]!r} (not a local name)", file=sys.stderr)
        refusal().servable()
elif __name__ == "__main__":
    main()
