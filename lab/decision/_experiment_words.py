"""The ship / don't ship / keep running line of an experiment, in English and Chinese."""

from __future__ import annotations

from collections.abc import Mapping

_STATUS = {
    "ship": {"en": "Ship {arm}", "zh": "上线 {arm}"},
    "dont_ship": {"en": "Don't ship {arm}", "zh": "不上线 {arm}"},
    "keep_running": {"en": "Keep running", "zh": "继续运行"},
}
_REASON = {
    "srm": {
        "en": "the split of users does not match the plan (SRM), so the result cannot be trusted",
        "zh": "用户分流与计划不符（SRM），结果不可信",
    },
    "goal_down": {
        "en": "GMV per user fell by {effect} [{low}, {high}] against {control}",
        "zh": "相对 {control}，人均 GMV 下降 {effect} [{low}, {high}]",
    },
    "guardrail_cost": {
        "en": "the extra GMV does not cover the extra coupon cost",
        "zh": "增加的 GMV 不足以覆盖增加的券成本",
    },
    "guardrail_aov": {
        "en": "average order value fell beyond the guardrail",
        "zh": "客单价下降超过护栏",
    },
    "guardrail_fraud_share": {
        "en": "too many of its coupons go to accounts the risk model blocks",
        "zh": "被风控拦截账户领取的券占比过高",
    },
    "goal_up": {
        "en": "GMV per user rose by {effect} [{low}, {high}] against {control}, "
        "and no guardrail is breached",
        "zh": "相对 {control}，人均 GMV 提升 {effect} [{low}, {high}]，且未触及护栏",
    },
    "underpowered": {
        "en": "no clear change yet, and the test can only detect changes of {mde} or more "
        "(target {target})",
        "zh": "暂无明显变化，当前样本只能检测到 {mde} 以上的变化（目标 {target}）",
    },
    "flat": {
        "en": "GMV per user did not change although the test could detect {mde}",
        "zh": "人均 GMV 没有变化，而本实验能检测到 {mde} 的变化",
    },
}


def _pct(x: float) -> str:
    return f"{100 * x:+.1f}%"


def experiment_sentence(decision, lang: str, *, arm_names: Mapping[str, str]) -> str:
    """``"<status>: <reason>."`` for an :class:`~lab.decision.ExperimentDecision`, its
    arms called as ``arm_names`` says (by their ids otherwise)."""
    if lang not in ("en", "zh"):
        raise ValueError(f"lang must be 'en' or 'zh', got {lang!r}")
    values = {
        "arm": arm_names.get(decision.arm, decision.arm),
        "control": arm_names.get(decision.control, decision.control),
        "effect": f"{100 * abs(decision.goal_effect):.1f}%",
        "low": _pct(decision.goal_ci_low),
        "high": _pct(decision.goal_ci_high),
        "mde": f"{100 * decision.mde:.1f}%",
        "target": f"{100 * decision.target_effect:.1f}%",
    }
    head = _STATUS[decision.status][lang].format(**values)
    reason = _REASON[decision.reason][lang].format(**values)
    return f"{head}: {reason}." if lang == "en" else f"{head}：{reason}。"
