"""The command line: ``python -m lab <command> [options]``.

Commands
--------
``generate``  simulate a strategy (a preset or a JSON file) into the store
``rush``      send a burst of claim attempts through the issuance engine into the store
``import``    load a real log (Tianchi O2O, WeChat Pay, Alipay, mapped CSV, lab format) or an export
``info``      list the runs with row counts and the file size (``--json`` for machines)
``export``    write one run as Parquet files (one per table), as WeChat Pay / Alipay files, or
              copy it to Spark/ClickHouse (``--to``)
``delete``    remove one run
``calibrate`` simulate the calibration worlds, measure every CALIBRATION.md row, check it
``scorecard`` score the estimators (A/A false positives, coverage, uplift policy) on truth

Commands that read or write the store take ``--db PATH`` (default ``data/lab.duckdb``;
``calibrate`` simulates in memory unless given one). Bad input prints one line,
``error: ...``, on stderr and exits with status 2.

Adding a command: put a :class:`Command` in :data:`COMMANDS` (name -> help, a function
adding its arguments to an ``argparse`` parser, and a handler taking the parsed
namespace and returning the exit status). Import pandas, DuckDB and the models inside
the handler, not at the top of this module: ``--help`` must answer at once.

Example
-------
>>> from lab.cli import main
>>> main(["info", "--db", ":memory:"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# literals rather than imports, so building the parser loads nothing heavy; tests/test_cli.py
# checks them against lab.store.DEFAULT_PATH, lab.ingest.FORMATS and lab.scorecard.SECTIONS
DEFAULT_DB = "data/lab.duckdb"
IMPORT_FORMATS = ("auto", "tianchi", "lab", "wechatpay", "alipay", "mapped")
SCORECARD_SECTIONS = ("experiments", "targeting")
_DB_HELP = f"database file (default: {DEFAULT_DB})"


@dataclass(frozen=True)
class Command:
    """One subcommand: its help line, its arguments, and what it does.

    ``db_default`` and ``db_help`` describe its ``--db`` option; ``db_help=None`` for a
    command that does not touch the store.
    """

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    db_default: str | None = DEFAULT_DB
    db_help: str | None = _DB_HELP


# -- generate -----------------------------------------------------------------------
def _strategy_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by the commands that run a strategy: which one, seed, run id."""
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--preset", metavar="NAME", help="a named strategy from lab.world")
    which.add_argument(
        "--strategy", metavar="FILE.json", type=Path, help="a strategy saved as JSON"
    )
    p.add_argument("--users", type=int, help="number of simulated users (default: the simulator's)")
    p.add_argument(
        "--seed", type=int, help="random seed, same seed same logs (default: the simulator's)"
    )
    p.add_argument(
        "--run-id", help="id of the new run (default: derived from the strategy and seed)"
    )
    p.add_argument(
        "--no-progress", dest="progress", action="store_false", help="hide the progress bar"
    )


def _run_strategy(args: argparse.Namespace, run, options: tuple[str, ...], verb: str) -> int:
    """Load the strategy ``args`` name, ``run`` it with the options given, print the counts."""
    from lab import world  # the simulator is heavy: load it only when asked to simulate

    if args.preset:
        strategy = world.preset(args.preset)
    else:
        try:
            strategy = world.Strategy.from_json(args.strategy.read_text(encoding="utf-8"))
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{args.strategy}: not a valid strategy ({exc})") from exc
    from lab.store import Store

    given = {k: getattr(args, k) for k in options if getattr(args, k) is not None}
    store = Store(args.db)
    run_id = run(strategy, store=store, progress=args.progress, **given)
    counts = store.describe_run(run_id).query("rows > 0")
    print(
        f"{verb} run {run_id} in {args.db}: "
        + ", ".join(f"{r.table} {r.rows:,}" for r in counts.itertuples())
    )
    return 0


