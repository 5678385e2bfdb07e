"""README opens with its two commands and its generated sections are current."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _updater():
    spec = importlib.util.spec_from_file_location(
        "update_readme", ROOT / "docs" / "update_readme.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```")[1]
    assert [line.strip() for line in first_block.strip().splitlines()[1:]] == [
        "make dashboard",
        "make test",
    ]


def test_generated_sections_are_current():
    text = (ROOT / "README.md").read_text()
    assert _updater().render(text) == text, "README is stale: run `make readme`"
