"""nbval, as `make test` runs it, catches a model whose output drifts.

A tiny notebook calls a lab model; its committed output is the model's current
answer. Run as committed it passes; with the stored number changed (what a
changed model looks like to nbval) it fails, and the sanitizers do not hide it.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
SOURCE = """\
# %% [markdown]
# A model's answer, compared by nbval.
# %%
import lab
result = lab.compare(lab.ProportionStats(n=1000, successes=100), lab.ProportionStats(n=1000, successes=130))
print(f"effect={result.effect:.4f} p={result.p_value:.4f}")
"""


def _build_module():
    spec = importlib.util.spec_from_file_location("nb_build", ROOT / "notebooks" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nbval(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            str(path),
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbval-sanitize-with",
            str(ROOT / "notebooks" / "sanitize.cfg"),
            "--rootdir",
            str(path.parent),
        ],
        capture_output=True,
        text=True,
        cwd=path.parent,
        timeout=300,
    )


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> Path:
    nb = _build_module().parse(SOURCE)
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    path = tmp_path_factory.mktemp("nb") / "drift.ipynb"
    nbformat.write(nb, path)
    return path


def test_unchanged_output_passes(executed):
    run = _nbval(executed)
    assert run.returncode == 0, run.stdout + run.stderr


def test_changed_model_output_fails(executed, tmp_path):
    nb = nbformat.read(executed, as_version=4)
    output = nb.cells[1].outputs[0]
    assert output.text.startswith("effect=0.0300")
    output.text = output.text.replace("effect=0.0300", "effect=0.0310")
    drifted = tmp_path / "drift.ipynb"
    nbformat.write(nb, drifted)
    run = _nbval(drifted)
    assert run.returncode != 0
    assert "effect=0.0310" in run.stdout and "effect=0.0300" in run.stdout
