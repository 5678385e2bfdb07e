"""Browser tests of the dashboard's craft: offline resources, radio groups, colours,
the 中文 interface and the slicing controls (Playwright + Debian's chromium).

Each test opens its own page (a session of its own) on a server of this module's own,
so the pages it closes mid-session leave the shared server's log alone.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

import lab
from dashboards.local import CHROMIUM, CHROMIUM_ARGS, app_tracebacks, serve

pytestmark = pytest.mark.browser

LOCAL = re.compile(r"^(http|ws)://127\.0\.0\.1[:/]")
TABS = {
    "en": {
        "funnel": "Funnel",
        "retention": "Retention",
        "cycle": "Redemption cycle",
        "money": "Money and ROI",
    },
    "zh": {"funnel": "漏斗", "retention": "留存", "cycle": "核销周期", "money": "金额与 ROI"},
}
TABLES = {
    "funnel": "#funnel-table",
    "retention": "#retention-table",
    "cycle": "#cycle-table",
    "money": "#money-table",
}
# every element of the page, shadow roots included
FIND_ALL = """(sel) => {
  const out = [];
  const walk = (root) => {
    root.querySelectorAll(sel).forEach((el) => out.push(el));
    root.querySelectorAll("*").forEach((el) => { if (el.shadowRoot) walk(el.shadowRoot); });
  };
  walk(document);
  return out;
}"""
# Bokeh models the page shows: those reachable from the document's roots. BokehJS keeps
# models that a patch detached in ``doc.all_models`` until its deferred sweep
# (``recompute_timeout``, 30 s after the last patch), so a replaced chart lingers there
# although nothing on the page refers to it.
SHOWN = """(doc) => {
  const out = new Set();
  for (const root of doc.roots()) for (const m of root.references()) out.add(m);
  return out;
}"""
# text of the page (shadow roots included) and of the charts' Bokeh models
ALL_TEXT = (
    """() => {
  const SHOWN = """
    + SHOWN
    + """;
  const findAll = """
    + FIND_ALL
    + """;
  const out = [];
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) {
      if (child.nodeType === 3) { const t = child.textContent.trim(); if (t) out.push(t); }
      else if (child.nodeType === 11 || (child.nodeType === 1 && !["SCRIPT", "STYLE"].includes(child.tagName))) walk(child);
    }
  };
  walk(document.body);
  findAll("input, textarea").forEach((el) => { if (el.placeholder) out.push(el.placeholder); });
  findAll("option").forEach((el) => out.push(el.textContent));
  for (const doc of Bokeh.documents) {
    for (const m of SHOWN(doc)) {
      if (m.title && typeof m.title.text === "string") out.push(m.title.text);
      if (typeof m.axis_label === "string") out.push(m.axis_label);
      if (m.label && typeof m.label.value === "string") out.push(m.label.value);
      if (m.factors) out.push(...m.factors.flat().map(String));
    }
  }
  return out;
}"""
)
# colours of the charts' glyphs, per plot title
PLOT_COLOURS = (
    """() => {
  const SHOWN = """
    + SHOWN
    + """;
  const out = [];
  for (const doc of Bokeh.documents) {
    for (const m of SHOWN(doc)) {
      if (!m.renderers || !m.title || !m.frame_width === undefined) continue;
      const colours = [];
      for (const r of m.renderers) {
        if (!r.glyph) continue;
        for (const prop of ["fill_color", "line_color"]) {
          const v = r.glyph[prop];
          if (v && typeof v === "object" && typeof v.value === "string") colours.push(v.value.toUpperCase());
          if (typeof v === "string") colours.push(v.toUpperCase());
          // a colour per row, mapped from a column of the chart's data
          if (v && typeof v === "object" && typeof v.field === "string" && r.data_source)
            for (const c of r.data_source.data[v.field] || []) colours.push(String(c).toUpperCase());
        }
      }
      out.push({title: m.title.text, colours});
    }
  }
  return out;
}"""
)
STRIP = (
    """() => {
  const findAll = """
    + FIND_ALL
    + """;
  return findAll(".lab-key").filter((el) => el.offsetParent !== null)
    .map((el) => [el.dataset.run, el.dataset.colour.toUpperCase(), el.textContent.trim()]);
}"""
)
# the busy indicator's look while busy: its ring's animation and background
BUSY_LOOK = (
    """() => {
  const findAll = """
    + FIND_ALL
    + """;
  return findAll(".loader").map((host) => {
    host.classList.add("spin");  // as the server's busy flag does
    const style = getComputedStyle(host.shadowRoot.querySelector("div"), "::after");
    const look = [style.animationName, style.backgroundImage];
    host.classList.remove("spin");
    return look;
  });
}"""
)
# from now on, every axis painted records how many tick labels it had and how many were
# kept, by its labelling policy (Bokeh's NoOverlap leaves out a label that would overlap
# its neighbour) or before it
RECORD_LABEL_POLICY = """() => {
  window.__labels = [];
  const proto = Bokeh.Models.get("NoOverlap").prototype;
  if (proto.__recorded) return;
  const filter = proto.filter;
  proto.filter = function (indices, bboxes, distance) {
    const kept = filter.call(this, indices, bboxes, distance);
    window.__labels.push([bboxes.length, kept.count]);
    return kept;
  };
  proto.__recorded = true;
}"""
# each tab title of the page's tab bar, with its box and the box of the bar it sits in
TAB_TITLES = (
    """() => {
  const findAll = """
    + FIND_ALL
    + """;
  return findAll(".bk-tab").filter((el) => el.offsetParent !== null).map((el) => {
    const tab = el.getBoundingClientRect();
    const bar = el.closest(".bk-header").getBoundingClientRect();
    return [el.textContent.trim(), tab.left, tab.right, bar.left, Math.min(bar.right, innerWidth)];
  });
}"""
)
# words allowed in the 中文 interface: proper names, units and abbreviations
PROPER = {
    "English", "ROI", "GMV", "AOV", "LBS", "CSV", "PNG", "HTML", "App", "CI", "Kaplan",
    "Meier", "Holm", "Welch", "CUPED", "SRM", "ID", "A/A", "km",
}  # fmt: skip
# Panel's and Choices.js's screen-reader labels, which the app cannot set, and the
# page header, which names the lab in both languages (it is rendered once per page)
CHROME = {
    "Busy Indicator",
    "Toggle the Theme",
    "Toggle the Sidebar",
    "Remove item",
    "Coupon strategy lab · 优惠券策略实验室",
}
CODE = re.compile(r"\blab(\.[a-z_]+)+\b")
WORD = re.compile(r"[A-Za-z]{2,}")


@pytest.fixture(scope="module")
def served_app(test_db, scratch_dir):
    """This module's own server over the test database."""
    log = scratch_dir / "craft-panel.log"
    proc, url = serve(test_db, log=log, timeout=60)
    yield SimpleNamespace(url=url, log=log)
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright import sync_api

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make chromium`"
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        yield b
        b.close()


#: script errors of every page this module opened (a failed update drops the rest of
#: the server's message: the page then shows stale numbers without saying so)
PAGE_ERRORS: list[str] = []


def open_page(browser, url: str, *, width: int = 1280):
    page = browser.new_page(viewport={"width": width, "height": 1100})
    page.on("pageerror", lambda error: PAGE_ERRORS.append(f"{page.url}: {error}"))
    page.goto(url)
    page.wait_for_selector("#comparison-table", timeout=60_000)
    return page


def to_chinese(page) -> None:
    """Switch the page to 中文 and wait until its tabs carry the Chinese titles."""
    page.get_by_text("中文", exact=True).click()
    page.locator(".bk-tab").filter(has_text=re.compile("^概览$")).wait_for(timeout=30_000)


def open_tab(page, section: str, lang: str = "en") -> None:
    name = TABS[lang][section]
    page.locator(".bk-tab").filter(has_text=re.compile(f"^{re.escape(name)}$")).click()
    page.wait_for_selector(TABLES[section], timeout=60_000)
    page.wait_for_timeout(500)  # the charts are sent before the table, let them draw


def add_strategy(page, name: str) -> None:
    page.locator(".lab-strategies input[type=search]").click()
    page.locator(".lab-strategies .choices__item--choice", has_text=name).first.click()
    page.keyboard.press("Escape")


def test_offline_page_renders_with_no_outside_request(browser, served_app):
    """Every script, stylesheet and font comes from the app: a page whose outside
    requests all fail still renders every tab, in both languages, and none was even
    attempted. Nor does it fetch BokehJS's WebGL and MathJax bundles (1.9 MB), which it
    does not use, and its scripts come gzipped."""
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    outside, failed, scripts = [], [], {}
    context.on(
        "response",
        lambda r: (
            scripts.update({r.url: r.headers.get("content-encoding")})
            if r.request.resource_type == "script"
            else None
        ),
    )
    context.route(
        re.compile(r".*"),
        lambda route: route.continue_() if LOCAL.match(route.request.url) else route.abort(),
    )
    context.on("request", lambda r: None if LOCAL.match(r.url) else outside.append(r.url))
    context.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(served_app.url)
    page.wait_for_selector("#comparison-table", timeout=60_000)
    for section in TABLES:
        open_tab(page, section)
        canvases = page.evaluate(f"() => ({FIND_ALL})('canvas').length")
        assert canvases > 0, section
    # a language switch updates the hidden tabs' models too (their stylesheets once
    # pointed at Panel's CDN then)
    to_chinese(page)
    open_tab(page, "money", "zh")
    assert outside == [], outside
    assert failed == [], failed
    assert errors == [], errors
    bokeh = [encoding for url, encoding in scripts.items() if "/bokeh.min.js" in url]
    assert bokeh == ["gzip"], scripts
    assert not [url for url in scripts if "bokeh-mathjax" in url or "bokeh-gl" in url]
    context.close()


def luminance(rgb: str) -> float:
    channels = [int(v) / 255 for v in re.findall(r"\d+", rgb)[:3]]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def test_selected_radio_option_is_unmistakable(browser, served_app):
    """The chosen button's background differs from the others' by a contrast of at least
    3:1 (WCAG's figure for telling user-interface states apart), in every radio group."""
    page = open_page(browser, served_app.url)
    groups = page.evaluate(
        f"""() => ({FIND_ALL})(".bk-btn-group").map((g) =>
            [...g.querySelectorAll("button")].map((b) =>
                [b.classList.contains("bk-active"), getComputedStyle(b).backgroundColor]))"""
    )
    assert len(groups) >= 2  # language and platform
    for buttons in groups:
        active = [luminance(c) for on, c in buttons if on]
        others = [luminance(c) for on, c in buttons if not on]
        assert len(active) == 1 and others
        for other in others:
            high, low = max(active[0], other), min(active[0], other)
            assert (high + 0.05) / (low + 0.05) >= 3
    page.close()


def test_a_strategy_keeps_its_colour_on_every_tab(browser, served_app):
    page = open_page(browser, served_app.url)
    add_strategy(page, "Meituan style")
    strips, lines = {}, {}
    for section in TABLES:
        open_tab(page, section)
        strips[section] = page.evaluate(STRIP)
        plots = page.evaluate(PLOT_COLOURS)
        names = {name: colour for _, colour, name in strips[section]}
        if section == "funnel":  # one small chart per strategy, titled by its name
            titled = [p for p in plots if p["title"] in names]
            assert len(titled) == 3
            for p in titled:
                assert names[p["title"]] in p["colours"]
        if section in ("retention", "cycle"):
            lines[section] = {c for p in plots for c in p["colours"]} & {
                c for _, c, _ in strips[section]
            }
    assert len(strips["funnel"]) == 3
    assert all(strip == strips["funnel"] for strip in strips.values()), strips
    assert lines["retention"] == lines["cycle"] == {c for _, c, _ in strips["funnel"]}
    # the Overview's goal chart: a point per strategy in the strategy's colour
    page.locator(".bk-tab").filter(has_text=re.compile("^Overview$")).click()
    page.wait_for_timeout(500)
    [goal] = [p for p in page.evaluate(PLOT_COLOURS) if "per strategy" in p["title"]]
    assert {c for _, c, _ in strips["funnel"]} <= set(goal["colours"]), goal
    page.close()


def english_words(texts: list[str]) -> set[str]:
    """``"word (in: text)"`` for each English word of ``texts`` that is not a proper name."""
    words = set()
    for text in texts:
        if text in CHROME:
            continue
        bare = CODE.sub("", text)
        words |= {f"{w} (in: {text[:60]})" for w in WORD.findall(bare) if w not in PROPER}
    return words


def test_chinese_interface_has_no_english_word(browser, served_app):
    """Walk the sidebar and every tab in 中文, the chart tabs again with a breakdown
    chosen: every text, option, placeholder, chart title, axis title, legend and
    category label is Chinese, a number or a proper name."""
    page = open_page(browser, served_app.url)
    add_strategy(page, "Denomination test")
    to_chinese(page)
    # the tabs are redrawn on a switch: read once the overview's verdict is in 中文
    expect(page.locator("#verdict")).to_have_text(re.compile(r"[\u4e00-\u9fff]"), timeout=30_000)
    found = english_words(page.evaluate(ALL_TEXT))
    for section in TABLES:
        open_tab(page, section, "zh")
        found |= english_words(page.evaluate(ALL_TEXT))
    # the other tabs: an experiment read as a decision (arm names too), the editor and
    # the downloads, each read once its content is on screen
    for name, ready in (
        ("实验", "#experiment-table"),
        ("编辑策略", ".lab-simulate"),
        ("下载", ".lab-download-memo"),
    ):
        page.locator(".bk-tab").filter(has_text=re.compile(f"^{name}$")).click()
        page.wait_for_selector(ready, timeout=60_000)
        page.wait_for_timeout(500)
        found |= english_words(page.evaluate(ALL_TEXT))
    page.locator(".lab-breakdown select").select_option(label="用户分群")
    for section in ("money", "funnel", "retention"):
        open_tab(page, section, "zh")
        page.wait_for_timeout(1500)
        found |= english_words(page.evaluate(ALL_TEXT))
    assert found == set(), "\n".join(sorted(found))
    page.close()


def test_breakdown_and_dates_change_the_numbers_as_lab_does(browser, served_app, test_db):
    store = lab.Store(test_db, read_only=True)
    page = open_page(browser, served_app.url)
    seen_errors = len(PAGE_ERRORS)  # a script error drops the rest of the server's message
    open_tab(page, "funnel")
    page.locator(".lab-breakdown select").select_option(label="user segment")
    cell = '#funnel-table td[data-metric="funnel-table:redeem"][data-run="default-s0"]'
    page.wait_for_function(f"() => ({FIND_ALL})('{cell}').length === 3", timeout=60_000)
    want = lab.funnel(
        store,
        run="default-s0",
        steps=("delivery", "exposure", "rule_view", "claim", "redeem"),
        by="segment",
    ).to_frame()
    want = want[want["step"] == "redeem"]["conversion_from_start"].tolist()
    shown = page.evaluate(f"() => ({FIND_ALL})('{cell}').map((td) => Number(td.dataset.value))")
    assert sorted(shown) == pytest.approx(sorted(want), rel=1e-12)

    # narrow the dates with the keyboard: the first handle moves three days later
    page.locator(".lab-breakdown select").select_option(label="nothing")
    open_tab(page, "money")
    cost = '#money-table td[data-metric="cost_fen"][data-run="default-s0"]'
    before = page.locator(cost).get_attribute("data-value")
    page.locator(".lab-dates .noUi-handle-lower").focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.mouse.click(5, 5)  # the slider reports its value once released
    info = store.run("default-s0")
    start = (info["start_date"] + __import__("pandas").Timedelta(days=3)).date().isoformat()
    end = (info["start_date"] + __import__("pandas").Timedelta(days=int(info["days"]))).date()
    total = lab.campaign_metrics(store, run="default-s0", by=None, start=start, end=end).total
    want = float(total["cost_fen"].iloc[0])
    assert float(before) != want  # narrowing the dates must change the figure
    # each key press may reach the server on its own: wait for the three-day narrowing
    page.wait_for_function(
        f"""() => {{ const td = ({FIND_ALL})('{cost}')[0];
                     return td && Number(td.dataset.value) === {want}; }}""",
        timeout=60_000,
    )
    shown = page.locator(cost)
    assert float(shown.get_attribute("data-value")) == want
    assert shown.inner_text() == lab.format_metric("cost", want, fen=True)
    assert PAGE_ERRORS[seen_errors:] == []
    page.close()


def test_editor_selects_show_their_value_in_both_languages(browser, served_app):
    """The LBS-radius and mechanic selects start on a named option, not blank."""
    page = open_page(browser, served_app.url)
    page.locator(".bk-tab").filter(has_text=re.compile("^Edit a strategy$")).click()

    def shown(css_class: str) -> str:
        select = page.locator(f".{css_class} select")
        return select.evaluate("(s) => s.options[s.selectedIndex].textContent")

    page.locator(".lab-lbs select").wait_for(timeout=30_000)
    assert shown("lab-lbs") == "no radius"
    assert shown("lab-mechanic") == "keep each entry's"
    page.get_by_text("中文", exact=True).click()
    page.locator(".bk-tab").filter(has_text=re.compile("^编辑策略$")).wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    assert shown("lab-lbs") == "不限距离"
    page.close()


@pytest.mark.parametrize("width", [1280, 1920])
def test_overview_selects_show_their_whole_choice(browser, served_app, width):
    """The goal and baseline selects are wide enough for their longest option's text."""
    page = open_page(browser, served_app.url, width=width)
    for css_class in ("lab-goal", "lab-baseline"):
        select = page.locator(f".{css_class} select")
        texts = select.evaluate("(s) => [...s.options].map((o) => o.textContent)")
        for text in texts:
            select.select_option(label=text)
            page.wait_for_timeout(300)
            # the text, laid out in the select's own font, fits inside its box
            fits = select.evaluate(
                """(s) => {
                  const c = document.createElement("canvas").getContext("2d");
                  const st = getComputedStyle(s);
                  c.font = `${st.fontWeight} ${st.fontSize} ${st.fontFamily}`;
                  const room = s.clientWidth - parseFloat(st.paddingLeft) - parseFloat(st.paddingRight);
                  return c.measureText(s.options[s.selectedIndex].textContent).width <= room;
                }"""
            )
            assert fits, (css_class, text, width)
    page.close()


def test_busy_indicator_marks_work_without_turning(browser, served_app):
    """While busy, the header's indicator shows its half-filled ring but does not turn:
    turning, it made the browser draw a frame every 1/60 s while it showed."""
    page = open_page(browser, served_app.url)
    shown = page.evaluate(BUSY_LOOK)
    assert len(shown) == 1, shown
    [(animation, background)] = shown
    assert animation == "none"
    assert "gradient" in background  # the busy look is still there
    page.close()


@pytest.mark.parametrize("width", [1280, 1920])
def test_charts_show_every_tick_label(browser, served_app, width):
    """No tick label of the Funnel's and Money's charts is left out for lack of room, in
    either language: at 1280 px in English, the Funnel's "100 %" ran into "75 %" and
    Bokeh dropped it, and Money's amount axes lost every other amount (¥4,000,000)."""
    for lang in ("en", "zh"):
        page = open_page(browser, served_app.url, width=width)
        if lang == "zh":
            to_chinese(page)
        for section in ("funnel", "money"):
            page.evaluate(RECORD_LABEL_POLICY)
            open_tab(page, section, lang)
            shown = page.evaluate("() => window.__labels")
            assert len(shown) >= 4, shown  # at least two charts, each with two axes painted
            assert all(kept == offered for offered, kept in shown), (section, lang, width, shown)
        page.close()


@pytest.mark.parametrize("width", [1280, 1920])
def test_every_tab_title_shows_whole(browser, served_app, width):
    """Each tab title lies wholly inside the tab bar, in both languages: at 1280 px the
    English titles ran past the page's edge and "Downloads" was cut off."""
    page = open_page(browser, served_app.url, width=width)
    for lang in ("en", "zh"):
        if lang == "zh":
            to_chinese(page)
        shown = page.evaluate(TAB_TITLES)
        assert len(shown) == 8, shown
        for title, left, right, bar_left, bar_right in shown:
            assert bar_left - 0.5 <= left and right <= bar_right + 0.5, (lang, width, title)
    page.close()


def test_server_log_has_no_app_error(served_app, browser):
    """No traceback from the app; Tornado's reports of websockets closed by the test's
    own page closes are left out (:func:`dashboards.local.app_tracebacks`)."""
    log = served_app.log.read_text()
    assert app_tracebacks(log) == 0, log[-3000:]


def test_pages_had_no_script_error():
    """Runs after the module's other tests: none of their pages had a script error."""
    assert PAGE_ERRORS == []
