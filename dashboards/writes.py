"""Tell each session of the process when another process starts or stops writing the database.

One timer per process asks every :data:`POLL_MS` whether any session's answer changed
(``DataStore.writer`` asks DuckDB at most once a second for all of them, ~15 ms), and
runs that session's update in its document's lock only then. A Panel periodic callback
per session asked once per session and toggled each page's busy indicator at every call,
busy or not: two websocket messages per page every two seconds, and a restyle in each
browser (with 10 pages open, 9 % of a worker's time went to those callbacks).

Example
-------
>>> watched()
0
"""

from __future__ import annotations

from collections.abc import Callable

from panel.io.state import set_curdoc
from tornado.ioloop import PeriodicCallback

#: how often the process asks whether another process is writing to the database
POLL_MS = 2_000

#: document -> (whether its session's notice is out of date, the update that fixes it)
_sessions: dict = {}
_timer: PeriodicCallback | None = None


def watch(doc, changed: Callable[[], bool], update: Callable[[], None]) -> None:
    """Run ``update`` in ``doc``'s lock whenever ``changed()`` says the writer changed,
    until :func:`forget` (the timer starts with the first session)."""
    global _timer
    _sessions[doc] = (changed, update)
    if _timer is None or not _timer.is_running():
        _timer = PeriodicCallback(_tick, POLL_MS)
        _timer.start()


def forget(doc) -> None:
    """Stop watching for ``doc``'s session (its page closed); the timer stops with the last."""
    _sessions.pop(doc, None)
    if not _sessions and _timer is not None:
        _timer.stop()


def watched() -> int:
    """How many sessions are watched."""
    return len(_sessions)


def _tick() -> None:
    for doc, (changed, update) in list(_sessions.items()):
        if changed():
            doc.add_next_tick_callback(lambda doc=doc, update=update: _run(doc, update))


def _run(doc, update: Callable[[], None]) -> None:
    with set_curdoc(doc):
        update()
