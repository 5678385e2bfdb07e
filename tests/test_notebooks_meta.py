"""The committed notebooks follow the house rules.

Every notebook has a percent-format source and vice versa; notebooks call ``lab`` only
(no SQL, no DuckDB); each opens with a markdown title and a parameter cell; cells whose
output nbval ignores hold plotting code only; and every committed notebook was executed.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SOURCES = NOTEBOOKS / "src"
IGNORE = "nbval-ignore-output"
PARAMETERS = ("USERS", "DAYS", "SEED")

# SQL in a code cell: SELECT ... FROM within one statement's reach, or FROM table [alias] WHERE
SQL = re.compile(r"\bselect\b[\s\S]{0,400}?\bfrom\b|\bfrom\s+\w+(\s+\w+)?\s+where\b", re.IGNORECASE)
PRIVATE = re.compile(r"\blab(\.\w+)*?\._(?!_)\w+")  # dunders such as lab.__version__ are public
PLOTTING = re.compile(r"\.plot\(|\bhv\.|hvplot|\bpn\.")

notebook_paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
source_paths = sorted(SOURCES.glob("[0-9][0-9]_*.py"))


def _build_module():
    spec = importlib.util.spec_from_file_location("nb_build", NOTEBOOKS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def test_there_are_notebooks():
    assert notebook_paths, "no notebooks in notebooks/"


def test_every_notebook_has_a_source_and_vice_versa():
    assert [p.stem for p in notebook_paths] == [p.stem for p in source_paths]


@pytest.mark.parametrize("path", source_paths, ids=lambda p: p.stem)
def test_committed_notebook_matches_its_source(path):
    """The committed notebook's cells are its source's cells (rebuild after editing)."""
    built = _build_module().parse(path.read_text())
    committed = _read(NOTEBOOKS / f"{path.stem}.ipynb")
    assert [(c.cell_type, c.source, _tags(c)) for c in committed.cells] == [
        (c.cell_type, c.source, _tags(c)) for c in built.cells
    ]


@pytest.mark.parametrize("path", notebook_paths, ids=lambda p: p.stem)
def test_no_sql_and_no_duckdb_in_code_cells(path):
    for cell in _code_cells(_read(path)):
        assert "duckdb" not in cell.source.lower(), cell.source
        assert not SQL.search(cell.source), f"SQL in a code cell of {path.name}:\n{cell.source}"


@pytest.mark.parametrize("path", notebook_paths, ids=lambda p: p.stem)
def test_only_the_public_api_of_lab(path):
    """No private modules (``lab._filters``, ``lab.experiments._analyze``...) in notebooks."""
    for cell in _code_cells(_read(path)):
        assert not PRIVATE.search(cell.source), f"private lab import in {path.name}:\n{cell.source}"


@pytest.mark.parametrize("path", notebook_paths, ids=lambda p: p.stem)
def test_starts_with_a_title_then_a_parameter_cell(path):
    nb = _read(path)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), first.source[:80]
    params = _code_cells(nb)[0]
    assert "parameters" in _tags(params)
    for name in PARAMETERS:
        assert re.search(rf"^{name} = ", params.source, re.MULTILINE), (
            f"{name} missing from {path.name}"
        )


@pytest.mark.parametrize("path", notebook_paths, ids=lambda p: p.stem)
def test_ignored_outputs_are_plots_only(path):
    nb = _read(path)
    ignored = [c for c in _code_cells(nb) if IGNORE in _tags(c)]
    assert ignored, f"{path.name} has no plot cell"
    for cell in ignored:
        assert PLOTTING.search(cell.source), f"a non-plot cell ignores its output:\n{cell.source}"
        for line in cell.source.splitlines():
            # plain assignments (of numbers or tables) would hide drifting results
            assert not re.match(r"^\w+\s*=\s*(?!hv\.)", line), f"computation in a plot cell: {line}"


@pytest.mark.parametrize("path", notebook_paths, ids=lambda p: p.stem)
def test_committed_notebook_was_executed_without_errors(path):
    cells = _code_cells(_read(path))
    assert all(c.execution_count is not None for c in cells), "not executed"
    outputs = [o for c in cells for o in c.outputs]
    assert outputs, "no outputs"
    assert not [o for o in outputs if o.output_type == "error"]
    streams = [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    assert not streams, f"stderr output (warnings are compared by nbval): {streams[0][:200]}"


def test_the_private_pattern_catches_private_modules():
    assert PRIVATE.search("from lab.experiments._analyze import analyze")
    assert PRIVATE.search("from lab._filters import where")
    assert not PRIVATE.search("from lab.experiments import analyze")
    assert not PRIVATE.search("print(lab.__version__)")


def test_the_sql_pattern_catches_sql():
    assert SQL.search('store.query("SELECT count(*) FROM offers")')
    assert SQL.search("x = 'from offers where run_id = 1'")
    assert not SQL.search("from lab.funnel import funnel\nselect = 1")
    assert not SQL.search("# the share of users who came from the pay page")


RECOMMENDATION = re.compile(r"\blab\.recommend_\w+\(")


@pytest.mark.parametrize("path", source_paths, ids=lambda p: p.stem)
def test_every_notebook_ends_with_a_computed_recommendation(path):
    """The last code cell calls a ``lab.recommend_*`` rule on the notebook's numbers
    (tests/test_recommend.py checks each rule follows its inputs), not a fixed text."""
    last = _code_cells(_build_module().parse(path.read_text()))[-1]
    assert RECOMMENDATION.search(last.source), f"{path.name} ends with:\n{last.source}"
    called = RECOMMENDATION.search(last.source).group(0)[4:-1]
    import lab

    assert called in lab.__all__, f"{path.name} calls {called}, not in lab's public API"
