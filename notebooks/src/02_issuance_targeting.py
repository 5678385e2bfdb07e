# %% [markdown]
# # 02 · Issuance and targeting: stock parameters, LBS 3 km, and what precision costs
#
# **Question.** A coupon stock is a small contract (threshold, amount, budget, limits,
# validity, usable hours). Once it is set, should the stock go to everyone, or only to
# users within 3 km of a store? The seed (section 2) reports that LBS targeting within
# 3 km raised conversion **3.2×** at the price of **+15 % system resources**. What does it
# buy, and what does it cost, in orders and in yuan?

# %% tags=["parameters"]
USERS = 20_000
DAYS = 28
SEED = 0

# %%
import dataclasses
import pandas as pd

import lab
from lab import schema
from lab.experiments import analyze
from lab.funnel import funnel
from lab.metrics import campaign_metrics
from lab.world import preset, simulate

# %% tags=["nbval-ignore-output"]
import holoviews as hv

hv.extension("bokeh", inline=True)  # BokehJS in the notebook itself: no CDN, works offline

# %% [markdown]
# ## 1 · The stock: WeChat Pay's coupon-stock parameters
#
# Both arms of the experiment issue the same stock. Each parameter maps onto a column of
# the `stocks` table; the meaning is the schema's own documentation.

# %%
strategy = preset("lbs_3km")
stock = strategy.campaigns[0].stock
pd.DataFrame(
    [
        {"parameter": name, "value": value, "meaning": schema.table("stocks").column(name).doc}
        for name, value in dataclasses.asdict(stock).items()
        if name in schema.table("stocks").column_names
    ]
).set_index("parameter")

# %%
pd.DataFrame(
    [
        {
            "campaign": c.name,
            "arm": c.arm,
            "lbs_radius_km": c.targeting.lbs_radius_km,
            "deliveries_per_user_day": c.frequency,
        }
        for c in strategy.campaigns
    ]
)

# %% [markdown]
# ## 2 · Run the experiment
#
# Users are randomised into `untargeted` (push to every user of the arm) and `lbs_3km`
# (push only to users whose nearest store is within 3 km).

# %%
store = lab.Store(":memory:")
run = simulate(strategy, store=store, users=USERS, days=DAYS, seed=SEED, progress=False)
journey = funnel(store, run=run, steps=("delivery", "exposure", "claim", "redeem"), by="arm")
journey.to_frame().pivot(index="arm", columns="step", values="count")[["delivery", "exposure", "claim", "redeem"]]

# %%
rates = journey.to_frame().pivot(index="arm", columns="step", values="conversion_from_previous")
rates[["exposure", "claim", "redeem"]].round(4)

# %% tags=["nbval-ignore-output"]
journey.plot()

# %% [markdown]
# ## 3 · Precision and its price
#
# Conversion per exposed offer (redeemed ÷ exposed) in each arm, their ratio, and the
# issuance engine's own compute cost units (`engine_metrics`), targeted over untargeted.

# %%
c5 = lab.targeting_lift(store, run=run)
pd.DataFrame(
    {"lab": [c5["conversion_lift"], c5["resource_overhead"]], "seed": [3.2, 0.15]},
    index=["conversion lift (×)", "resource overhead"],
).round(4)

# %% [markdown]
# Per yuan: the seed's ROI per arm (redeemed amount − cost) ÷ cost.

# %%
money = campaign_metrics(store, run=run, by="campaign", holdout_experiment=None).to_frame()
# shown under the lab's metric names (one name and definition everywhere, money in yuan)
lab.metric_frame(money[["campaign", "exposed_users", "claimers", "issued", "redeemed", "redemption_conversion", "cost_fen", "roi"]]).round(4)

# %% [markdown]
# ## 4 · Per user assigned: does targeting lose orders?
#
# Targeting concentrates the coupon on near users; the users beyond 3 km no longer get
# it. The experiment compares the arms per user assigned (relative effect of `lbs_3km`
# against `untargeted`), so the lost reach is counted.

# %%
readout = analyze(store, run=run, experiment="lbs", metrics=("redeemed", "orders", "gmv"), control="untargeted")
readout.to_frame()[["metric", "control_mean", "treatment_mean", "effect", "ci_low", "ci_high", "p_value"]].round(4)

# %% tags=["nbval-ignore-output"]
readout.plot()

# %% [markdown]
# ## Answer

# %%
lbs, wide = money.set_index("campaign").loc["lbs_3km"], money.set_index("campaign").loc["untargeted"]
print(f"conversion per exposure: {c5['conversion_lift']:.2f}x with 3 km targeting")
print(f"engine cost units: {c5['resource_overhead']:+.1%}")
print(f"coupon cost: lbs_3km {lbs['cost_yuan']:.0f} yuan vs untargeted {wide['cost_yuan']:.0f} yuan; "
      f"ROI {lbs['roi']:.2f} vs {wide['roi']:.2f}")
print("targeting returns more per yuan of discount:", bool(lbs["roi"] > wide["roi"]))
gmv = readout.row("gmv")
print(f"GMV per assigned user, lbs_3km vs untargeted: {gmv.effect:+.1%} (95 % CI {gmv.ci_low:+.1%} to {gmv.ci_high:+.1%})")

# %% [markdown]
# **Recommendation.** Targeting buys conversion per exposure, at the engine's extra cost
# and the users beyond 3 km who no longer get the coupon: target only if each yuan of
# discount works harder and GMV per assigned user does not fall.

# %%
print(lab.recommend_targeting(
    roi={"lbs_3km": lbs["roi"], "untargeted": wide["roi"]},
    gmv=readout.row("gmv"),
    targeted="lbs_3km",
    untargeted="untargeted",
    resource_overhead=c5["resource_overhead"],
))
