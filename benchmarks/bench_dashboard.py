"""Dashboard benchmark: widget change to updated charts, and 20 concurrent sessions.

Builds a 100,000-user world of four presets into ``benchmarks/scratch/`` (once), serves
``dashboards/app.py`` over it, and drives headless Chromium with Playwright:

0. **first opens**: a fresh page per repeat (a new session): seconds from navigation to
   the first table (``#comparison-table``), then from clicking each tab to its table,
   each tab clicked as soon as the last one showed (``first_opens``, the strict figure)
   and, on other fresh pages, after ``--read`` seconds on the Overview
   (``first_opens_after_reading``: the server builds hidden tabs ahead while idle,
   ``dashboards/idle.py``);
   the server runs with ``make dashboard``'s options (:data:`dashboards.local.SPEED_FLAGS`:
   two processes, caches warmed by ``dashboards/warm.py`` before the first request).
1. **latency** (later changes): on the Funnel and the Money tabs, click the platform filter through
   All / WeChat / Alipay / Meituan; time from the click to the tab's table showing the
   new numbers plus two animation frames (the charts, sent before the table, are painted
   by then). Every value is visited once before timing, so the figures are for cached
   model results, which is what a stakeholder clicking around sees.
2. **concurrency**, two variants, each 20 browser contexts (sessions) opening the page
   at once, then clicking the Funnel's platform filter until 60 s after the last page
   opened, so the 20 sessions click together for at least 60 s (before session 14 of
   2026-12-07, each session stopped 60 s after its own page opened, the window with all
   pages open lasted 10-20 s, and closing pages took CPU from the last updates):

   - ``concurrency`` (**closed loop**, the stress figure): each session clicks again as
     soon as its last update showed, with no pause, so the server always has a queue;
   - ``concurrency_think`` (**realistic**): each session waits ``--think`` seconds
     (default 3) between an update showing and its next click, as a person reading the
     chart would; ``--think-runs`` runs (3) one after another, each 20 fresh sessions,
     their medians the figures (each run in ``concurrency_think_runs``): one run's p95
     swings several-fold with the load the 20 Chromium pages put on the machine.

   ``update_p*`` cover every update; ``settled_update_p*`` only those clicked after all
   20 sessions had opened their page (the page loads at the start queue in front of the
   first clicks). An update that shows after more than :data:`LATE_S` seconds counts in
   ``late_updates`` (``settled_late`` after all pages opened) and its time in the
   percentiles; one that has not shown after :data:`LOST_S` seconds is an error, as are
   page errors, console errors from the app, websockets closed before their session
   ended, and tracebacks in the server log (counted in both variants' ``errors``).
   (Until 2026-12-07 a click was given up after 60 s and counted as an error; waiting
   longer showed that every such update arrived, 10-53 s late, in the start's queue.)

Run from the repository root: ``python -m benchmarks.bench_dashboard`` (or
``python benchmarks/bench_dashboard.py``). Figures go to ``benchmarks/results/dashboard.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._common import write_result  # noqa: E402
from dashboards.local import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    SPEED_FLAGS,
    app_tracebacks,
    serve,
    stop,
)

SCRATCH = ROOT / "benchmarks" / "scratch"
#: an update that shows after this many seconds is late (counted apart, timed as any other)
LATE_S = 60
#: an update that has not shown after this many seconds is lost: an error
LOST_S = 180
PRESETS = ("default", "platform_wechat", "platform_meituan", "platform_alipay")
FILTERS = ("WeChat", "Alipay", "Meituan", "All")
# In the page: click the platform filter button labelled `label`, then resolve with the
# milliseconds until `selector`'s HTML changed plus two animation frames (null: timeout).
# A MutationObserver on the table's own root sees the change as it happens; a slow poll
# over the whole page (every shadow root) catches a table re-created elsewhere. (Before
# session 14 of 2026-12-07 the whole page was walked every animation frame: about 0.12
# of a core per waiting page, so 20 sessions' waits took the CPU their updates needed.)
CLICK_AND_TIME = """async ([label, selector, timeoutMs]) => {
  const findAll = (root, sel, out) => {
    root.querySelectorAll(sel).forEach((el) => out.push(el));
    for (const el of root.querySelectorAll("*")) if (el.shadowRoot) findAll(el.shadowRoot, sel, out);
    return out;
  };
  const find = (sel) => findAll(document, sel, [])[0] || null;
  const group = find(".lab-platform");
  const button = findAll(group.shadowRoot || group, "button", []).find((b) => b.textContent.trim() === label);
  const old = find(selector);
  const before = (old || {}).outerHTML;
  const root = old ? old.getRootNode() : document;
  const changed = (el) => el && el.outerHTML !== before;
  const start = performance.now();
  const shown = await new Promise((resolve) => {
    const done = (ok) => { observer.disconnect(); clearInterval(poll); clearTimeout(limit); resolve(ok); };
    const observer = new MutationObserver(() => { if (changed(root.querySelector(selector))) done(true); });
    observer.observe(root, { subtree: true, childList: true, characterData: true, attributes: true });
    const poll = setInterval(() => { if (changed(find(selector))) done(true); }, 250);
    const limit = setTimeout(() => done(false), timeoutMs);
    button.click();
  });
  if (!shown) return null;
  const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
  await frame(); await frame();
  return performance.now() - start;
}"""


class CpuMeter:
    """CPU seconds spent, while it runs, by the dashboard's server processes and by
    Chromium's: the sessions' browsers share the machine's cores with the server, so a
    slow update may be the browsers' doing, not the server's.

    Samples every process once a second in a thread (a process that ended between two
    samples keeps its last sampled time). Use as a context manager; ``seconds`` holds
    the figures afterwards."""

    #: a process belongs to the server when its command line runs this script
    SERVER = "dashboards/app.py"

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._first: dict[int, float] = {}
        self._last: dict[int, tuple[str, float]] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_done, daemon=True)

    def __enter__(self) -> CpuMeter:
        self._sample(first=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self._sample()
        totals = {"server": 0.0, "chromium": 0.0}
        for pid, (kind, used) in self._last.items():
            totals[kind] += used - self._first.get(pid, 0.0)
        self.seconds = {k: round(v, 1) for k, v in totals.items()}

    def _sample_until_done(self) -> None:
        while not self._done.wait(1.0):
            self._sample()

    def _sample(self, *, first: bool = False) -> None:
        for proc in psutil.process_iter(["name", "cmdline", "cpu_times"]):
            name, cmdline, times = (
                proc.info["name"] or "",
                proc.info["cmdline"] or [],
                proc.info["cpu_times"],
            )
            if times is None:
                continue
            if "chrom" in name:
                kind = "chromium"
            elif any(self.SERVER in part for part in cmdline):
                kind = "server"
            else:
                continue
            used = times.user + times.system
            if first:
                self._first[proc.pid] = used
            self._last[proc.pid] = (kind, used)


def build_world(users: int, days: int) -> Path:
    """The benchmark world: each preset simulated with ``users`` users (seed 0), built once."""
    path = SCRATCH / f"dashboard-{users}.duckdb"
    if path.exists():
        return path
    import lab
    from lab.world import simulate

    SCRATCH.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.duckdb")
    partial.unlink(missing_ok=True)
    store = lab.Store(partial)
    for name in PRESETS:
        start = time.perf_counter()
        simulate(name, store=store, users=users, days=days, seed=0, progress=False)
        print(f"  simulated {name}: {time.perf_counter() - start:.1f} s", flush=True)
    partial.rename(path)
    return path


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def click_and_wait(page, button: str, selector: str, timeout_s: float) -> float | None:
    """Click a platform filter button; seconds until ``selector`` changed (None: timeout),
    timed inside the page so Playwright's own overhead is left out."""
    ms = await page.evaluate(CLICK_AND_TIME, [button, selector, timeout_s * 1000])
    return None if ms is None else ms / 1000


