"""Browser tests: drive the served dashboard in headless Chromium (Playwright, sync API).

The tests share one page and run in file order: pick a third strategy, read its numbers,
open the other sections, simulate an edited strategy, download the CSV, switch to 中文.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest

import lab
from dashboards.local import CHROMIUM, CHROMIUM_ARGS
from dashboards.store import model_available
from lab.metrics import campaign_metrics

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ERROR_TEXT = re.compile(r"Traceback|Error|Exception")
# Panel renders into shadow roots, which `inner_text("body")` does not enter
DEEP_TEXT = """() => {
  const out = [];
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) {
      if (child.nodeType === 3) { const text = child.textContent.trim(); if (text) out.push(text); }
      else if (child.nodeType === 11 || (child.nodeType === 1 && !["SCRIPT", "STYLE"].includes(child.tagName))) walk(child);
    }
  };
  walk(document.body);
  return out.join(" | ");
}"""
ADDED = "platform_meituan-s0"
ADDED_NAME = "Meituan style"  # the picker shows names; the run id is on hover


def page_text(page) -> str:
    return page.evaluate(DEEP_TEXT)


def assert_no_error(page) -> None:
    text = page_text(page)
    assert not ERROR_TEXT.search(text), ERROR_TEXT.search(text).group(0)


@pytest.fixture(scope="module")
def page(served_app):
    from playwright import sync_api

    # CI must run these: a missing browser is a failure, not a skip
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make chromium`"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.goto(served_app.url)
        page.wait_for_selector("#comparison-table", timeout=30_000)
        yield page
        browser.close()


def cell(page, metric: str, run: str):
    return page.locator(f'#comparison-table td.kpi[data-metric="{metric}"][data-run="{run}"]')


def tab(page, name: str):
    return page.locator(".bk-tab").filter(has_text=re.compile(f"^{re.escape(name)}$"))


def open_tab(page, name: str) -> None:
    tab(page, name).click()


def test_picking_a_strategy_shows_lab_numbers(page, test_db):
    """Adding a strategy in the picker adds its column, with the numbers lab computes."""
    assert cell(page, "roi", ADDED).count() == 0
    picker = page.locator(".lab-strategies input[type=search]")
    picker.click()
    page.locator(".lab-strategies .choices__item--choice", has_text=ADDED_NAME).click()
    cell(page, "roi", ADDED).wait_for(timeout=20_000)
    store = lab.Store(test_db, read_only=True)
    for run in ("default-s0", "platform_wechat-s0", ADDED):
        total = campaign_metrics(store, run=run, by=None).total.iloc[0]
        for metric in ("redemption_conversion", "roi", "cost_fen"):
            shown = cell(page, metric, run)
            assert float(shown.get_attribute("data-value")) == float(total[metric])
            # formatted by lab's metric dictionary, its definition on hover
            assert shown.inner_text() == lab.metric(metric).format(total[metric], "en")
            assert shown.get_attribute("title") == lab.metric(metric).definition("en")
    assert_no_error(page)


def test_every_section_renders(page):
    for tab, selector in (
        ("Funnel", "#funnel-table"),
        ("Retention", "#retention-table"),
        ("Redemption cycle", "#cycle-table"),
        ("Money and ROI", "#money-table"),
    ):
        open_tab(page, tab)
        page.wait_for_selector(selector, timeout=20_000)
        assert page.locator(f'{selector} td[data-run="{ADDED}"]').count() > 0
    if model_available("experiments.analyze"):
        open_tab(page, "Experiments")
        page.locator("#experiment-table tr.exp-row").first.wait_for(timeout=20_000)
        assert "Arm sizes match the plan" in page_text(page)
    assert_no_error(page)


def test_simulate_an_edited_strategy(page):
    open_tab(page, "Edit a strategy")
    page.locator(".lab-style").get_by_role("button", name="Meituan", exact=True).click()
    page.locator(".lab-simulate button").click()
    page.locator(".lab-status").get_by_text("to the comparison").wait_for(timeout=60_000)
    open_tab(page, "Overview")
    page.locator('#comparison-table td[data-metric="origin"][data-value="edited"]').wait_for(
        timeout=20_000
    )
    assert_no_error(page)


def test_csv_download(page):
    open_tab(page, "Downloads")
    with page.expect_download(timeout=30_000) as info:
        page.locator(".lab-download-csv").get_by_text("Table (CSV)").click()
    frame = pd.read_csv(io.BytesIO(Path(info.value.path()).read_bytes()))
    assert ADDED in frame["run_id"].tolist() and "reported_roi" in frame


def test_screenshot(page, tmp_path):
    """The overview renders to a real picture (README's is of the world `make dashboard`
    builds: test_decision_browser.py::test_readme_screenshot_of_the_dashboard_world)."""
    open_tab(page, "Overview")
    page.wait_for_selector("#comparison-table")
    path = tmp_path / "dashboard.png"
    page.set_viewport_size({"width": 1400, "height": 1350})  # the whole comparison table
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000


def test_switch_to_chinese(page):
    page.get_by_text("中文", exact=True).click()
    tab(page, "概览").wait_for(timeout=15_000)
    text = page_text(page)
    redemption = lab.metric("redemption_rate").label("zh")  # the dictionary's name
    for label in ("优惠券策略实验室", "显示平台", redemption, "漏斗", "留存"):
        assert label in text
    assert_no_error(page)
    page.get_by_text("English", exact=True).click()
    tab(page, "Overview").wait_for(timeout=15_000)


def test_server_log_is_clean(served_app, page):
    log = served_app.log.read_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-2000:]
