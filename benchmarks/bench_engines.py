"""The lab against polars, the shortest DuckDB query and the lab before the Ibis port.

Run from the repository root: ``python -m benchmarks.bench_engines [--quick]``
(``--help`` lists the options; ``--engine spark`` times the lab on Spark local mode).

One synthetic world (``lab.simulate`` of the ``aa_test`` preset, sized for ``--events``
events, 10M by default) is built once and cached in ``benchmarks/scratch/``, with its
run exported as Parquet (``python -m lab export --run RUN DIR``) and the derived
``experiment_users`` table beside it. On that world four questions are answered, each
by four implementations:

============== =============================================================
question       lab call
============== =============================================================
offer funnel   ``lab.funnel(store, run=RUN)``: exposure → rule_view → claim →
               redeem, ordered, 7-day window, one unit per offer
user funnel    ``lab.funnel(store, run=RUN, unit="user")`` (from the events)
retention      ``lab.retention(store, run=RUN)``: first claim → any order, day
               cohorts, exact periods 0..14
CUPED analyze  ``lab.analyze(store, run=RUN, experiment="aa",
               covariate="pre_gmv")``, default metrics
============== =============================================================

* ``lab``: the public function of this checkout, on the world's DuckDB file;
* ``polars``: the same numbers from the Parquet files with polars (lazy scans);
* ``sql``: the shortest hand-written DuckDB query of the same numbers, on the same file;
* ``baseline``: the lab of ``--baseline`` (default ``ae4a78d``, before the Ibis port),
  extracted with ``git archive`` into a temporary directory and run with ``PYTHONPATH``
  pointing there, on the same file.

Each implementation runs in its own child process: one warm-up call per question, then
the median of ``--repeats`` calls. Every implementation's numbers are asserted equal to
the lab's before any timing is written (funnel step counts, time-to-convert quantiles
and histogram; retention cohort sizes and retained counts; analyze's effects,
intervals and p-values), so the comparison is of one answer. For CUPED the engines
return per-arm moments and :func:`ab_table` does the statistics (Welch t, delta method,
Holm) in a few lines of SciPy, with no code shared with the lab.

For the lab (and the baseline), one more call per question is split by where its wall
time goes, by timing the calls it makes (:func:`time_split`): the engine (DuckDB planning,
executing, fetching), Ibis compiling expressions to SQL, ``gc.collect``, and the rest of
Python (argument checks, building expressions, pandas, the statistics). ``analyze`` is
also timed with ``gc.collect`` made a no-op, as statsmodels' ``multipletests`` calls it
on every call.

Writes ``benchmarks/results/engines.json`` (``--quick``: a 300k-event world, written to
``benchmarks/scratch/engines-quick.json``). ``--rounds N`` repeats every job N times in
rotating order and reports the median of the jobs' medians: use 3 on a busy machine.

With ``--engine spark``: opens a store on Spark local mode (``lab.Store.from_ibis``,
``local[--cores]``) over the Parquet run (``--spark-load views``: Spark reads the files
as temporary views named as the lab's tables, as warehouse tables over Parquet;
``load_parquet``: ``IbisStore.load_parquet`` copies the rows in through Arrow), runs the
lab's questions there, answers asserted equal to the lab's on DuckDB (a question whose
model is not yet ported to Ibis is skipped with a note), and, as the engine's own
yardstick, the funnels' hand-written SQL in Spark SQL (the user funnel also with
broadcast joins off, as at cluster scale): seconds, executor CPU time, peak memory
(driver process plus the JVM and any other child, sampled with psutil), and the input
and shuffle bytes of each query (Spark's REST API). Writes
``benchmarks/results/engines_spark.json``; docs/scale.md sizes a cluster from it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd

from benchmarks._common import median_of, write_result

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = Path(__file__).parent / "scratch"
PRESET = "aa_test"
RUN = "aa_test-s0"
EXPERIMENT = "aa"
CONTROL = "a"
EVENTS_PER_USER = 195  # measured: aa_test, 28 campaign days
QUICK_EVENTS = 300_000
BASELINE = "ae4a78d"
QUESTIONS = ("offer_funnel", "user_funnel", "retention", "analyze_cuped")
IMPLEMENTATIONS = ("lab", "polars", "sql", "baseline")
STEPS = ("exposure", "rule_view", "claim", "redeem")
OFFER_COLUMNS = ("exposed_at", "rule_viewed_at", "claimed_at", "redeemed_at")
WINDOW = dt.timedelta(days=7)
QUANTILES = (0.25, 0.5, 0.75, 0.9)
# time-to-convert histogram edges, seconds (lab.funnel's bins; the last is open-ended)
EDGES_S = (0, 60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400)
EDGES_S += (3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400)
EDGES_US = [e * 1_000_000 for e in EDGES_S]
MAX_PERIODS = 14
ISSUED = ("issued", "compensated")  # a claim whose coupon has another status is no claim
CUPED_METRICS = ("orders", "gmv", "redeemed_amount")
METRICS = ("redeemed", *CUPED_METRICS)  # analyze's default metrics, in its order
ALPHA = 0.05
# analyze's statistics are compared to this relative tolerance (the lab centres raw sums
# of squares, the references ask the engine for centred moments)
RTOL = 1e-7


def say(message: str) -> None:
    """Progress on stderr (stdout of a job carries its JSON)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the world ---------------------------------------------------------------------------
def world_paths(events: int) -> tuple[Path, Path]:
    """The world's DuckDB file and its Parquet export directory."""
    return SCRATCH / f"engines-{events}.duckdb", SCRATCH / f"engines-{events}-parquet"


