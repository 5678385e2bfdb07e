"""Plain-language verdicts in English and Chinese, built from a decision's numbers.

The numbers are formatted through the metric dictionary, so a verdict quotes exactly
the figures the tables show.
"""

from __future__ import annotations

from lab.metrics._dictionary import format_interval, format_metric, metric

_FEN_GOALS = {"incremental_gmv_per_user"}

_BLOCKERS = {
    "guardrail_fraud": {
        "en": "{label} breaches the fraud guardrail",
        "zh": "{label} 超过羊毛党占比护栏",
    },
    "guardrail_cost": {
        "en": "{label} breaches the cost guardrail",
        "zh": "{label} 超过人均成本护栏",
    },
    "too_little_data": {
        "en": "{label} has too few holdout users for a reliable estimate",
        "zh": "{label} 的对照组用户太少，估计不可靠",
    },
    "not_significant": {
        "en": "the difference is within the noise: the interval includes zero",
        "zh": "差异在噪声范围内：区间包含 0",
    },
    "no_holdout": {
        "en": "{label} has no randomised holdout (an imported log), so its incremental "
        "figures cannot be measured",
        "zh": "{label} 没有随机对照组（导入的日志），无法测量增量指标",
    },
    "no_cost": {
        "en": "{label} redeemed no coupon, so there is no cost to divide by",
        "zh": "{label} 没有券被核销，成本为零，无法计算比值",
    },
    "loses_money": {
        "en": "even at best {label} brings less GMV than it costs",
        "zh": "{label} 即使按区间上限，带来的 GMV 也低于成本",
    },
}

#: a breached guardrail's figure against its limit: (metric key, figure in fen)
_GUARDRAIL_FIGURES = {
    "guardrail_fraud": ("fraud_share", False),
    "guardrail_cost": ("cost_per_user", True),
}
_DETAIL = {
    "en": " ({name} {value}, above the limit of {limit})",
    "zh": "（{name} {value}，上限 {limit}）",
}
_NO_DETAIL = {"en": " (above the limit)", "zh": ""}

_HEAD = {
    "ship": {
        "en": "Ship {winner}.",
        "zh": "建议上线 {winner}。",
    },
    "uncertain": {
        "en": "{winner} leads, but the evidence is not conclusive yet.",
        "zh": "{winner} 领先，但证据尚不充分。",
    },
    "blocked": {
        "en": "No strategy can be recommended: every candidate breaches a guardrail.",
        "zh": "无法推荐任何策略：所有候选都超出护栏。",
    },
    "no_decision": {
        "en": "No strategy can be recommended: none has a measurable counterfactual.",
        "zh": "无法推荐任何策略：没有可测量的反事实对照。",
    },
}

_BODY = {
    "en": "On {goal}, {winner} reaches {value} {interval}; that is {diff} {more} than "
    "{baseline} (95% interval of the difference {dinterval}, p = {p}).",
    "zh": "按「{goal}」，{winner} 为 {value} {interval}；比 {baseline} {more} {diff}"
    "（差值的 95% 区间 {dinterval}，p = {p}）。",
}
_MORE = {"en": ("more", "less"), "zh": ("高", "低")}
_NO_COUPON = {"en": "giving no coupons (its own holdout)", "zh": "不发券（其自身对照组）"}
_STANDS = {"en": "What stands in the way: {items}.", "zh": "阻碍：{items}。"}


def _fmt(goal: str, value: float, lang: str) -> str:
    return format_metric(goal, value, lang=lang, fen=goal in _FEN_GOALS)


def blocker_text(
    reason: str, label: str, lang: str, *, value: float | None = None, limit: float | None = None
) -> str:
    """One blocker in words; a breached guardrail quotes its figure and limit when given.

    Example
    -------
    >>> blocker_text("guardrail_fraud", "WeChat", "en", value=0.062, limit=0.05)
    'WeChat breaches the fraud guardrail (Fraud share of coupons 6.2%, above the limit of 5.0%)'
    """
    text = _BLOCKERS[reason][lang].format(label=label)
    if reason not in _GUARDRAIL_FIGURES:
        return text
    if value is None or limit is None:
        return text + _NO_DETAIL[lang]
    key, fen = _GUARDRAIL_FIGURES[reason]
    return text + _DETAIL[lang].format(
        name=metric(key).label(lang),
        value=format_metric(key, value, lang=lang, fen=fen),
        limit=format_metric(key, limit, lang=lang, fen=fen),
    )


def _figures(decision, reason: str, run: str) -> dict:
    """The figure and limit a guardrail blocker quotes (empty for other blockers)."""
    limits = {
        "guardrail_fraud": ("fraud_share", decision.guardrails.max_fraud_share),
        "guardrail_cost": ("cost_per_user_fen", decision.guardrails.max_cost_per_user_fen),
    }
    if reason not in limits or limits[reason][1] is None:
        return {}
    column, limit = limits[reason]
    row = decision.table.set_index("run_id").loc[run]
    return {"value": float(row[column]), "limit": float(limit)}


def decision_sentence(decision, lang: str) -> str:
    """The verdict of a :class:`~lab.decision.Decision` in ``lang``."""
    if lang not in ("en", "zh"):
        raise ValueError(f"lang must be 'en' or 'zh', got {lang!r}")
    names = decision.labels
    status = decision.status
    parts = [_HEAD[status][lang].format(winner=names.get(decision.winner, decision.winner))]
    if decision.winner is not None:
        row = decision.table.set_index("run_id").loc[decision.winner]
        goal = decision.goal
        parts.append(
            _BODY[lang].format(
                goal=metric(goal).label(lang),
                winner=names[decision.winner],
                value=_fmt(goal, row["estimate"], lang),
                interval=format_interval(
                    goal, row["ci_low"], row["ci_high"], lang=lang, fen=goal in _FEN_GOALS
                ),
                diff=_fmt(goal, abs(decision.difference), lang),
                more=_MORE[lang][decision.difference < 0],
                baseline=names[decision.baseline]
                if decision.baseline is not None
                else _NO_COUPON[lang],
                dinterval=format_interval(
                    goal, decision.ci_low, decision.ci_high, lang=lang, fen=goal in _FEN_GOALS
                ),
                p=format_metric("incremental_p_value", decision.p_value, lang=lang),
            )
        )
    items = [
        blocker_text(r, names.get(run, run), lang, **_figures(decision, r, run))
        for r, run in decision.blockers
    ]
    if items:
        sep = "; " if lang == "en" else "；"
        parts.append(_STANDS[lang].format(items=sep.join(dict.fromkeys(items))))
    return " ".join(parts) if lang == "en" else "".join(parts)
