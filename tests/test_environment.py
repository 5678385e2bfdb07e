"""The conda environment and the pip project must ask for the same packages."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"python-duckdb": "duckdb"}


def _split(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def _pyproject() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["dev"]
    return dict(_split(r) for r in requirements)


def _conda() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    packages = {}
    for dep in env["dependencies"]:
        if not isinstance(dep, str) or dep.startswith(("python=", "pip")):
            continue
        name, spec = _split(dep)
        packages[CONDA_TO_PYPI.get(name, name)] = spec
    return packages


def test_environment_yml_matches_pyproject():
    assert _conda() == _pyproject()


def test_lock_pins_every_declared_package():
    lock = (ROOT / "requirements.lock").read_text()
    pinned = {m.group(1).lower() for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==", lock, re.M)}
    missing = set(_pyproject()) - pinned
    assert not missing, f"requirements.lock lacks {sorted(missing)}: run uv pip compile"
