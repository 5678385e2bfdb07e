# %% [markdown]
# # 00 · Quickstart: a world, its store, one funnel, one A/B readout
#
# **Question.** How does the lab go from a coupon strategy to an answer a growth team can
# act on? We simulate the default strategy (WeChat's four entries, Alipay, Meituan,
# rain-triggered delivery coupons and a 10 % holdout), look at what landed in the store,
# read one funnel and one experiment readout.
#
# Everything below calls `lab` only; the world is seeded, so every number is reproducible.
# Raise `USERS` for tighter intervals (the default keeps the notebook under a minute).

# %% tags=["parameters"]
USERS = 20_000
DAYS = 28
SEED = 0

# %%
import pandas as pd

import lab
from lab.experiments import analyze
from lab.funnel import funnel
from lab.world import PRESETS, preset, simulate

pd.set_option("display.width", 120)

# %% tags=["nbval-ignore-output"]
import holoviews as hv

hv.extension("bokeh", inline=True)  # BokehJS in the notebook itself: no CDN, works offline

# %% [markdown]
# ## 1 · Generate a world
#
# A strategy is plain data. The presets cover one question of the seed article each;
# `default` mixes all platforms. `simulate` writes every table of one run into a store
# (here in memory, so this notebook does not depend on any file).

# %%
print("presets:", ", ".join(PRESETS))
strategy = preset("default")
print(strategy.description)
pd.DataFrame(
    [
        {
            "campaign": c.name,
            "platform": c.platform,
            "entry": c.entry,
            "mechanic": c.mechanic,
            "threshold_yuan": c.stock.transaction_minimum_fen / 100,
            "amount_yuan": c.stock.amount_fen / 100,
            "valid_days": c.stock.valid_days,
            "deliveries_per_user_day": c.frequency,
        }
        for c in strategy.campaigns
    ]
)

# %%
store = lab.Store(":memory:")
run = simulate(strategy, store=store, users=USERS, days=DAYS, seed=SEED, progress=False)
run

# %% [markdown]
# ## 2 · Look at the store
#
# One run, one row per table count. `offers` holds each offer's whole lifecycle on one
# row; `events` the same facts as a long log; `orders` every order, with or without a
# coupon, so that incrementality can be measured; `truth_*` tables are what only a
# simulator knows (models never read them).

# %%
store.describe_run(run)

# %%
info = store.run(run)
{k: info[k] for k in ("origin", "label", "seed", "n_users", "days", "pre_days", "start_date")}

# %% [markdown]
# ## 3 · One funnel: exposure → rule view → claim → redeem
#
# Each offer is one unit; a step counts if it happens within 7 days of the exposure.

# %%
journey = funnel(store, run=run)
journey.to_frame().round(4)

# %% tags=["nbval-ignore-output"]
journey.plot()

# %%
by_platform = funnel(store, run=run, by="platform")
by_platform.to_frame().pivot(index="step", columns="platform", values="conversion_from_start").loc[
    ["exposure", "rule_view", "claim", "redeem"]
].round(4)

# %% [markdown]
# ## 4 · One A/B readout: coupons vs the 10 % holdout
#
# Users were randomised into `treatment` (all campaigns) and `holdout` (no coupon at all).
# `analyze` reduces each arm to sufficient statistics in DuckDB and tests the difference;
# CUPED on pre-period GMV tightens the interval. Effects are relative (treatment ÷ holdout − 1).

# %%
readout = analyze(store, run=run, experiment="holdout", metrics=("orders", "gmv"), covariate="pre_gmv")
print("sample ratio mismatch:", readout.srm.is_mismatch)
readout.to_frame()[
    ["metric", "arm", "control_n", "n", "control_mean", "treatment_mean", "effect", "ci_low", "ci_high", "p_value"]
].round(4)

# %%
for sentence in readout.verdicts():
    print(sentence)

# %% tags=["nbval-ignore-output"]
readout.plot()

# %% [markdown]
# ## 5 · Do the coupons pay?
#
# The holdout tells what the coupons *caused*. `campaign_metrics` puts the seed's reported
# ROI (every redeemed basket counted) next to the incremental one: (GMV the coupons caused
# − discount spent) ÷ discount spent, with its 95 % interval.

# %%
money = lab.campaign_metrics(store, run=run, by=None)
money.comparison()[["measure", "gmv_yuan", "cost_yuan", "roi", "roi_ci_low", "roi_ci_high"]].round(2)

# %% [markdown]
# ## Answer
#
# The lift in orders and GMV per user, what it cost, and whether it paid; the other
# notebooks take one question each: channels (01), issuance and targeting (02), the
# journey (03), risk (04), metrics and denominations (05), mechanics and timing (06),
# platforms (07), AI targeting (08) and your own logs (09).

# %%
gmv = readout.row("gmv")
print(
    f"GMV per user: holdout {gmv.control_mean / 100:.2f} yuan, treated {gmv.treatment_mean / 100:.2f} yuan, "
    f"lift {gmv.effect:+.1%} (95 % CI {gmv.ci_low:+.1%} to {gmv.ci_high:+.1%})"
)
steps = journey.to_frame().set_index("step")
worst = steps["dropoff"].idxmax()
print(f"largest loss: offers that do not reach '{worst}' ({steps.loc[worst, 'dropoff']:,} offers, "
      f"{1 - steps.loc[worst, 'conversion_from_previous']:.1%} of the previous step)")
print(lab.recommend_rollout(money.incremental, weakest_step=worst))
