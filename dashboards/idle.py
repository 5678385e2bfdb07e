"""When a worker process may build its sessions' hidden tabs ahead of a click.

A tab's first open costs ~0.2-0.5 s of Python (HoloViews building its Bokeh models),
then the browser's drawing. Built ahead, while a stakeholder reads the Overview or the
browser draws the last tab opened, a click only sends the tab's models
(docs/dashboard-speed.md).

Building ahead spends CPU that the sessions' own clicks need when many people use the
dashboard, so a process builds ahead only while it serves at most :data:`MAX_SESSIONS`
live sessions, one tab at a time, and only once :data:`IDLE_S` seconds have passed since
a user of the process last asked for something (a page, a filter, a tab). With more
sessions, tabs are built when opened. A session counts as live from its page's first
drawing until Bokeh discards it (up to ~30 s after its page closed).

Example
-------
>>> worked(); may_build_ahead()
False
"""

from __future__ import annotations

import time

#: at most this many live sessions in the process for it to build tabs ahead
MAX_SESSIONS = 3
#: seconds since a user's last request before a tab is built ahead
IDLE_S = 0.3
#: how often a session with tabs left to build asks whether the process is idle
POLL_MS = 100

_last_work = 0.0
_live: set[int] = set()


def worked() -> None:
    """Record that a user of this process just asked for something (a page, a change)."""
    global _last_work
    _last_work = time.monotonic()


def opened(session: object) -> None:
    """Count ``session`` (any object identifying it, such as its document) as live."""
    _live.add(id(session))


def closed(session: object) -> None:
    """Stop counting ``session`` as live."""
    _live.discard(id(session))


def may_build_ahead() -> bool:
    """Whether a hidden tab may be built now: few live sessions, none of them waiting."""
    return len(_live) <= MAX_SESSIONS and time.monotonic() - _last_work >= IDLE_S