async def open_tab(page, name: str) -> None:
    import re

    await page.locator(".bk-tab").filter(has_text=re.compile(f"^{name}$")).click()


#: tab label -> the table that shows once the tab has computed
TABS = (
    ("Funnel", "#funnel-table"),
    ("Retention", "#retention-table"),
    ("Redemption cycle", "#cycle-table"),
    ("Money and ROI", "#money-table"),
)


async def first_opens(
    browser, url: str, repeats: int, read: float = 0.0, *, link_mbps: float | None = None
) -> dict:
    """Fresh sessions: time to the first table, and to each tab's table on first open,
    clicked ``read`` seconds after the first table showed (0: at once). With
    ``link_mbps``, the page's network is a link of that many Mbit/s each way with 50 ms
    of latency (Chromium's network emulation), as a user far from the server has."""
    first_table: list[float] = []
    opens: dict[str, list[float]] = {tab: [] for tab, _ in TABS}
    for _ in range(repeats):
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        if link_mbps:
            cdp = await page.context.new_cdp_session(page)
            bytes_per_s = link_mbps * 1e6 / 8
            await cdp.send(
                "Network.emulateNetworkConditions",
                {
                    "offline": False,
                    "latency": 50,
                    "downloadThroughput": bytes_per_s,
                    "uploadThroughput": bytes_per_s,
                },
            )
        start = time.perf_counter()
        await page.goto(url)
        await page.wait_for_selector("#comparison-table", timeout=600_000)
        first_table.append(time.perf_counter() - start)
        await asyncio.sleep(read)
        for tab, selector in TABS:
            start = time.perf_counter()
            await open_tab(page, tab)
            await page.wait_for_selector(selector, timeout=600_000)
            await page.evaluate(
                "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"
            )
            opens[tab].append(time.perf_counter() - start)
        await page.close()
    every = [s for values in opens.values() for s in values]
    out = {
        "repeats": repeats,
        "read_seconds": read,
        "link_mbps": link_mbps,
        "first_table_median_ms": round(1000 * statistics.median(first_table), 1),
        "first_table_max_ms": round(1000 * max(first_table), 1),
        "tab_first_open_p50_ms": round(1000 * statistics.median(every), 1),
        "tab_first_open_p95_ms": round(1000 * percentile(every, 0.95), 1),
    }
    for tab, values in opens.items():
        out[f"{tab.split()[0].lower()}_first_open_median_ms"] = round(
            1000 * statistics.median(values), 1
        )
    return out


