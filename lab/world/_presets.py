"""Named strategies: the default mixed strategy and one per question of the seed.

Every preset keeps the default randomised holdout (``Strategy.holdout_share``, 10 % of
users without any offer), so each has incremental GMV, orders and ROI. The seed's
figures (CALIBRATION.md) are measured on the other 90 %: holdout users join no other
experiment.

Each preset isolates one comparison of CALIBRATION.md as an experiment (arms of the
same users and period) or, where the seed compares periods (C11), as a campaign
against the coupon-free pre-period.

Example
-------
>>> preset("lbs_3km").experiments[0].name
'lbs'
"""

from __future__ import annotations

from lab.world._strategy import Arm, Campaign, Experiment, Stock, Strategy, Targeting

_BIG = 10**12


def _wechat(
    prefix: str = "wx", *, risk: str = "basic", pay_page_frequency: float = 0.8
) -> tuple[Campaign, ...]:
    """WeChat's four entries with their typical coupons."""
    return (
        Campaign(
            f"{prefix}_official_account",
            "wechat",
            "official_account",
            Stock(transaction_minimum_fen=5000, amount_fen=800, max_per_user=4, valid_days=10),
            frequency=0.9,
            risk_level=risk,
        ),
        Campaign(
            f"{prefix}_mini_program",
            "wechat",
            "mini_program",
            Stock(transaction_minimum_fen=3000, amount_fen=500, max_per_user=4, valid_days=10),
            frequency=0.7,
            mechanic="game_task",
            risk_level=risk,
        ),
        Campaign(
            f"{prefix}_pay_page",
            "wechat",
            "pay_page",
            Stock(transaction_minimum_fen=2000, amount_fen=400, max_per_user=30, valid_days=3),
            frequency=pay_page_frequency,
            risk_level=risk,
        ),
        Campaign(
            f"{prefix}_card_wallet",
            "wechat",
            "card_wallet",
            Stock(transaction_minimum_fen=4000, amount_fen=800, max_per_user=1, valid_days=14),
            frequency=0.3,
            mechanic="expiry_reminder",
            risk_level=risk,
        ),
    )


def _alipay(prefix: str = "ali") -> tuple[Campaign, ...]:
    return (
        Campaign(
            f"{prefix}_pay_page",
            "alipay",
            "pay_page",
            Stock(transaction_minimum_fen=2000, amount_fen=300, max_per_user=30, valid_days=3),
            frequency=1.0,
        ),
        Campaign(
            f"{prefix}_wallet_home",
            "alipay",
            "wallet_home",
            Stock(transaction_minimum_fen=4000, amount_fen=600, max_per_user=3, valid_days=7),
            frequency=0.3,
        ),
    )


def _meituan(prefix: str = "mt") -> tuple[Campaign, ...]:
    return (
        Campaign(
            f"{prefix}_app_push",
            "meituan",
            "app_push",
            Stock(
                transaction_minimum_fen=4000,
                amount_fen=800,
                max_per_user=4,
                valid_days=3,
                order_channel="delivery",
            ),
            frequency=0.6,
        ),
        Campaign(
            f"{prefix}_store_page",
            "meituan",
            "store_page",
            Stock(transaction_minimum_fen=3000, amount_fen=500, max_per_user=4, valid_days=3),
            frequency=0.3,
        ),
    )


def _rain_campaign(**kw) -> Campaign:
    return Campaign(
        "rain_delivery",
        "meituan",
        "app_push",
        Stock(
            transaction_minimum_fen=3000,
            amount_fen=800,
            max_per_user=30,
            valid_days=1,
            order_channel="delivery",
        ),
        targeting=Targeting(weather="rain", hour_start=10, hour_end=19),
        frequency=1.0,
        **kw,
    )


def _default() -> Strategy:
    return Strategy(
        "default",
        campaigns=(*_wechat(), *_alipay(), *_meituan(), _rain_campaign()),
        description="Mixed strategy over WeChat's four entries, Alipay's two and Meituan's two, "
        "rain-triggered delivery coupons, 10 % holdout.",
    )


def _ab(
    name: str, exp: str, arms: tuple[str, str], campaigns: tuple[Campaign, ...], description: str
) -> Strategy:
    return Strategy(
        name,
        campaigns=campaigns,
        experiments=(Experiment(exp, (Arm(arms[0]), Arm(arms[1]))),),
        description=description,
    )


def _push(name, stock, **kw) -> Campaign:
    return Campaign(name, "wechat", "official_account", stock, **kw)


