"""Each page's busy indicator shows its own session's work, not its neighbours'.

Panel keeps one ``busy`` flag per process and passes it to the indicator of every
session (``pn.state.sync_busy``): a filter change in one session sent two messages to
every other page of its worker, and each of those browsers restyled its spinner. With
20 pages open, 10 a worker, one page's Funnel filter change cost the other pages'
renderers ~50 ms of CPU together and Chromium's GPU process ~25 ms, about twice what the
changed page cost (docs/dashboard-speed.md). Here one watcher per process passes the
flag to the indicator of the document whose callback runs; when no callback runs any
more, every indicator left on is cleared.

Example
-------
>>> from bokeh.document import Document
>>> import panel as pn
>>> doc, spinner = Document(), pn.indicators.LoadingSpinner()
>>> track(doc, spinner); forget(doc)
"""

from __future__ import annotations

import weakref

import panel as pn

#: document -> its page's indicator
_indicators: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_watching = False


def track(doc, indicator) -> None:
    """Show only ``doc``'s own work on ``indicator`` (taken out of Panel's sync)."""
    global _watching
    if indicator in pn.state._indicators:
        pn.state._indicators.remove(indicator)
    _indicators[doc] = indicator
    if not _watching:
        pn.state.param.watch(_busy_changed, "busy")
        _watching = True


def forget(doc) -> None:
    """Stop passing the busy flag to ``doc``'s page."""
    _indicators.pop(doc, None)


def _busy_changed(event) -> None:
    if event.new:
        # Panel sets the flag inside the callback of the session it works for (none
        # for work outside a session, which no page shows)
        doc = pn.state.curdoc
        indicator = _indicators.get(doc) if doc is not None else None
        if indicator is not None:
            indicator.value = True
        return
    for indicator in list(_indicators.values()):  # nothing runs in the process any more
        if indicator.value:
            indicator.value = False