def build_world(db: Path, parquet: Path, events: int) -> dict:
    """Simulate the world into ``db`` and export its run to ``parquet``; its sizes."""
    import lab

    users = max(events // EVENTS_PER_USER, 200)
    for p in (db, db.with_suffix(".duckdb.wal")):
        p.unlink(missing_ok=True)
    shutil.rmtree(parquet, ignore_errors=True)
    db.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    store = lab.Store(db)
    lab.simulate(PRESET, store=store, users=users, progress=False)
    sim_seconds = time.perf_counter() - start
    store.close()
    # the CLI's export, as a user would write the run for another tool
    subprocess.run(
        [sys.executable, "-m", "lab", "export", "--db", str(db), "--run", RUN, str(parquet)],
        check=True,
        capture_output=True,
        text=True,
    )
    store = lab.Store(db, read_only=True)
    write_derived(store, parquet)
    counts = {
        t: int(store.query(f"SELECT count(*) AS n FROM {t} WHERE run_id = ?", [RUN])["n"][0])
        for t in ("events", "offers", "orders", "coupons", "assignments", "experiment_users")
    }
    store.close()
    return {
        "preset": PRESET,
        "users": users,
        "rows": counts,
        "simulate_seconds": round(sim_seconds, 1),
        "db_file_mb": round(db.stat().st_size / 2**20, 1),
        "parquet_mb": {
            p.stem: round(p.stat().st_size / 2**20, 2) for p in sorted(parquet.rglob("*.parquet"))
        },
    }


def write_derived(store, parquet: Path) -> Path:
    """Write the run's ``experiment_users`` rows (derived, so left out by export), which
    analyze reads, to ``parquet/derived/``."""
    import pyarrow.parquet as pq

    path = parquet / "derived" / "experiment_users.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(store.arrow("SELECT * FROM experiment_users WHERE run_id = ?", [RUN]), path)
    return path


def ensure_world(events: int) -> tuple[Path, Path, dict]:
    """Build the world once (in a child process, so its memory is not a job's); reuse it."""
    db, parquet = world_paths(events)
    meta = db.with_suffix(".json")
    if db.exists() and meta.exists() and parquet.exists():
        return db, parquet, json.loads(meta.read_text())
    say(f"building a {events:,}-event world in {db} (once; cached) ...")
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_engines", "--build", str(events)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    info["build_seconds"] = round(time.perf_counter() - start, 1)
    meta.write_text(json.dumps(info))
    say(f"world built: {info['rows']} in {info['build_seconds']} s")
    return db, parquet, info


# -- canonical answers -------------------------------------------------------------------
def bins_of(durations_us: np.ndarray) -> list[int]:
    """Counts per time-to-convert bin of :data:`EDGES_US`."""
    index = np.searchsorted(np.array(EDGES_US), durations_us, side="right") - 1
    return np.bincount(index, minlength=len(EDGES_US)).tolist()


def funnel_answer(counts, durations_us: np.ndarray) -> dict:
    """Step counts, quantiles (integer microseconds, linear) and histogram of a funnel."""
    d = np.asarray(durations_us, dtype="int64")
    q = np.rint(np.quantile(d, QUANTILES)).astype("int64").tolist() if len(d) else []
    return {"counts": [int(c) for c in counts], "quantiles_us": q, "histogram": bins_of(d)}


def lab_answer(question: str, result) -> dict:
    """The figures of a lab result that every implementation must reproduce."""
    if question in ("offer_funnel", "user_funnel"):
        ttc = result.time_to_convert.iloc[0]
        q = [ttc[c] for c in ("p25", "median", "p75", "p90")]
        return {
            "counts": result.table["count"].astype(int).tolist(),
            "quantiles_us": [] if pd.isna(q[0]) else [int(v // pd.Timedelta(1, "us")) for v in q],
            "histogram": result.histogram["count"].astype(int).tolist(),
        }
    if question == "retention":
        t = result.table
        sizes = t.drop_duplicates("cohort")
        return retention_answer(
            dict(zip(sizes["cohort"], sizes["cohort_size"], strict=True)),
            t[["cohort", "period", "retained"]].itertuples(index=False),
        )
    t = result.table
    return {
        "rows": [
            [r.metric, r.arm, int(r.n), int(r.control_n)]
            + [float(getattr(r, c)) for c in STAT_COLUMNS]
            for r in t.itertuples(index=False)
        ]
    }


def retention_answer(sizes: dict, cells) -> dict:
    """``{"sizes": [[day, n]...], "cells": [[day, k, retained]...]}`` (retained > 0)."""

    def day(ts) -> str:
        return pd.Timestamp(ts).strftime("%Y-%m-%d")

    return {
        "sizes": sorted([day(c), int(n)] for c, n in sizes.items()),
        "cells": sorted([day(c), int(k), int(n)] for c, k, n in cells if n),
    }


STAT_COLUMNS = (
    "control_mean",
    "treatment_mean",
    "effect",
    "std_error",
    "ci_low",
    "ci_high",
    "p_value",
    "p_value_holm",
)


def assert_same(question: str, expected: dict, got: dict, *, who: str) -> None:
    """Raise ``AssertionError`` naming ``who`` unless ``got`` gives the lab's numbers."""
    if question != "analyze_cuped":
        for key in expected:
            if key == "quantiles_us":
                # linear interpolation between microseconds, rounded: equal to 1 µs
                ok = len(got[key]) == len(expected[key]) and np.allclose(
                    got[key], expected[key], rtol=0, atol=1
                )
            else:
                ok = got[key] == expected[key]
            assert ok, f"{who}, {question}: {key} differs: {got[key]} vs lab {expected[key]}"
        return
    assert len(got["rows"]) == len(expected["rows"]), f"{who}: {got} vs lab {expected}"
    for g, e in zip(got["rows"], expected["rows"], strict=True):
        assert g[:4] == e[:4], f"{who}, analyze: {g[:4]} vs lab {e[:4]}"
        assert np.allclose(g[4:], e[4:], rtol=RTOL, atol=0), f"{who}, analyze {g} vs lab {e}"


# -- statistics from per-arm moments (independent of lab.experiments) --------------------
def ab_table(moments: dict[str, dict[str, float]]) -> dict:
    """analyze's rows (arm b vs control a, relative differences, CUPED on pre_gmv) from
    per-arm moments: ``n``, ``redeemed`` (share of users with a redeemed order), and per
    metric ``<m>_mean``, ``<m>_var``, ``<m>_cov`` (with pre_gmv), ``x_mean``, ``x_var``."""
    from scipy import stats

    c, t = moments[CONTROL], next(v for k, v in moments.items() if k != CONTROL)
    arm = next(k for k in moments if k != CONTROL)
    rows = []
    for metric in METRICS:
        if metric == "redeemed":
            # proportion: unpooled Bernoulli variances, z-test
            mc, mt = c["redeemed"], t["redeemed"]
            vc, vt = mc * (1 - mc) / c["n"], mt * (1 - mt) / t["n"]
            df = None
        else:
            # CUPED: one slope pooled within both arms, means centred at the pooled pre mean
            s_xy = sum(a[f"{metric}_cov"] * (a["n"] - 1) for a in (c, t))
            s_xx = sum(a["x_var"] * (a["n"] - 1) for a in (c, t))
            theta = s_xy / s_xx if s_xx else 0.0
            center = (c["x_mean"] * c["n"] + t["x_mean"] * t["n"]) / (c["n"] + t["n"])

            def adjusted(a, m=metric, th=theta, x0=center):
                var = a[f"{m}_var"] + th**2 * a["x_var"] - 2 * th * a[f"{m}_cov"]
                return a[f"{m}_mean"] - th * (a["x_mean"] - x0), var / a["n"]

            (mc, vc), (mt, vt) = adjusted(c), adjusted(t)
        # relative difference, delta method
        effect = mt / mc - 1
        part_t, part_c = vt / mc**2, (mt / mc) ** 2 * vc / mc**2
        se = np.sqrt(part_t + part_c)
        if metric != "redeemed":
            df = (part_t + part_c) ** 2 / (part_t**2 / (t["n"] - 1) + part_c**2 / (c["n"] - 1))
        dist = stats.norm if df is None else stats.t(df)
        half = dist.ppf(1 - ALPHA / 2) * se
        p = min(1.0, 2 * dist.sf(abs(effect) / se))
        rows.append(
            [metric, arm, int(t["n"]), int(c["n"]), mc, mt, effect, se, effect - half]
            + [effect + half, p]
        )
    # Holm over the rows
    p = np.array([r[-1] for r in rows])
    order = np.argsort(p, kind="stable")
    adjusted_p = np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order]).clip(max=1)
    holm = np.empty_like(p)
    holm[order] = adjusted_p
    return {"rows": [[*r, float(h)] for r, h in zip(rows, holm, strict=True)]}


# -- polars, from the Parquet export -----------------------------------------------------
def polars_answer(question: str, parquet: Path) -> dict:
    import polars as pl

    def scan(table: str):
        return pl.scan_parquet(parquet / f"{table}.parquet")

    if question == "offer_funnel":
        c = OFFER_COLUMNS
        t0 = pl.col(c[0])
        steps = scan("offers").select(c).filter(t0.is_not_null())
        prev = c[0]
        for col in c[1:]:
            ok = (pl.col(col) >= pl.col(prev)) & (pl.col(col) <= t0 + WINDOW)
            steps = steps.with_columns(pl.when(ok).then(pl.col(col)).alias(col))
            prev = col
        out = steps.select(
            *[pl.col(col).count().alias(col) for col in c],
            dur=pl.col(c[-1]).sub(t0).dt.total_microseconds().drop_nulls().implode(),
        ).collect()
        return funnel_answer([out[col][0] for col in c], out["dur"][0].to_numpy())
    if question == "user_funnel":
        ev = (
            scan("events")
            .filter(pl.col("event_type").is_in(STEPS))
            .select("user_id", "event_type", "ts")
            .collect()
            .lazy()
        )
        reached = (
            ev.filter(pl.col("event_type") == STEPS[0])
            .group_by("user_id")
            .agg(t0=pl.col("ts").min())
            .with_columns(t=pl.col("t0"))
        )
        counts = [reached.select(pl.len()).collect().item()]
        for step in STEPS[1:]:
            later = ev.filter(pl.col("event_type") == step).select("user_id", "ts")
            reached = (
                reached.join(later, on="user_id")
                .filter((pl.col("ts") >= pl.col("t")) & (pl.col("ts") <= pl.col("t0") + WINDOW))
                .group_by("user_id", "t0")
                .agg(t=pl.col("ts").min())
                .collect()
                .lazy()
            )
            counts.append(reached.select(pl.len()).collect().item())
        dur = reached.select(pl.col("t").sub(pl.col("t0")).dt.total_microseconds()).collect()
        return funnel_answer(counts, dur.to_series().to_numpy())
    if question == "retention":
        refused = scan("coupons").filter(~pl.col("status").is_in(ISSUED)).select("coupon_id")
        anchors = (
            scan("events")
            .filter(pl.col("event_type") == "claim")
            .join(refused, on="coupon_id", how="anti")
            .group_by("user_id")
            .agg(t0=pl.col("ts").min())
            .with_columns(cohort=pl.col("t0").dt.date())
            .collect()
        )
        k = (pl.col("ts").dt.date() - pl.col("cohort")).dt.total_days()
        cells = (
            scan("orders")
            .select("user_id", "ts")
            .join(anchors.lazy(), on="user_id")
            .filter(pl.col("ts") >= pl.col("t0"))
            .with_columns(k=k)
            .filter(pl.col("k") <= MAX_PERIODS)
            .unique(["user_id", "k"])
            .group_by("cohort", "k")
            .len()
            .collect()
        )
        sizes = anchors.group_by("cohort").len()
        return retention_answer(
            dict(sizes.iter_rows()), cells.select("cohort", "k", "len").iter_rows()
        )
    if question == "analyze_cuped":
        eu = pl.scan_parquet(parquet / "derived" / "experiment_users.parquet").filter(
            pl.col("experiment") == EXPERIMENT
        )
        x = pl.col("pre_gmv").cast(pl.Float64)
        aggs = [pl.len().alias("n"), (pl.col("redeemed_orders") > 0).mean().alias("redeemed")]
        aggs += [x.mean().alias("x_mean"), x.var().alias("x_var")]
        for m in CUPED_METRICS:
            y = pl.col(m).cast(pl.Float64)
            aggs += [y.mean().alias(f"{m}_mean"), y.var().alias(f"{m}_var")]
            aggs.append(pl.cov(y, x).alias(f"{m}_cov"))
        moments = eu.group_by("arm").agg(aggs).collect()
        return ab_table({r.pop("arm"): r for r in moments.iter_rows(named=True)})
    raise ValueError(f"unknown question {question!r}")


# -- the shortest DuckDB query -----------------------------------------------------------
_BIN = "len(list_filter($edges, lambda e: e <= dur)) - 1"  # index of the duration's bin


def sql_answer(question: str, con) -> dict:
    """``con``: a DuckDB connection to the world's file."""
    p = {"run": RUN}
    if question == "offer_funnel":
        c = OFFER_COLUMNS
        # DuckDB reuses a select-list alias (t1) later in the same select list
        ts = [f"{c[0]} AS t0"] + [
            f"CASE WHEN {c[i]} >= t{i - 1} AND {c[i]} <= t0 + INTERVAL 7 DAY THEN {c[i]} END AS t{i}"
            for i in range(1, len(c))
        ]
        sql = f"""
            WITH f AS (SELECT {", ".join(ts)} FROM offers WHERE run_id = $run AND {c[0]} IS NOT NULL),
            d AS (SELECT epoch_us(t3) - epoch_us(t0) AS dur FROM f WHERE t3 IS NOT NULL)
            SELECT (SELECT [count(t0), count(t1), count(t2), count(t3)] FROM f) AS counts,
                   (SELECT quantile_cont(dur, $q) FROM d) AS q,
                   (SELECT histogram({_BIN}) FROM d) AS h
        """
    elif question == "user_funnel":
        steps = [
            f"s{i} AS (SELECT p.user_id, p.t0, min(e.ts) AS t FROM s{i - 1} p JOIN e "
            f"ON e.user_id = p.user_id AND e.event_type = '{s}' AND e.ts >= p.t "
            "AND e.ts <= p.t0 + INTERVAL 7 DAY GROUP BY ALL)"
            for i, s in enumerate(STEPS)
            if i
        ]
        sql = f"""
            WITH e AS (SELECT user_id, event_type, ts FROM events
                       WHERE run_id = $run AND event_type IN {STEPS}),
            s0 AS (SELECT user_id, min(ts) AS t0, min(ts) AS t FROM e
                   WHERE event_type = '{STEPS[0]}' GROUP BY user_id),
            {", ".join(steps)},
            d AS (SELECT epoch_us(t) - epoch_us(t0) AS dur FROM s3)
            SELECT [(SELECT count(*) FROM s0), (SELECT count(*) FROM s1),
                    (SELECT count(*) FROM s2), (SELECT count(*) FROM s3)] AS counts,
                   (SELECT quantile_cont(dur, $q) FROM d) AS q,
                   (SELECT histogram({_BIN}) FROM d) AS h
        """
    elif question == "retention":
        sql = f"""
            WITH m AS (
                SELECT user_id, min(ts) AS t0, CAST(min(ts) AS DATE) AS cohort FROM events e
                WHERE run_id = $run AND event_type = 'claim' AND NOT EXISTS (
                    SELECT 1 FROM coupons c WHERE c.run_id = $run AND c.coupon_id = e.coupon_id
                    AND c.status NOT IN {ISSUED})
                GROUP BY user_id)
            SELECT cohort, -1 AS k, count(*) AS n FROM m GROUP BY cohort
            UNION ALL
            SELECT cohort, CAST(o.ts AS DATE) - cohort AS k, count(DISTINCT m.user_id) AS n
            FROM m JOIN orders o ON o.run_id = $run AND o.user_id = m.user_id AND o.ts >= m.t0
            WHERE CAST(o.ts AS DATE) - cohort <= {MAX_PERIODS} GROUP BY ALL
        """
        rows = con.execute(sql, p).fetchall()
        return retention_answer({c: n for c, k, n in rows if k < 0}, [r for r in rows if r[1] >= 0])
    elif question == "analyze_cuped":
        cols = ", ".join(
            f"avg({m}) AS {m}_mean, var_samp({m}) AS {m}_var, covar_samp({m}, pre_gmv) AS {m}_cov"
            for m in CUPED_METRICS
        )
        sql = f"""
            SELECT arm, count(*) AS n, avg(CAST(redeemed_orders > 0 AS DOUBLE)) AS redeemed,
                   avg(pre_gmv) AS x_mean, var_samp(pre_gmv) AS x_var, {cols}
            FROM experiment_users WHERE run_id = $run AND experiment = $experiment GROUP BY arm
        """
        cur = con.execute(sql, {**p, "experiment": EXPERIMENT})
        names = [d[0] for d in cur.description]
        return ab_table({r[0]: dict(zip(names[1:], r[1:], strict=True)) for r in cur.fetchall()})
    else:
        raise ValueError(f"unknown question {question!r}")
    counts, q, hist = con.execute(sql, {**p, "q": list(QUANTILES), "edges": EDGES_US}).fetchone()
    histogram = [0] * len(EDGES_US)
    for b, n in (hist or {}).items():
        histogram[b] = n
    return {
        "counts": counts,
        "quantiles_us": [] if q is None else [int(round(v)) for v in q],
        "histogram": histogram,
    }


# -- the lab ------------------------------------------------------------------------------
def lab_call(question: str, store):
    """The lab's public call for ``question``."""
    import lab

    if question == "offer_funnel":
        return lab.funnel(store, run=RUN)
    if question == "user_funnel":
        return lab.funnel(store, run=RUN, unit="user")
    if question == "retention":
        return lab.retention(store, run=RUN)
    if question == "analyze_cuped":
        return lab.analyze(store, run=RUN, experiment=EXPERIMENT, covariate="pre_gmv")
    raise ValueError(f"unknown question {question!r}")


class _Split:
    """Wall seconds of the calls into the engine and into Ibis's compiler, and of
    ``gc.collect``, timed by wrapping them (only the outermost of nested calls counts)."""

    def __init__(self) -> None:
        self.seconds = {"engine": 0.0, "compile": 0.0, "compile_in_engine": 0.0, "gc": 0.0}
        self._depth = {"engine": 0, "compile": 0, "gc": 0}

    def wrap(self, owner, name: str, bucket: str) -> contextlib.AbstractContextManager:
        original = getattr(owner, name)

        def timed_call(*args, **kwargs):
            self._depth[bucket] += 1
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self._depth[bucket] -= 1
                if not self._depth[bucket]:
                    elapsed = time.perf_counter() - start
                    self.seconds[bucket] += elapsed
                    if bucket == "compile" and self._depth["engine"]:
                        self.seconds["compile_in_engine"] += elapsed

        return mock.patch.object(owner, name, timed_call)


def _split_targets() -> list[tuple[object, str, str]]:
    """What :func:`time_split` wraps, where this ``lab`` and Ibis have it: the store's
    SQL entry points, the Ibis session's ``execute``, the DuckDB dialect's ``arrow``
    (which runs a model's SQL compiled once, ``lab.engines._compiled``) and the DuckDB
    backend's own execution methods (for a model that calls them directly) as the
    engine; Ibis's SQL compiler as compile."""
    import ibis.backends.duckdb
    import ibis.backends.sql

    import lab.store

    targets = [
        (lab.store.Store, "query", "engine"),
        (lab.store.Store, "arrow", "engine"),
        (ibis.backends.duckdb.Backend, "to_pyarrow", "engine"),
        (ibis.backends.duckdb.Backend, "execute", "engine"),
        (ibis.backends.duckdb.Backend, "raw_sql", "engine"),
        (ibis.backends.sql.SQLBackend, "compile", "compile"),
        (gc, "collect", "gc"),
    ]
    with contextlib.suppress(ImportError):  # a lab from before the Ibis sessions
        from lab.engines import _session

        targets.append((_session.Session, "execute", "engine"))
    with contextlib.suppress(ImportError):  # SQL compiled once, run through the dialect
        from lab.engines import _dialect_duckdb

        targets.append((_dialect_duckdb, "arrow", "engine"))
    return [(owner, name, bucket) for owner, name, bucket in targets if hasattr(owner, name)]


def time_split(fn) -> dict:
    """One call of ``fn``, its wall seconds split into ``engine`` (DuckDB planning,
    executing and fetching, Ibis's compile excluded), ``compile`` (Ibis compiling
    expressions to SQL), ``gc`` (``gc.collect``, which statsmodels' ``multipletests``
    calls) and ``python`` (the rest: checks, building expressions, pandas, statistics)."""
    split = _Split()
    with contextlib.ExitStack() as stack:
        for owner, name, bucket in _split_targets():
            stack.enter_context(split.wrap(owner, name, bucket))
        start = time.perf_counter()
        fn()
        wall = time.perf_counter() - start
    t = split.seconds
    parts = {
        "wall": wall,
        "engine": t["engine"] - t["compile_in_engine"],
        "compile": t["compile"],
        "gc": t["gc"],
    }
    parts["python"] = wall - parts["engine"] - parts["compile"] - parts["gc"]
    return {k: round(v, 4) for k, v in parts.items()}


def timed(fn, repeats: int) -> tuple[float, object]:
    """Warm-up call, then the median seconds of ``repeats`` calls; and the last result."""
    box = [fn()]
    seconds = median_of(lambda: box.append(fn()), repeats)
    return seconds, box[-1]


def job(impl: str, db: str, parquet: str, repeats: int, questions: list[str]) -> dict:
    """Time ``impl`` (lab, polars or sql) on every question; runs in a child process."""
    out: dict = {"questions": {}}
    if impl == "lab":
        import lab

        out["lab_path"] = str(Path(lab.__file__).parent)
        store = lab.Store(db, read_only=True)
        with store.connect():  # one connection for the whole job, as the SQL job has
            for q in questions:
                seconds, result = timed(lambda q=q: lab_call(q, store), repeats)
                rec = {"seconds": seconds, "answer": lab_answer(q, result)}
                rec["split_seconds"] = time_split(lambda q=q: lab_call(q, store))
                if q == "analyze_cuped":
                    with mock.patch.object(gc, "collect", return_value=0):
                        rec["seconds_without_gc_collect"], _ = timed(
                            lambda q=q: lab_call(q, store), repeats
                        )
                out["questions"][q] = rec
                say(f"  {impl} {q}: {seconds:.3f} s")
    elif impl == "polars":
        for q in questions:
            seconds, answer = timed(lambda q=q: polars_answer(q, Path(parquet)), repeats)
            out["questions"][q] = {"seconds": seconds, "answer": answer}
            say(f"  {impl} {q}: {seconds:.3f} s")
    elif impl == "sql":
        import duckdb

        con = duckdb.connect(db, read_only=True)
        for q in questions:
            seconds, answer = timed(lambda q=q: sql_answer(q, con), repeats)
            out["questions"][q] = {"seconds": seconds, "answer": answer}
            say(f"  {impl} {q}: {seconds:.3f} s")
    else:
        raise ValueError(f"unknown implementation {impl!r}")
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def peak_rss_mb() -> int:
    """This process's peak resident memory (VmHWM starts afresh at exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return -1


@contextlib.contextmanager
def baseline_tree(ref: str, *, paths: tuple[str, ...] = ("lab",)):
    """``paths`` (default: the ``lab`` package) of git ref ``ref`` in a temporary
    directory, its root for PYTHONPATH."""
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", ref, *paths], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield Path(tmp)


def run_job(impl: str, db: Path, parquet: Path, repeats: int, *, pythonpath: Path) -> dict:
    impl_arg = "lab" if impl == "baseline" else impl
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys([str(pythonpath), str(ROOT)]))}
    cmd = [sys.executable, "-m", "benchmarks.bench_engines", "--job", impl_arg]
    cmd += ["--db", str(db), "--parquet", str(parquet), "--repeats", str(repeats)]
    # `python -m` puts the working directory first on sys.path: run where `lab` is wanted
    proc = subprocess.run(
        cmd, check=False, stdout=subprocess.PIPE, text=True, env=env, cwd=pythonpath
    )
    if proc.returncode:
        raise RuntimeError(f"{impl} job failed (exit {proc.returncode}); see its stderr above")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if impl_arg == "lab" and Path(out["lab_path"]) != pythonpath / "lab":
        raise RuntimeError(f"{impl} job imported {out['lab_path']}, not {pythonpath / 'lab'}")
    return out


def duckdb_benchmark(args) -> None:
    events = QUICK_EVENTS if args.quick else args.events
    figures: dict = {
        "conditions": "2-core machine; how busy it was: load_average_start and load_average_end",
        "load_average_start": round(os.getloadavg()[0], 1),
        "repeats": args.repeats,
        "baseline_ref": args.baseline,
    }
    db, parquet, figures["world"] = ensure_world(events)
    figures["rounds"] = args.rounds
    rounds: list[dict] = []
    with baseline_tree(args.baseline) as old:
        for r in range(args.rounds):
            # each round starts with another implementation: load that drifts during a
            # round does not always fall on the same one
            order = IMPLEMENTATIONS[r % 4 :] + IMPLEMENTATIONS[: r % 4]
            rounds.append({})
            for impl in order:
                say(
                    f"round {r + 1}/{args.rounds}, {impl}: {len(QUESTIONS)} questions, "
                    f"warm-up + median of {args.repeats} ..."
                )
                path = old if impl == "baseline" else ROOT
                rounds[-1][impl] = run_job(impl, db, parquet, args.repeats, pythonpath=path)
    runs = rounds[0]
    # the same answer first: every implementation against this checkout's lab
    for impl in IMPLEMENTATIONS[1:]:
        for q in QUESTIONS:
            expected = runs["lab"]["questions"][q]["answer"]
            assert_same(q, expected, runs[impl]["questions"][q]["answer"], who=impl)
    say("every implementation gives the lab's numbers")

    def seconds(impl: str, q: str, key: str = "seconds") -> float:
        """Median over rounds of the job's median."""
        return round(float(np.median([rd[impl]["questions"][q][key] for rd in rounds])), 4)

    table = {}
    for q in QUESTIONS:
        row = {impl: seconds(impl, q) for impl in IMPLEMENTATIONS}
        row["lab_vs_polars"] = round(row["lab"] / row["polars"], 2)
        row["lab_vs_sql"] = round(row["lab"] / row["sql"], 2)
        row["lab_vs_baseline"] = round(row["lab"] / row["baseline"], 2)
        for impl in ("lab", "baseline"):
            split = [rd[impl]["questions"][q]["split_seconds"] for rd in rounds]
            row[f"{impl}_split_seconds"] = {
                part: round(float(np.median([s[part] for s in split])), 4) for part in split[0]
            }
        row["rounds"] = {
            impl: [round(rd[impl]["questions"][q]["seconds"], 4) for rd in rounds]
            for impl in IMPLEMENTATIONS
        }
        table[q] = row
    for impl in ("lab", "baseline"):
        table["analyze_cuped"][f"{impl}_without_gc_collect"] = seconds(
            impl, "analyze_cuped", "seconds_without_gc_collect"
        )
    figures["seconds"] = table
    figures["peak_rss_mb"] = {
        impl: max(rd[impl]["peak_rss_mb"] for rd in rounds) for impl in IMPLEMENTATIONS
    }
    answer = runs["lab"]["questions"]
    figures["answers_agree"] = {
        "offer_funnel_counts": answer["offer_funnel"]["answer"]["counts"],
        "user_funnel_counts": answer["user_funnel"]["answer"]["counts"],
        "retention_cells": len(answer["retention"]["answer"]["cells"]),
        "analyze_gmv_effect": answer["analyze_cuped"]["answer"]["rows"][2][6],
    }
    figures["load_average_end"] = round(os.getloadavg()[0], 1)
    if args.quick:
        path = SCRATCH / "engines-quick.json"
        path.write_text(json.dumps({"name": "engines-quick", "figures": figures}, indent=2))
    else:
        path = write_result("engines", figures)
    print(json.dumps(table, indent=2))
    say(f"wrote {path}")


# -- Spark local mode --------------------------------------------------------------------
class PeakMemory:
    """Peak resident memory of this process and its children (the JVM), sampled."""

    def __init__(self, interval: float = 0.1) -> None:
        import psutil

        self._me = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.peak = self.now()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def now(self) -> int:
        total = self._me.memory_info().rss
        for child in self._me.children(recursive=True):
            with contextlib.suppress(Exception):  # a child may exit between the calls
                total += child.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self.now())

    def reset(self) -> None:
        self.peak = self.now()

    def mb(self) -> int:
        return self.peak // 2**20

    def stop(self) -> None:
        self._stop.set()