def _pay_vs_wallet() -> Strategy:
    wx = {c.entry: c for c in _wechat()}
    return _ab(
        "pay_vs_wallet",
        "entry",
        ("pay_page", "card_wallet"),
        (
            Campaign(
                "pay_page",
                "wechat",
                "pay_page",
                wx["pay_page"].stock,
                frequency=1.0,
                experiment="entry",
                arm="pay_page",
            ),
            Campaign(
                "card_wallet",
                "wechat",
                "card_wallet",
                wx["card_wallet"].stock,
                frequency=0.8,
                mechanic="expiry_reminder",
                experiment="entry",
                arm="card_wallet",
            ),
        ),
        "WeChat payment-success page vs card wallet (seed section 1).",
    )


def _lbs() -> Strategy:
    # same budget and the same delivery volume: the targeted arm concentrates it on the
    # ~28 % of users who live within 3 km
    stock = Stock(
        transaction_minimum_fen=3000,
        amount_fen=600,
        total_budget_fen=2 * 10**9,
        max_per_user=30,
        valid_days=5,
    )
    arm = {"experiment": "lbs"}
    return _ab(
        "lbs_3km",
        "lbs",
        ("untargeted", "lbs_3km"),
        (
            Campaign(
                "untargeted",
                "wechat",
                "mini_program",
                stock,
                frequency=0.3,
                arm="untargeted",
                **arm,
            ),
            Campaign(
                "lbs_3km",
                "wechat",
                "mini_program",
                stock,
                targeting=Targeting(lbs_radius_km=3.0),
                frequency=0.3 / 0.284,
                arm="lbs_3km",
                **arm,
            ),
        ),
        "Same stock, budget and delivery volume: pop-ups for everyone vs only for users "
        "within 3 km (seed section 2).",
    )


def _share() -> Strategy:
    stock = Stock(transaction_minimum_fen=4000, amount_fen=600, max_per_user=3, valid_days=7)
    return _ab(
        "share_to_unlock",
        "share",
        ("plain", "share_to_unlock"),
        (
            Campaign(
                "plain",
                "wechat",
                "card_wallet",
                stock,
                frequency=0.5,
                experiment="share",
                arm="plain",
            ),
            Campaign(
                "share_to_unlock",
                "wechat",
                "card_wallet",
                stock,
                frequency=0.5,
                mechanic="share_to_unlock",
                unlock_amount_fen=900,
                experiment="share",
                arm="share_to_unlock",
            ),
        ),
        "A supermarket's card-wallet coupon: share to unlock a larger amount vs the same coupon "
        "without the mechanic (seed section 3).",
    )


def _risk(level: str) -> Strategy:
    return Strategy(
        f"risk_{level}",
        campaigns=(
            Campaign(
                "new_user_popup",
                "wechat",
                "mini_program",
                Stock(
                    stock_type="no_threshold",
                    transaction_minimum_fen=0,
                    amount_fen=1000,
                    max_per_user=1,
                    valid_days=7,
                ),
                targeting=Targeting(segments=("new",)),
                frequency=0.4,
                risk_level=level,
            ),
            Campaign(
                "new_user_push",
                "wechat",
                "official_account",
                Stock(transaction_minimum_fen=3000, amount_fen=800, max_per_user=2, valid_days=7),
                targeting=Targeting(segments=("new",)),
                frequency=0.3,
                risk_level=level,
            ),
        ),
        description=f"New-user coupons in a world with farming rings, risk control {level!r} (seed section 4).",
    )


def _denomination() -> Strategy:
    big = Stock(
        transaction_minimum_fen=30000,
        amount_fen=5000,
        max_per_user=3,
        valid_days=14,
        goods_tag="beauty",
    )
    small = Stock(
        transaction_minimum_fen=10000,
        amount_fen=2000,
        max_per_user=1,
        valid_days=14,
        goods_tag="beauty",
    )

    def wallet(name, stock, arm):
        return Campaign(
            name, "wechat", "card_wallet", stock, frequency=0.3, experiment="denomination", arm=arm
        )

    return _ab(
        "denomination_split",
        "denomination",
        ("single", "split"),
        (
            wallet("single_300_50", big, "single"),
            wallet("split_300_50", big, "split"),
            wallet("split_100_20", small, "split"),
        ),
        "A beauty brand's card-wallet coupons: 满300减50 alone vs 满300减50 plus 满100减20 (seed section 5).",
    )