def _generate_arguments(p: argparse.ArgumentParser) -> None:
    _strategy_arguments(p)
    p.add_argument("--days", type=int, help="campaign length in days (default: the simulator's)")
    p.add_argument(
        "--pre-days",
        type=int,
        help="days of coupon-free orders before the campaign (default: the simulator's)",
    )


def _generate(args: argparse.Namespace) -> int:
    from lab.world import simulate

    options = ("users", "days", "pre_days", "seed", "run_id")
    return _run_strategy(args, simulate, options, "generated")


# -- rush -------------------------------------------------------------------------------
def _rush_arguments(p: argparse.ArgumentParser) -> None:
    _strategy_arguments(p)
    p.add_argument("--claims", type=int, help="claim attempts in the burst (default: claim_rush's)")
    p.add_argument(
        "--seconds", type=float, help="length of the burst in seconds (default: claim_rush's)"
    )
    p.add_argument(
        "--day", type=int, help="campaign day of the burst, 0 = first (default: claim_rush's)"
    )
    p.add_argument(
        "--hour", type=int, help="hour at which the burst starts (default: claim_rush's)"
    )


def _rush(args: argparse.Namespace) -> int:
    from lab.world import claim_rush

    options = ("claims", "users", "seconds", "day", "hour", "seed", "run_id")
    return _run_strategy(args, claim_rush, options, "rushed")


# -- import ---------------------------------------------------------------------------
#: how much ``import`` lowers its CPU priority by default: a bulk import is background
#: work, and a dashboard sharing the machine must not wait for CPU behind it
IMPORT_NICENESS = 10


def _import_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", type=Path, help="a log file or directory")
    p.add_argument(
        "--format", choices=IMPORT_FORMATS, default="auto", help="log format (default: auto)"
    )
    p.add_argument(
        "--table", help="lab format, single file: the table it holds (default: file name)"
    )
    p.add_argument("--run-id", help="id of the new run")
    p.add_argument("--label", help="human-readable name of the run")
    p.add_argument("--mapping", type=Path, help="--format mapped: the YAML column mapping")
    p.add_argument(
        "--apiv3-key-file",
        type=Path,
        help="--format wechatpay: file holding the merchant's APIv3 key (encrypted callbacks)",
    )
    p.add_argument(
        "--encoding",
        help="text encoding of CSV files (default: UTF-8, UTF-16 or GB18030, detected)",
    )
    p.add_argument(
        "--timezone",
        default="Asia/Shanghai",
        help="the run's local time zone; timestamps with an offset are converted to it",
    )
    p.add_argument(
        "--nice",
        type=_niceness,
        default=IMPORT_NICENESS,
        help="lower the import's CPU priority by N so dashboards and notebooks reading "
        "meanwhile come first; with Linux autogroups the import runs in a session of its "
        f"own whose group is lowered too (default {IMPORT_NICENESS}; 0 keeps it)",
    )
    p.add_argument(
        "--threads",
        type=int,
        help="DuckDB threads for the import (default: every core but one)",
    )


def _niceness(text: str) -> int:
    """``--nice``: how much to lower the CPU priority, 0 to 19."""
    niceness = int(text)
    if not 0 <= niceness <= 19:
        raise argparse.ArgumentTypeError(f"must be from 0 to 19; got {niceness}")
    return niceness


def _key(path: Path | None) -> bytes | None:
    """The APIv3 key from a file (not the command line, where other users could see it)."""
    return None if path is None else path.read_bytes().strip()


