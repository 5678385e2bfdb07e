"""The served dashboard under attack: stored script injection and DNS rebinding.

Issue 19, points 0 and 4. The app is served the way ``make dashboard`` serves it
(``dashboards.local.serve``) over a database holding a simulated run and a Tianchi
import whose file name, and so its run label, is an ``<img onerror>`` payload.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest

import lab
from dashboards.local import CHROMIUM, CHROMIUM_ARGS, free_port, serve
from lab.ingest import import_logs
from lab.world import simulate

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
PAYLOAD = "<img src=x onerror=window.__xss=1>"
# every text node of the page, shadow roots included (Panel renders into them)
DEEP_TEXT = """() => { const out = [];
  const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
    for (const c of n.childNodes) { if (c.nodeType === 3) out.push(c.textContent);
      else if (c.nodeType === 1 || c.nodeType === 11) walk(c); } };
  walk(document.body); return out.join(' '); }"""


# The served app's process records every time.sleep called from the lab's or the
# dashboard's code (the only way their code waits, e.g. retrying a locked file)
SLEEP_HOOK = """
import os, sys, time
_sleep = time.sleep
_log = os.environ["LAB_SLEEP_LOG"]
_roots = tuple(os.environ["LAB_SLEEP_ROOTS"].split(os.pathsep))
def sleep(seconds):
    caller = sys._getframe(1)
    if caller.f_code.co_filename.startswith(_roots):
        with open(_log, "a") as out:
            out.write(f"{caller.f_code.co_filename}:{caller.f_lineno} slept {seconds}\\n")
    _sleep(seconds)
time.sleep = sleep
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    scratch = Path(tempfile.mkdtemp(prefix="lab-reliability-"))
    db = scratch / "lab.duckdb"
    store = lab.Store(db)
    simulate("default", store=store, users=1_000, days=7, pre_days=7, seed=0, progress=False)
    evil = scratch / f"{PAYLOAD}.csv"
    shutil.copy(ROOT / "tests" / "data" / "tianchi_o2o_sample.csv", evil)
    run = import_logs(evil, store=store)
    assert store.run(run)["label"] == evil.name
    hook = scratch / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SLEEP_HOOK)
    sleeps = scratch / "sleeps.log"  # read by test_readers_never_wait_for_a_writer
    sleeps.touch()
    with pytest.MonkeyPatch.context() as env:
        path = os.environ.get("PYTHONPATH")
        env.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(hook), path])))
        env.setenv("LAB_SLEEP_LOG", str(sleeps))
        roots = (ROOT / "lab", ROOT / "dashboards")
        env.setenv("LAB_SLEEP_ROOTS", os.pathsep.join(f"{r}{os.sep}" for r in roots))
        proc, url = serve(db, log=scratch / "panel.log", timeout=90)
    yield url, run, db
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(scratch, ignore_errors=True)


def _request(url: str, path: str, headers: dict) -> int:
    parts = urllib.parse.urlsplit(url)
    con = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        con.request("GET", path, headers=headers)
        return con.getresponse().status
    finally:
        con.close()