def shuffle_bytes(spark) -> dict:
    """Input and shuffle write bytes, executor run and CPU time, summed over the stages
    Spark has completed so far (its REST API)."""
    url = spark.sparkContext.uiWebUrl
    app = spark.sparkContext.applicationId
    with urllib.request.urlopen(f"{url}/api/v1/applications/{app}/stages") as r:
        stages = json.load(r)
    done = [s for s in stages if s.get("status") == "COMPLETE"]
    return {
        "input_bytes": sum(s.get("inputBytes", 0) for s in done),
        "shuffle_write_bytes": sum(s.get("shuffleWriteBytes", 0) for s in done),
        "executor_run_ms": sum(s.get("executorRunTime", 0) for s in done),
        # CPU time, unlike run time, does not grow when other jobs hold the cores
        "executor_cpu_ms": sum(s.get("executorCpuTime", 0) for s in done) // 1_000_000,
    }


SPARK_FUNNEL_SQL = {
    "offer_funnel": """
        SELECT count(t0), count(t1), count(t2), count(t3) FROM (
          SELECT t0, t1, t2, CASE WHEN redeemed_at >= t2 AND redeemed_at <= t0 + INTERVAL 7 DAYS
                                  THEN redeemed_at END AS t3 FROM (
            SELECT t0, t1, redeemed_at, CASE WHEN claimed_at >= t1
                   AND claimed_at <= t0 + INTERVAL 7 DAYS THEN claimed_at END AS t2 FROM (
              SELECT exposed_at AS t0, claimed_at, redeemed_at,
                     CASE WHEN rule_viewed_at >= exposed_at AND rule_viewed_at <= exposed_at
                          + INTERVAL 7 DAYS THEN rule_viewed_at END AS t1
              FROM offers WHERE run_id = '{run}' AND exposed_at IS NOT NULL)))
    """,
    "user_funnel": """
        WITH e AS (SELECT user_id, event_type, ts FROM events
                   WHERE run_id = '{run}' AND event_type IN ('exposure', 'rule_view', 'claim', 'redeem')),
        s0 AS (SELECT user_id, min(ts) AS t0, min(ts) AS t FROM e
               WHERE event_type = 'exposure' GROUP BY user_id),
        s1 AS (SELECT p.user_id, p.t0, min(e.ts) AS t FROM s0 p JOIN e ON e.user_id = p.user_id
               AND e.event_type = 'rule_view' AND e.ts >= p.t AND e.ts <= p.t0 + INTERVAL 7 DAYS
               GROUP BY p.user_id, p.t0),
        s2 AS (SELECT p.user_id, p.t0, min(e.ts) AS t FROM s1 p JOIN e ON e.user_id = p.user_id
               AND e.event_type = 'claim' AND e.ts >= p.t AND e.ts <= p.t0 + INTERVAL 7 DAYS
               GROUP BY p.user_id, p.t0),
        s3 AS (SELECT p.user_id, p.t0, min(e.ts) AS t FROM s2 p JOIN e ON e.user_id = p.user_id
               AND e.event_type = 'redeem' AND e.ts >= p.t AND e.ts <= p.t0 + INTERVAL 7 DAYS
               GROUP BY p.user_id, p.t0)
        SELECT (SELECT count(*) FROM s0), (SELECT count(*) FROM s1),
               (SELECT count(*) FROM s2), (SELECT count(*) FROM s3)
    """,
}


