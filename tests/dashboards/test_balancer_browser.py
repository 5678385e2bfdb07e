"""In a browser: the app served by two worker processes (``make dashboard``'s way) draws
every page whole. Without the relay, a page whose websocket reached the other worker
kept an empty template (its roots named models of a document built elsewhere) and
lost its styling."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboards.local import CHROMIUM, CHROMIUM_ARGS, serve, stop

pytestmark = pytest.mark.browser

PAGES = 6
# the template's root elements, and how many of them hold a model of the page's document
ROOTS = """() => {
  const roots = [...document.querySelectorAll('[data-root-id]')].map(e => e.getAttribute('data-root-id'));
  const drawn = new Set(Object.keys(window.Bokeh.index));
  return [roots.length, roots.filter(id => drawn.has(id)).length];
}"""


def test_every_page_of_two_workers_is_drawn_in_its_template(test_db, tmp_path):
    from playwright import sync_api

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make chromium`"
    log = tmp_path / "serve.log"
    proc, url = serve(test_db, log=log, timeout=120, flags=("--num-procs", "2"))
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
            # pages stay open, so the relay spreads them over both workers
            pages = [
                browser.new_page(viewport={"width": 1280, "height": 900}) for _ in range(PAGES)
            ]
            for page in pages:
                page.goto(url)
                page.wait_for_selector("#comparison-table", timeout=60_000)
            counts = [page.evaluate(ROOTS) for page in pages]
            browser.close()
    finally:
        stop(proc)
    assert all(roots > 0 for roots, _ in counts), counts
    assert counts == [[roots, roots] for roots, _ in counts]
    assert "Traceback" not in log.read_text()
