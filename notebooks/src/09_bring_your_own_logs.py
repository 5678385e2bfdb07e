# %% [markdown]
# # 09 · Bring your own logs: the Tianchi O2O coupon sample
#
# **Question.** The notebooks so far ran on a simulated world. Can a team load its *own*
# coupon logs and run the same analyses? Here the public Alibaba Tianchi "O2O coupon
# usage prediction" test file: 113,640 offline coupons received in July 2016 (user,
# merchant, coupon, 满x减y or rate, distance to the store, day received). The file has
# **no redemptions**, so only what applies to issuance runs: the funnel up to the claim,
# the denomination mix, and the distance profile. For contrast, a simulated Meituan-style
# world goes through the same calls.
#
# To use your own file, change `DATA` (a Tianchi-format CSV, or a directory of lab-format
# tables: see `lab.ingest`).

# %% tags=["parameters"]
USERS = 20_000
DAYS = 28
SEED = 0
DATA = "../../shared/data/tianchi-o2o/ccf_offline_stage1_test_revised.csv"

# %%
from pathlib import Path

import pandas as pd

import lab
from lab.funnel import funnel, funnel_trend
from lab.ingest import import_logs
from lab.metrics import campaign_metrics
from lab.world import simulate

# %% tags=["nbval-ignore-output"]
import holoviews as hv

hv.extension("bokeh")

# %% [markdown]
# ## 1 · Import
#
# The path is resolved against this notebook's folder (notebooks run with their own
# folder as working directory). Every row is checked before anything is written; a bad
# row stops the import with the file, line, column and reason.

# %%
path = Path(DATA)
if not path.is_absolute():
    path = (Path.cwd() / path).resolve()
if not path.exists():
    raise FileNotFoundError(
        f"Tianchi sample not found at {path}: set DATA to the CSV "
        "(User_id,Merchant_id,Coupon_id,Discount_rate,Distance,Date_received)"
    )
store = lab.Store(":memory:")
tianchi = import_logs(path, store=store, format="tianchi")
print(tianchi)
store.describe_run(tianchi)

# %%
info = store.run(tianchi)
{k: info[k] for k in ("origin", "label", "n_users", "days", "start_date", "source_sha256")}

# %% [markdown]
# ## 2 · The funnel up to the claim
#
# Every row of the file is a coupon received, so each offer is delivered, seen and
# claimed the same day; the redemption step is empty because the file has none. What
# the log does show is how claims spread over the month.

# %%
funnel(store, run=tianchi, steps=("delivery", "exposure", "claim", "redeem")).to_frame().round(4)

# %%
funnel_trend(store, run=tianchi, interval="week", steps=("delivery", "claim")).to_frame()

# %% tags=["nbval-ignore-output"]
funnel_trend(store, run=tianchi, interval="day", steps=("delivery", "claim")).plot()

# %% [markdown]
# ## 3 · Denomination mix
#
# Claims per coupon type and per 满x减y denomination (threshold and amount in yuan); rate
# coupons (such as 0.95) are `discount` stocks with no threshold.

# %%
by_type = campaign_metrics(store, run=tianchi, by="stock_type", holdout_experiment=None).to_frame()
by_type[["stock_type", "claimers", "issued"]].assign(share=lambda d: d["issued"] / d["issued"].sum()).round(4)

# %%
mix = campaign_metrics(
    store, run=tianchi, by=("transaction_minimum_fen", "amount_fen"), holdout_experiment=None
).to_frame()
mix = mix.dropna(subset=["amount_fen"]).assign(
    denomination=lambda d: "满" + (d["transaction_minimum_fen"] // 100).astype(int).astype(str)
    + "减" + (d["amount_fen"] // 100).astype(int).astype(str),
    face_share_of_threshold=lambda d: (d["amount_fen"] / d["transaction_minimum_fen"]).astype(float),
    share=lambda d: d["issued"] / d["issued"].sum(),
)
top = mix.sort_values(["issued", "denomination"], ascending=[False, True]).head(12)
top[["denomination", "issued", "share", "face_share_of_threshold"]].reset_index(drop=True).round(4)

# %% tags=["nbval-ignore-output"]
hv.Bars(top, "denomination", "issued").opts(width=700, height=300, xrotation=45, tools=["hover"], title="Coupons by denomination")

# %% [markdown]
# ## 4 · Distance profile
#
# The user's distance to the nearest store of the merchant, in the file's 500 m steps
# (5 km means 5 km or more; unknown distances are `(none)`).

# %%
near = funnel(store, run=tianchi, steps=("delivery", "claim"), by="distance_km", top_n=None).to_frame()
distance = near[near["step"] == "claim"][["distance_km", "count"]].rename(columns={"count": "claims"})
distance = distance.assign(
    km=pd.to_numeric(distance["distance_km"], errors="coerce"), share=distance["claims"] / distance["claims"].sum()
).sort_values("km", na_position="last")
distance[["distance_km", "claims", "share"]].reset_index(drop=True).round(4)

# %% tags=["nbval-ignore-output"]
hv.Bars(distance.astype({"distance_km": str}), "distance_km", "share").opts(
    width=700, height=300, tools=["hover"], title="Share of coupons by distance to the store (km)"
)

# %% [markdown]
# ## 5 · Side by side with a simulated world
#
# The same calls on a simulated Meituan-style run (app pushes and store pages): claims
# per user per day and the threshold mix. The simulated run also has redemptions, so
# there the funnel goes one step further.

# %%
world = simulate("platform_meituan", store=store, users=USERS, days=DAYS, seed=SEED, progress=False)
rows = {}
for name, run in (("tianchi", tianchi), ("simulated", world)):
    r = store.run(run)
    f = funnel(store, run=run, steps=("claim", "redeem"), window=None).to_frame().set_index("step")["count"]
    rows[name] = {
        "users": int(r["n_users"]),
        "days": int(r["days"]),
        "claims": int(f["claim"]),
        "claims_per_user_day": f["claim"] / (r["n_users"] * r["days"]),
        "redeemed_share": f["redeem"] / f["claim"],
    }
pd.DataFrame(rows).T.astype({"users": int, "days": int, "claims": int}).round(4)

# %% [markdown]
# ## Answer

# %%
threshold_share = by_type.set_index("stock_type")["issued"].get("threshold", 0) / by_type["issued"].sum()
within_1km = distance.loc[distance["km"] <= 1.0, "share"].sum()
print(f"{int(info['n_users']):,} users, {int(by_type['issued'].sum()):,} coupons over {int(info['days'])} days")
print(f"threshold (满x减y) coupons: {threshold_share:.1%}; most common: {top.iloc[0]['denomination']} ({top.iloc[0]['share']:.1%})")
print(f"coupons to users within 1 km of the store: {within_1km:.1%}")

# %% [markdown]
# **Recommendation.** An issuance-only log supports the claim funnel, the denomination mix
# and the distance profile; redemption dates and a holdout unlock the rest.

# %%
print(lab.recommend_log_additions(
    redeemed_share=rows["tianchi"]["redeemed_share"],
    near_share=within_1km,
    has_holdout=bool(store.describe_run(tianchi).set_index("table").loc["assignments", "rows"]),
))
