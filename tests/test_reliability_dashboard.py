"""The served dashboard under attack: stored script injection and DNS rebinding.

Issue 19, points 0 and 4. The app is served the way ``make dashboard`` serves it
(``dashboards.local.serve``) over a database holding a simulated run and a Tianchi
import whose file name, and so its run label, is an ``<img onerror>`` payload.
"""

from __future__ import annotations

import http.client
import shutil
import subprocess
import tempfile
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
    yield url, run
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

    url, run = served
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make chromium`"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_selector(".lab-strategies", timeout=60_000)
        # open the picker so every option (the imported run's label among them) is drawn
        page.locator(".lab-strategies input").first.click()
        page.wait_for_timeout(1_500)
        shown = page.evaluate(
            """() => { const out = [];
              const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
                for (const c of n.childNodes) { if (c.nodeType === 3) out.push(c.textContent);
                  else if (c.nodeType === 1 || c.nodeType === 11) walk(c); } };
              walk(document.body); return out.join(' '); }"""
        )
        xss = page.evaluate("() => window.__xss")
        browser.close()
    assert xss is None, "a run label ran a script"
    assert PAYLOAD in shown, "the label is shown as text"


@pytest.mark.parametrize("path", ["/app", "/static/js/bokeh.min.js"])
def test_foreign_host_is_refused(served, path):
    url, _ = served
    port = urllib.parse.urlsplit(url).port
    assert _request(url, path, {"Host": f"evil.example:{port}"}) == 403
    assert _request(url, path, {"Host": f"127.0.0.1:{port}"}) == 200
    assert _request(url, path, {"Host": f"localhost:{port}"}) == 200


def test_rebinding_websocket_is_refused(served):
    url, _ = served
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
