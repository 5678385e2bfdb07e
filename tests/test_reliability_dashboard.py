"""The served dashboard under attack: stored script injection and DNS rebinding.

Issue 19, points 0 and 4. The app is served the way ``make dashboard`` serves it
(``dashboards.local.serve``) over a database holding a simulated run and a Tianchi
import whose file name, and so its run label, is an ``<img onerror>`` payload.
"""

from __future__ import annotations

import http.client
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest

import lab
from dashboards.local import CHROMIUM, CHROMIUM_ARGS, serve
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


HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
"""
PATHS = ("/app", "/static/js/bokeh.min.js", "/static/extensions/panel/panel.min.js")


def _timed(url: str, path: str) -> float:
    port = urllib.parse.urlsplit(url).port
    start = time.monotonic()
    assert _request(url, path, {"Host": f"127.0.0.1:{port}"}) == 200
    return time.monotonic() - start


def test_readers_never_wait_for_a_writer(served):
    """While another process holds the write lock, pages and static files answer about
    as fast as without it, and the page says a write is in progress."""
    from playwright import sync_api

    url, _, db = served
    for path in PATHS:
        _timed(url, path)  # warm the server's caches
    free = {path: max(_timed(url, path) for _ in range(3)) for path in PATHS}
    writer = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db), "30"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "holding"
        held = {path: max(_timed(url, path) for _ in range(3)) for path in PATHS}
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
    finally:
        writer.kill()
        writer.wait()
    for path in PATHS:
        assert held[path] < free[path] + 1.0, (path, free[path], held[path])
    assert "write is in progress" in text and f"PID {writer.pid}" in text
