"""Tests of dashboards/local.py's reading of the server log (no server needed)."""

from dashboards.local import app_tracebacks

CLOSED_WRITE = """ERROR:tornado.application:Uncaught exception GET /app/ws (127.0.0.1)
Traceback (most recent call last):
  File "tornado/websocket.py", line 1108, in wrapper
    raise WebSocketClosedError()
tornado.websocket.WebSocketClosedError
"""
# Bokeh asserts that a connection has its session; a message or a second close that
# arrives after the page's websocket went fails it
DETACHED = """ERROR:bokeh.server.protocol_handler:error handling message
 message: Message 'PATCH-DOC' content: {'events': []}
 error: AssertionError()
Traceback (most recent call last):
  File "bokeh/server/connection.py", line 65, in session
    assert self._session is not None
           ^^^^^^^^^^^^^^^^^^^^^^^^^
AssertionError
"""
APP_ERROR = """ERROR:bokeh.server.protocol_handler:error handling message
Traceback (most recent call last):
  File "dashboards/views.py", line 10, in refresh
    assert rows, "no rows"
AssertionError: no rows
"""
WARNING = "WARNING:bokeh.server.views.ws:Failed sending message as connection was closed\n"


def test_closed_pages_are_not_the_apps_errors():
    assert app_tracebacks(WARNING + CLOSED_WRITE + DETACHED + WARNING) == 0


def test_each_error_of_the_app_counts_beside_closed_pages():
    """One log entry per level-name line: a closed page's entry beside the app's error
    does not hide it (the whole log was read as one entry before)."""
    log = CLOSED_WRITE + APP_ERROR + WARNING + DETACHED + APP_ERROR
    assert app_tracebacks(log) == 2


def test_panel_serves_timestamped_entries():
    stamped = "".join(
        f"2026-12-06 21:0{i}:00,000 {entry}" for i, entry in enumerate([CLOSED_WRITE, APP_ERROR])
    )
    assert app_tracebacks(stamped) == 1
