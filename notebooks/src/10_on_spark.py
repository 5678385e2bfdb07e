# %% [markdown]
# # 10 · On Spark: the quickstart's questions where the data lives
#
# **Question.** A team whose logs sit in a Spark warehouse wants the lab's answers without
# moving billions of events to a laptop. Do the lab's models give the same numbers on
# Spark as on the embedded DuckDB store?
#
# Every model is one Ibis expression that the engine holding the logs computes; only small
# aggregates (counts, sums, sums of squares) come back, and the statistics stay in Python.
# So the same call, `funnel(store, run=...)`, runs on either store. Here Spark runs in
# local mode inside this notebook; on a cluster, open the store with a Spark Connect URL
# (`lab.Store.from_ibis("sc://host:15002", database="coupons")`, see docs/scale.md).

# %% tags=["parameters"]
USERS = 4_000
DAYS = 14
SEED = 0

# %%
import tempfile

import ibis
import numpy as np
import pandas as pd

import lab
from lab.engines import spark_session
from lab.experiments import analyze
from lab.funnel import funnel
from lab.retention import retention
from lab.world import simulate

pd.set_option("display.width", 120)

# %% tags=["nbval-ignore-output"]
import holoviews as hv

hv.extension("bokeh", inline=True)  # BokehJS in the notebook itself: no CDN, works offline

# %% [markdown]
# ## 1 · The same run in two stores
#
# The embedded store is the lab's default (an in-memory DuckDB here). The Spark store is
# a local Spark session whose tables are created from the lab's schema and filled with the
# same run; on a real warehouse they would be views over the team's own tables.

# %%
embedded = lab.Store(":memory:")
run = simulate("default", store=embedded, users=USERS, days=DAYS, seed=SEED, progress=False)

scratch = tempfile.mkdtemp(prefix="lab-spark-")
session = spark_session(
    "local[2]",
    config={
        "spark.sql.shuffle.partitions": "2",
        "spark.ui.enabled": "false",
        "spark.sql.warehouse.dir": scratch,
    },
    log_path=f"{scratch}/driver.log",  # the driver's start-up warnings, out of this page
)
session.sparkContext.setLogLevel("ERROR")
on_spark = lab.Store.from_ibis(ibis.pyspark.connect(session))
copied = on_spark.copy_run(embedded, run)
print(f"run {run}: {copied['offers']:,} offers, {copied['events']:,} events, {copied['orders']:,} orders copied to Spark")

# %% [markdown]
# ## 2 · The quickstart's questions, asked of both stores
#
# Each question is one `lab` call, made twice with only the store changed. Two answers are
# equal when their labels and counts match exactly and their rates to 1e-9.

# %%
QUESTIONS = {
    "offer funnel": lambda store: funnel(store, run=run).to_frame(),
    "offer funnel by platform": lambda store: funnel(store, run=run, by="platform").to_frame(),
    "user funnel (events)": lambda store: funnel(store, run=run, unit="user", source="events").to_frame(),
    "retention after claim": lambda store: retention(store, run=run, max_periods=7).table,
    "campaign money by platform": lambda store: lab.campaign_metrics(store, run=run, by="platform").to_frame(),
    "holdout readout (CUPED)": lambda store: analyze(
        store, run=run, experiment="holdout", metrics=("orders", "gmv"), covariate="pre_gmv"
    ).to_frame(),
}


def largest_difference(left: pd.DataFrame, right: pd.DataFrame) -> float:
    """Largest absolute difference between two answers' numbers (inf if their shape or
    labels differ)."""
    if left.shape != right.shape or list(left.columns) != list(right.columns):
        return np.inf
    numbers = left.select_dtypes("number").columns
    labels = left.columns.difference(numbers)
    if not left[labels].astype(str).equals(right[labels].astype(str)):
        return np.inf
    gap = (left[numbers].astype(float) - right[numbers].astype(float)).abs().to_numpy()
    both_missing = left[numbers].isna().to_numpy() & right[numbers].isna().to_numpy()
    return float(np.where(both_missing, 0.0, gap).max(initial=0.0))


rows = []
answers = {}
for question, ask in QUESTIONS.items():
    answers[question] = ask(embedded), ask(on_spark)
    gap = largest_difference(*answers[question])
    rows.append({"question": question, "rows": len(answers[question][0]), "largest difference": gap, "equal": gap <= 1e-9})
checks = pd.DataFrame(rows)
checks

# %% [markdown]
# ## 3 · One answer, read from Spark
#
# The funnel below was computed by Spark; its plot is the one the embedded store draws.

# %%
answers["offer funnel"][1].round(4)

# %% tags=["nbval-ignore-output"]
funnel(on_spark, run=run).plot()

# %% [markdown]
# ## Answer
#
# Every question above gave the same numbers on both engines, so a team can choose the
# engine by the size of its log. The benchmarks (docs/scale.md) size a cluster for 10B
# events; the embedded store serves logs that fit one machine.

# %%
session.stop()
print(lab.recommend_engine(checks, events=copied["events"]))
