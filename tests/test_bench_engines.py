"""The engines benchmark's polars and SQL implementations give the lab's numbers.

They are independent references for the funnel (offers and per-user), retention and
CUPED ``analyze``: written from the documented rules, sharing no code with ``lab``
(``benchmarks/bench_engines.py``). The benchmark asserts the same equality on its
10M-event world before it records any timing.
"""

import duckdb
import pytest

import lab
from benchmarks import bench_engines as bench


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A small aa_test run in a DuckDB file and exported to Parquet, as the benchmark's."""
    root = tmp_path_factory.mktemp("engines")
    store = lab.Store(root / "lab.duckdb")
    run = lab.simulate(bench.PRESET, store=store, users=800, progress=False)
    assert run == bench.RUN
    parquet = root / "parquet"
    store.export_parquet(parquet, run_id=run)
    bench.write_derived(store, parquet)
    with store.connect():
        answers = {q: bench.lab_answer(q, bench.lab_call(q, store)) for q in bench.QUESTIONS}
    store.close()
    return root / "lab.duckdb", parquet, answers


@pytest.mark.parametrize("question", bench.QUESTIONS)
def test_polars_gives_the_labs_numbers(world, question):
    _, parquet, answers = world
    got = bench.polars_answer(question, parquet)
    bench.assert_same(question, answers[question], got, who="polars")


@pytest.mark.parametrize("question", bench.QUESTIONS)
def test_the_shortest_sql_gives_the_labs_numbers(world, question):
    db, _, answers = world
    with duckdb.connect(str(db), read_only=True) as con:
        got = bench.sql_answer(question, con)
    bench.assert_same(question, answers[question], got, who="sql")


def test_the_world_is_not_trivial(world):
    """Every step converts someone and the CUPED rows carry real effects and p-values,
    so the equalities above compare figures that could differ."""
    _, _, answers = world
    for q in ("offer_funnel", "user_funnel"):
        assert min(answers[q]["counts"]) > 0 and sum(answers[q]["histogram"]) > 0
    assert len(answers["retention"]["cells"]) > 20
    rows = answers["analyze_cuped"]["rows"]
    assert [r[0] for r in rows] == list(bench.METRICS)
    assert all(0 < r[-2] < 1 and r[7] > 0 for r in rows)  # p-value, standard error


def test_a_different_answer_is_caught(world):
    _, _, answers = world
    funnel = dict(
        answers["offer_funnel"], counts=[c + 1 for c in answers["offer_funnel"]["counts"]]
    )
    with pytest.raises(AssertionError, match="counts differs"):
        bench.assert_same("offer_funnel", answers["offer_funnel"], funnel, who="test")
    rows = [r[:6] + [r[6] * (1 + 1e-5)] + r[7:] for r in answers["analyze_cuped"]["rows"]]
    with pytest.raises(AssertionError, match="analyze"):
        bench.assert_same("analyze_cuped", answers["analyze_cuped"], {"rows": rows}, who="test")
