# %% [markdown]
# # 07 · Platforms: WeChat vs Alipay vs Meituan
#
# **Question.** The same coupon budget can go out through WeChat (social relations +
# payment page), Alipay (payment-success page + wallet) or Meituan (local-life app pushes
# and store pages). How often does each platform issue, how fast are its coupons
# redeemed, does frequent pushing tire users, and does a **social + local mix** beat
# either alone?
#
# The seed (section 7): WeChat issues **1.8 coupons per user per day**; Meituan redeems
# fastest but users resist frequent pushes; WeChat coupons live longer but are forgotten;
# a social + local mix shortens the redemption cycle to **2.8 days**.

# %% tags=["parameters"]
USERS = 20_000
DAYS = 28
SEED = 0

# %%
import pandas as pd

import lab
from lab.cycle import compare_cycles, redemption_cycle
from lab.funnel import funnel
from lab.metrics import campaign_metrics, push_fatigue
from lab.world import simulate

# %% tags=["nbval-ignore-output"]
import holoviews as hv

hv.extension("bokeh", inline=True)  # BokehJS in the notebook itself: no CDN, works offline

# %% [markdown]
# ## 1 · Four worlds, same users
#
# One preset per platform plus the mix (WeChat share-to-unlock and push for the social
# side, Meituan store page and app push for the local side). The same seed gives the same
# users, weather and baseline orders in every run, so differences come from the platform.

# %%
store = lab.Store(":memory:")
runs = {
    name: simulate(f"platform_{name}", store=store, users=USERS, days=DAYS, seed=SEED, progress=False)
    for name in ("wechat", "alipay", "meituan", "mix")
}
runs

# %% [markdown]
# ## 2 · Issuance frequency
#
# Offers delivered per user per day in each world, and the seed's figure for WeChat:
# coupons delivered per *active* WeChat user per day.

# %%
frequency = pd.DataFrame(
    {
        name: {
            "offers_delivered": int(f.loc[f["step"] == "delivery", "count"].iloc[0]),
            "claimed": int(f.loc[f["step"] == "claim", "count"].iloc[0]),
        }
        for name, f in (
            (name, funnel(store, run=run, steps=("delivery", "claim"), window=None).to_frame())
            for name, run in runs.items()
        )
    }
).T
frequency["offers_per_user_day"] = frequency["offers_delivered"] / (USERS * DAYS)
frequency["claims_per_user_day"] = frequency["claimed"] / (USERS * DAYS)
print(f"WeChat coupons per active WeChat user per day: {lab.coupons_per_active_user_day(store, run=runs['wechat']):.3f} (seed: 1.8)")
frequency.round(4)

# %% [markdown]
# ## 3 · Redemption cycle: share redeemed by day since issue
#
# Each issued coupon is a subject whose clock starts when it lands in the wallet and
# stops at redemption, at expiry, or at the end of the data. Expiry is a *competing*
# event: an expired coupon can never be redeemed. The curve is therefore the cumulative
# incidence of redemption (Aalen-Johansen), the share of coupons redeemed by day *t*; on
# a fully observed world it ends at the share actually redeemed. The median is the first
# day the curve reaches one half, so it is missing wherever fewer than half redeem.

# %%
cycles = {name: redemption_cycle(store, run=run, horizon_days=14.0) for name, run in runs.items()}
summary = pd.concat({name: c.summary for name, c in cycles.items()}, names=["world"]).droplevel(1)
summary["curve_ends_at"] = {name: c.curve["share_redeemed"].iloc[-1] for name, c in cycles.items()}
summary[
    ["coupons", "redeemed", "share_redeemed", "curve_ends_at", "mean_cycle_days", "median_cycle_days"]
].round(4)

# %% tags=["nbval-ignore-output"]
hv.Overlay(
    [
        hv.Curve(c.curve, "time_days", "share_redeemed", label=name)
        for name, c in cycles.items()
    ]
).opts(hv.opts.Curve(width=700, height=350, tools=["hover"], xlabel="days since issue", ylabel="share redeemed"))

# %% [markdown]
# Treating expiry as censoring instead (`estimator="kaplan_meier"`, 1 − Kaplan-Meier)
# answers another question: the share that *would* be redeemed by day *t* if coupons
# never expired. It is the speed of redemption among coupons still valid, and it sits
# far above the share actually redeemed, so it is not the number to report as "redeemed".

# %%
would_be = {
    name: redemption_cycle(store, run=run, horizon_days=14.0, estimator="kaplan_meier")
    for name, run in runs.items()
}
pd.DataFrame(
    {
        "share_redeemed": summary["share_redeemed"],
        "incidence_at_end": summary["curve_ends_at"],
        "one_minus_km_at_end": {name: c.curve["share_redeemed"].iloc[-1] for name, c in would_be.items()},
        "km_median_days": {name: c.summary["median_cycle_days"].iloc[0] for name, c in would_be.items()},
    }
).round(4)

# %% [markdown]
# Inside the mix, are the social (WeChat) and local (Meituan) coupons redeemed on the
# same clock? The log-rank test compares the redemption hazards, so it carries the
# Kaplan-Meier view of the two platforms.

# %%
inside_mix = compare_cycles(store, run=runs["mix"], by="platform")
print(f"log-rank chi2 = {inside_mix.statistic:.2f}, df = {inside_mix.df}, p = {inside_mix.p_value:.3g}")
inside_mix.cycle.summary[["platform", "coupons", "share_redeemed", "mean_cycle_days", "median_cycle_days"]].round(4)

# %% tags=["nbval-ignore-output"]
inside_mix.plot()

# %% [markdown]
# ## 4 · Push fatigue on Meituan
#
# One observation per user and day with at least one Meituan app push: the share of that
# day's pushes that were claimed, against the number of pushes. A negative slope is
# fatigue: every extra push that day lowers the claim rate of all of them. The interval
# is clustered by user, since one user's days are not independent.

# %%
fatigue = push_fatigue(store, run=runs["meituan"], entry="app_push", platform="meituan")
print(
    f"slope {fatigue.slope:+.4f} per extra push (95 % CI {fatigue.ci_low:+.4f} to {fatigue.ci_high:+.4f}), "
    f"{fatigue.users:,} users, {fatigue.user_days:,} user-days"
)
fatigue.to_frame().round(4)

# %% tags=["nbval-ignore-output"]
fatigue.plot()

# %% [markdown]
# ## 5 · What each platform returns per yuan
#
# The seed's ROI = (redeemed amount − cost) ÷ issuance cost, per platform world.

# %%
roi = pd.concat(
    {name: campaign_metrics(store, run=run, by=None, holdout_experiment=None).to_frame() for name, run in runs.items()},
    names=["world"],
).droplevel(1)
roi[["claim_conversion", "redemption_conversion", "redeemed_amount_yuan", "cost_yuan", "aov_yuan", "roi"]].round(4)

# %% [markdown]
# ## Answer

# %%
mean_days = summary["mean_cycle_days"]
print(
    "mean days from issue to redemption: "
    + ", ".join(f"{name} {mean_days[name]:.2f}" for name in ("meituan", "mix", "wechat", "alipay"))
)
print(f"fatigue slope on Meituan (claim rate per extra push per day): {fatigue.slope:+.4f}")
print(f"order Meituan < mix < WeChat holds: {mean_days['meituan'] < mean_days['mix'] < mean_days['wechat']}")

# %% [markdown]
# **Recommendation.** The redemption cycle decides the platform when cash flow matters;
# push fatigue decides the push cap.

# %%
print(lab.recommend_platform_mix(mean_days.to_dict(), fatigue_slope=fatigue.slope))
