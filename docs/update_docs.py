"""Regenerate README's generated sections from their single sources of truth.

Sections sit between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` markers:
``schema`` (lab.schema), ``benchmarks`` (benchmarks/results/*.json),
``parameters`` (the world's behavioural parameters), ``calibration``
(docs/calibration.json, written by ``python -m lab calibrate --json``) and
``scorecard`` (docs/scorecard.json, written by ``python -m lab scorecard``). ``make readme`` runs this;
tests/test_readme.py fails when README is stale.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


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


def benchmarks_markdown() -> str:
    rows = ["| benchmark | figure | value |", "|---|---|---|"]
    results = sorted((ROOT / "benchmarks" / "results").glob("*.json"))
    for path in results:
        result = json.loads(path.read_text())
        for key, value in _flatten(result["figures"]):
            rows.append(f"| {result['name']} | `{key}` | {_fmt(value)} |")
    machines = sorted({json.loads(p.read_text())["machine"] for p in results})
    dates = sorted({json.loads(p.read_text())["date"] for p in results})
    note = (
        (
            f"\nMeasured on {'; '.join(machines)} ({', '.join(dates)}); medians of several runs "
            "where the script says so."
        )
        if results
        else "\nNo results yet: run `make bench`."
    )
    return "\n".join(rows) + "\n" + note


def parameters_markdown() -> str:
    try:
        from lab.world import parameters_frame
    except ImportError:
        return "The world's parameters are documented in `lab/world/_params.py`."
    frame = parameters_frame()
    rows = ["| parameter | value | controls | meaning |", "|---|---|---|---|"]
    for rec in frame.to_dict("records"):
        rows.append(
            f"| `{rec['name']}` | {_fmt(rec['value'])} | {rec['controls']} | {rec['doc']} |"
        )
    return "\n".join(rows)


def calibration_markdown() -> str:
    path = ROOT / "docs" / "calibration.json"
    if not path.exists():
        return "Run `python -m lab calibrate --json > docs/calibration.json`, then `make readme`."
    rows = ["| row | metric | target | tolerance | measured | ok |", "|---|---|---|---|---|---|"]
    for r in json.loads(path.read_text()):
        rows.append(
            f"| {r['id']} | `{r['metric']}` | {r['rule']} | {r['tolerance']} | "
            f"{_fmt(r['measured'])} | {'yes' if r['ok'] else '**no**'} |"
        )
    return "\n".join(rows)


def scorecard_markdown() -> str:
    path = ROOT / "docs" / "scorecard.json"
    if not path.exists():
        return "Run `python -m lab scorecard > docs/scorecard.json`, then `make readme`."
    rows = ["| section | figure | value |", "|---|---|---|"]
    for section, figures in json.loads(path.read_text()).items():
        for key, value in _flatten(figures):
            rows.append(f"| {section} | `{key}` | {_fmt(value)} |")
    return "\n".join(rows)


def _flatten(figures: dict, prefix: str = ""):
    for key, value in figures.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def sections() -> dict[str, str]:
    from lab import schema

    return {
        "schema": schema.markdown(),
        "benchmarks": benchmarks_markdown(),
        "parameters": parameters_markdown(),
        "calibration": calibration_markdown(),
        "scorecard": scorecard_markdown(),
    }


def render(text: str) -> str:
    for name, body in sections().items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        text = pattern.sub(lambda m, body=body: m.group(1) + body.strip() + "\n" + m.group(2), text)
    return text


if __name__ == "__main__":
    new = render(README.read_text())
    if "--check" in sys.argv:
        sys.exit(0 if new == README.read_text() else 1)
    README.write_text(new)
