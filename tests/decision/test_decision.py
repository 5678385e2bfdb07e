"""The holdout every strategy keeps, the incremental figures, the metric dictionary and
the decisions built on them, checked against scipy, plain pandas and hand-derived values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lab
from lab.decision import Guardrails, StrategyOutcome, decide, experiment_decision, strategy_outcome
from lab.world import PRESETS, Arm, Campaign, Experiment, Stock, Strategy, preset, simulate

USERS, DAYS = 3_000, 14


@pytest.fixture(scope="module")
def world():
    store = lab.Store(":memory:")
    runs = {
        name: simulate(
            name, store=store, users=USERS, days=DAYS, pre_days=7, seed=4, progress=False
        )
        for name in ("platform_wechat", "platform_meituan", "denomination_split", "aa_test")
    }
    return store, runs


# -- the holdout -------------------------------------------------------------------------
def test_every_preset_keeps_a_ten_percent_holdout():
    for name in PRESETS:
        exp = {e.name: e for e in preset(name).experiments}["holdout"]
        assert {a.name: (a.weight, a.holdout) for a in exp.arms} == {
            "treatment": (0.9, False),
            "holdout": (0.1, True),
        }


def test_holdout_share_is_configurable_and_round_trips():
    push = (Campaign("push", "wechat", "official_account", Stock()),)
    s = Strategy("s", campaigns=push, holdout_share=0.25)
    assert [a.weight for a in s.experiments[-1].arms] == [0.75, 0.25]
    assert Strategy.from_json(s.to_json()) == s
    assert Strategy("s", campaigns=push, holdout_share=0).experiments == ()
    own = Experiment("t", (Arm("none", holdout=True), Arm("a")))
    assert Strategy("s", campaigns=push, experiments=(own,)).experiments == (own,)
    with pytest.raises(ValueError, match="reserved"):
        Strategy("s", experiments=(Experiment("holdout", (Arm("x"), Arm("y"))),))
    with pytest.raises(ValueError, match="holdout_share"):
        Strategy("s", holdout_share=1.0)


def test_held_out_users_join_no_other_experiment(world):
    store, runs = world
    run = runs["denomination_split"]
    a = store.query("SELECT experiment, user_id, arm FROM assignments WHERE run_id = ?", [run])
    held = set(a.loc[(a["experiment"] == "holdout") & (a["arm"] == "holdout"), "user_id"])
    ab = set(a.loc[a["experiment"] == "denomination", "user_id"])
    assert held and not held & ab
    assert len(held) + len(ab) == USERS
    assert abs(len(held) / USERS - 0.1) < 0.02


# -- incremental orders ------------------------------------------------------------------
def _per_user(store, run, column):
    """Per-user totals over the campaign period with plain pandas, by holdout arm."""
    info = store.run(run)
    start = pd.Timestamp(info["start_date"])
    end = start + pd.Timedelta(days=int(info["days"]))
    orders = store.query(
        "SELECT user_id, ts, amount_fen, discount_fen FROM orders WHERE run_id = ?", [run]
    )
    orders = orders[(orders["ts"] >= start) & (orders["ts"] < end)]
    arms = store.query(
        "SELECT user_id, arm FROM assignments WHERE run_id = ? AND experiment = 'holdout'", [run]
    )
    per = orders.groupby("user_id").agg(
        n=("ts", "size"), gmv=("amount_fen", "sum"), cost=("discount_fen", "sum")
    )
    return arms.merge(per, left_on="user_id", right_index=True, how="left").fillna(0)


def test_incremental_orders_match_plain_pandas_and_scipy(world):
    store, runs = world
    run = runs["platform_wechat"]
    inc = lab.campaign_metrics(store, run=run, by=None).incremental
    users = _per_user(store, run, "n")
    treat, hold = users[users["arm"] == "treatment"], users[users["arm"] == "holdout"]
    effect = treat["n"].mean() - hold["n"].mean()
    assert inc.incremental_orders == pytest.approx(effect * len(treat))
    assert inc.incremental_orders_per_user == pytest.approx(effect)
    welch = stats.ttest_ind(treat["n"], hold["n"], equal_var=False)
    assert inc.orders_p_value == pytest.approx(welch.pvalue, rel=1e-6)
    ci = welch.confidence_interval(0.95)
    assert inc.orders_ci_low == pytest.approx(ci.low * len(treat), rel=1e-6)
    assert inc.orders_ci_high == pytest.approx(ci.high * len(treat), rel=1e-6)
    assert inc.cost_fen == treat["cost"].sum()
    assert inc.cost_per_incremental_order_fen == pytest.approx(
        inc.cost_fen / inc.incremental_orders
    )
    assert inc.cpio_ci_low_fen == pytest.approx(inc.cost_fen / inc.orders_ci_high)
    expected_high = inc.cost_fen / inc.orders_ci_low if inc.orders_ci_low > 0 else math.inf
    assert inc.cpio_ci_high_fen == pytest.approx(expected_high)
    assert inc.cost_per_user_fen == pytest.approx(treat["cost"].mean())
    assert inc.gmv_per_cost == pytest.approx(inc.incremental_gmv_fen / inc.cost_fen)


def test_incremental_orders_interval_covers_the_worlds_true_uplift(world):
    """The holdout estimate is checked against the ground truth the world keeps."""
    store, runs = world
    for name in ("platform_wechat", "platform_meituan"):
        inc = lab.campaign_metrics(store, run=runs[name], by=None).incremental
        truth = store.query(
            """
            SELECT sum(t.true_uplift_orders) AS u FROM truth_users t JOIN assignments a
              ON a.run_id = t.run_id AND a.user_id = t.user_id
             AND a.experiment = 'holdout' AND a.arm = 'treatment'
            WHERE t.run_id = ?""",
            [runs[name]],
        )["u"][0]
        assert truth > 0
        assert inc.orders_ci_low <= truth <= inc.orders_ci_high


# -- the dictionary -----------------------------------------------------------------------
def test_no_two_metrics_share_a_label_and_both_languages_exist():
    for lang in ("en", "zh"):
        labels = [m.label(lang) for m in lab.METRICS.values()]
        assert len(labels) == len(set(labels))
        assert all(m.definition(lang) for m in lab.METRICS.values())
    assert lab.metric("claim_rate_per_exposed_user").label("en") != lab.metric(
        "claim_rate_per_offer"
    ).label("en")


@pytest.mark.parametrize(
    ("key", "value", "lang", "fen", "text"),
    [
        ("cost", 7_123_456, "en", False, "¥7,123,456"),
        ("cost", 7_123_456, "zh", False, "¥712.3万"),
        ("cost", 712_345_600, "en", True, "¥7,123,456"),
        ("cost_per_user", 3.204, "en", False, "¥3.20"),
        ("incremental_gmv", -25_000, "en", False, "−¥25,000"),
        ("claim_rate_per_offer", 0.37204, "en", False, "37.2%"),
        ("issued", 123_456, "zh", False, "12.3万"),
        ("issued", 1_234, "en", False, "1,234"),
        ("incremental_roi", 1.234, "en", False, "1.23"),
        ("mean_cycle_days", 3.25, "zh", False, "3.2 天"),
        ("incremental_roi", float("nan"), "en", False, "not measured"),
    ],
)
def test_format_metric(key, value, lang, fen, text):
    assert lab.format_metric(key, value, lang=lang, fen=fen) == text


def test_metric_frame_renames_to_one_name_and_yuan():
    frame = pd.DataFrame(
        {"run_id": ["r"], "cost_fen": [12_345], "roi": [2.0], "claim_conversion": [0.5]}
    )
    out = lab.metric_frame(frame)
    assert out.to_dict("list") == {
        "run_id": ["r"],
        "cost": [123.45],
        "reported_roi": [2.0],
        "claim_rate_per_exposed_user": [0.5],
    }
    assert "券成本" in lab.metric_frame(frame, lang="zh").columns
    with pytest.raises(KeyError, match="unknown metric"):
        lab.metric("nope")


# -- deciding between strategies -------------------------------------------------------
def test_decide_difference_and_interval_by_hand(world):
    store, runs = world
    outcomes = [
        strategy_outcome(store, run=runs[n]) for n in ("platform_wechat", "platform_meituan")
    ]
    for goal in lab.decision.GOALS:
        d = decide(outcomes, goal=goal)
        (ea, sa), (eb, sb) = (o.value(goal) for o in outcomes)
        winner, loser = (0, 1) if ea >= eb else (1, 0)
        assert d.winner == outcomes[winner].run and d.baseline == outcomes[loser].run
        diff = abs(ea - eb)
        se = math.hypot(sa, sb)
        z = stats.norm.ppf(0.975)
        assert d.difference == pytest.approx(diff)
        assert (d.ci_low, d.ci_high) == pytest.approx((diff - z * se, diff + z * se))
        assert d.p_value == pytest.approx(2 * stats.norm.sf(diff / se))
        assert d.significant == (diff - z * se > 0)
    inc = outcomes[0].incremental
    assert outcomes[0].value("gmv_per_cost")[0] == pytest.approx(inc.gmv_per_cost)
    assert outcomes[0].interval("gmv_per_cost") == pytest.approx(
        (inc.ci_low_fen / inc.cost_fen, inc.ci_high_fen / inc.cost_fen)
    )


def test_decide_respects_guardrails_baseline_and_missing_holdouts(world):
    store, runs = world
    a, b = (strategy_outcome(store, run=runs[n]) for n in ("platform_wechat", "platform_meituan"))
    best = max((a, b), key=lambda o: o.value("gmv_per_cost")[0])
    other = b if best is a else a
    fraudulent = StrategyOutcome(best.run, best.label, best.incremental, None, fraud_share=0.5)
    d = decide([fraudulent, other], guardrails=Guardrails(max_fraud_share=0.05))
    assert d.winner == other.run
    assert ("guardrail_fraud", best.run) in d.blockers
    assert "guardrail" in d.sentence("en") and "护栏" in d.sentence("zh")
    d = decide([a, b], baseline=other.run)
    assert d.baseline == other.run
    assert decide([fraudulent], guardrails=Guardrails(max_fraud_share=0.05)).status == "blocked"
    # the verdict quotes the breached figure and its limit, through the dictionary
    d = decide([fraudulent, other], guardrails=Guardrails(max_fraud_share=0.05))
    assert "(Fraud share of coupons 50.0%, above the limit of 5.0%)" in d.sentence("en")
    assert "（羊毛党领券占比 50.0%，上限 5.0%）" in d.sentence("zh")
    # the cost guardrail: a limit between the two strategies' cost per assigned user
    costly, cheap = sorted((a, b), key=lambda o: -o.incremental.cost_per_user_fen)
    limit = (costly.incremental.cost_per_user_fen + cheap.incremental.cost_per_user_fen) / 2
    d = decide([a, b], guardrails=Guardrails(max_cost_per_user_fen=limit))
    assert d.winner == cheap.run and ("guardrail_cost", costly.run) in d.blockers
    shown = lab.format_metric("cost_per_user", costly.incremental.cost_per_user_fen, fen=True)
    assert f"{costly.label} breaches the cost guardrail (Coupon cost per assigned user {shown}" in (
        d.sentence("en")
    )
    assert f"{costly.label} 超过人均成本护栏" in d.sentence("zh")
    # an imported log has no holdout: said in words, never a winner
    _ = store.create_run("log", origin="import")
    log = strategy_outcome(store, run="log")
    assert log.missing_reason == "no_holdout" and math.isnan(log.value("gmv_per_cost")[0])
    d = decide([log])
    assert d.status == "no_decision" and "no randomised holdout" in d.sentence("en")
    assert "没有随机对照组" in d.sentence("zh")
    with pytest.raises(ValueError, match="goal"):
        decide([a], goal="reported_roi")


def test_verdict_quotes_the_dictionarys_numbers(world):
    store, runs = world
    outcomes = [
        strategy_outcome(store, run=runs[n]) for n in ("platform_wechat", "platform_meituan")
    ]
    d = decide(outcomes)
    row = d.table.set_index("run_id").loc[d.winner]
    for lang in ("en", "zh"):
        text = d.sentence(lang)
        assert lab.format_metric("gmv_per_cost", row["estimate"], lang=lang) in text
        assert lab.format_interval("gmv_per_cost", row["ci_low"], row["ci_high"], lang=lang) in text


# -- experiments as decisions ------------------------------------------------------------
def test_experiment_decision_matches_analyze_and_the_mde_formula(world):
    store, runs = world
    run = runs["denomination_split"]
    d = experiment_decision(store, run=run, experiment="denomination", arm="split")
    ref = lab.analyze(
        store, run=run, experiment="denomination", metrics=("gmv",), covariate="pre_gmv"
    )
    row = ref.row("gmv", "split")
    assert d.cuped and d.goal_effect == pytest.approx(row["effect"])
    assert (d.goal_ci_low, d.goal_ci_high) == pytest.approx((row["ci_low"], row["ci_high"]))
    assert d.mde == pytest.approx((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * row["std_error"])
    seq = lab.analyze(
        store,
        run=run,
        experiment="denomination",
        metrics=("gmv",),
        covariate="pre_gmv",
        method="sequential",
    ).row("gmv", "split")
    assert d.can_stop == bool(seq["ci_low"] > 0 or seq["ci_high"] < 0)
    # the always-valid interval is wider than the fixed-horizon one
    assert d.sequential_ci_high - d.sequential_ci_low > d.goal_ci_high - d.goal_ci_low
    assert d.srm_ok == (not ref.srm.is_mismatch)
    assert set(d.guardrails["guardrail"]) == {"cost", "aov"}
    plain = experiment_decision(store, run=run, experiment="denomination", arm="split", cuped=False)
    assert not plain.cuped
    assert d.status in lab.decision.STATUSES
    for lang in ("en", "zh"):
        assert d.sentence(lang)


def test_holdout_experiment_ships_when_coupons_pay_and_skips_aov(world):
    store, runs = world
    run = runs["platform_wechat"]
    d = experiment_decision(store, run=run, experiment="holdout")
    assert d.is_holdout and d.control == "holdout" and d.arm == "treatment"
    aov = d.guardrails.set_index("guardrail").loc["aov"]
    assert aov["breached"] is None and aov["reason"] == "control_has_no_coupons"
    inc = lab.campaign_metrics(store, run=run, by=None).incremental
    cost = d.guardrails.set_index("guardrail").loc["cost"]
    assert cost["value"] == pytest.approx(inc.cost_per_user_fen) and cost["control"] == 0
    if d.goal_ci_low > 0 and d.srm_ok and not cost["breached"]:
        assert d.status == "ship" and d.reason == "goal_up"
    # the line names arms as the caller calls them; an arm left out keeps its id
    named = d.sentence("zh", arm_names={"holdout": "对照组（不发券）"})
    assert "对照组（不发券）" in named and "holdout" not in named
    assert d.sentence("zh") == d.sentence("zh", arm_names={"other": "x"})
    if d.reason in ("goal_up", "goal_down"):
        assert "holdout" in d.sentence("zh")


def test_aa_test_never_ships(world):
    store, runs = world
    d = experiment_decision(store, run=runs["aa_test"], experiment="aa")
    if d.goal_ci_low <= 0 <= d.goal_ci_high:
        assert d.status in ("keep_running", "dont_ship")
        assert d.reason == ("underpowered" if d.mde > d.target_effect else "flat")
    blocked = np.array([1, 2, 3])
    with_fraud = experiment_decision(
        store, run=runs["aa_test"], experiment="aa", blocked_users=blocked
    )
    assert "fraud_share" in set(with_fraud.guardrails["guardrail"])