def spark_job(db: str, parquet: str, repeats: int, cores: int, load: str) -> dict:
    """The lab's questions on Spark local mode; runs in a child process."""
    import ibis

    import lab
    from lab.engines import spark_session

    memory = PeakMemory()
    out: dict = {"questions": {}, "spark_sql": {}}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-engines-spark-") as warehouse:
        spark = spark_session(
            f"local[{cores}]",
            config={
                "spark.sql.shuffle.partitions": str(2 * cores),
                "spark.ui.enabled": "true",  # its REST API reports shuffle bytes
                "spark.ui.port": "0",
                "spark.sql.warehouse.dir": warehouse,
                "spark.driver.memory": "4g",
            },
        )
        spark.sparkContext.setLogLevel("ERROR")
        out["session_start_seconds"] = round(time.perf_counter() - start, 1)
        backend = ibis.pyspark.connect(spark)
        store = lab.Store.from_ibis(backend, database=None)
        start = time.perf_counter()
        if load == "load_parquet":
            store.load_parquet(parquet)  # rows through Arrow into Spark tables
        else:
            # Spark reads the files itself, as warehouse tables over Parquet. Not through
            # IbisStore.create_view: it casts to UINT, a type Spark's SQL cannot parse.
            for path in sorted(Path(parquet).glob("*.parquet")):
                spark.read.parquet(str(path)).createOrReplaceTempView(path.stem)
        out["load_seconds"] = round(time.perf_counter() - start, 1)
        out["after_load_peak_mb"] = memory.mb()
        say(f"  spark: session {out['session_start_seconds']} s, load {out['load_seconds']} s")
        # the lab's answers on DuckDB, for equality
        duck = lab.Store(db, read_only=True)
        for q in QUESTIONS:
            memory.reset()
            try:
                seconds, result = timed(lambda q=q: lab_call(q, store), repeats)
            except (lab.StoreError, AttributeError) as exc:
                # an unported model either says so or reaches for the DuckDB connection
                if "not yet ported" not in str(exc) and "'IbisStore'" not in str(exc):
                    raise
                out["questions"][q] = {
                    "skipped": f"not yet ported to Ibis on this branch ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0]})"
                }
                say(f"  spark {q}: skipped (not yet ported)")
                continue
            assert_same(q, lab_answer(q, lab_call(q, duck)), lab_answer(q, result), who="spark")
            out["questions"][q] = {"seconds": round(seconds, 3), "peak_mb": memory.mb()}
            say(f"  spark {q}: {seconds:.2f} s")
        # the engine's own speed on the funnels: hand-written Spark SQL, counts checked.
        # At 10M events the per-user step tables are small enough to broadcast; at 10B
        # they are not, so the user funnel runs once more with broadcasts off, which
        # shuffles the events as a cluster would.
        for name in [*SPARK_FUNNEL_SQL, "user_funnel_no_broadcast"]:
            q = name.removesuffix("_no_broadcast")
            sql = SPARK_FUNNEL_SQL[q]
            broadcast = "-1" if name.endswith("_no_broadcast") else "10485760"
            spark.conf.set("spark.sql.autoBroadcastJoinThreshold", broadcast)
            memory.reset()
            before = shuffle_bytes(spark)
            seconds, rows = timed(lambda sql=sql: spark.sql(sql.format(run=RUN)).collect(), repeats)
            after = shuffle_bytes(spark)
            counts = list(rows[0])
            expected = lab_answer(q, lab_call(q, duck))["counts"]
            assert counts == expected, f"spark sql {q}: {counts} vs lab {expected}"
            per_run = {k: (after[k] - before[k]) / (repeats + 1) for k in after}
            out["spark_sql"][name] = {
                "seconds": round(seconds, 3),
                "peak_mb": memory.mb(),
                **{k: int(v) for k, v in per_run.items()},
            }
            say(
                f"  spark sql {name}: {seconds:.2f} s, shuffle {per_run['shuffle_write_bytes']:,.0f} B"
            )
        spark.stop()
    memory.stop()
    out["peak_mb"] = memory.mb()
    return out


