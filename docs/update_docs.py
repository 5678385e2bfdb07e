"""Regenerate the generated sections of README and the docs pages from their sources.

A generated section sits between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` in one
page (:data:`PAGES`); the text around it is written by hand. Sources: ``lab.schema``
(``docs/schema.md``), the world's parameters (``docs/parameters.md``), every
``benchmarks/results/*.json`` (``docs/benchmarks.md``), ``docs/calibration.json``
(``python -m lab calibrate --json``, ``docs/calibration.md``), ``docs/scorecard.json``
(``python -m lab scorecard``, ``docs/scorecard.md``), and README's headline figures
taken from the same files. ``make docs`` runs this; ``--check`` exits 1 naming the stale
pages, which tests/test_readme.py does.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
_META = ("name", "figures", "machine", "date")


def _fmt(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value) or "none"
    return str(value)


def _flatten(figures: dict, prefix: str = ""):
    for key, value in figures.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _benchmark_results() -> list[dict]:
    """Every results file, whatever its layout: figures under ``figures`` or at top level."""
    results = []
    for path in sorted(RESULTS.glob("*.json")):
        record = json.loads(path.read_text())
        figures = record.get("figures")
        if not isinstance(figures, dict):
            figures = {k: v for k, v in record.items() if k not in _META}
        results.append(
            {
                "name": record.get("name", path.stem),
                "file": path.name,
                "figures": figures,
                "machine": record.get("machine"),
                "date": record.get("date"),
            }
        )
    return results


def benchmarks_markdown() -> str:
    results = _benchmark_results()
    if not results:
        return "No results yet: run `make bench`."
    parts = []
    for result in results:
        when = ", ".join(str(x) for x in (result["date"], result["machine"]) if x)
        rows = [f"### {result['name']}", ""]
        rows.append(f"`benchmarks/results/{result['file']}`" + (f" ({when})" if when else ""))
        rows += ["", "| figure | value |", "|---|---|"]
        rows += [f"| `{key}` | {_fmt(value)} |" for key, value in _flatten(result["figures"])]
        parts.append("\n".join(rows))
    return "\n\n".join(parts)


def parameters_markdown() -> str:
    from lab.world import parameters_frame

    rows = ["| parameter | value | controls | meaning |", "|---|---|---|---|"]
    for rec in parameters_frame().to_dict("records"):
        rows.append(
            f"| `{rec['name']}` | {_fmt(rec['value'])} | {rec['controls']} | {rec['doc']} |"
        )
    return "\n".join(rows)


def _calibration_rows() -> list[dict] | None:
    path = ROOT / "docs" / "calibration.json"
    return json.loads(path.read_text()) if path.exists() else None


def calibration_markdown() -> str:
    rows = _calibration_rows()
    if rows is None:
        return "Run `python -m lab calibrate --json > docs/calibration.json`, then `make docs`."
    table = ["| row | metric | target | tolerance | measured | ok |", "|---|---|---|---|---|---|"]
    for r in rows:
        table.append(
            f"| {r['id']} | `{r['metric']}` | {r['rule']} | {r['tolerance']} | "
            f"{_fmt(r['measured'])} | {'yes' if r['ok'] else '**no**'} |"
        )
    return "\n".join(table)


def _scorecard() -> dict | None:
    path = ROOT / "docs" / "scorecard.json"
    return json.loads(path.read_text()) if path.exists() else None


def scorecard_markdown() -> str:
    card = _scorecard()
    if card is None:
        return "Run `python -m lab scorecard > docs/scorecard.json`, then `make docs`."
    rows = ["| section | figure | value |", "|---|---|---|"]
    for section, figures in card.items():
        for key, value in _flatten(figures):
            rows.append(f"| {section} | `{key}` | {_fmt(value)} |")
    failed = [
        f"`{section}.{key}`"
        for section, figures in card.items()
        for key, value in _flatten(figures.get("checks", {}))
        if value is False
    ]
    note = (
        f"\n\nChecks that do not pass: {', '.join(failed)}; what each means is explained above."
        if failed
        else "\n\nEvery check passes."
    )
    return "\n".join(rows) + note


# (benchmark, figure, label, format) quoted in README when the results file has it
HEADLINE_FIGURES = (
    ("world", "issuance_coupons_per_s_median", "issuance", lambda v: f"{v / 1e6:.2f}M coupons/s"),
    ("cli", "help_seconds", "`python -m lab --help`", lambda v: f"{v:.2f} s"),
    ("cli", "info_seconds", "`info`", lambda v: f"{v:.2f} s"),
)


def _in_turns(ab: dict, figure: str) -> tuple[float, float] | None:
    """``figure``'s medians (this tree, baseline) from a run in turns with a baseline
    (``bench_dashboard_ab``), None if that run did not measure it."""
    key = f"median_of_rounds.{{}}.{figure}"
    if key.format("lab") not in ab:
        return None
    return ab[key.format("lab")], ab[key.format("baseline")]


def _side_by_side(ab: dict) -> str:
    """The concurrent run's settled p95 beside its baseline's, measured in turns: one
    full run's concurrent figures swing several-fold with the machine."""
    settled = _in_turns(ab, "settled_update_p95_ms")
    if settled is None:
        return ""
    rounds = f"{ab['rounds']} round{'s' if ab['rounds'] != 1 else ''} each"
    errors = _in_turns(ab, "errors")
    return (
        f"; in turns with {ab['baseline_ref']} ({rounds}) the settled p95 "
        f"was {settled[0] / 1000:.1f} s against {settled[1] / 1000:.1f} s"
        + (
            f", with {errors[0]:.0f} and {errors[1]:.0f} page errors"
            if errors and errors[0]
            else ""
        )
    )