def _import(args: argparse.Namespace) -> int:
    from lab.ingest import import_logs
    from lab.store import Store

    store = Store(args.db)
    if args.path.is_dir() and (args.path / "runs.parquet").exists():
        # a directory written by `export`: the run comes back whole, with its own runs row
        run_id = store.import_parquet(args.path, run_id=args.run_id)
        print(f"imported exported run {run_id} from {args.path} into {args.db}")
        return 0
    before = set(store.runs()["run_id"])
    run_id = import_logs(
        args.path,
        store=store,
        format=args.format,
        run_id=args.run_id,
        label=args.label,
        table=args.table,
        apiv3_key=_key(args.apiv3_key_file),
        mapping=args.mapping,
        encoding=args.encoding,
        timezone=args.timezone,
        threads=args.threads,
    )
    if run_id in before:
        print(f"{args.path} was imported before as run {run_id}; nothing written")
    else:
        counts = store.describe_run(run_id).query("rows > 0")
        print(
            f"imported {args.path} as run {run_id}: "
            + ", ".join(f"{r.table} {r.rows:,}" for r in counts.itertuples())
        )
    return 0


# -- info -----------------------------------------------------------------------------
def _info_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _info(args: argparse.Namespace) -> int:
    from lab.store import Store

    store = Store(args.db, read_only=True)
    runs = store.info()
    size = store.file_size()
    if args.json:
        records = (
            json.loads(runs.to_json(orient="records", date_format="iso")) if not runs.empty else []
        )
        print(json.dumps({"db": args.db, "file_size_bytes": size, "runs": records}, indent=2))
    elif runs.empty:
        print(f"{args.db} ({size / 1e6:.1f} MB): no runs")
    else:
        print(f"{args.db} ({size / 1e6:.1f} MB), {len(runs)} run(s):")
        print(runs.to_string(index=False))
    return 0


# -- export / delete --------------------------------------------------------------------
def _export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", help="run to export (or give it before DIR)")
    p.add_argument("paths", nargs="*", metavar="[RUN] DIR", help="run id and output directory")
    p.add_argument(
        "--format",
        choices=("parquet", "wechatpay", "alipay"),
        default="parquet",
        help="parquet (one file per table, default), or the files WeChat Pay / Alipay give",
    )
    p.add_argument(
        "--apiv3-key-file",
        type=Path,
        help="--format wechatpay: encrypt the COUPON.USE callbacks with the key in this file",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=0,
        help="--format wechatpay: repeat every fourth callback this many times",
    )
    p.add_argument(
        "--to",
        metavar="URL",
        help="copy the run into a store on another engine instead of a directory: "
        "sc://host:15002 (Spark Connect), spark://host:7077, local[2], clickhouse://... "
        "(docs/scale.md)",
    )
    p.add_argument("--database", help="--to: database of the lab's tables on that engine")


def _export(args: argparse.Namespace) -> int:
    from lab.ingest import export_platform
    from lab.store import Store

    wanted = 1 if args.to is not None else 2  # the run, and the directory unless --to
    given = len(args.paths) + (args.run is not None)
    if given < wanted:
        raise ValueError("export: name the run and a directory for the files, or --to URL")
    if given > wanted:
        raise ValueError("export: give the run once: `export RUN DIR` or `export --run RUN DIR`")
    run_id = args.run or args.paths[0]
    store = Store(args.db, read_only=True)
    if args.to is not None:
        rows = Store.from_ibis(args.to, database=args.database).copy_run(store, run_id)
        print(f"copied run {run_id} to {args.to} ({sum(rows.values())} rows)")
        return 0
    directory = Path(args.paths[-1])
    if args.format == "parquet":
        written = store.export_parquet(directory, run_id=run_id)
    else:
        written = export_platform(
            store,
            run_id,
            directory,
            format=args.format,
            apiv3_key=_key(args.apiv3_key_file),
            retries=args.retries,
        )
    print(f"exported run {run_id} to {directory} ({len(written)} {args.format} files)")
    return 0


def _delete_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="run to delete")


def _delete(args: argparse.Namespace) -> int:
    from lab.store import Store

    Store(args.db).delete_run(args.run)
    print(f"deleted run {args.run} from {args.db}")
    return 0


