"""Regenerate README's generated sections from their single sources of truth.

Sections sit between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` markers:
``schema`` (lab.schema), ``benchmarks`` (benchmarks/results/*.json) and
``parameters`` (the world's behavioural parameters). ``make readme`` runs this;
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
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def benchmarks_markdown() -> str:
    rows = ["| benchmark | figure | value |", "|---|---|---|"]
    results = sorted((ROOT / "benchmarks" / "results").glob("*.json"))
    for path in results:
        result = json.loads(path.read_text())
        for key, value in result["figures"].items():
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


def sections() -> dict[str, str]:
    from lab import schema

    return {
        "schema": schema.markdown(),
        "benchmarks": benchmarks_markdown(),
        "parameters": parameters_markdown(),
    }


def render(text: str) -> str:
    for name, body in sections().items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(\n<!-- {name}:end -->)", re.S)
        text = pattern.sub(lambda m, body=body: m.group(1) + body.strip() + m.group(2), text)
    return text


if __name__ == "__main__":
    new = render(README.read_text())
    if "--check" in sys.argv:
        sys.exit(0 if new == README.read_text() else 1)
    README.write_text(new)