FUNNEL_COLUMNS = ("run_id", "user_id", "event_type", "ts")


def parquet_column_bytes(path: Path, columns) -> int:
    """Compressed bytes of ``columns`` in the Parquet file ``path``: what a columnar
    engine reads for a query that needs only them."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    return sum(
        meta.row_group(g).column(c).total_compressed_size
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
        if meta.row_group(g).column(c).path_in_schema in columns
    )


def spark_benchmark(args) -> None:
    events = QUICK_EVENTS if args.quick else args.events
    figures: dict = {
        # the load is the machine's own figure: it said "shared ... under load" whatever it was
        "note": f"Spark local[{args.cores}] on a {os.cpu_count()}-core machine",
        "load_average_start": round(os.getloadavg()[0], 1),
        "repeats": args.repeats,
        "cores": args.cores,
    }
    db, parquet, figures["world"] = ensure_world(events)
    say(f"spark local[{args.cores}]: load the run, then warm-up + median of {args.repeats} ...")
    cmd = [sys.executable, "-m", "benchmarks.bench_engines", "--spark-job", "--db", str(db)]
    cmd += ["--parquet", str(parquet), "--repeats", str(args.repeats), "--cores", str(args.cores)]
    cmd += ["--spark-load", args.spark_load]
    figures["load"] = args.spark_load
    proc = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    figures.update(result)
    n_events = figures["world"]["rows"]["events"]
    events_mb = figures["world"]["parquet_mb"]["events"]
    figures["parquet_bytes_per_event"] = round(events_mb * 2**20 / n_events, 1)
    # what the sizing in docs/scale.md starts from
    figures["funnel_columns_parquet_bytes_per_event"] = round(
        parquet_column_bytes(parquet / "events.parquet", FUNNEL_COLUMNS) / n_events, 1
    )
    for name, funnel in result["spark_sql"].items():
        rows = figures["world"]["rows"]["offers" if name == "offer_funnel" else "events"]
        figures[f"{name}_rows_per_core_second"] = round(rows / (funnel["seconds"] * args.cores))
        figures[f"{name}_rows_per_cpu_second"] = round(
            rows * 1000 / max(funnel["executor_cpu_ms"], 1)
        )
        for key in ("input_bytes", "shuffle_write_bytes"):
            figures[f"{name}_{key}_per_row"] = round(funnel[key] / rows, 2)
    figures["load_average_end"] = round(os.getloadavg()[0], 1)
    if args.quick:
        path = SCRATCH / "engines_spark-quick.json"
        path.write_text(json.dumps({"name": "engines_spark-quick", "figures": figures}, indent=2))
    else:
        path = write_result("engines_spark", figures)
    print(json.dumps(figures, indent=2))
    say(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=10_000_000, help="world size (events)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after a warm-up")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every implementation's job this many times, in rotating order, and "
        "report the median of the jobs' medians (more on a busy machine; default 1)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a {QUICK_EVENTS:,}-event world, results to benchmarks/scratch/ (a smoke run)",
    )
    parser.add_argument(
        "--baseline",
        default=BASELINE,
        help="git ref of the lab to compare with (default %(default)s)",
    )
    parser.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        default="duckdb",
        help="duckdb: lab / polars / SQL / baseline; spark: the lab on Spark local mode",
    )
    parser.add_argument("--cores", type=int, default=2, help="Spark local[N] (default 2)")
    parser.add_argument(
        "--spark-load",
        choices=("views", "load_parquet"),
        default="views",
        help="views: Spark reads the Parquet files, the lab reads temporary views of them "
        "named as its tables; load_parquet: IbisStore.load_parquet copies the rows "
        "into Spark tables through Arrow (slow on one machine). Default %(default)s",
    )
    parser.add_argument("--build", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--job", choices=("lab", "polars", "sql"), help=argparse.SUPPRESS)
    parser.add_argument("--spark-job", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--parquet", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        db, parquet = world_paths(args.build)
        print(json.dumps(build_world(db, parquet, args.build)))
    elif args.job:
        print(json.dumps(job(args.job, args.db, args.parquet, args.repeats, list(QUESTIONS))))
    elif args.spark_job:
        result = spark_job(args.db, args.parquet, args.repeats, args.cores, args.spark_load)
        print(json.dumps(result))
    elif args.engine == "spark":
        spark_benchmark(args)
    else:
        duckdb_benchmark(args)


if __name__ == "__main__":
    main()