def _morning() -> Strategy:
    stock = Stock(
        transaction_minimum_fen=2000,
        amount_fen=900,
        max_per_user=40,
        valid_days=1,
        usable_weekdays=0b0011111,
        usable_hour_start=7,
        usable_hour_end=10,
    )
    weekday_7am = Targeting(weekdays=0b0011111, hour_start=7, hour_end=8)
    arm = {"experiment": "morning", "arm": "treatment"}
    return _ab(
        "morning_doubled",
        "morning",
        ("treatment", "control"),
        (
            _push("morning_wechat", stock, targeting=weekday_7am, frequency=1.0, **arm),
            Campaign(
                "morning_meituan",
                "meituan",
                "app_push",
                stock,
                targeting=weekday_7am,
                frequency=1.0,
                **arm,
            ),
        ),
        "Weekday 07:00 doubled coupons, usable 07-10 on weekdays, for the treatment arm; "
        "compare with the control arm or with the coupon-free pre-period (seed section 6).",
    )


def _rainy() -> Strategy:
    return _ab(
        "rainy_delivery",
        "rain",
        ("control", "rain_delivery"),
        (_rain_campaign(experiment="rain", arm="rain_delivery"),),
        "Delivery-only coupons pushed on rainy days vs none (seed section 6).",
    )


def _platform(name: str, campaigns) -> Strategy:
    return Strategy(
        name,
        campaigns=tuple(campaigns),
        description=f"Coupons on {name.split('_')[1]} only (seed section 7).",
    )


def _mix() -> Strategy:
    wx = {c.entry: c for c in _wechat()}
    mt = {c.entry: c for c in _meituan()}
    return Strategy(
        "platform_mix",
        campaigns=(
            Campaign(
                "social_share",
                "wechat",
                "mini_program",
                wx["mini_program"].stock,
                frequency=0.5,
                mechanic="share_to_unlock",
            ),
            Campaign(
                "social_push",
                "wechat",
                "official_account",
                wx["official_account"].stock,
                frequency=0.6,
            ),
            Campaign(
                "local_store", "meituan", "store_page", mt["store_page"].stock, frequency=0.45
            ),
            Campaign("local_push", "meituan", "app_push", mt["app_push"].stock, frequency=0.45),
        ),
        description="Social (WeChat, shared, long-lived) + local (Meituan, fast) mix (seed section 7).",
    )


def _credit() -> Strategy:
    def wallet(name, amount, tiers=(), arm="tiered", kind="threshold"):
        stock = Stock(
            stock_type=kind,
            transaction_minimum_fen=0 if kind == "no_threshold" else 6000,
            amount_fen=amount,
            max_per_user=1,
            valid_days=7,
        )
        return Campaign(
            name,
            "wechat",
            "card_wallet",
            stock,
            targeting=Targeting(credit_tiers=tiers),
            frequency=0.3,
            experiment="credit",
            arm=arm,
        )

    return _ab(
        "credit_tier",
        "credit",
        ("uniform", "tiered"),
        (
            wallet("uniform", 1000, arm="uniform"),
            wallet("tier_1_2", 600, (1, 2)),
            wallet("tier_3", 1000, (3,)),
            wallet("tier_4", 1500, (4,)),
            wallet("tier_5", 7600, (5,), kind="no_threshold"),
        ),
        "Credit-tier differentiated card-wallet coupons vs one coupon for all (seed section 8).",
    )


def _aa() -> Strategy:
    d = _default()
    return Strategy(
        "aa_test",
        campaigns=d.campaigns,
        experiments=(Experiment("aa", (Arm("a"), Arm("b"))),),
        description="Two identical arms under the default campaigns: any 'significant' "
        "difference is a false positive.",
    )


_BUILDERS = {
    "default": _default,
    "pay_vs_wallet": _pay_vs_wallet,
    "lbs_3km": _lbs,
    "share_to_unlock": _share,
    "risk_off": lambda: _risk("off"),
    "risk_basic": lambda: _risk("basic"),
    "risk_strict": lambda: _risk("strict"),
    "denomination_split": _denomination,
    "morning_doubled": _morning,
    "rainy_delivery": _rainy,
    "platform_wechat": lambda: _platform("platform_wechat", _wechat(pay_page_frequency=0.1)),
    "platform_alipay": lambda: _platform("platform_alipay", _alipay()),
    "platform_meituan": lambda: _platform("platform_meituan", _meituan()),
    "platform_mix": _mix,
    "credit_tier": _credit,
    "aa_test": _aa,
}
PRESETS: tuple[str, ...] = tuple(_BUILDERS)


def preset(name: str) -> Strategy:
    """The named preset strategy; ``ValueError`` naming the presets for an unknown name.

    Example
    -------
    >>> preset("default").name
    'default'
    """
    try:
        return _BUILDERS[name]()
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; presets are {', '.join(PRESETS)}") from None
