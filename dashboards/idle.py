"""Build sessions' hidden tabs ahead of a click while their worker process is idle.

A tab's first open costs ~0.2-0.5 s of Python (HoloViews building its Bokeh models),
then the browser's drawing. Built ahead, while a stakeholder reads the Overview or the
browser draws the last tab opened, a click only sends the tab's models
(docs/dashboard-speed.md).

Building ahead spends CPU that the sessions' own clicks need when many people use the
dashboard, so a process builds ahead only while it serves at most :data:`MAX_SESSIONS`
live sessions, one tab at a time, and only once :data:`IDLE_S` seconds have passed since
a user of the process last asked for something (a page, a filter, a tab). With more
sessions, tabs are built when opened. A session counts as live from its page request
until its websocket closes (or, for a page that never connected, until Bokeh drops it),
so while many pages open at once none of them builds ahead.

One timer per process asks, every :data:`POLL_MS`, whether a step may run; a step runs
in its session's document lock. (A Panel periodic callback per session would toggle
each page's busy indicator ten times a second: a message each.)

Example
-------
>>> worked(); may_build_ahead()
False
"""

from __future__ import annotations

import time
from collections.abc import Callable

from panel.io.state import set_curdoc
from tornado.ioloop import PeriodicCallback

#: at most this many live sessions in the process for it to build tabs ahead
MAX_SESSIONS = 3
#: seconds since a user's last request before a tab is built ahead
IDLE_S = 0.3
#: how often the process asks whether a step may run
POLL_MS = 100

_last_work = 0.0
_live: set[int] = set()
#: sessions with tabs left to build: document -> step (builds one tab; False when done)
_waiting: dict = {}
_timer: PeriodicCallback | None = None


def worked() -> None:
    """Record that a user of this process just asked for something (a page, a change)."""
    global _last_work
    _last_work = time.monotonic()


def opened(session: object) -> None:
    """Count ``session`` (any object identifying it, such as its document) as live."""
    _live.add(id(session))


def closed(session: object) -> None:
    """Stop counting ``session`` as live, and forget its waiting steps."""
    _live.discard(id(session))
    _waiting.pop(session, None)


def may_build_ahead() -> bool:
    """Whether a hidden tab may be built now: few live sessions, none of them waiting."""
    return len(_live) <= MAX_SESSIONS and time.monotonic() - _last_work >= IDLE_S


def build_ahead(doc, step: Callable[[], bool]) -> None:
    """Run ``step`` in ``doc``'s lock whenever the process is idle, until it returns False."""
    global _timer
    _waiting[doc] = step
    if _timer is None or not _timer.is_running():
        _timer = PeriodicCallback(_tick, POLL_MS)
        _timer.start()


def _tick() -> None:
    if not _waiting:
        _timer.stop()
        return
    if not may_build_ahead():
        return
    doc = next(iter(_waiting))
    step = _waiting.pop(doc)
    worked()  # no second step before this one ran
    doc.add_next_tick_callback(lambda: _run(doc, step))


def _run(doc, step: Callable[[], bool]) -> None:
    with set_curdoc(doc):
        more = step()
    worked()  # the next step waits IDLE_S after this one, as after a user's request
    if more:
        build_ahead(doc, step)
