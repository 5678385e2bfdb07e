"""Browser tests of the decision: the Overview's verdict and KPI cards, experiments read
as ship lines, the editor's size and selection, and every download, in both languages.

Every number read from the page is compared with what ``lab`` computes for the same
runs. The tests share one page and run in file order.
"""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import pandas as pd
import pytest
from test_dashboard_browser import assert_no_error, open_tab, page_text, tab

import lab
from dashboards.local import CHROMIUM, CHROMIUM_ARGS, serve
from dashboards.names import arm_name, experiment_name
from lab.decision import blocker_text, decide, experiment_decision, strategy_outcome

pytestmark = pytest.mark.browser

LANGS = {
    "en": {
        "button": "English",
        "overview": "Overview",
        "experiments": "Experiments",
        "editor": "Edit a strategy",
        "downloads": "Downloads",
        "memo": "Decision memo (HTML, printable)",
        "csv": "Table (CSV)",
        "png": "Figure (PNG)",
        "html": "Figure (HTML)",
        "money": "Money and ROI",
    },
    "zh": {
        "button": "中文",
        "overview": "概览",
        "experiments": "实验",
        "editor": "编辑策略",
        "downloads": "下载",
        "memo": "决策备忘录（HTML，可打印）",
        "csv": "表格（CSV）",
        "png": "图表（PNG）",
        "html": "图表（HTML）",
        "money": "金额与 ROI",
    },
}
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def page(served_app):
    from playwright import sync_api

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make chromium`"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.goto(served_app.url)
        page.wait_for_selector("#kpi-cards", timeout=60_000)
        yield page
        browser.close()


@pytest.fixture(scope="module")
def store(test_db):
    return lab.Store(test_db, read_only=True)


#: text with (zh) or without (en) Chinese characters
IN_LANGUAGE = {"zh": re.compile(r"[\u4e00-\u9fff]"), "en": re.compile(r"^[^\u4e00-\u9fff]+$")}


def language(page, lang: str) -> None:
    page.get_by_text(LANGS[lang]["button"], exact=True).click()
    tab(page, LANGS[lang]["overview"]).wait_for(timeout=15_000)


def verdict_in(page, lang: str) -> str:
    """The verdict once the page shows it in ``lang`` (tabs are redrawn on a switch, so
    the old text can be read for a moment)."""
    from playwright.sync_api import expect

    expect(page.locator("#verdict")).to_have_text(IN_LANGUAGE[lang], timeout=30_000)
    return page.locator("#verdict").inner_text()


def read(locator, *, timeout_s: float = 30.0) -> str:
    """The text of ``locator`` once the page has rendered it. Read until it is not blank:
    a tab opened again redraws its cells, and a wait for text followed by a second read
    could fall between two drawings (a clean-clone run read '' that way)."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = locator.inner_text(timeout=timeout_s * 1000)
        if text.strip() or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def labels(page) -> dict[str, str]:
    """``{run_id: label}`` of the compared strategies, from the KPI cards' titles."""
    out = {}
    for card in page.locator("#kpi-cards .lab-card").all():
        title = read(card.locator("h3"))
        out[card.get_attribute("data-run")] = re.sub(r"\s*(best|最佳)$", "", title)
    return out


def compared(page) -> list[str]:
    return [c.get_attribute("data-run") for c in page.locator("#kpi-cards .lab-card").all()]


def page_outcomes(page, store) -> list:
    """``lab.strategy_outcome`` of the runs the page compares, with the fraud shares it shows."""
    outcomes = []
    for run, label in labels(page).items():
        fraud = page.locator(f'#kpi-cards [data-metric="fraud_share"][data-run="{run}"]')
        share = float(fraud.get_attribute("data-value"))
        outcomes.append(strategy_outcome(store, run=run, label=label, fraud_share=share))
    return outcomes


def blocked_users(store, run: str) -> list[int]:
    """Accounts lab's risk model blocks in ``run`` (the ship line's fraud guardrail)."""
    scores = lab.score_accounts(store, run=run).frame
    return scores.loc[scores["decision"] == "block", "user_id"].tolist()


def shown_decision(page, store):
    """``lab.decide`` over the runs the page compares."""
    return decide(page_outcomes(page, store))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_overview_names_the_winner_lab_computes(page, store, lang):
    language(page, lang)
    open_tab(page, LANGS[lang]["overview"])
    page.wait_for_selector("#verdict")
    decision = shown_decision(page, store)
    verdict = page.locator("#verdict")
    assert verdict.get_attribute("data-winner") == decision.winner
    assert verdict.get_attribute("data-status") == decision.status
    assert verdict.inner_text() == decision.sentence(lang)
    winner = page.locator(".lab-card.winner")
    assert winner.count() == 1 and winner.get_attribute("data-run") == decision.winner
    for run in compared(page):
        inc = lab.campaign_metrics(store, run=run, by=None).incremental
        for key, value in (
            ("gmv_per_cost", inc.gmv_per_cost),
            ("incremental_orders", inc.incremental_orders),
            ("incremental_gmv_per_user", inc.incremental_gmv_per_user_fen),
            ("cost", lab.campaign_metrics(store, run=run, by=None).total["cost_fen"].iloc[0]),
        ):
            shown = page.locator(f'#kpi-cards .kpi-value[data-metric="{key}"][data-run="{run}"]')
            assert float(shown.get_attribute("data-value")) == pytest.approx(value)
            m = lab.metric(key)
            assert shown.inner_text() == m.format(value, lang)
            assert shown.get_attribute("title") == m.definition(lang)
        # every simulated strategy has incremental ROI with its interval in the table
        roi = page.locator(f'#comparison-table td[data-metric="incremental_roi"][data-run="{run}"]')
        assert roi.inner_text() == (
            lab.format_metric("incremental_roi", inc.incremental_roi, lang=lang)
            + " "
            + lab.format_interval("incremental_roi", inc.roi_ci_low, inc.roi_ci_high, lang=lang)
        )
    assert_no_error(page)
    language(page, "en")


def test_goal_and_baseline_change_the_verdict(page, store):
    open_tab(page, "Overview")
    names = labels(page)
    outcomes = page_outcomes(page, store)
    goal = lab.metric("incremental_orders_per_user").label("en")
    page.locator(".lab-goal select").select_option(label=goal)
    page.wait_for_timeout(2000)  # the server recomputes the verdict
    d = decide(outcomes, goal="incremental_orders_per_user")
    assert page.locator("#verdict").get_attribute("data-winner") == d.winner
    assert goal in page.locator("#verdict").inner_text()
    loser = next(r for r in names if r != d.winner)
    page.locator(".lab-baseline select").select_option(label=names[loser])
    page.wait_for_timeout(2000)
    d = decide(outcomes, goal="incremental_orders_per_user", baseline=loser)
    assert names[d.baseline] in page.locator("#verdict").inner_text()
    page.locator(".lab-baseline select").select_option(label="the runner-up")
    page.locator(".lab-goal select").select_option(label=lab.metric("gmv_per_cost").label("en"))
    page.wait_for_timeout(1500)
    assert_no_error(page)


def set_limit(page, css: str, value: str) -> None:
    """Type a guardrail limit into the Overview's input (empty: the default / no limit)."""
    box = page.locator(f"{css} input")
    box.fill(value)
    box.press("Enter")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_breached_guardrail_is_named_in_the_verdict(page, store, lang):
    """Limits between the two strategies' fraud shares, then costs per assigned user: the
    verdict is ``lab.decide``'s with those guardrails and names the strategy over the limit."""
    from playwright.sync_api import expect

    language(page, lang)
    open_tab(page, LANGS[lang]["overview"])
    verdict_in(page, lang)
    names = labels(page)
    outcomes = page_outcomes(page, store)
    shares = {o.run: o.fraud_share for o in outcomes}
    costs = {o.run: o.incremental.cost_per_user_fen for o in outcomes}
    fraud_limit = round(50 * (min(shares.values()) + max(shares.values())), 3)  # percent
    assert 100 * min(shares.values()) < fraud_limit < 100 * max(shares.values())
    set_limit(page, ".lab-max-fraud", str(fraud_limit))
    guardrails = lab.Guardrails(max_fraud_share=fraud_limit / 100)
    d = decide(outcomes, guardrails=guardrails)
    riskier = max(shares, key=shares.get)
    breach = blocker_text(
        "guardrail_fraud", names[riskier], lang, value=shares[riskier], limit=fraud_limit / 100
    )
    expect(page.locator("#verdict")).to_contain_text(breach, timeout=30_000)
    assert page.locator("#verdict").inner_text() == d.sentence(lang)
    assert page.locator("#verdict").get_attribute("data-winner") == str(d.winner)
    set_limit(page, ".lab-max-fraud", "5")
    cost_limit = round((min(costs.values()) + max(costs.values())) / 200, 2)  # yuan
    assert min(costs.values()) < 100 * cost_limit < max(costs.values())
    set_limit(page, ".lab-max-cost", str(cost_limit))
    d = decide(outcomes, guardrails=lab.Guardrails(max_cost_per_user_fen=100 * cost_limit))
    costlier = max(costs, key=costs.get)
    breach = blocker_text(
        "guardrail_cost", names[costlier], lang, value=costs[costlier], limit=100 * cost_limit
    )
    expect(page.locator("#verdict")).to_contain_text(breach, timeout=30_000)
    assert page.locator("#verdict").inner_text() == d.sentence(lang)
    set_limit(page, ".lab-max-cost", "")
    expect(page.locator("#verdict")).not_to_contain_text(breach, timeout=30_000)
    assert page.locator("#verdict").inner_text() == decide(outcomes).sentence(lang)
    assert_no_error(page)
    language(page, "en")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_metric_on_two_tabs_shows_the_same_value(page, lang):
    words = LANGS[lang]
    language(page, lang)
    open_tab(page, words["overview"])
    verdict_in(page, lang)
    run = compared(page)[0]
    overview = {
        m: read(page.locator(f'#comparison-table td[data-metric="{m}"][data-run="{run}"]'))
        for m in ("cost_fen", "incremental_roi")
    }
    open_tab(page, words["money"])
    page.wait_for_selector("#money-table", timeout=30_000)
    for m, text in overview.items():
        assert read(page.locator(f'#money-table td[data-metric="{m}"][data-run="{run}"]')) == text
    open_tab(page, words["overview"])
    gmv = read(
        page.locator(f'#comparison-table td[data-metric="incremental_gmv_fen"][data-run="{run}"]')
    )
    name = labels(page)[run]
    open_tab(page, words["experiments"])
    pick = page.locator(".lab-experiment select")
    pick.wait_for(timeout=30_000)
    pick.select_option(label=f"{name} · {experiment_name('holdout', lang)}")
    page.wait_for_selector('#experiment-decision tr[data-item="incremental_gmv"]', timeout=30_000)
    page.wait_for_timeout(1000)
    shown = read(page.locator('#experiment-decision tr[data-item="incremental_gmv"] td'))
    assert shown == gmv
    assert_no_error(page)
    language(page, "en")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_experiments_read_as_ship_lines(page, store, lang):
    language(page, lang)
    open_tab(page, LANGS[lang]["overview"])
    verdict_in(page, lang)  # the cards' titles are in `lang` by then
    runs = {label: run for run, label in labels(page).items()}
    # experiments and arms are shown by name, in `lang`
    ids = {experiment_name(k, lang): k for k in ("holdout", "denomination", "aa")}
    open_tab(page, LANGS[lang]["experiments"])
    pick = page.locator(".lab-experiment select")
    pick.wait_for(timeout=30_000)
    for text in pick.locator("option").all_inner_texts():
        name, shown = text.rsplit(" · ", 1)
        run, experiment = runs[name], ids[shown]
        pick.select_option(label=text)
        page.wait_for_timeout(1500)
        page.wait_for_selector("#ship-line", timeout=30_000)
        d = experiment_decision(
            store, run=run, experiment=experiment, blocked_users=blocked_users(store, run)
        )
        line = page.locator("#ship-line")
        assert line.get_attribute("data-status") == d.status
        names = {a: arm_name(a, lang) for a in (d.arm, d.control)}
        assert line.inner_text() == d.sentence(lang, arm_names=names)
        assert page.locator('#experiment-decision tr[data-item="mde"] td').get_attribute(
            "data-value"
        ) == repr(d.mde)
        for item in (
            "goal",
            "cuped",
            "can_stop",
            "srm_ok",
            "guardrail_cost",
            "guardrail_aov",
            "guardrail_fraud_share",
        ):
            assert page.locator(f'#experiment-decision tr[data-item="{item}"]').count() == 1
        if experiment == "holdout":
            # coupon metrics have no counterpart in the no-coupon arm: not a comparison
            for metric in ("redeemed", "redeemed_amount", "aov"):
                assert page.locator(f'#experiment-table tr[data-metric="{metric}"]').count() == 0
            assert page.locator('#experiment-decision tr[data-item="incremental_roi"]').count() == 1
    assert_no_error(page)
    language(page, "en")


def test_editor_simulates_at_the_compared_size_and_says_what_it_replaced(page, store):
    open_tab(page, "Edit a strategy")
    sizes = page.locator(".lab-world-size")
    n_users = int(store.run("default-s0")["n_users"])
    same = sizes.get_by_role("button", name=f"as compared ({n_users:,})", exact=True)
    same.wait_for(timeout=20_000)
    assert "bk-active" in same.get_attribute("class")
    for style in ("Alipay", "Mix", "Meituan"):
        page.locator(".lab-style").get_by_role("button", name=style, exact=True).click()
        page.locator(".lab-simulate button").click()
        # the message names the new run by its human name (the run id is on hover)
        done = re.compile(f"Added .*Edited {style} style.* to the comparison")
        page.locator(".lab-status").get_by_text(done).wait_for(timeout=90_000)
    # four strategies at most: the fourth edit says which one made room
    page.locator(".lab-status").get_by_text("made room").wait_for(timeout=5_000)
    open_tab(page, "Overview")
    from playwright.sync_api import expect

    expect(page.locator("#kpi-cards .lab-card")).to_have_count(4, timeout=90_000)
    runs = compared(page)
    edited = [r for r in runs if r.startswith("edited_")]
    assert edited and all(r.endswith(f"_{n_users // 1000}k") for r in edited)
    for run in edited:
        shown = page.locator(f'#kpi-cards .kpi-value[data-metric="gmv_per_cost"][data-run="{run}"]')
        assert shown.count() == 1 and float(shown.get_attribute("data-value")) > 0
    assert "made room" in page_text(page)
    assert_no_error(page)


def test_editor_speaks_chinese_at_the_compared_size(page, store):
    """The editor's size, its message and the new run's name in 中文."""
    from dashboards.i18n import label, t

    language(page, "zh")
    open_tab(page, LANGS["zh"]["editor"])
    n_users = int(store.run("default-s0")["n_users"])
    same = page.locator(".lab-world-size").get_by_role(
        "button", name=t("editor.size_same", "zh", users=f"{n_users:,}"), exact=True
    )
    same.wait_for(timeout=20_000)
    assert "bk-active" in same.get_attribute("class")
    style = label("platform", "wechat", "zh")
    page.locator(".lab-style").get_by_role("button", name=style, exact=True).click()
    page.locator(".lab-simulate button").click()
    name = t("name.edited", "zh", style=style, users=t("name.users_k", "zh", k=n_users // 1000))
    done = t("editor.done", "zh", run=name).replace("**", "")
    page.locator(".lab-status").get_by_text(done).wait_for(timeout=90_000)
    assert_no_error(page)
    language(page, "en")


def _download(page, locator) -> bytes:
    with page.expect_download(timeout=120_000) as info:
        locator.click()
    return Path(info.value.path()).read_bytes()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_decision_memo_holds_the_verdict_and_cards(page, lang):
    language(page, lang)
    words = LANGS[lang]
    open_tab(page, words["overview"])
    verdict = verdict_in(page, lang)
    card_texts = [read(v) for v in page.locator("#kpi-cards .kpi-value").all()]
    open_tab(page, words["downloads"])
    page.wait_for_timeout(2000)  # the tab's buttons are wired once it has rendered
    memo = _download(page, page.locator(".lab-download-memo").get_by_text(words["memo"])).decode()
    assert memo.startswith("<!DOCTYPE html>") and "<script" not in memo
    assert not re.search(r"(src|href)=\"https?://", memo)
    assert verdict in memo.replace("&#x27;", "'").replace("&quot;", '"')
    assert all(text in memo for text in card_texts)
    assert memo.count("data:image/png;base64,") >= 1
    assert_no_error(page)
    language(page, "en")


# (zh: test_downloads_in_chinese, on a fresh page: in the
# browser a second full pass of downloads in one page stops triggering downloads)
@pytest.mark.parametrize("lang", ["en"])
def test_every_table_and_chart_downloads(page, lang):
    language(page, lang)
    open_tab(page, LANGS[lang]["downloads"])
    page.wait_for_timeout(2000)
    tables = page.locator(".lab-table select")
    for value in tables.locator("option").all_inner_texts():
        tables.select_option(label=value)
        page.wait_for_timeout(500)
        frame = pd.read_csv(io.BytesIO(_download(page, page.locator(".lab-download-csv button"))))
        assert len(frame) > 0, value
    figures = page.locator(".lab-figure select")
    options = figures.locator("option").all_inner_texts()
    assert len(options) >= 6  # overview, funnel, retention, cycle, money, experiments
    for value in options:
        figures.select_option(label=value)
        page.wait_for_timeout(500)
        assert _download(page, page.locator(".lab-download-png button"))[:8] == PNG, value
        assert b"<html" in _download(page, page.locator(".lab-download-html button"))[:2000], value
    assert_no_error(page)
    language(page, "en")


def test_server_log_is_clean_after_decisions(served_app, page):
    log = served_app.log.read_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-2000:]


def bokeh_data(html_text: str) -> tuple[str, dict[str, list]]:
    """The text of a standalone Bokeh HTML's document (strings unescaped) and its data
    columns by name, numbers decoded from Bokeh's gzipped base64 arrays."""
    import base64
    import gzip
    import json

    import numpy as np

    script = re.search(
        r'<script type="application/json"[^>]*>(.*?)</script>', html_text, re.S
    ).group(1)
    doc = json.loads(script)
    columns: dict[str, list] = {}

    def walk(node):
        if isinstance(node, dict):
            if node.get("name") == "ColumnDataSource":
                for name, values in node["attributes"]["data"]["entries"]:
                    if isinstance(values, dict) and values.get("type") == "ndarray":
                        raw = base64.b64decode(values["array"]["data"])
                        raw = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
                        values = np.frombuffer(raw, dtype=values["dtype"]).tolist()
                    columns.setdefault(name, []).extend(values)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return json.dumps(doc, ensure_ascii=False), columns


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert data[:8] == PNG and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.fixture(scope="module")
def zh_page(page, served_app):
    """A fresh page for the downloads in 中文 (after a full pass of downloads, a page
    stops triggering new ones), in the same browser."""
    fresh = page.context.browser.new_page(
        viewport={"width": 1400, "height": 1000}, accept_downloads=True
    )
    fresh.goto(served_app.url)
    fresh.wait_for_selector("#kpi-cards", timeout=60_000)
    yield fresh
    fresh.close()


def test_downloads_in_chinese(zh_page, store):
    """In 中文: the CSV of every table parses and holds lab's numbers, every chart's PNG
    is a real picture, the Overview chart's HTML holds the goal values on screen under
    Chinese labels, and the memo holds the verdict and the cards."""
    page, words = zh_page, LANGS["zh"]
    language(page, "zh")
    open_tab(page, words["overview"])
    verdict = verdict_in(page, "zh")
    names = labels(page)
    assert all(IN_LANGUAGE["zh"].search(n) for n in names.values())
    goal = {
        run: float(
            page.locator(
                f'#kpi-cards .kpi-value[data-metric="gmv_per_cost"][data-run="{run}"]'
            ).get_attribute("data-value")
        )
        for run in names
    }
    card_texts = [read(v) for v in page.locator("#kpi-cards .kpi-value").all()]
    decision = decide(page_outcomes(page, store))
    open_tab(page, words["downloads"])
    page.wait_for_timeout(2000)  # the tab's buttons are wired once it has rendered
    tables = page.locator(".lab-table select")
    for option in tables.locator("option").all_inner_texts():
        assert IN_LANGUAGE["zh"].search(option), option
        tables.select_option(label=option)
        page.wait_for_timeout(500)
        frame = pd.read_csv(io.BytesIO(_download(page, page.locator(".lab-download-csv button"))))
        assert len(frame) > 0, option
        if option == "概览":  # the comparison: one row per strategy, lab's numbers
            frame = frame.set_index("run_id")
            assert frame["label"].to_dict() == names
            for run in names:
                m = lab.campaign_metrics(store, run=run, by=None)
                assert frame.loc[run, "cost"] == pytest.approx(m.total["cost_fen"].iloc[0] / 100)
                inc = m.incremental
                assert frame.loc[run, "incremental_roi"] == pytest.approx(inc.incremental_roi)
                assert frame.loc[run, "incremental_roi_ci_low"] == pytest.approx(inc.roi_ci_low)
                assert frame.loc[run, "gmv_per_cost"] == pytest.approx(goal[run])
        elif frame.columns[0] == "run_id" and "estimate" in frame:  # the decision's table
            shown = frame.set_index("run_id")["estimate"]
            expected = decision.table.set_index("run_id")["estimate"]
            pd.testing.assert_series_equal(shown, expected, check_names=False)
    figures = page.locator(".lab-figure select")
    options = figures.locator("option").all_inner_texts()
    assert len(options) >= 6 and all(IN_LANGUAGE["zh"].search(o) for o in options)
    for option in options:
        figures.select_option(label=option)
        page.wait_for_timeout(500)
        png = _download(page, page.locator(".lab-download-png button"))
        width, height = png_size(png)
        assert width >= 300 and height >= 200 and len(png) > 5_000, option
        text, columns = bokeh_data(
            _download(page, page.locator(".lab-download-html button")).decode()
        )
        assert IN_LANGUAGE["zh"].search(text), option
        if option == "概览":  # the goal per strategy: the values on the cards
            assert lab.metric("gmv_per_cost").label("zh") in text
            shown = dict(zip(columns["strategy"], columns["value"], strict=False))
            assert {n: shown[n] for n in names.values()} == pytest.approx(
                {names[r]: v for r, v in goal.items()}
            )
    memo = _download(page, page.locator(".lab-download-memo").get_by_text(words["memo"])).decode()
    assert '<html lang="zh-CN">' in memo and "<script" not in memo
    assert verdict in memo.replace("&#x27;", "'").replace("&quot;", '"')
    assert all(text in memo for text in card_texts)
    assert_no_error(page)


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    os.environ.get("LAB_UPDATE_SCREENSHOT") != "1",
    reason="refreshes docs/dashboard.png from data/lab.duckdb: LAB_UPDATE_SCREENSHOT=1",
)
def test_readme_screenshot_of_the_dashboard_world(page, tmp_path):
    """README's screenshot, of the world `make dashboard` builds (`make data`: six presets
    of 100,000 users), as it opens: a winner named with its reason, and every strategy
    with incremental GMV per ¥1 of cost and its interval."""
    from playwright.sync_api import expect

    db = ROOT / "data" / "lab.duckdb"
    assert db.exists(), f"{db} is missing: build it with `make data`"
    proc, url = serve(db, log=tmp_path / "panel.log", timeout=900, flags=("--warm",))
    shot = page.context.browser.new_page(viewport={"width": 1400, "height": 1350})
    try:
        shot.goto(url, timeout=600_000)
        shot.wait_for_selector("#comparison-table", timeout=600_000)
        expect(shot.locator("#verdict")).to_have_text(IN_LANGUAGE["en"], timeout=600_000)
        runs = compared(shot)
        assert len(runs) >= 2
        assert shot.locator("#verdict").get_attribute("data-status") == "ship"
        assert shot.locator("#verdict").get_attribute("data-winner") in runs
        for run in runs:
            card = shot.locator(f'#kpi-cards .lab-card[data-run="{run}"]')
            assert card.locator('.kpi-value[data-metric="gmv_per_cost"]').count() == 1
            assert card.locator(".ci").first.inner_text().startswith("[")
            roi = shot.locator(
                f'#comparison-table td[data-metric="incremental_roi"][data-run="{run}"]'
            )
            assert re.fullmatch(r"\S+ \[\S+, \S+\]", roi.inner_text())
        assert_no_error(shot)
        shot.screenshot(path=str(ROOT / "docs" / "dashboard.png"), full_page=True)
    finally:
        shot.close()
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def fresh_page(page, served_app):
    """A new session in the same browser, for a test that must not inherit the module
    page's state (a long run of downloads and edits before it)."""
    fresh = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
    fresh.goto(served_app.url)
    fresh.wait_for_selector("#kpi-cards", timeout=60_000)
    yield fresh
    fresh.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_redemption_cycle_shows_what_happened(fresh_page, store, lang):
    """The cycle tab's share redeemed is lab's (expiry a competing event): the share of
    issued coupons actually redeemed, the Overview's redeemed-per-issued figure; the
    median is lab's, or said to be unmeasured when the curve never reaches one half."""
    page = fresh_page
    language(page, lang)
    open_tab(page, LANGS[lang]["overview"])
    verdict_in(page, lang)
    # the editor's runs (left in the comparison by its tests) live in the app's own store
    runs = [run for run in compared(page) if store.has_run(run)]
    assert runs
    overview = {
        run: read(
            page.locator(
                f'#comparison-table td[data-metric="redemption_conversion"][data-run="{run}"]'
            )
        )
        for run in runs
    }
    open_tab(page, {"en": "Redemption cycle", "zh": "核销周期"}[lang])
    page.wait_for_selector("#cycle-table", timeout=30_000)
    for run in runs:
        summary = lab.redemption_cycle(store, run=run).to_frame().iloc[0]
        issued = lab.campaign_metrics(store, run=run, by=None).total.iloc[0]
        share = page.locator(
            f'#cycle-table td[data-metric="redemption_conversion"][data-run="{run}"]'
        )
        read(share)
        assert float(share.get_attribute("data-value")) == pytest.approx(summary["share_redeemed"])
        assert summary["share_redeemed"] == pytest.approx(issued["redeemed"] / issued["issued"])
        assert share.inner_text() == overview[run]  # one figure, one formatter
        median = page.locator(
            f'#cycle-table td[data-metric="median_cycle_days"][data-run="{run}"]'
        ).inner_text()
        if pd.isna(summary["median_cycle_days"]):
            assert median == lab.format_metric("median_cycle_days", float("nan"), lang=lang)
        else:
            assert median == lab.format_metric(
                "median_cycle_days", summary["median_cycle_days"], lang=lang
            )
    assert_no_error(page)
    language(page, "en")
