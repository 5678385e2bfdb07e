"""Ways of writing the offer funnel for DuckDB, beside the lab's query and polars.

Issue 16 asks the lab to be at least as fast as polars. On the offer funnel it is not
(``engines.json``: lab 1.56x polars, 1.06x the shortest DuckDB query), so this times
the lab's compiled query against other forms of the same step matching in DuckDB, on
the 10M-event world of :mod:`benchmarks.bench_engines`, to find whether another form
would close the gap. Each form answers the four step counts (the lab's query also
the duration quantiles and histogram); all are checked to agree.

Run from the repository root::

    python -m benchmarks.bench_offer_funnel_forms [--repeats 9] [--rounds 3]

Writes ``benchmarks/results/offer_funnel_forms.json``: per form, the median over
rounds of each round's median (forms in rotating order within a round).
"""

from __future__ import annotations

import argparse
import os
import statistics

import duckdb

from benchmarks import bench_engines
from benchmarks._common import median_of, write_result

EVENTS = 10_000_000
RUN = bench_engines.RUN
SCAN = f"FROM offers WHERE run_id = '{RUN}' AND exposed_at IS NOT NULL"
COUNTS = "SELECT count(t0), count(t1), count(t2), count(t3) FROM f"


def _chain(step: str) -> str:
    """The three later steps, each compared with the previous step's matched time."""
    cols = ("rule_viewed_at", "claimed_at", "redeemed_at")
    return ",\n".join(step.format(c=c, i=i, prev=f"t{i - 1}") for i, c in enumerate(cols, 1))


#: form -> SQL answering the four step counts first
FORMS = {
    # the 4 columns read and counted, no matching: the floor of any form
    "scan only": "SELECT count(exposed_at), count(rule_viewed_at), count(claimed_at), "
    f"count(redeemed_at) {SCAN}",
    "CASE chain (the lab's form)": "WITH f AS (SELECT exposed_at AS t0, "
    "exposed_at + INTERVAL 7 DAY AS dl,\n"
    + _chain("CASE WHEN {c} >= {prev} AND {c} <= dl THEN {c} END AS t{i}")
    + f"\n{SCAN}) {COUNTS}",
    "CASE chain with BETWEEN": "WITH f AS (SELECT exposed_at AS t0, "
    "exposed_at + INTERVAL 7 DAY AS dl,\n"
    + _chain("CASE WHEN {c} BETWEEN {prev} AND dl THEN {c} END AS t{i}")
    + f"\n{SCAN}) {COUNTS}",
    "CASE chain on epoch microseconds": "WITH f AS (SELECT epoch_us(exposed_at) AS t0, "
    "t0 + 604800000000 AS dl,\n"
    + _chain("CASE WHEN epoch_us({c}) BETWEEN {prev} AND dl THEN epoch_us({c}) END AS t{i}")
    + f"\n{SCAN}) {COUNTS}",
    "boolean chain": "WITH f AS (SELECT exposed_at AS t0, exposed_at + INTERVAL 7 DAY AS dl,"
    "\nrule_viewed_at >= exposed_at AND rule_viewed_at <= dl AS r1,"
    "\nr1 AND claimed_at >= rule_viewed_at AND claimed_at <= dl AS r2,"
    f"\nr2 AND redeemed_at >= claimed_at AND redeemed_at <= dl AS r3 {SCAN})"
    " SELECT count(t0), count_if(r1), count_if(r2), count_if(r3) FROM f",
}


#: the lab's deadline (``t0 + INTERVAL``), and the same instant from integer microseconds
INTERVAL_DEADLINE = '"t0"."exposed_at" + INTERVAL \'604800\' SECOND'
EPOCH_DEADLINE = 'make_timestamp(epoch_us("t0"."exposed_at") + 604800000000)'


def lab_variants(sql: str) -> dict[str, str]:
    """The lab's query with its deadline from integer microseconds, and that query with
    one aggregate (DuckDB's ``histogram(x, boundaries)``, ``<=`` each boundary) instead
    of the second pass over the converted units."""
    if INTERVAL_DEADLINE not in sql:
        raise AssertionError("the lab's query no longer computes its deadline as timed here")
    epoch = sql.replace(INTERVAL_DEADLINE, EPOCH_DEADLINE)
    # dur < e, for whole microseconds; the first edge (0) has nothing below it
    boundaries = [e - 1 for e in bench_engines.EDGES_US[1:]]
    units = epoch.split(' SELECT "t12"."n0"')[0]
    one_pass = (
        f"{units} SELECT count(at0), count(at1), count(at2), count(at3), "
        f"quantile_cont(_lab_duration, {list(bench_engines.QUANTILES)}), "
        f"histogram(_lab_duration, {boundaries}) FROM t8"
    )
    return {
        "lab's query, deadline from epoch microseconds": epoch,
        "the same, one aggregate with histogram()": one_pass,
    }


def lab_sql(store) -> str:
    """The SQL ``lab.funnel(store, run=RUN)`` runs for its step counts, as compiled."""
    import lab
    from lab.engines import _compiled

    lab.funnel(store, run=RUN)
    return next(sql for key, (sql, _) in _compiled._compiled.items() if "funnel.sums" in key[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed runs per form and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, forms in rotating order")
    args = parser.parse_args()

    import lab

    db, parquet = bench_engines.world_paths(EVENTS)
    if not db.exists():
        print(f"building the {EVENTS:,}-event world (about a minute)", flush=True)
        bench_engines.build_world(db, parquet, EVENTS)
    store = lab.Store(db, read_only=True)
    with store.connect():  # one open file, as the engines benchmark times the lab
        sql = lab_sql(store)
    forms = {"lab's whole query (counts, quantiles, histogram)": sql, **lab_variants(sql), **FORMS}
    store.close()
    con = duckdb.connect(str(db), read_only=True)

    def polars_counts() -> list[int]:
        return bench_engines.polars_answer("offer_funnel", parquet)["counts"]

    jobs = {
        name: (lambda sql=sql: list(con.execute(sql).fetchone()[:4])) for name, sql in forms.items()
    }
    jobs["polars from Parquet (counts, quantiles, histogram)"] = polars_counts
    answers = {name: job() for name, job in jobs.items()}  # warm-up, and the answers
    expected = answers["CASE chain (the lab's form)"]
    for name, counts in answers.items():
        if name != "scan only" and counts != expected:
            raise AssertionError(f"{name} counts {counts}, the lab's form {expected}")
    rounds: dict[str, list[float]] = {name: [] for name in jobs}
    names = list(jobs)
    load_start = os.getloadavg()[0]
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            rounds[name].append(median_of(jobs[name], args.repeats))
    ms = {name: round(1000 * statistics.median(v), 1) for name, v in rounds.items()}
    for name, value in ms.items():
        print(f"{value:8.1f} ms  {name}")
    write_result(
        "offer_funnel_forms",
        {
            "events": EVENTS,
            "offers_counted": expected,
            "repeats": args.repeats,
            "rounds": args.rounds,
            "median_ms": ms,
            "round_medians_ms": {n: [round(1000 * s, 1) for s in v] for n, v in rounds.items()},
            "load_average_start": round(load_start, 1),
            "load_average_end": round(os.getloadavg()[0], 1),
        },
    )


if __name__ == "__main__":
    main()
