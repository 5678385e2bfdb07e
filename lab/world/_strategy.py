"""A coupon strategy as plain data: campaigns, stocks, targeting, experiments.

Every class is a frozen dataclass; :meth:`Strategy.to_json` and
:meth:`Strategy.from_json` round-trip exactly.

Example
-------
>>> s = Strategy("demo", campaigns=(Campaign("push", "wechat", "official_account", Stock()),))
>>> Strategy.from_json(s.to_json()) == s
True
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from lab import schema

VALIDITY_TYPES = ("fixed", "relative")
WEATHER_TRIGGERS = ("rain", "dry")


def _check(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {tuple(allowed)}, got {value!r}")


@dataclass(frozen=True)
class Stock:
    """A coupon stock (batch), modelled on WeChat Pay's coupon-stock parameters.

    Money is integer fen. Fixed validity windows are campaign days
    ``[valid_from_day, valid_until_day)``; relative validity lasts ``valid_days``
    after the claim.
    """

    stock_type: str = "threshold"
    transaction_minimum_fen: int = 5000
    amount_fen: int = 500
    max_amount_fen: int | None = None
    discount_rate: float | None = None
    total_budget_fen: int = 10**12
    daily_budget_fen: int | None = None
    max_coupons: int | None = None
    max_per_user: int = 1
    natural_person_limit: bool = False
    phone_limit: bool = False
    real_name_limit: bool = False
    validity_type: str = "relative"
    valid_days: int = 7
    valid_from_day: int = 0
    valid_until_day: int | None = None
    usable_weekdays: int = 127
    usable_hour_start: int = 0
    usable_hour_end: int = 24
    goods_tag: str | None = None
    order_channel: str | None = None

    def __post_init__(self):
        _check("stock_type", self.stock_type, schema.STOCK_TYPES)
        _check("validity_type", self.validity_type, VALIDITY_TYPES)
        if self.order_channel is not None:
            _check("order_channel", self.order_channel, schema.ORDER_CHANNELS)
        if self.stock_type == "discount" and self.discount_rate is None:
            raise ValueError("discount_rate is required for stock_type='discount'")
        if self.stock_type == "random" and self.max_amount_fen is None:
            raise ValueError("max_amount_fen is required for stock_type='random'")
        if min(self.amount_fen, self.transaction_minimum_fen, self.total_budget_fen) < 0:
            raise ValueError(
                "amount_fen, transaction_minimum_fen and total_budget_fen must be >= 0"
            )
        if self.max_per_user < 1:
            raise ValueError(f"max_per_user must be >= 1, got {self.max_per_user}")
        if not 0 <= self.usable_hour_start < self.usable_hour_end <= 24:
            raise ValueError(
                "usable hours must satisfy 0 <= usable_hour_start < usable_hour_end <= 24"
            )


@dataclass(frozen=True)
class Targeting:
    """Who gets a campaign's offers, and when.

    Empty ``segments`` / ``credit_tiers`` mean everyone; ``weekdays`` is a bit mask
    (bit 0 = Monday); ``weather`` is ``"rain"``, ``"dry"`` or None.
    """

    segments: tuple[str, ...] = ()
    lbs_radius_km: float | None = None
    credit_tiers: tuple[int, ...] = ()
    weekdays: int = 127
    hour_start: int = 0
    hour_end: int = 24
    weather: str | None = None

    def __post_init__(self):
        for s in self.segments:
            _check("segments", s, schema.SEGMENTS)
        for t in self.credit_tiers:
            _check("credit_tiers", t, (1, 2, 3, 4, 5))
        if self.weather is not None:
            _check("weather", self.weather, WEATHER_TRIGGERS)
        if not 0 <= self.hour_start < self.hour_end <= 24:
            raise ValueError("targeting hours must satisfy 0 <= hour_start < hour_end <= 24")


@dataclass(frozen=True)
class Campaign:
    """One stock issued through one platform entry to a targeted audience.

    ``frequency`` is the mean number of deliveries per eligible user per day (visits,
    pushes); for ``pay_page`` entries it is the share of eligible paid orders whose
    success page shows the offer. ``experiment``/``arm`` restrict the campaign to one arm.
    """

    name: str
    platform: str
    entry: str
    stock: Stock
    targeting: Targeting = Targeting()
    mechanic: str = "plain"
    risk_level: str = "basic"
    frequency: float = 0.2
    start_day: int = 0
    end_day: int | None = None
    experiment: str | None = None
    arm: str | None = None
    unlock_amount_fen: int | None = None

    def __post_init__(self):
        _check("platform", self.platform, schema.PLATFORMS)
        _check("entry", self.entry, schema.ENTRIES[self.platform])
        _check("mechanic", self.mechanic, schema.MECHANICS)
        _check("risk_level", self.risk_level, schema.RISK_LEVELS)
        if self.frequency < 0:
            raise ValueError(f"frequency must be >= 0, got {self.frequency}")
        if (self.experiment is None) != (self.arm is None):
            raise ValueError("experiment and arm must be given together")


@dataclass(frozen=True)
class Arm:
    """An experiment arm; ``holdout`` arms receive no offers at all."""

    name: str
    weight: float = 1.0
    holdout: bool = False


@dataclass(frozen=True)
class Experiment:
    """Users are randomised to ``arms`` by a hash of the seed and the user id."""

    name: str
    arms: tuple[Arm, ...]

    def __post_init__(self):
        if len(self.arms) < 2:
            raise ValueError(f"experiment {self.name!r} needs at least two arms")
        if len({a.name for a in self.arms}) != len(self.arms):
            raise ValueError(f"experiment {self.name!r} has duplicate arm names")


#: Name of the experiment :attr:`Strategy.holdout_share` adds; reserved for it.
HOLDOUT_EXPERIMENT = "holdout"
#: Share of users kept out of every offer by default, so every strategy has a
#: counterfactual (incremental GMV, orders and ROI with an interval).
DEFAULT_HOLDOUT_SHARE = 0.1


def holdout_experiment(share: float) -> Experiment:
    """The lab's holdout experiment: ``treatment`` (1 - share) and ``holdout`` (share).

    Example
    -------
    >>> [a.weight for a in holdout_experiment(0.1).arms]
    [0.9, 0.1]
    """
    return Experiment(
        HOLDOUT_EXPERIMENT,
        (Arm("treatment", round(1.0 - share, 12)), Arm("holdout", share, holdout=True)),
    )


@dataclass(frozen=True)
class Strategy:
    """A whole coupon strategy: campaigns plus experiments.

    ``holdout_share`` (default :data:`DEFAULT_HOLDOUT_SHARE`, 10 %) randomises that
    share of users into a no-coupon arm of the experiment ``"holdout"``, which
    ``experiments`` then ends with; users in it join no other experiment. It is not
    added when another experiment already has a holdout arm, or when the share is 0.

    Example
    -------
    >>> Strategy("s").experiments[-1].name
    'holdout'
    >>> Strategy("s", holdout_share=0).experiments
    ()
    """

    name: str
    campaigns: tuple[Campaign, ...] = ()
    experiments: tuple[Experiment, ...] = ()
    description: str = ""
    holdout_share: float = DEFAULT_HOLDOUT_SHARE

    def __post_init__(self):
        if not 0 <= self.holdout_share < 1:
            raise ValueError(f"holdout_share must be in [0, 1), got {self.holdout_share!r}")
        self._add_holdout()
        names = [c.name for c in self.campaigns]
        if len(set(names)) != len(names):
            raise ValueError("campaign names must be unique")
        arms = {e.name: {a.name for a in e.arms} for e in self.experiments}
        for c in self.campaigns:
            if c.experiment is not None and c.arm not in arms.get(c.experiment, ()):
                raise ValueError(
                    f"campaign {c.name!r}: experiment {c.experiment!r} has no arm {c.arm!r}; "
                    f"experiments are {arms}"
                )

    def _add_holdout(self) -> None:
        """Append (or re-derive) the holdout experiment from ``holdout_share``."""
        lab_holdout = [e for e in self.experiments if e.name == HOLDOUT_EXPERIMENT]
        others = tuple(e for e in self.experiments if e.name != HOLDOUT_EXPERIMENT)
        if self.holdout_share == 0:
            return
        if any(a.holdout for e in others for a in e.arms):
            return  # the strategy brings its own counterfactual
        if lab_holdout and {a.name for a in lab_holdout[0].arms} != {"treatment", "holdout"}:
            raise ValueError(
                f"experiment name {HOLDOUT_EXPERIMENT!r} is reserved for holdout_share; "
                "rename the experiment or set holdout_share=0"
            )
        # frozen: the derived experiment is part of the value, so it round-trips
        object.__setattr__(self, "experiments", (*others, holdout_experiment(self.holdout_share)))

    def to_dict(self) -> dict:
        """Plain nested dict of JSON types (tuples become lists)."""
        return json.loads(self.to_json())

    def to_json(self) -> str:
        """Canonical JSON text (sorted keys)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict) -> Strategy:
        def camp(c):
            c = dict(c)
            c["stock"] = Stock(**c["stock"])
            t = dict(c["targeting"])
            t["segments"] = tuple(t["segments"])
            t["credit_tiers"] = tuple(t["credit_tiers"])
            c["targeting"] = Targeting(**t)
            return Campaign(**c)

        def exp(e):
            return Experiment(e["name"], tuple(Arm(**a) for a in e["arms"]))

        d = dict(d)
        d["campaigns"] = tuple(camp(c) for c in d.get("campaigns", ()))
        d["experiments"] = tuple(exp(e) for e in d.get("experiments", ()))
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> Strategy:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))
