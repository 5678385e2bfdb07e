"""Server time of a filter change per tab: chart data written in place against HoloViews' update.

A platform filter change on a tab replaces its charts' data. :class:`dashboards.views.LiveChart`
with ``data_only`` writes the new data, limits and title straight into the plots' Bokeh
sources; without it, HoloViews updates the plots through a ``Pipe`` (the dashboard's way
until 2026-12-07). This times both in one process, on the dashboard benchmark's world
(4 runs x ``--users`` users, built once by :mod:`benchmarks.bench_dashboard`), with the
page's App in a Bokeh document as in a served session: per tab, after every platform has
been computed once (the results are cached, as on a warmed server), the two ways take
turns over ``--rounds``, each timing ``--changes`` platform changes (median). The figure
is the median of the rounds' medians. The browser's part is not included:
:mod:`benchmarks.bench_dashboard_ab` times the whole change in Chromium.

Run from the repository root::

    python -m benchmarks.bench_chart_updates [--rounds 3] [--changes 12]

Writes ``benchmarks/results/chart_updates.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from benchmarks._common import write_result
from benchmarks.bench_dashboard import build_world

TABS = ("funnel", "retention", "cycle", "money")
PLATFORMS = ("wechat", "alipay", "meituan", "all")


def live_charts(view) -> list:
    """The view's LiveCharts that can write data in place (ChartGrid's included)."""
    from dashboards.views import ChartGrid, LiveChart

    return [
        value
        for value in vars(view).values()
        if isinstance(value, LiveChart | ChartGrid) and value.data_only
    ]


def set_mode(charts: list, data_only: bool) -> None:
    from dashboards.views import ChartGrid

    for chart in charts:
        chart.data_only = data_only
        for inner in chart.charts if isinstance(chart, ChartGrid) else []:
            inner.data_only = data_only


def time_changes(app, changes: int) -> float:
    """Median seconds of ``changes`` platform changes (after one untimed change)."""
    app.platform.value = "all" if app.platform.value != "all" else "wechat"
    times = []
    for i in range(changes):
        start = time.perf_counter()
        app.platform.value = PLATFORMS[i % len(PLATFORMS)]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--changes", type=int, default=12)
    args = parser.parse_args()

    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from dashboards.app import App

    db = build_world(args.users, args.days)
    load_start = os.getloadavg()[0]
    doc = Document()
    tabs = {}
    with set_curdoc(doc):
        app = App(db)
        app.template.server_doc(doc)
        for tab in TABS:
            app.tabs.active = list(app.views).index(tab)
            for platform in PLATFORMS:  # every result computed and cached once
                app.platform.value = platform
            charts = live_charts(app.views[tab])
            rounds: dict[str, list[float]] = {"holoviews": [], "data_written": []}
            for r in range(args.rounds):
                modes = (
                    ("holoviews", "data_written") if r % 2 == 0 else ("data_written", "holoviews")
                )
                for mode in modes:
                    set_mode(charts, mode == "data_written")
                    rounds[mode].append(time_changes(app, args.changes))
            old = statistics.median(rounds["holoviews"])
            new = statistics.median(rounds["data_written"])
            tabs[tab] = {
                "holoviews_ms": round(1000 * old, 1),
                "data_written_ms": round(1000 * new, 1),
                "data_written_vs_holoviews": round(new / old, 2),
                "rounds_holoviews_ms": [round(1000 * s, 1) for s in rounds["holoviews"]],
                "rounds_data_written_ms": [round(1000 * s, 1) for s in rounds["data_written"]],
            }
            print(f"{tab:10s} HoloViews {1000 * old:6.1f} ms  data written {1000 * new:6.1f} ms")
    write_result(
        "chart_updates",
        {
            "world": f"4 runs x {args.users:,} users, {args.days} days; the page's first two runs",
            "measured": "server time of a platform filter change on the open tab, in process "
            "(results cached), median of the rounds' medians",
            "rounds": args.rounds,
            "changes_per_round": args.changes,
            "tabs": tabs,
            "load_average_start": round(load_start, 1),
            "load_average_end": round(os.getloadavg()[0], 1),
        },
    )


if __name__ == "__main__":
    main()