# -- calibrate ------------------------------------------------------------------------
def _calibrate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per row")
    p.add_argument("--seed", type=int, default=7, help="seed of the calibration worlds")
    p.add_argument(
        "--scale", type=float, default=1.0, help="multiply every world's users (noisier below 1)"
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress")


def _calibrate(args: argparse.Namespace) -> int:
    from lab import calibration
    from lab.store import Store

    # the worlds are scratch data: simulate them in memory unless --db was given
    store = Store(args.db or ":memory:")
    table = calibration.calibrate(store, seed=args.seed, scale=args.scale, progress=args.progress)
    targets = {t.id: t for t in calibration.TARGETS}
    if args.json:
        rows = [
            {
                "id": r.id,
                "metric": r.metric,
                "target": targets[r.id].target,
                "rule": r.target,
                "tolerance": targets[r.id].tolerance,
                "measured": r.measured,
                "ok": bool(r.ok),
            }
            for r in table.itertuples()
        ]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print(f"\n{int(table['ok'].sum())} of {len(table)} checks pass")
    return 0 if table["ok"].all() else 1


# -- scorecard ------------------------------------------------------------------------
def _scorecard_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--section",
        action="append",
        choices=SCORECARD_SECTIONS,
        help="a section to run; repeat for several (default: all)",
    )
    p.add_argument("--quick", action="store_true", help="small worlds, few replicates")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress")


def _scorecard(args: argparse.Namespace) -> int:
    from lab.scorecard import run_scorecard

    sections = tuple(args.section or SCORECARD_SECTIONS)
    figures = run_scorecard(
        sections=sections, quick=args.quick, seed=args.seed, progress=args.progress
    )
    print(json.dumps(figures, indent=2, default=float))
    return 0


COMMANDS: dict[str, Command] = {
    "generate": Command("simulate a strategy into the store", _generate_arguments, _generate),
    "rush": Command(
        "send a burst of claim attempts through the issuance engine", _rush_arguments, _rush
    ),
    "import": Command("import a real log or an exported run", _import_arguments, _import),
    "info": Command("list the runs in the store", _info_arguments, _info),
    "export": Command("export one run as Parquet files", _export_arguments, _export),
    "delete": Command("delete one run", _delete_arguments, _delete),
    "calibrate": Command(
        "simulate the calibration worlds and check every CALIBRATION.md row",
        _calibrate_arguments,
        _calibrate,
        db_default=None,
        db_help="keep the calibration worlds in this database file (default: in memory)",
    ),
    "scorecard": Command(
        "score the lab's estimators against the simulated truth",
        _scorecard_arguments,
        _scorecard,
        db_help=None,  # its worlds live in memory
    ),
}


def _user_errors() -> tuple[type[Exception], ...]:
    """What a user can cause and fix; anything else is a bug and keeps its traceback."""
    from lab.ingest import LogImportError
    from lab.store import StoreError

    return (LogImportError, StoreError, ValueError, KeyError, OSError)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command in :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(prog="python -m lab", description="Coupon strategy lab.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.help, description=command.help)
        if command.db_help is not None:
            p.add_argument("--db", default=command.db_default, metavar="PATH", help=command.db_help)
        command.add_arguments(p)
        p.set_defaults(handler=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Run as the program (``argv`` None), a command with ``--nice`` works in a child process
    in a session of its own (:func:`lab._priority.run_niced`). Called with ``argv``, as from
    tests or a notebook, it stays in this process, whose threads and captured output a fork
    would not carry, and only ``os.nice`` applies.
    """
    from lab._priority import run_niced

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has already printed
        return int(exc.code or 0)
    # SIGTERM unwinds like Ctrl-C, so staging folders and transactions are cleaned up
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    niceness = getattr(args, "nice", 0)
    if argv is None:
        return run_niced(niceness, lambda: _run(args))
    os.nice(niceness)
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command; a user's error is one line on stderr and status 2."""
    try:
        return args.handler(args)
    except Exception as exc:
        if not isinstance(exc, _user_errors()):
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2
