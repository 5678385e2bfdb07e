"""The metric dictionary: one name, one definition and one formatter per metric.

Every table of the lab (dashboard tabs, CSV export, notebooks) labels and formats a
metric through this dictionary, so a figure reads the same wherever it appears and two
different quantities never share a label: claims per exposed *user*
(``claim_rate_per_exposed_user``) and claims per exposed *offer*
(``claim_rate_per_offer``) are two metrics with two names.

Units and their formatters
--------------------------
* ``yuan``: money. ``¥1,234,567`` in English; in 中文 amounts of 10,000 or more read in
  万 (``¥123.5万``). Small amounts (below ¥100) keep two decimals.
* ``share``: a fraction shown as a percentage, ``37.2%``.
* ``count``: ``1,234,567``; in 中文 10,000 or more read in 万.
* ``ratio``: a plain number with two decimals (ROI, GMV per yuan).
* ``days``: ``3.2 days`` / ``3.2 天``.
* ``p``: a p-value.

Money metrics take yuan; columns stored in fen (``*_fen``) are divided by 100 by
:func:`format_metric` when ``fen=True``.

Example
-------
>>> format_metric("cost", 7_123_456.0)
'¥7,123,456'
>>> format_metric("cost", 7_123_456.0, lang="zh")
'¥712.3万'
>>> metric("claim_rate_per_exposed_user").label("en")
'Claimers per exposed user'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["METRICS", "Metric", "format_interval", "format_metric", "metric", "metric_frame"]

UNITS = ("yuan", "share", "count", "ratio", "days", "p")
_MISSING = {"en": "not measured", "zh": "未测得"}


@dataclass(frozen=True)
class Metric:
    """One metric: its key, bilingual name and definition, and its unit.

    Attributes
    ----------
    key : str
        The metric's one name in code (a column name of the lab's tables).
    names : dict
        ``{"en": ..., "zh": ...}`` display names.
    definitions : dict
        ``{"en": ..., "zh": ...}``: numerator ÷ denominator and unit, in words.
    unit : str
        One of ``yuan``, ``share``, ``count``, ``ratio``, ``days``, ``p``.
    column : str
        Column of the lab's tables holding the value (money in fen: ``*_fen``).
    higher_is_better : bool or None
        Direction for a decision; ``None`` when neither is better.
    """

    key: str
    names: dict
    definitions: dict
    unit: str
    column: str
    higher_is_better: bool | None = None

    def label(self, lang: str = "en") -> str:
        """Display name in ``lang`` (``en`` or ``zh``)."""
        return self.names[_lang(lang)]

    def definition(self, lang: str = "en") -> str:
        """Definition in ``lang``: numerator ÷ denominator (unit)."""
        return self.definitions[_lang(lang)]

    @property
    def in_fen(self) -> bool:
        """The column holds fen (money divided by 100 for display)."""
        return self.column.endswith("_fen")

    def format(self, value: object, lang: str = "en") -> str:
        """``value`` (in the column's unit: fen for money columns) formatted for display."""
        return format_metric(self.key, value, lang=lang, fen=self.in_fen)


def _lang(lang: str) -> str:
    if lang not in ("en", "zh"):
        raise ValueError(f"lang must be 'en' or 'zh', got {lang!r}")
    return lang


def _m(key, unit, en, zh, den_en, den_zh, *, column=None, better=None) -> Metric:
    return Metric(
        key=key,
        names={"en": en, "zh": zh},
        definitions={"en": den_en, "zh": den_zh},
        unit=unit,
        column=column or key,
        higher_is_better=better,
    )


_ALL = (
    # -- sizes ----------------------------------------------------------------------------
    _m(
        "n_users",
        "count",
        "Users",
        "用户数",
        "Users in the simulated world or the imported log (users).",
        "模拟世界或导入日志中的用户数（人）。",
    ),
    _m(
        "treatment_users",
        "count",
        "Users offered coupons",
        "发券组用户",
        "Users randomised to receive offers (users).",
        "随机分配到可收券一组的用户（人）。",
    ),
    _m(
        "holdout_users",
        "count",
        "Holdout users",
        "对照组（不发券）用户",
        "Users randomised to receive no offer at all (users).",
        "随机分配到不发任何券的对照组用户（人）。",
    ),
    # -- reported -------------------------------------------------------------------------
    _m(
        "exposed_users",
        "count",
        "Exposed users",
        "曝光用户",
        "Distinct users shown at least one offer (users).",
        "至少看到一次券的去重用户（人）。",
    ),
    _m(
        "claimers",
        "count",
        "Claimers",
        "领券用户",
        "Distinct users holding an issued coupon (users).",
        "持有已发放券的去重用户（人）。",
    ),
    _m(
        "claim_rate_per_exposed_user",
        "share",
        "Claimers per exposed user",
        "领券用户 ÷ 曝光用户",
        "Claimers ÷ exposed users (share of users).",
        "领券用户 ÷ 曝光用户（用户占比）。",
        column="claim_conversion",
        better=True,
    ),
    _m(
        "claim_rate_per_offer",
        "share",
        "Claims per exposed offer",
        "领券次数 ÷ 曝光券次",
        "Claimed offers ÷ exposed offers (share of offers; the funnel's claim step).",
        "已领取的券次 ÷ 曝光的券次（券次占比，漏斗的领取步）。",
        better=True,
    ),
    _m(
        "issued",
        "count",
        "Coupons issued",
        "发放券数",
        "Coupons issued (coupons).",
        "已发放的券（张）。",
    ),
    _m(
        "redeemed",
        "count",
        "Coupons redeemed",
        "核销券数",
        "Issued coupons used on an order (coupons).",
        "已用于订单的券（张）。",
    ),
    _m(
        "redemption_rate",
        "share",
        "Redeemed per issued coupon",
        "核销率（核销 ÷ 发放）",
        "Redeemed coupons ÷ issued coupons (share of coupons; the seed's 核销转化率).",
        "核销券数 ÷ 发放券数（券占比，即 核销转化率）。",
        column="redemption_conversion",
        better=True,
    ),
    _m(
        "redeemed_amount",
        "yuan",
        "Redeemed order amount",
        "核销订单金额",
        "Basket amount of the orders a coupon paid part of (¥).",
        "用券订单的商品金额（元）。",
        column="redeemed_amount_fen",
    ),
    _m(
        "cost",
        "yuan",
        "Coupon cost",
        "券成本",
        "Sum of the discounts given (¥): what the issuer funds.",
        "券面抵扣金额之和（元），即发券方承担的成本。",
        column="cost_fen",
        better=False,
    ),
    _m(
        "aov",
        "yuan",
        "Average order value (redeemed)",
        "客单价（用券订单）",
        "Redeemed order amount ÷ redeemed coupons (¥ per order).",
        "用券订单金额 ÷ 核销券数（元/单）。",
        column="aov_fen",
    ),
    _m(
        "reported_roi",
        "ratio",
        "Reported ROI (seed formula)",
        "报表 ROI（原文公式）",
        "(Redeemed order amount − cost) ÷ cost. Credits the coupon with every order it touched, including orders that would have happened anyway.",
        "（用券订单金额 − 成本）÷ 成本。把所有用券订单都算作券的功劳，包括本来就会发生的订单。",
        column="roi",
    ),
    # -- incremental (holdout) -----------------------------------------------------------
    _m(
        "incremental_gmv",
        "yuan",
        "Incremental GMV",
        "增量 GMV",
        "(GMV per user offered coupons − GMV per holdout user) × users offered coupons (¥), with its 95% interval.",
        "（发券组人均 GMV − 对照组人均 GMV）× 发券组人数（元），附 95% 区间。",
        column="incremental_gmv_fen",
        better=True,
    ),
    _m(
        "incremental_orders",
        "count",
        "Incremental orders",
        "增量订单",
        "(Orders per user offered coupons − orders per holdout user) × users offered coupons (orders), with its 95% interval.",
        "（发券组人均订单 − 对照组人均订单）× 发券组人数（单），附 95% 区间。",
        better=True,
    ),
    _m(
        "incremental_roi",
        "ratio",
        "Incremental ROI",
        "增量 ROI",
        "(Incremental GMV − cost) ÷ cost, with its 95% interval.",
        "（增量 GMV − 成本）÷ 成本，附 95% 区间。",
        better=True,
    ),
    _m(
        "gmv_per_cost",
        "ratio",
        "Incremental GMV per ¥1 of cost",
        "每 1 元成本带来的增量 GMV",
        "Incremental GMV ÷ coupon cost (¥ per ¥; above 1 the coupons paid for themselves in GMV), with its 95% interval.",
        "增量 GMV ÷ 券成本（元/元；大于 1 表示带来的 GMV 超过成本），附 95% 区间。",
        better=True,
    ),
    _m(
        "cost_per_incremental_order",
        "yuan",
        "Cost per incremental order",
        "每个增量订单的成本",
        "Coupon cost ÷ incremental orders (¥ per order), with its 95% interval.",
        "券成本 ÷ 增量订单（元/单），附 95% 区间。",
        column="cost_per_incremental_order_fen",
        better=False,
    ),
    _m(
        "incremental_gmv_per_user",
        "yuan",
        "Incremental GMV per assigned user",
        "每位发券组用户的增量 GMV",
        "Incremental GMV ÷ users offered coupons (¥ per user); compares worlds of different sizes.",
        "增量 GMV ÷ 发券组人数（元/人），可比较不同规模的世界。",
        column="incremental_gmv_per_user_fen",
        better=True,
    ),
    _m(
        "incremental_orders_per_user",
        "ratio",
        "Incremental orders per assigned user",
        "每位发券组用户的增量订单",
        "Incremental orders ÷ users offered coupons (orders per user).",
        "增量订单 ÷ 发券组人数（单/人）。",
        better=True,
    ),
    _m(
        "cost_per_user",
        "yuan",
        "Coupon cost per assigned user",
        "每位发券组用户的券成本",
        "Coupon cost ÷ users offered coupons (¥ per user).",
        "券成本 ÷ 发券组人数（元/人）。",
        column="cost_per_user_fen",
        better=False,
    ),
    _m(
        "incremental_p_value",
        "p",
        "p-value of incremental GMV",
        "增量 GMV 的 p 值",
        "Welch test of no difference in GMV per user between the two groups.",
        "两组人均 GMV 无差异的 Welch 检验。",
    ),
    # -- risk, retention, cycle ------------------------------------------------------------
    _m(
        "fraud_share",
        "share",
        "Fraud share of coupons",
        "羊毛党领券占比",
        "Coupons issued to accounts the risk model blocks ÷ coupons issued (share of coupons).",
        "风控模型拦截账户领取的券 ÷ 发放券数（券占比）。",
        column="fraud_share_flagged",
        better=False,
    ),
    _m(
        "fraud_share_true",
        "share",
        "Fraud share (true, simulated)",
        "羊毛党领券占比（真实，模拟）",
        "Coupons issued to true farming-ring accounts ÷ coupons issued (simulated worlds only).",
        "真实羊毛党账户领取的券 ÷ 发放券数（仅模拟世界）。",
        better=False,
    ),
    _m(
        "retention_d1",
        "share",
        "Claimers ordering on day 1",
        "领券后第 1 天下单率",
        "Claimers with an order on day 1 after their first claim ÷ claimers.",
        "领券后第 1 天下单的领券用户 ÷ 领券用户。",
        better=True,
    ),
    _m(
        "retention_d7",
        "share",
        "Claimers ordering on day 7",
        "领券后第 7 天下单率",
        "Claimers with an order on day 7 after their first claim ÷ claimers.",
        "领券后第 7 天下单的领券用户 ÷ 领券用户。",
        better=True,
    ),
    _m(
        "mean_cycle_days",
        "days",
        "Mean days to redemption",
        "平均核销天数",
        "Mean days from claim to redemption over redeemed coupons (days).",
        "已核销券从领取到核销的平均天数（天）。",
    ),
    _m(
        "median_cycle_days",
        "days",
        "Median days to redemption",
        "核销天数中位数",
        "Day by which half of the issued coupons are redeemed, expiry a competing event; missing when fewer than half are ever redeemed (days).",
        "一半已发放券被核销所需的天数（过期为竞争事件）；核销不到一半时没有该值（天）。",
    ),
)

#: Every metric by key.
METRICS: dict[str, Metric] = {m.key: m for m in _ALL}
_BY_COLUMN = {m.column: m for m in _ALL}


def metric(key: str) -> Metric:
    """The metric named ``key`` (or stored in column ``key``).

    Example
    -------
    >>> metric("cost_fen").key
    'cost'
    """
    found = METRICS.get(key) or _BY_COLUMN.get(key)
    if found is None:
        raise KeyError(f"unknown metric {key!r}; metrics are {', '.join(METRICS)}")
    return found


def _missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def _wan(value: float, digits: int = 1) -> str:
    return f"{value / 10_000:,.{digits}f}万"


def format_metric(key: str, value: object, *, lang: str = "en", fen: bool = False) -> str:
    """``value`` of metric ``key`` as displayed everywhere (see the module docstring).

    ``fen=True`` divides money by 100 first. Missing values read "not measured"; say
    why next to them.

    Example
    -------
    >>> format_metric("claim_rate_per_offer", 0.3721)
    '37.2%'
    >>> format_metric("incremental_gmv", 123456, lang="zh")
    '¥12.3万'
    """
    m = metric(key)
    lang = _lang(lang)
    if _missing(value):
        return _MISSING[lang]
    x = float(value)
    if m.unit == "yuan":
        x = x / 100 if fen else x
        if math.isinf(x):
            return "∞"
        sign = "−" if x < 0 else ""
        a = abs(x)
        if lang == "zh" and a >= 10_000:
            return f"{sign}¥{_wan(a)}"
        return f"{sign}¥{a:,.2f}" if a < 100 else f"{sign}¥{a:,.0f}"
    if m.unit == "share":
        return f"{100 * x:.1f}%"
    if m.unit == "count":
        if lang == "zh" and abs(x) >= 10_000:
            return _wan(x)
        return f"{x:,.0f}" if abs(x) >= 100 or x == int(x) else f"{x:,.1f}"
    if m.unit == "ratio":
        return "∞" if math.isinf(x) else f"{x:,.2f}" if abs(x) >= 0.1 else f"{x:.3f}"
    if m.unit == "days":
        return f"{x:.1f} {'days' if lang == 'en' else '天'}"
    return f"{x:.2g}" if x >= 1e-4 else "< 0.0001"


def format_interval(
    key: str, low: object, high: object, *, lang: str = "en", fen: bool = False
) -> str:
    """A 95 % interval as ``[low, high]`` in the metric's format.

    Example
    -------
    >>> format_interval("incremental_roi", 0.52, 1.31)
    '[0.52, 1.31]'
    """
    return f"[{format_metric(key, low, lang=lang, fen=fen)}, {format_metric(key, high, lang=lang, fen=fen)}]"


def metric_frame(frame, *, lang: str | None = None):
    """``frame`` with each dictionary column renamed to its metric's one name.

    Money columns (``*_fen``) become yuan; interval columns follow their metric
    (``incremental_gmv_ci_low_fen`` -> ``incremental_gmv_ci_low``). With ``lang``, the
    headers are the display names instead (for a stakeholder's CSV). Other columns are
    kept as they are.

    Example
    -------
    >>> import pandas as pd
    >>> metric_frame(pd.DataFrame({"cost_fen": [12345]})).to_dict("list")
    {'cost': [123.45]}
    """
    out = frame.copy()
    names = {}
    for col in out.columns:
        base, suffix = col, ""
        for tail in ("_ci_low", "_ci_high"):
            stem = col.removesuffix("_fen")
            if stem.endswith(tail):
                base, suffix = (
                    stem.removesuffix(tail) + ("_fen" if col.endswith("_fen") else ""),
                    tail,
                )
        try:
            m = metric(base) if base not in ("run_id", "label") else None
        except KeyError:
            m = None
        if m is None:
            continue
        if col.endswith("_fen"):
            out[col] = out[col] / 100
        if lang is None:
            names[col] = m.key + suffix
        else:
            bound = {
                "_ci_low": {"en": " (95% low)", "zh": "（95% 下限）"},
                "_ci_high": {"en": " (95% high)", "zh": "（95% 上限）"},
            }
            names[col] = m.label(lang) + (bound[suffix][_lang(lang)] if suffix else "")
    return out.rename(columns=names)