def _over_a_link(ab: dict) -> str:
    """The first table on an emulated slow link, beside its baseline's: what a user far
    from the server waits for (scripts trimmed and gzipped)."""
    first_table = _in_turns(ab, "first_table_median_ms")
    if first_table is None:
        return ""
    return (
        f" ({first_table[0] / 1000:.1f} s on an emulated {ab['link_mbps']:.0f} Mbit/s "
        f"link, {first_table[1] / 1000:.1f} s with {ab['baseline_ref']})"
    )


def _later_change_in_turns(ab: dict) -> str:
    """The later change's p95 from the run in turns with a baseline, beside the full run's."""
    p95 = _in_turns(ab, "p95_ms")
    if p95 is None:
        return ""
    return f", {p95[0]:.0f} ms in turns with {ab['baseline_ref']} ({p95[1]:.0f} ms)"


def headlines_markdown() -> str:
    """README's few figures, from the same sources as the pages they link to."""
    lines = []
    rows = _calibration_rows()
    if rows is not None:
        ok = sum(bool(r["ok"]) for r in rows)
        lines.append(
            f"- **Calibration**: {ok} of {len(rows)} checks of the seed's figures pass, each "
            "measured from the generated logs ([table](docs/calibration.md))."
        )
    card = _scorecard()
    if card is not None:
        checks = [v for f in card.values() for _, v in _flatten(f.get("checks", {}))]
        lines.append(
            f"- **Scorecard**: {sum(checks)} of {len(checks)} self-checks pass against the "
            "simulated truth ([table and the ones that do not](docs/scorecard.md))."
        )
    results = {r["name"]: dict(_flatten(r["figures"])) for r in _benchmark_results()}
    quoted = [
        f"{label} {unit(results[name][key])}"
        for name, key, label, unit in HEADLINE_FIGURES
        if key in results.get(name, {})
    ]
    dash = results.get("dashboard", {})
    if "latency.p95_ms" in dash:
        lines.append(
            f"- **Dashboard** ({dash['runs']} strategies × {dash['users_per_run'] // 1000}k "
            "users, 2 cores, medians of 3 sessions): first table "
            f"{dash['first_opens.first_table_median_ms'] / 1000:.1f} s (target 2 s)"
            + _over_a_link(results.get("dashboard_ab_first_opens_link", {}))
            + "; first open "
            f"of a tab p95 {dash['first_opens.tab_first_open_p95_ms'] / 1000:.2f} s clicked at once, "
            + (
                f"{dash['first_opens_after_reading.tab_first_open_p95_ms'] / 1000:.2f} s after "
                f"{dash['first_opens_after_reading.read_seconds']:.0f} s on the Overview "
                if "first_opens_after_reading.tab_first_open_p95_ms" in dash
                else ""
            )
            + "(target 1 s); "
            f"later change p95 {dash['latency.p95_ms']:.0f} ms"
            + _later_change_in_turns(results.get("dashboard_ab", {}))
            + " (target 300 ms); 20 sessions clicking every 3 s"
            + (
                f" (medians of {dash['concurrency_think.runs']} runs)"
                if "concurrency_think.runs" in dash
                else ""
            )
            + ", p95 "
            f"{dash['concurrency_think.update_p95_ms'] / 1000:.1f} s, "
            f"{dash['concurrency_think.settled_update_p95_ms'] / 1000:.1f} s once all pages are "
            "open (target 1.5 s)"
            + (
                f"; {dash['concurrency_think.late_updates']} updates over a minute late while "
                f"the pages opened, {dash['concurrency_think.errors']} errors"
                if "concurrency_think.late_updates" in dash
                else ""
            )
            + _side_by_side(results.get("dashboard_ab_concurrency", {}))
            + " ([why](docs/dashboard-speed.md))."
        )
    if results:
        lines.append(
            f"- **Benchmarks**: {'; '.join(quoted) or 'see the figures'} "
            f"({len(results)} result files, [figures](docs/benchmarks.md))."
        )
    return "\n".join(lines) or "No figures yet: run `make bench` and `make docs`."


def schema_markdown() -> str:
    from lab import schema

    return schema.markdown()


PAGES: dict[str, dict[str, Callable[[], str]]] = {
    "README.md": {"headlines": headlines_markdown},
    "docs/calibration.md": {"calibration": calibration_markdown},
    "docs/scorecard.md": {"scorecard": scorecard_markdown},
    "docs/benchmarks.md": {"benchmarks": benchmarks_markdown},
    "docs/schema.md": {"schema": schema_markdown},
    "docs/parameters.md": {"parameters": parameters_markdown},
}


def render(text: str, sections: dict[str, Callable[[], str]]) -> str:
    """``text`` with each section's markers refilled; a missing marker pair is an error."""
    for name, make in sections.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"no <!-- {name}:start --> ... <!-- {name}:end --> markers")
        body = make().strip()
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    return text


def stale_pages() -> list[str]:
    """Pages whose generated sections differ from what their sources give now."""
    return [
        page
        for page, sections in PAGES.items()
        if render((ROOT / page).read_text(), sections) != (ROOT / page).read_text()
    ]


if __name__ == "__main__":
    if "--check" in sys.argv:
        stale = stale_pages()
        print("stale: " + ", ".join(stale) if stale else "all pages current")
        sys.exit(1 if stale else 0)
    for page, sections in PAGES.items():
        path = ROOT / page
        path.write_text(render(path.read_text(), sections))