async def latency(browser, url: str, changes: int) -> dict:
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    await page.goto(url)
    await page.wait_for_selector("#comparison-table", timeout=600_000)
    tabs = (("Funnel", "#funnel-table"), ("Money and ROI", "#money-table"))
    times: dict[str, list[float]] = {}
    for tab, selector in tabs:
        await open_tab(page, tab)
        await page.wait_for_selector(selector, timeout=600_000)
        for button in FILTERS:  # warm the model caches for every value
            if await click_and_wait(page, button, selector, 600) is None:
                raise RuntimeError(f"{tab}: no update after choosing {button}")
        times[tab] = []
        for i in range(changes // len(tabs)):
            seconds = await click_and_wait(page, FILTERS[i % len(FILTERS)], selector, 60)
            if seconds is None:
                raise RuntimeError(f"{tab}: no update within 60 s")
            times[tab].append(seconds)
    await page.close()
    every = [s for values in times.values() for s in values]
    out = {
        "changes": len(every),
        "p50_ms": round(1000 * statistics.median(every), 1),
        "p95_ms": round(1000 * percentile(every, 0.95), 1),
        "max_ms": round(1000 * max(every), 1),
    }
    for tab, values in times.items():
        key = tab.split()[0].lower()
        out[f"{key}_p50_ms"] = round(1000 * statistics.median(values), 1)
        out[f"{key}_p95_ms"] = round(1000 * percentile(values, 0.95), 1)
    return out


class Window:
    """The concurrent run's shared end: ``seconds`` after the last of ``sessions`` pages
    opened (or failed to), so every session clicks for at least ``seconds`` while all
    the others are open too."""

    def __init__(self, sessions: int, seconds: float) -> None:
        self.waiting, self.seconds = sessions, seconds
        self.end: float | None = None

    def arrived(self) -> None:
        """One more session has opened its page or given up opening it."""
        self.waiting -= 1
        if self.waiting == 0:
            self.end = time.monotonic() + self.seconds

    def left(self, after: float = 0.0) -> float:
        """Seconds left ``after`` seconds from now (the full length while pages open)."""
        if self.end is None:
            return self.seconds
        return self.end - time.monotonic() - after


async def session(browser, url: str, window: Window, index: int, think: float = 0.0) -> dict:
    """One browser context clicking the platform filter until ``window`` ends, waiting
    ``think`` seconds after each update before the next click (0: closed loop)."""
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    # a page that reaches for the internet fails offline: the app's error, counted
    page.on(
        "console",
        lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None,
    )
    # a websocket closed before the session ends leaves the page deaf to the server
    page.on(
        "websocket",
        lambda ws: ws.on(
            "close", lambda _: errors.append(f"websocket closed mid-session: {ws.url}")
        ),
    )
    updates, timings, late, ready = 0, [], [], None
    try:
        try:
            await page.goto(url, timeout=300_000)
            await page.wait_for_selector("#comparison-table", timeout=300_000)
            await open_tab(page, "Funnel")
            await page.wait_for_selector("#funnel-table", timeout=300_000)
            ready = time.monotonic()
        finally:
            window.arrived()
        # neighbours in FILTERS differ, and the first click is never "All" (the value at
        # load): every click changes the filter
        i = index % (len(FILTERS) - 1)
        while window.left() > 0:
            clicked = time.monotonic()
            took = await click_and_wait(page, FILTERS[i % len(FILTERS)], "#funnel-table", LOST_S)
            i += 1
            if took is None:
                errors.append(f"update lost: the table did not change within {LOST_S} s")
                continue
            updates += 1
            timings.append((clicked, took))
            if took > LATE_S:
                late.append(clicked)
            if think and window.left(after=think) > 0:
                await asyncio.sleep(think)
    except Exception as exc:  # noqa: BLE001  (a failed session is an error to count)
        errors.append(f"{type(exc).__name__}: {exc}")
    # pages close together after the window: closing one costs both sides CPU, which
    # would land on the last updates of the sessions still clicking
    await asyncio.sleep(max(0.0, window.left()))
    await context.close()
    return {
        "updates": updates,
        "errors": errors,
        "timings": timings,
        "late": late,
        "ready": ready,
    }


async def concurrency(browser, url: str, sessions: int, seconds: float, think: float = 0.0) -> dict:
    start = time.monotonic()
    window = Window(sessions, seconds)
    with CpuMeter() as cpu:
        results = await asyncio.gather(
            *(session(browser, url, window, i, think) for i in range(sessions))
        )
    wall = time.monotonic() - start
    timings = [took for r in results for _, took in r["timings"]]
    errors = [e for r in results for e in r["errors"]]
    # updates clicked once every session had opened its page: without the queue of the
    # 20 page loads at the start
    readies = [r["ready"] for r in results if r["ready"] is not None]
    settled = [took for r in results for at, took in r["timings"] if readies and at >= max(readies)]
    settled_late = [at for r in results for at in r["late"] if readies and at >= max(readies)]
    return {
        "sessions": sessions,
        "seconds": seconds,
        "think_seconds": think,
        "updates": sum(r["updates"] for r in results),
        "errors": len(errors),
        "error_examples": errors[:5],
        "update_p50_ms": round(1000 * statistics.median(timings), 1) if timings else None,
        "update_p95_ms": round(1000 * percentile(timings, 0.95), 1) if timings else None,
        "settled_updates": len(settled),
        "late_updates": sum(len(r["late"]) for r in results),
        "settled_late": len(settled_late),
        "settled_update_p50_ms": round(1000 * statistics.median(settled), 1) if settled else None,
        "settled_update_p95_ms": round(1000 * percentile(settled, 0.95), 1) if settled else None,
        # cores' worth of CPU each side used on average (the machine has os.cpu_count())
        "server_cores_used": round(cpu.seconds["server"] / wall, 2),
        "chromium_cores_used": round(cpu.seconds["chromium"] / wall, 2),
    }


def median_of_runs(runs: list[dict]) -> dict:
    """Several concurrent runs as one: the median of each latency figure, the sum of the
    counts (updates, errors, late updates), the first runs' error examples."""
    out: dict = {"runs": len(runs)}
    for key, value in runs[0].items():
        values = [r[key] for r in runs]
        if key.endswith(("_ms", "_cores_used")):
            known = [v for v in values if v is not None]
            digits = 2 if key.endswith("_cores_used") else 1
            out[key] = round(statistics.median(known), digits) if known else None
        elif key in ("updates", "errors", "settled_updates", "late_updates", "settled_late"):
            out[key] = sum(values)
        elif key == "error_examples":
            out[key] = [e for v in values for e in v][:5]
        else:
            out[key] = value
    return out


async def drive(url: str, args) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            figures = {"first_opens": await first_opens(browser, url, args.repeats)}
            if args.read:
                figures["first_opens_after_reading"] = await first_opens(
                    browser, url, args.repeats, args.read
                )
            figures["latency"] = await latency(browser, url, args.changes)
            if args.sessions:
                figures["concurrency"] = await concurrency(
                    browser, url, args.sessions, args.seconds
                )
                if args.think:
                    runs = [
                        await concurrency(browser, url, args.sessions, args.seconds, args.think)
                        for _ in range(args.think_runs)
                    ]
                    figures["concurrency_think"] = median_of_runs(runs)
                    figures["concurrency_think_runs"] = runs
            await (await browser.new_page()).close()
            if args.screenshot:
                page = await browser.new_page(viewport={"width": 1400, "height": 1350})
                await page.goto(url)
                await page.wait_for_selector("#comparison-table", timeout=300_000)
                await page.screenshot(path=str(ROOT / "docs" / "dashboard-100k.png"))
                await page.close()
        finally:
            await browser.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--changes", type=int, default=24, help="timed widget changes (>= 20)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh sessions timed on first open")
    parser.add_argument(
        "--read",
        type=float,
        default=3.0,
        help="also time first opens clicked this many seconds after the first table "
        "(a stakeholder reading the Overview; 0: skip)",
    )
    parser.add_argument("--sessions", type=int, default=20, help="concurrent sessions (0: skip)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the concurrent run")
    parser.add_argument(
        "--think",
        type=float,
        default=3.0,
        help="seconds each session waits between clicks in the realistic concurrent run "
        "(0: closed loop only)",
    )
    parser.add_argument(
        "--think-runs",
        type=int,
        default=3,
        help="realistic concurrent runs, one after another (their medians are the figures)",
    )
    parser.add_argument(
        "--screenshot", action="store_true", help="also save docs/dashboard-100k.png"
    )
    args = parser.parse_args()

    print(f"world: {args.users:,} users x {len(PRESETS)} presets, {args.days} days", flush=True)
    db = build_world(args.users, args.days)
    load_before = os.getloadavg()[0]
    log = SCRATCH / "dashboard-serve.log"
    proc, url = serve(db, log=log, timeout=1800, flags=SPEED_FLAGS)
    try:
        figures = asyncio.run(drive(url, args))
    finally:
        stop(proc)
    server_errors = app_tracebacks(log.read_text(errors="replace"))
    figures["server_tracebacks"] = server_errors
    for key in ("concurrency", "concurrency_think"):
        if key in figures:
            figures[key]["errors"] += server_errors
    figures |= {
        "users_per_run": args.users,
        "runs": len(PRESETS),
        "days": args.days,
        "target_p95_ms": 300,
        "target_first_open_p95_ms": 1000,
        "target_first_table_ms": 2000,
        "target_concurrent_p95_ms": 1500,
        "serve_flags": " ".join(SPEED_FLAGS),
        "note": f"2-core machine, load average {load_before:.1f} before the run and "
        f"{os.getloadavg()[0]:.1f} at the end (the sessions' own Chromium pages included)",
    }
    path = write_result("dashboard", figures)
    print(f"wrote {path}")
    print(figures)


if __name__ == "__main__":
    main()
