"""python -m lab: every command, its output, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

import lab
from lab import cli
from lab.store import Store

DATA = Path(__file__).parent / "data"
TIANCHI = DATA / "tianchi_o2o_sample.csv"
LAB_DIR = DATA / "lab_format"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_info_delete(tmp_path, capsys):
    db = str(tmp_path / "lab.duckdb")
    code, out, err = run(
        capsys, "import", str(TIANCHI), "--db", db, "--run-id", "o2o", "--label", "sample"
    )
    assert (code, err) == (0, "")
    assert out.startswith(f"imported {TIANCHI} as run o2o: users ")
    code, out, _ = run(capsys, "import", str(TIANCHI), "--db", db)
    assert (code, out) == (0, f"{TIANCHI} was imported before as run o2o; nothing written\n")
    assert run(capsys, "import", str(LAB_DIR), "--db", db, "--run-id", "hand")[0] == 0

    code, out, _ = run(capsys, "info", "--db", db, "--json")
    info = json.loads(out)
    store = Store(db, read_only=True)
    assert info["file_size_bytes"] == Path(db).stat().st_size > 0
    by_id = {r["run_id"]: r for r in info["runs"]}
    assert set(by_id) == {"o2o", "hand"}
    for run_id, row in by_id.items():
        rows = store.describe_run(run_id).set_index("table")["rows"]
        assert {k: row[k] for k in ("users", "offers", "coupons", "events", "orders")} == {
            k: int(rows[k]) for k in ("users", "offers", "coupons", "events", "orders")
        }
    assert by_id["o2o"]["label"] == "sample" and by_id["o2o"]["origin"] == "import"

    code, out, _ = run(capsys, "info", "--db", db)
    assert code == 0 and "2 run(s)" in out and "o2o" in out and "hand" in out

    assert run(capsys, "delete", "--run", "o2o", "--db", db)[:2] == (
        0,
        f"deleted run o2o from {db}\n",
    )
    assert Store(db, read_only=True).runs()["run_id"].tolist() == ["hand"]


def test_export_then_import_the_exported_directory(tmp_path, capsys):
    db = str(tmp_path / "lab.duckdb")
    run(capsys, "import", str(LAB_DIR), "--db", db, "--run-id", "hand")
    code, out, _ = run(capsys, "export", "--run", "hand", str(tmp_path / "out"), "--db", db)
    assert code == 0 and (tmp_path / "out" / "orders.parquet").exists()
    code, out, _ = run(capsys, "import", str(tmp_path / "out"), "--db", db, "--run-id", "copy")
    assert code == 0
    store = Store(db, read_only=True)
    assert store.describe_run("copy").equals(store.describe_run("hand"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["delete", "--run", "nope"], "error: no run 'nope' in {db} (runs: none)"),
        (
            ["info", "--db", "{tmp}/missing.duckdb"],
            "error: {tmp}/missing.duckdb: no database here. Build one with `python -m lab generate` or `make data`.",
        ),
        (
            ["import", "{tmp}/bad/orders.csv"],
            "error: {tmp}/bad/orders.csv:2: column amount_fen: negative amount -1 fen",
        ),
        (
            ["import", str(TIANCHI), "--format", "lab"],
            f"error: {TIANCHI}: not a lab table; name the file after one of users, stocks, offers, coupons, events, orders, assignments, weather, engine_metrics or pass table=",
        ),
    ],
)
def test_errors_are_one_line_on_stderr_with_status_2(tmp_path, capsys, argv, message):
    db = str(tmp_path / "lab.duckdb")
    Store(db)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "orders.csv").write_text(
        "order_id,user_id,ts,merchant_id,order_channel,platform,amount_fen,discount_fen,coupon_id\n"
        "1,1,2026-07-01 10:00:00,,,,-1,0,\n"
    )
    argv = [a.format(tmp=tmp_path) for a in argv]
    if "--db" not in argv:
        argv += ["--db", db]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err == message.format(tmp=tmp_path, db=db) + "\n"


def test_usage_errors_exit_2(capsys):
    code, _, err = run(capsys, "generate")
    assert code == 2 and "one of the arguments --preset --strategy is required" in err
    assert run(capsys, "frobnicate")[0] == 2


@pytest.fixture
def fake_world(monkeypatch):
    """Stand-in for lab.world: records what the CLI passes to simulate()."""
    calls = []

    class Strategy:
        @classmethod
        def from_json(cls, text):
            return ("from_json", json.loads(text))

    def simulate(strategy, *, store, progress, **options):
        calls.append({"strategy": strategy, "path": store.path, "progress": progress, **options})
        run_id = options.get("run_id", "sim")
        store.create_run(run_id, origin="synthetic", seed=options.get("seed"))
        return run_id

    world = types.SimpleNamespace(
        preset=lambda name: ("preset", name), Strategy=Strategy, simulate=simulate
    )
    monkeypatch.setitem(sys.modules, "lab.world", world)
    monkeypatch.setattr(lab, "world", world, raising=False)
    return calls


def test_generate_passes_only_the_options_given(tmp_path, capsys, fake_world):
    db = str(tmp_path / "lab.duckdb")
    code, out, _ = run(capsys, "generate", "--preset", "default", "--db", db)
    assert code == 0 and out.startswith(f"generated run sim in {db}")
    assert fake_world[-1] == {"strategy": ("preset", "default"), "path": db, "progress": True}

    path = tmp_path / "s.json"
    path.write_text('{"name": "mine"}')
    argv = [
        "generate",
        "--strategy",
        str(path),
        "--users",
        "500",
        "--days",
        "14",
        "--pre-days",
        "7",
        "--seed",
        "3",
        "--run-id",
        "r2",
        "--no-progress",
        "--db",
        db,
    ]
    assert run(capsys, *argv)[0] == 0
    assert fake_world[-1] == {
        "strategy": ("from_json", {"name": "mine"}),
        "path": db,
        "progress": False,
        "users": 500,
        "days": 14,
        "pre_days": 7,
        "seed": 3,
        "run_id": "r2",
    }
    assert Store(db, read_only=True).run("r2")["seed"] == 3


def test_commands_are_registered_in_one_dict(monkeypatch, capsys):
    def add(p):
        p.add_argument("--times", type=int, default=1)

    def hello(args):
        print("hello " * args.times + args.db)
        return 0

    monkeypatch.setitem(cli.COMMANDS, "hello", cli.Command("say hello", add, hello))
    assert run(capsys, "hello", "--times", "2", "--db", "x.duckdb")[:2] == (
        0,
        "hello hello x.duckdb\n",
    )


def test_python_dash_m_lab_runs_the_cli(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "lab", "info", "--db", str(tmp_path / "none.duckdb")],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[1],
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1


def test_generate_names_a_bad_strategy_file(tmp_path, capsys, fake_world):
    path = tmp_path / "s.json"
    path.write_text("{not json")
    code, _, err = run(
        capsys, "generate", "--strategy", str(path), "--db", str(tmp_path / "x.duckdb")
    )
    assert (
        code == 2
        and err.startswith(f"error: {path}: not a valid strategy (")
        and err.count("\n") == 1
    )


def test_generate_with_the_real_world(tmp_path, capsys):
    world = pytest.importorskip("lab.world")
    db = str(tmp_path / "lab.duckdb")
    name = world.PRESETS[0]
    argv = ["generate", "--preset", name, "--users", "300", "--days", "3", "--pre-days", "3"]
    code, out, err = run(capsys, *argv, "--seed", "5", "--no-progress", "--db", db)
    assert (code, err) == (0, "")
    run_id = out.split()[2]
    meta = Store(db, read_only=True).run(run_id)
    assert (meta["origin"], meta["seed"], meta["n_users"], meta["days"]) == ("synthetic", 5, 300, 3)


def test_calibrate_json_lists_every_row_and_its_exit_status_follows_the_rows(capsys, monkeypatch):
    # a tiny scale keeps this quick; whether rows pass at this scale does not matter here,
    # only that every row is reported and the exit status says whether all passed
    code, out, _ = run(capsys, "calibrate", "--json", "--scale", "0.02", "--no-progress")
    rows = json.loads(out)
    assert {r["id"] for r in rows} == {t.id for t in lab.calibration.TARGETS} - {"C6"}
    assert all({"id", "target", "tolerance", "measured", "ok"} <= set(r) for r in rows)
    assert code == (0 if all(r["ok"] for r in rows) else 1)


def test_calibrate_exits_non_zero_when_a_row_is_off(capsys, monkeypatch):
    real = lab.calibration.measure_all

    def off_by_one(store, runs):
        measured = real(store, runs)
        measured["C12"] = measured["C12"] + 1.0
        return measured

    monkeypatch.setattr(lab.calibration, "measure_all", off_by_one)
    code, out, _ = run(capsys, "calibrate", "--scale", "0.02", "--no-progress")
    assert code == 1
    assert "C12" in out and "False" in out


def test_rush_lands_every_attempt(tmp_path, capsys):
    db = str(tmp_path / "lab.duckdb")
    argv = ["rush", "--preset", "morning_doubled", "--claims", "2000", "--users", "500"]
    code, out, _ = run(capsys, *argv, "--seconds", "30", "--no-progress", "--db", db)
    assert code == 0 and out.startswith(f"rushed run morning_doubled-rush-s0 in {db}: ")
    assert "coupons 2,000" in out and "offers" not in out
    store = lab.Store(db, read_only=True)
    span = store.query("SELECT min(claimed_at) AS lo, max(claimed_at) AS hi FROM coupons")
    assert str(span.lo[0]) == "2026-03-02 07:00:00" and str(span.hi[0]) <= "2026-03-02 07:00:29"
    code, _, err = run(capsys, *argv, "--hour", "25", "--db", db)
    assert code == 2 and err.startswith("error: hour must be an integer in 0..23")


def test_the_parser_literals_match_the_modules_they_stand_for():
    from lab.ingest import FORMATS
    from lab.scorecard import SECTIONS
    from lab.store import DEFAULT_PATH

    assert str(DEFAULT_PATH) == cli.DEFAULT_DB
    assert cli.IMPORT_FORMATS == FORMATS
    assert tuple(SECTIONS) == cli.SCORECARD_SECTIONS


def test_help_loads_no_heavy_module():
    """``--help`` must answer at once: pandas, DuckDB and the models load only in a command."""
    probe = (
        "import sys, contextlib, io\n"
        "from lab.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help']); main(['calibrate', '--help'])\n"
        "print(sorted(m for m in ('pandas', 'duckdb', 'numpy', 'lab.world', 'lab.store')"
        " if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[1],
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr


def test_calibrate_simulates_in_memory_unless_given_a_database(monkeypatch, capsys, tmp_path):
    paths = []

    def fake_calibrate(store, **options):
        paths.append(store.path)
        return pd.DataFrame({"id": ["C2"], "metric": ["C2"], "target": ["0.28"], "ok": [True]})

    monkeypatch.setattr(lab.calibration, "calibrate", fake_calibrate)
    assert run(capsys, "calibrate", "--no-progress")[0] == 0
    db = str(tmp_path / "worlds.duckdb")
    assert run(capsys, "calibrate", "--no-progress", "--db", db)[0] == 0
    assert paths == [":memory:", db]
    code, out, _ = run(capsys, "calibrate", "--help")
    assert code == 0 and "(default: in memory)" in " ".join(out.split())


def test_scorecard_takes_no_database_option(capsys):
    code, out, _ = run(capsys, "scorecard", "--help")
    assert code == 0 and "--db" not in out
    assert run(capsys, "scorecard", "--db", "x.duckdb")[0] == 2


def test_the_flat_api_loads_names_on_first_use():
    assert set(lab.__all__) <= set(dir(lab))
    for name in lab.__all__:
        assert getattr(lab, name) is not None, name
    assert callable(lab.funnel) and callable(lab.retention)  # not the subpackages
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        lab.no_such_name  # noqa: B018


def test_scorecard_passes_its_options_through(monkeypatch, capsys):
    calls = []

    def fake_scorecard(**options):
        calls.append(options)
        return {"experiments": {"checks": {"ok": True}}}

    monkeypatch.setattr("lab.scorecard.run_scorecard", fake_scorecard)
    argv = ["scorecard", "--section", "experiments", "--quick", "--seed", "3", "--no-progress"]
    code, out, _ = run(capsys, *argv)
    assert code == 0 and json.loads(out) == {"experiments": {"checks": {"ok": True}}}
    assert calls == [{"sections": ("experiments",), "quick": True, "seed": 3, "progress": False}]
    assert run(capsys, "scorecard")[0] == 0
    assert calls[-1] == {
        "sections": ("experiments", "targeting"),
        "quick": False,
        "seed": 0,
        "progress": True,
    }
