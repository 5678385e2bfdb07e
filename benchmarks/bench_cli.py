"""How quickly the command line answers: ``python -m lab --help`` and ``info``.

Run from the repository root: ``python -m benchmarks.bench_cli``. Each command runs in a
fresh interpreter, as a user types it, three times; the figure is the median wall-clock
time including Python's start-up. ``info`` reads the default database
(``data/lab.duckdb``, built by ``make data``); without one it reads a small default world
built once into ``benchmarks/scratch/cli.duckdb``, and the JSON says which was read
(``info`` does not scan the rows, so its time hardly depends on the world's size).
Targets: ``--help`` under 1 s, ``info`` under 2 s; the JSON records the load average,
since Python and pandas imports slow down several-fold on a busy box. Writes ``benchmarks/results/cli.json``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks._common import median_of, write_result

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = ROOT / "data" / "lab.duckdb"
SCRATCH_DB = ROOT / "benchmarks" / "scratch" / "cli.duckdb"
REPEATS = 3


def lab_command(*argv: str) -> None:
    """Run ``python -m lab ARGV`` from the repository root; fail loudly if it fails."""
    subprocess.run([sys.executable, "-m", "lab", *argv], cwd=ROOT, check=True, capture_output=True)


def info_database() -> Path:
    """The default database if it exists, else a small default world made once."""
    if DEFAULT_DB.exists():
        return DEFAULT_DB
    if not SCRATCH_DB.exists():
        SCRATCH_DB.parent.mkdir(parents=True, exist_ok=True)
        lab_command(
            "generate", "--preset", "default", "--users", "5000", "--days", "14",
            "--no-progress", "--db", str(SCRATCH_DB),
        )  # fmt: skip
    return SCRATCH_DB


def main() -> None:
    db = info_database()
    load_before = os.getloadavg()[0]  # the box is shared: say how busy it was
    figures = {
        "help_seconds": median_of(lambda: lab_command("--help"), REPEATS),
        "info_seconds": median_of(lambda: lab_command("info", "--db", str(db)), REPEATS),
        "info_database": str(db.relative_to(ROOT)),
        "repeats": REPEATS,
        "load_average_1min_before": load_before,
        "load_average_1min_after": os.getloadavg()[0],
    }
    print(write_result("cli", figures).read_text())


if __name__ == "__main__":
    main()
