"""Build the committed notebooks from their percent-format sources and execute them.

Sources live in ``notebooks/src/NN_name.py``: cells start with ``# %%`` (code) or
``# %% [markdown]`` (markdown, each line prefixed by ``# ``); ``# %% tags=["a", "b"]``
sets cell tags (``nbval-ignore-output`` on cells whose output is a plot: bokeh
embeds random ids, so only numbers and tables are compared). Diffs of plain Python
review better than JSON, and outputs are regenerated rather than edited by hand.

    python notebooks/build.py            # every notebook
    python notebooks/build.py 03 05      # the ones whose names start with these
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
CELL = re.compile(r"^# %%(?P<md> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")


def parse(source: str) -> nbformat.NotebookNode:
    """Turn a percent-format script into a notebook (no outputs)."""
    cells: list[tuple[bool, list[str], list[str]]] = []
    for line in source.splitlines():
        match = CELL.match(line)
        if match:
            tags = json.loads(match["tags"]) if match["tags"] else []
            cells.append((bool(match["md"]), tags, []))
        elif cells:
            cells[-1][2].append(line)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    for is_markdown, tags, lines in cells:
        text = "\n".join(lines).strip("\n")
        if is_markdown:
            cell = nbformat.v4.new_markdown_cell(
                "\n".join(re.sub(r"^# ?", "", ln) for ln in text.splitlines())
            )
        else:
            cell = nbformat.v4.new_code_cell(text)
        if tags:
            cell.metadata["tags"] = tags
        cell.id = f"cell-{len(nb.cells):02d}"  # stable ids keep rebuild diffs to real changes
        nb.cells.append(cell)
    return nb


def build(source_path: Path) -> float:
    """Execute one notebook from its source and write it beside the sources' folder."""
    nb = parse(source_path.read_text())
    started = time.perf_counter()
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
    ).execute()
    elapsed = time.perf_counter() - started
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, HERE / f"{source_path.stem}.ipynb")
    return elapsed


if __name__ == "__main__":
    prefixes = sys.argv[1:]
    for path in sorted((HERE / "src").glob("*.py")):
        if prefixes and not path.name.startswith(tuple(prefixes)):
            continue
        print(f"{path.stem}: {build(path):.1f} s", flush=True)