def test_a_label_holding_markup_runs_no_script(served):
    from playwright import sync_api

    url, run, _ = served
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make chromium`"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_selector(".lab-strategies", timeout=60_000)
        # open the picker so every option (the imported run's label among them) is drawn
        page.locator(".lab-strategies input").first.click()
        page.wait_for_timeout(1_500)
        shown = page.evaluate(DEEP_TEXT)
        xss = page.evaluate("() => window.__xss")
        browser.close()
    assert xss is None, "a run label ran a script"
    assert PAYLOAD in shown, "the label is shown as text"


@pytest.mark.parametrize("path", ["/app", "/static/js/bokeh.min.js"])
def test_foreign_host_is_refused(served, path):
    url, _, _ = served
    port = urllib.parse.urlsplit(url).port
    assert _request(url, path, {"Host": f"evil.example:{port}"}) == 403
    assert _request(url, path, {"Host": f"127.0.0.1:{port}"}) == 200
    assert _request(url, path, {"Host": f"localhost:{port}"}) == 200


def test_rebinding_websocket_is_refused(served):
    url, _, _ = served
    port = urllib.parse.urlsplit(url).port
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    evil = f"evil.example:{port}"
    # DNS rebinding: the browser sends the attacker's name as Host and Origin
    assert _request(url, "/app/ws", {**upgrade, "Host": evil, "Origin": f"http://{evil}"}) == 403
    # a local Host with a foreign page's Origin is refused by the origin check
    local = {**upgrade, "Host": f"127.0.0.1:{port}", "Origin": f"http://{evil}"}
    assert _request(url, "/app/ws", local) == 403


@pytest.fixture(scope="module")
def panel_served(served):
    """The same database under plain `panel serve dashboards/app.py` (no routing rule)."""
    _, _, db = served
    port = free_port()
    log = db.parent / "panel-serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "panel",
                "serve",
                "dashboards/app.py",
                "--address",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=dict(os.environ, LAB_DB=str(db)),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/app"
    deadline = time.monotonic() + 90
    while _page(url, {"Host": f"127.0.0.1:{port}"})[0] != 200:
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.5)
    yield url, log
    proc.terminate()
    proc.wait(timeout=10)


def _page(url: str, headers: dict) -> tuple[int | None, str]:
    parts = urllib.parse.urlsplit(url)
    con = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        con.request("GET", parts.path, headers=headers)
        response = con.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    except OSError:
        return None, ""
    finally:
        con.close()


def _pulled_classes(url: str, session_id: str, ws_headers: dict | None = None) -> set[str]:
    """The lab's CSS classes in the document of session ``session_id``, pulled over the
    websocket (sent with ``ws_headers``; the session is created if it does not exist)."""
    import panel  # noqa: F401  (Panel's models, for the pulled document)
    from bokeh.client import connection, pull_session
    from tornado.httpclient import HTTPRequest

    plain = connection.HTTPRequest
    connection.HTTPRequest = lambda u: HTTPRequest(u, headers=ws_headers or {})
    try:
        with pull_session(session_id=session_id, url=url) as session:
            models = session.document.models
            classes = {c for m in models for c in getattr(m, "css_classes", [])}
    finally:
        connection.HTTPRequest = plain
    return {c for c in classes if c.startswith("lab-")}


def _page_session(url: str, host: str) -> str:
    """The id of the session a page request with ``Host: host`` opened (in its token)."""
    from bokeh.util.token import get_session_id

    status, html = _page(url, {"Host": host})
    assert status == 200
    token = re.search(r'"token":\s*"([^"]+)"', html) or re.search(r"token=([\w.-]+)", html)
    return get_session_id(token.group(1))


def test_plain_panel_serve_refuses_a_rebinding_page(panel_served):
    """DNS rebinding against `panel serve dashboards/app.py`: a session opened for a
    foreign Host, by the page or by a websocket whose Origin matches that Host (Tornado
    lets those through as same-origin), holds the refusal and none of the dashboard.

    The page itself only carries a token: the document is pulled over the websocket,
    here from a local client to see what the foreign request's session holds."""
    from bokeh.util.token import generate_session_id

    url, log = panel_served
    port = urllib.parse.urlsplit(url).port
    evil = f"evil.example:{port}"
    local = _pulled_classes(url, _page_session(url, f"localhost:{port}"))
    assert {"lab-strategies", "lab-heading"} <= local and "lab-refused" not in local
    assert _pulled_classes(url, _page_session(url, evil)) == {"lab-refused"}
    rebinding = {"Host": evil, "Origin": f"http://{evil}"}
    assert _pulled_classes(url, generate_session_id(), rebinding) == {"lab-refused"}
    assert "refused a session for Host 'evil.example" in log.read_text()


HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
"""
PATHS = ("/app", "/static/js/bokeh.min.js", "/static/extensions/panel/panel.min.js")


def test_readers_never_wait_for_a_writer(served):
    """While another process holds the write lock, pages and static files are answered
    without the server's code ever waiting (no lock retries, which used to sleep in the
    event loop) and while the lock is still held, and the page says a write is in
    progress. The server's sleeps are recorded by its hook (``SLEEP_HOOK``), not timed:
    a loaded machine slows every request alike, a reader that waits sleeps."""
    from playwright import sync_api

    url, _, db = served
    port = urllib.parse.urlsplit(url).port
    local = {"Host": f"127.0.0.1:{port}"}
    for path in PATHS:  # the last consistent state the server falls back on
        assert _request(url, path, local) == 200
    sleeps = db.parent / "sleeps.log"
    before = sleeps.stat().st_size
    writer = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db), "300"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "holding"
        # the file changes, as under an importing writer: cached results no longer match
        os.utime(db)
        for path in PATHS:
            for _ in range(3):
                assert _request(url, path, local) == 200
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
            page = browser.new_page()
            page.goto(url)
            page.locator(".lab-writing").wait_for(state="visible", timeout=30_000)
            page.wait_for_function(f"() => ({DEEP_TEXT})().includes('write is in progress')")
            text = page.evaluate(DEEP_TEXT)
            # the last consistent state is still shown: the overview table has its runs
            page.wait_for_selector("#comparison-table", timeout=30_000)
            browser.close()
        # every answer above came while the lock was held: it was not waited out
        holder = lab.Store(db, read_only=True, lock_timeout=0).writer()
        assert writer.poll() is None and holder and f"PID {writer.pid}" in holder
    finally:
        writer.kill()
        writer.wait()
    with sleeps.open() as f:
        f.seek(before)
        slept = f.read()
    assert slept == "", f"the server waited on the writer:\n{slept}"
    assert "write is in progress" in text and f"PID {writer.pid}" in text
