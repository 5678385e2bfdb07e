"""README is a short front door whose links all resolve, and the generated docs are current."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_README_LINES = 200
# a Markdown link or image to a local file: [text](path) or [text](path#anchor)
LOCAL_LINK = re.compile(r"\]\((?!https?://|mailto:|#)([^)#\s]+)(?:#[^)]*)?\)")


def _updater():
    spec = importlib.util.spec_from_file_location("update_docs", ROOT / "docs" / "update_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pages() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def test_readme_starts_with_the_two_commands():
    text = README.read_text()
    first_block = text.split("```")[1]
    assert [line.strip() for line in first_block.strip().splitlines()[1:]] == [
        "make dashboard",
        "make lab",
    ]


def test_readme_is_short():
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_README_LINES, f"README has {lines} lines; move detail to docs/"


def test_readme_links_to_reading_the_dashboard():
    assert "[Reading the dashboard](docs/dashboard.md)" in README.read_text()


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.name)
def test_every_local_link_resolves(page):
    missing = [
        target
        for target in LOCAL_LINK.findall(page.read_text())
        if not (page.parent / target).exists()
    ]
    assert not missing, f"{page.relative_to(ROOT)} links to missing files: {missing}"


def test_every_docs_page_is_reachable_from_readme():
    linked = {(ROOT / t).resolve() for t in LOCAL_LINK.findall(README.read_text())}
    unlinked = [p.name for p in sorted((ROOT / "docs").glob("*.md")) if p.resolve() not in linked]
    assert not unlinked, f"docs pages README does not link to: {unlinked}"


def test_generated_sections_are_current():
    assert _updater().stale_pages() == [], "docs are stale: run `make docs`"


def test_the_benchmarks_page_lists_every_results_file(tmp_path, monkeypatch):
    updater = _updater()
    (tmp_path / "a.json").write_text('{"name": "a", "figures": {"x_seconds": 1.5}}')
    (tmp_path / "b.json").write_text('{"p95_ms": 120, "date": "2026-12-05"}')  # no "figures"
    monkeypatch.setattr(updater, "RESULTS", tmp_path)
    page = updater.benchmarks_markdown()
    assert "### a" in page and "| `x_seconds` | 1.5 |" in page
    assert "### b" in page and "| `p95_ms` | 120 |" in page and "2026-12-05" in page


def test_a_stale_section_is_refilled():
    updater = _updater()
    text = "intro\n<!-- demo:start -->\nold\n<!-- demo:end -->\noutro\n"
    assert updater.render(text, {"demo": lambda: "new"}) == (
        "intro\n<!-- demo:start -->\nnew\n<!-- demo:end -->\noutro\n"
    )
    with pytest.raises(ValueError, match="no <!-- other:start -->"):
        updater.render(text, {"other": lambda: "x"})


def test_every_make_target_readme_names_exists():
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.M))
    named = set(re.findall(r"\bmake ([a-z][a-z-]*)", README.read_text()))
    assert named and named <= targets, f"README names missing targets: {named - targets}"
