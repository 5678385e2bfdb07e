# %% [markdown]
# # 09 · Bring your own logs: Tianchi O2O, WeChat Pay and Alipay
#
# **Question.** The notebooks so far ran on a simulated world. Can a team load its *own*
# coupon logs and run the same analyses? Here the public Alibaba Tianchi "O2O coupon
# usage prediction" test file: 113,640 offline coupons received in July 2016 (user,
# merchant, coupon, 满x减y or rate, distance to the store, day received). The file has
# **no redemptions**, so only what applies to issuance runs: the funnel up to the claim,
# the denomination mix, and the distance profile. For contrast, a simulated Meituan-style
# world goes through the same calls.
#
# Section 6 does the same with the files a coupon team gets from **WeChat Pay** (stocks,
# user coupons, encrypted `COUPON.USE` callbacks, payment results) and **Alipay** (the GBK
# trade bill, trade query results, user vouchers).
#
# To use your own file, change `DATA` (a Tianchi-format CSV, or a directory of lab-format
# tables: see `lab.ingest`), `WECHATPAY` or `ALIPAY` (directories of platform files; see
# `docs/real-logs.md`).

# %% tags=["parameters"]
USERS = 20_000
DAYS = 28
SEED = 0
DATA = "../../shared/data/tianchi-o2o/ccf_offline_stage1_test_revised.csv"
WECHATPAY = None  # a directory of WeChat Pay JSON files; None: export a simulated run
ALIPAY = None  # a directory holding an Alipay trade bill and query results; None: same
APIV3_KEY = "lab-demo-key-0123456789abcdefghi"  # 32 bytes; your merchant's APIv3 key

# %%
from pathlib import Path

import pandas as pd

import tempfile

import lab
from lab.funnel import funnel, funnel_trend
from lab.ingest import export_platform, import_logs
from lab.metrics import campaign_metrics
from lab.world import simulate

# %% tags=["nbval-ignore-output"]
import holoviews as hv

hv.extension("bokeh", inline=True)  # BokehJS in the notebook itself: no CDN, works offline

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
# ## 6 · WeChat Pay and Alipay files
#
# Without a real merchant account at hand, a simulated run stands in: the lab writes it
# out exactly as the platforms deliver it (WeChat Pay callbacks encrypted with the APIv3
# key and retried, as the platform does; the Alipay bill as a GBK zip with `#` comment
# lines), then imports those files as if they came from the merchant platform. Point
# `WECHATPAY` / `ALIPAY` at your own downloads to run the same cells on real data.

# %%
scratch = Path(tempfile.mkdtemp(prefix="lab_nb09_"))
if WECHATPAY is None:
    wx_world = simulate("platform_wechat", store=store, users=USERS // 4, days=DAYS, seed=SEED, progress=False)
    WECHATPAY = scratch / "wechatpay"
    export_platform(store, wx_world, WECHATPAY, format="wechatpay", apiv3_key=APIV3_KEY, retries=2)
if ALIPAY is None:
    ali_world = simulate("platform_alipay", store=store, users=USERS // 4, days=DAYS, seed=SEED, progress=False)
    ALIPAY = scratch / "alipay"
    export_platform(store, ali_world, ALIPAY, format="alipay")
sorted(p.name for p in Path(WECHATPAY).iterdir()), sorted(p.name for p in Path(ALIPAY).iterdir())

# %%
wechat = import_logs(WECHATPAY, store=store, format="wechatpay", apiv3_key=APIV3_KEY)
alipay = import_logs(ALIPAY, store=store, format="alipay")
pd.concat({"wechatpay": store.describe_run(wechat), "alipay": store.describe_run(alipay)}, axis=1)

# %% [markdown]
# Unlike the Tianchi file, both platforms' logs carry redemptions and every order (with
# and without a coupon), so the funnel reaches the redemption, and the redemption cycle
# and ROI can be measured. What they never carry is the funnel above the claim
# (deliveries, exposures) and the refused claims: the platform only sees coupons it
# issued (`docs/real-logs.md` lists every limit).

# %%
sources = {"tianchi": tianchi, "wechatpay": wechat, "alipay": alipay}
side = {}
for name, run in sources.items():
    f = funnel(store, run=run, steps=("claim", "redeem"), window=None).to_frame().set_index("step")
    m = campaign_metrics(store, run=run, by=None, holdout_experiment=None).to_frame().iloc[0]
    side[name] = {
        "claims": int(f.loc["claim", "count"]),
        "redeemed": int(f.loc["redeem", "count"]),
        "redemption_conversion": m["redemption_conversion"],
        "cost_yuan": m["cost_yuan"],
        "roi": m["roi"],
    }
pd.DataFrame(side).T.astype({"claims": int, "redeemed": int}).round(4)

# %%
cycles = {
    name: lab.redemption_cycle(store, run=run).summary.iloc[0]
    for name, run in (("wechatpay", wechat), ("alipay", alipay))
}
pd.DataFrame(cycles).T[["coupons", "redeemed", "expired", "share_redeemed", "mean_cycle_days", "restricted_mean_days"]].round(3)

# %% [markdown]
# ## Answer

# %%
threshold_share = by_type.set_index("stock_type")["issued"].get("threshold", 0) / by_type["issued"].sum()
within_1km = distance.loc[distance["km"] <= 1.0, "share"].sum()
print(f"{int(info['n_users']):,} users, {int(by_type['issued'].sum()):,} coupons over {int(info['days'])} days")
print(f"threshold (满x减y) coupons: {threshold_share:.1%}; most common: {top.iloc[0]['denomination']} ({top.iloc[0]['share']:.1%})")
print(f"coupons to users within 1 km of the store: {within_1km:.1%}")
for name in ("wechatpay", "alipay"):
    print(
        f"{name}: {side[name]['claims']:,} coupons claimed, {side[name]['redemption_conversion']:.1%} redeemed, "
        f"redeemed {cycles[name]['mean_cycle_days']:.1f} days after the claim on average, "
        f"ROI {side[name]['roi']:.2f}"
    )

# %% [markdown]
# **What applies, and what to add.** An issuance-only log supports the claim funnel over
# time, the denomination mix and the distance profile, and the numbers above describe
# this merchant base: threshold coupons dominate and most coupons go to users near a
# store, which is where the LBS notebook (02) says targeting pays. To measure redemption
# conversion, the redemption cycle, ROI and incrementality (notebooks 05, 07, 08), the
# log also needs redemption dates (the Tianchi training file's `Date` column) and,
# for incrementality, a holdout of users who got no coupon. The WeChat Pay and Alipay
# files carry exactly that: redemptions linked to payments, and every order, so the
# redemption cycle and the seed's ROI come straight from them; add `assignments.csv`
# (your experiment platform's arms, keyed by openid or buyer id) for the incremental
# figures and experiment readouts.

# %%
print(lab.recommend_log_additions(
    redeemed_share=rows["tianchi"]["redeemed_share"],
    near_share=within_1km,
    has_holdout=bool(store.describe_run(tianchi).set_index("table").loc["assignments", "rows"]),
))
