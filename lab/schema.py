"""The lab's data model: every table and column, documented in one place.

One DuckDB file holds every run side by side. Every table carries ``run_id``; the
``runs`` table records where each run came from. Money is integer fen (1 yuan = 100
fen), as in WeChat Pay's APIs. Timestamps are ``TIMESTAMP`` without time zone: the local
wall-clock time of the simulated (or imported) city.

Keys are documented but not enforced by DuckDB indexes: unique indexes slow bulk inserts
by an order of magnitude, so the world guarantees them by construction and
:func:`lab.import_logs` checks them before anything is written.

Tables whose name starts with ``truth_`` exist only for synthetic runs. They hold what
the simulator knows and a real log never does (who is a fraudster, what would have
happened without the strategy). Only tests, calibration checks and scorecards read them,
never a model.

Derived tables (:data:`DERIVED_TABLES`) hold nothing new: each is a pure function of other
tables of the same run, materialised so that a frequent question does not rescan a large
table. The code that writes a run refreshes them in the same transaction; a reader checks
that they still match their sources and otherwise recomputes from the sources. They are
kept apart from :data:`TABLES` (which a store creates, exports and imports): a store
creates them on the first refresh, and a database without them still reads.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 1

PLATFORMS = ("wechat", "alipay", "meituan")
ENTRIES = {
    "wechat": ("official_account", "mini_program", "pay_page", "card_wallet"),
    "alipay": ("pay_page", "wallet_home"),
    "meituan": ("app_push", "store_page"),
    # imported logs whose channel is unknown
    "offline": ("offline",),
}
STOCK_TYPES = ("threshold", "no_threshold", "discount", "random")
MECHANICS = (
    "plain",
    "share_to_unlock",
    "game_task",
    "blind_box",
    "tiered_reward",
    "expiry_reminder",
)
RISK_LEVELS = ("off", "basic", "strict")
SEGMENTS = ("new", "active", "lapsed")
EVENT_TYPES = (
    "delivery",  # the offer reached the user's channel (push sent, pop-up queued)
    "exposure",  # the user saw the offer
    "rule_view",  # the user opened the rules
    "share",  # the user shared the offer (share-to-unlock and social mechanics)
    "claim",  # a claim attempt; its outcome is in coupons.status
    "redeem",  # the coupon paid part of an order
    "expire",  # the coupon's validity ended unused
)
ISSUE_STATUSES = ("issued", "compensated", "refused")
REFUSAL_REASONS = (
    "budget_exhausted",
    "daily_budget_exhausted",
    "max_coupons_reached",
    "per_user_limit",
    "natural_person_limit",
    "phone_limit",
    "real_name_failed",
    "risk_blocked",
    "rate_limited",
)
ORDER_CHANNELS = ("dine_in", "delivery")
ORIGINS = ("synthetic", "import")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    doc: str
    nullable: bool = True
    values: tuple[str, ...] | None = None  # allowed values of an enum-like column


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    derived: bool = False  # recomputable from other tables of the run (see DERIVED_TABLES)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def is_truth(self) -> bool:
        return self.name.startswith("truth_")

    def ddl(self) -> str:
        cols = ",\n    ".join(
            f"{c.name} {c.type}{'' if c.nullable else ' NOT NULL'}" for c in self.columns
        )
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n    {cols}\n)"


def _c(name: str, type_: str, doc: str, *, nullable: bool = True, values=None) -> Column:
    return Column(name, type_, doc, nullable, tuple(values) if values is not None else None)


_RUN = _c("run_id", "VARCHAR", "Run this row belongs to (see `runs`).", nullable=False)
_ALL_ENTRIES = tuple(sorted({e for es in ENTRIES.values() for e in es}))
_PLATFORM_VALUES = (*PLATFORMS, "offline")

TABLES: tuple[Table, ...] = (
    Table(
        "runs",
        "One row per run: a simulated strategy or an imported log.",
        ("run_id",),
        (
            _RUN,
            _c(
                "origin",
                "VARCHAR",
                "`synthetic` (made by `lab.simulate`) or `import` (a real log).",
                nullable=False,
                values=ORIGINS,
            ),
            _c(
                "label",
                "VARCHAR",
                "Human-readable name: the preset or strategy name, or the imported file name.",
            ),
            _c(
                "strategy_json",
                "VARCHAR",
                "The strategy simulated, as JSON (`lab.Strategy.to_json`); import options for imports.",
            ),
            _c("seed", "BIGINT", "Random seed of a synthetic run; NULL for imports."),
            _c("n_users", "BIGINT", "Number of users in the run."),
            _c("days", "INTEGER", "Length of the campaign period in days."),
            _c(
                "pre_days",
                "INTEGER",
                "Days of pre-period orders simulated before the campaign (CUPED covariates).",
            ),
            _c("start_date", "DATE", "First day of the campaign period."),
            _c("source_path", "VARCHAR", "Imported file path; NULL for synthetic runs."),
            _c(
                "source_sha256",
                "VARCHAR",
                "SHA-256 of the imported file: importing the same bytes twice is a no-op.",
            ),
            _c("code_version", "VARCHAR", "`lab.__version__` that wrote the run."),
            _c(
                "schema_version",
                "INTEGER",
                "`lab.schema.SCHEMA_VERSION` that wrote the run.",
                nullable=False,
            ),
            _c(
                "created_at",
                "TIMESTAMP",
                "When the run was written (machine local time).",
                nullable=False,
            ),
        ),
    ),
    Table(
        "users",
        "One row per user: the profile the issuer can see.",
        ("run_id", "user_id"),
        (
            _RUN,
            _c("user_id", "BIGINT", "User id, unique within a run.", nullable=False),
            _c(
                "primary_platform",
                "VARCHAR",
                "Platform the user spends most time on.",
                values=_PLATFORM_VALUES,
            ),
            _c("uses_wechat", "BOOLEAN", "User is reachable on WeChat."),
            _c("uses_alipay", "BOOLEAN", "User is reachable on Alipay."),
            _c("uses_meituan", "BOOLEAN", "User is reachable on Meituan."),
            _c("city_tier", "TINYINT", "City tier 1 (largest) to 4."),
            _c(
                "distance_km",
                "DOUBLE",
                "Distance from home to the nearest store, km (LBS); NULL if unknown.",
            ),
            _c(
                "segment",
                "VARCHAR",
                "Lifecycle segment at the start of the campaign.",
                values=SEGMENTS,
            ),
            _c(
                "credit_tier",
                "TINYINT",
                "Credit rating 1 (lowest) to 5 (highest), as in 微粒贷-style scores.",
            ),
            _c(
                "friends",
                "INTEGER",
                "Number of social ties (WeChat friends who also use the brand).",
            ),
            _c("device_id", "BIGINT", "Device fingerprint of the user's main device."),
            _c("ip", "UINTEGER", "IPv4 address as a 32-bit integer; `ip // 256` is the /24 block."),
            _c(
                "phone_prefix",
                "SMALLINT",
                "First three digits of the phone number (170 and 171 are virtual-number segments).",
            ),
            _c("registered_at", "TIMESTAMP", "When the account was created."),
        ),
    ),
    Table(
        "stocks",
        "One row per coupon stock (batch), modelled on WeChat Pay's coupon-stock API.",
        ("run_id", "stock_id"),
        (
            _RUN,
            _c("stock_id", "BIGINT", "Stock id, unique within a run.", nullable=False),
            _c("campaign", "VARCHAR", "Campaign the stock belongs to."),
            _c(
                "stock_type",
                "VARCHAR",
                "threshold (满减), no_threshold (无门槛), discount (rate), random (blind box).",
                nullable=False,
                values=STOCK_TYPES,
            ),
            _c(
                "transaction_minimum_fen",
                "BIGINT",
                "Minimum order amount for the coupon to apply (满X), fen; 0 if none.",
            ),
            _c(
                "amount_fen",
                "BIGINT",
                "Face value (减Y), fen; for random stocks the mean amount; NULL for discount.",
            ),
            _c(
                "max_amount_fen",
                "BIGINT",
                "Random stocks: largest amount; discount stocks: cap on the discount.",
            ),
            _c(
                "discount_rate",
                "DOUBLE",
                "Discount stocks: share of the order paid (0.95 = 5 % off).",
            ),
            _c(
                "total_budget_fen",
                "BIGINT",
                "Total budget, fen (claims stop when face values reach it).",
            ),
            _c("daily_budget_fen", "BIGINT", "Daily budget, fen; NULL for none."),
            _c("max_coupons", "BIGINT", "Maximum number of coupons issued."),
            _c("max_per_user", "INTEGER", "Maximum coupons one user may claim."),
            _c(
                "natural_person_limit",
                "BOOLEAN",
                "Limit applies per natural person (linked accounts count once).",
            ),
            _c("phone_limit", "BOOLEAN", "Limit applies per phone number."),
            _c("real_name_limit", "BOOLEAN", "Claim requires a real-name verified account."),
            _c(
                "validity_type",
                "VARCHAR",
                "`fixed` window or `relative` (N days after claim).",
                values=("fixed", "relative"),
            ),
            _c("valid_from", "TIMESTAMP", "Start of the validity window (fixed) or of claiming."),
            _c("valid_until", "TIMESTAMP", "End of the validity window (fixed) or of claiming."),
            _c("valid_days", "INTEGER", "Relative validity: days after the claim."),
            _c(
                "usable_weekdays",
                "SMALLINT",
                "Bit mask of usable weekdays, bit 0 = Monday; 127 = every day.",
            ),
            _c("usable_hour_start", "TINYINT", "First usable hour of day (0-23)."),
            _c("usable_hour_end", "TINYINT", "Hour of day at which use stops (1-24, exclusive)."),
            _c("goods_tag", "VARCHAR", "Goods tag restricting what the coupon applies to."),
            _c(
                "order_channel",
                "VARCHAR",
                "`dine_in`, `delivery`, or NULL for both.",
                values=ORDER_CHANNELS,
            ),
            _c("platform", "VARCHAR", "Platform the stock is issued on.", values=_PLATFORM_VALUES),
            _c("entry", "VARCHAR", "Entry point the stock is issued through.", values=_ALL_ENTRIES),
            _c("mechanic", "VARCHAR", "Issuance mechanic.", values=MECHANICS),
            _c("risk_level", "VARCHAR", "Risk control applied to claims.", values=RISK_LEVELS),
            _c("merchant_id", "BIGINT", "Merchant that funds the stock."),
            _c("experiment", "VARCHAR", "Experiment the stock belongs to, if any."),
            _c("arm", "VARCHAR", "Experiment arm the stock serves, if any."),
        ),
    ),
    Table(
        "offers",
        "One row per offer delivered to a user: its whole lifecycle on one row, so the "
        "default funnel is one scan. A NULL timestamp means the step never happened.",
        ("run_id", "offer_id"),
        (
            _RUN,
            _c("offer_id", "BIGINT", "Offer id, unique within a run.", nullable=False),
            _c("user_id", "BIGINT", "Recipient.", nullable=False),
            _c("stock_id", "BIGINT", "Stock offered.", nullable=False),
            _c("platform", "VARCHAR", "Platform of delivery.", values=_PLATFORM_VALUES),
            _c("entry", "VARCHAR", "Entry point of delivery.", values=_ALL_ENTRIES),
            _c(
                "delivered_at", "TIMESTAMP", "Delivered (push sent, pop-up queued).", nullable=False
            ),
            _c("exposed_at", "TIMESTAMP", "First seen by the user."),
            _c("rule_viewed_at", "TIMESTAMP", "Rules opened."),
            _c("shared_at", "TIMESTAMP", "Shared with friends."),
            _c("claimed_at", "TIMESTAMP", "Claim attempt (whatever its outcome)."),
            _c("coupon_id", "BIGINT", "Coupon created by the claim (see `coupons`)."),
            _c("redeemed_at", "TIMESTAMP", "Coupon redeemed."),
            _c("expired_at", "TIMESTAMP", "Coupon expired unused."),
        ),
    ),
    Table(
        "coupons",
        "One row per claim attempt, with the coupon's lifecycle. Every attempt ends "
        "`issued`, `compensated` (issued late by the asynchronous compensation job after "
        "a transient failure) or `refused` (with a reason).",
        ("run_id", "coupon_id"),
        (
            _RUN,
            _c(
                "coupon_id",
                "BIGINT",
                "Coupon (claim attempt) id, unique within a run.",
                nullable=False,
            ),
            _c("stock_id", "BIGINT", "Stock claimed from.", nullable=False),
            _c("user_id", "BIGINT", "Claimer.", nullable=False),
            _c(
                "offer_id",
                "BIGINT",
                "Offer that led to the claim; NULL for imports without offers.",
            ),
            _c("platform", "VARCHAR", "Platform of the claim.", values=_PLATFORM_VALUES),
            _c("entry", "VARCHAR", "Entry point of the claim.", values=_ALL_ENTRIES),
            _c("claimed_at", "TIMESTAMP", "Claim attempt time.", nullable=False),
            _c(
                "status",
                "VARCHAR",
                "Outcome of the attempt.",
                nullable=False,
                values=ISSUE_STATUSES,
            ),
            _c(
                "refusal_reason",
                "VARCHAR",
                "Why a refused attempt was refused.",
                values=REFUSAL_REASONS,
            ),
            _c(
                "issued_at",
                "TIMESTAMP",
                "When the coupon landed in the wallet (later than the claim if compensated).",
            ),
            _c("latency_ms", "INTEGER", "Claim response time seen by the user, ms."),
            _c("amount_fen", "BIGINT", "Face value of this coupon (blind boxes draw it), fen."),
            _c("transaction_minimum_fen", "BIGINT", "Minimum order amount, fen."),
            _c("valid_until", "TIMESTAMP", "End of this coupon's validity."),
            _c("redeemed_at", "TIMESTAMP", "Redemption time; NULL if not redeemed."),
            _c("order_id", "BIGINT", "Order the coupon paid part of."),
            _c("discount_fen", "BIGINT", "Discount actually given at redemption, fen."),
            _c("expired_at", "TIMESTAMP", "Expiry time if it expired unused."),
            _c("device_id", "BIGINT", "Device fingerprint at claim time."),
            _c("ip", "UINTEGER", "IPv4 at claim time, as an integer."),
        ),
    ),
    Table(
        "events",
        "The raw event log, one row per event (long format). It carries the same facts "
        "as `offers` and `coupons`, for funnels over any steps.",
        ("run_id", "event_id"),
        (
            _RUN,
            _c(
                "event_id",
                "BIGINT",
                "Event id, unique within a run; ties in `ts` are ordered by it.",
                nullable=False,
            ),
            _c("ts", "TIMESTAMP", "Event time.", nullable=False),
            _c("user_id", "BIGINT", "Acting user.", nullable=False),
            _c("event_type", "VARCHAR", "What happened.", nullable=False, values=EVENT_TYPES),
            _c("platform", "VARCHAR", "Platform.", values=_PLATFORM_VALUES),
            _c("entry", "VARCHAR", "Entry point.", values=_ALL_ENTRIES),
            _c("stock_id", "BIGINT", "Stock concerned."),
            _c("offer_id", "BIGINT", "Offer concerned."),
            _c("coupon_id", "BIGINT", "Coupon concerned (claim, redeem, expire)."),
            _c("order_id", "BIGINT", "Order concerned (redeem)."),
            _c("device_id", "BIGINT", "Device fingerprint."),
            _c("ip", "UINTEGER", "IPv4 as an integer."),
        ),
    ),
    Table(
        "orders",
        "Every order, with or without a coupon, so incrementality and retention can be measured.",
        ("run_id", "order_id"),
        (
            _RUN,
            _c("order_id", "BIGINT", "Order id, unique within a run.", nullable=False),
            _c("user_id", "BIGINT", "Buyer.", nullable=False),
            _c("ts", "TIMESTAMP", "Order time.", nullable=False),
            _c("merchant_id", "BIGINT", "Merchant."),
            _c("order_channel", "VARCHAR", "`dine_in` or `delivery`.", values=ORDER_CHANNELS),
            _c("platform", "VARCHAR", "Platform paid through.", values=_PLATFORM_VALUES),
            _c("amount_fen", "BIGINT", "Basket amount before discount, fen.", nullable=False),
            _c(
                "discount_fen",
                "BIGINT",
                "Coupon discount, fen (0 without a coupon).",
                nullable=False,
            ),
            _c("coupon_id", "BIGINT", "Coupon used, if any."),
        ),
    ),
    Table(
        "assignments",
        "Experiment and holdout arms per user.",
        ("run_id", "experiment", "user_id"),
        (
            _RUN,
            _c("experiment", "VARCHAR", "Experiment name.", nullable=False),
            _c("user_id", "BIGINT", "Assigned user.", nullable=False),
            _c("arm", "VARCHAR", "Arm name; `holdout` receives no coupon.", nullable=False),
            _c("assigned_at", "TIMESTAMP", "Assignment time."),
        ),
    ),
    Table(
        "weather",
        "Daily weather of the simulated city (drives rain triggers and delivery demand).",
        ("run_id", "day"),
        (
            _RUN,
            _c("day", "DATE", "Calendar day.", nullable=False),
            _c("rain", "BOOLEAN", "It rained that day.", nullable=False),
        ),
    ),
    Table(
        "engine_metrics",
        "What the issuance engine reports about itself, per stock and day: requests, "
        "failures, compensations and compute cost units (targeting costs resources).",
        ("run_id", "stock_id", "day", "metric"),
        (
            _RUN,
            _c("stock_id", "BIGINT", "Stock concerned.", nullable=False),
            _c("day", "DATE", "Day.", nullable=False),
            _c(
                "metric",
                "VARCHAR",
                "Metric name: `deliveries` (offers delivered), `requests` (claim attempts), `failures` (transient issuance failures), `compensations` (failures issued by the async compensation job), `cost_units` (compute cost; LBS targeting costs more).",
                nullable=False,
            ),
            _c("value", "DOUBLE", "Metric value.", nullable=False),
        ),
    ),
    Table(
        "truth_users",
        "Synthetic runs only: the simulator's hidden facts about each user.",
        ("run_id", "user_id"),
        (
            _RUN,
            _c("user_id", "BIGINT", "User.", nullable=False),
            _c("is_fraud", "BOOLEAN", "Account belongs to a farming ring.", nullable=False),
            _c("ring_id", "INTEGER", "Farming ring, NULL for legitimate users."),
            _c("base_order_rate", "DOUBLE", "Expected orders per day without coupons."),
            _c("price_sensitivity", "DOUBLE", "Multiplier on coupon response (1 = average)."),
            _c(
                "true_uplift_orders",
                "DOUBLE",
                "Expected extra orders over the campaign if offered the strategy's coupon.",
            ),
        ),
    ),
    Table(
        "truth_orders",
        "Synthetic runs only: the counterfactual order log, i.e. the orders that would "
        "have happened without the strategy (common random numbers).",
        ("run_id", "order_id"),
        (
            _RUN,
            _c("order_id", "BIGINT", "Counterfactual order id.", nullable=False),
            _c("user_id", "BIGINT", "Buyer.", nullable=False),
            _c("ts", "TIMESTAMP", "Order time.", nullable=False),
            _c("order_channel", "VARCHAR", "`dine_in` or `delivery`.", values=ORDER_CHANNELS),
            _c("amount_fen", "BIGINT", "Basket amount, fen.", nullable=False),
        ),
    ),
)

#: Derived tables: per-run caches of a pure function of ``runs``, ``assignments`` and
#: ``orders``, written by :func:`lab.experiments.refresh_experiment_users`.
DERIVED_TABLES: tuple[Table, ...] = (
    Table(
        "experiment_users",
        "Derived: one row per user assigned to an experiment, with the sums of the user's "
        "orders that `lab.analyze` needs, over the run's campaign period `[start_date, "
        "start_date + days)` and pre-period `[start_date - pre_days, start_date)`. A pure "
        "function of the run's `assignments`, `orders` and `runs` row; rebuilt by "
        "`lab.experiments.refresh_experiment_users` (which `lab.simulate` and "
        "`lab.import_logs` call), checked against `experiment_refreshes` before use.",
        ("run_id", "experiment", "user_id"),
        (
            _RUN,
            _c("experiment", "VARCHAR", "Experiment name (as in `assignments`).", nullable=False),
            _c("user_id", "BIGINT", "Assigned user.", nullable=False),
            _c("arm", "VARCHAR", "Arm of the user (as in `assignments`).", nullable=False),
            _c("orders", "BIGINT", "Orders in the campaign period.", nullable=False),
            _c(
                "gmv",
                "BIGINT",
                "Paid amount in the campaign period, `sum(amount_fen - discount_fen)`, fen.",
                nullable=False,
            ),
            _c(
                "redeemed_amount",
                "BIGINT",
                "`sum(amount_fen)` of campaign-period orders paid with a coupon, fen.",
                nullable=False,
            ),
            _c(
                "redeemed_orders",
                "BIGINT",
                "Campaign-period orders paid with a coupon (`coupon_id` not NULL).",
                nullable=False,
            ),
            _c(
                "pre_gmv",
                "BIGINT",
                "Paid amount in the pre-period, fen (0 when the run has none).",
                nullable=False,
            ),
            _c(
                "pre_orders",
                "BIGINT",
                "Orders in the pre-period (0 when the run has none).",
                nullable=False,
            ),
        ),
        derived=True,
    ),
    Table(
        "experiment_refreshes",
        "Derived: one row per run whose `experiment_users` rows are built, recording what "
        "they were built from. The rows are used only while the run's `created_at` and its "
        "numbers of `orders` and `assignments` rows still equal these (writes append rows, "
        "and deleting a run removes its `runs` row).",
        ("run_id",),
        (
            _RUN,
            _c(
                "run_created_at",
                "TIMESTAMP",
                "`runs.created_at` of the run refreshed (a run deleted and written again differs).",
                nullable=False,
            ),
            _c("orders_rows", "BIGINT", "Rows of `orders` of the run.", nullable=False),
            _c("assignments_rows", "BIGINT", "Rows of `assignments` of the run.", nullable=False),
            _c(
                "refreshed_at",
                "TIMESTAMP",
                "When the refresh ran (machine local time).",
                nullable=False,
            ),
        ),
        derived=True,
    ),
)

TABLE_BY_NAME: dict[str, Table] = {t.name: t for t in (*TABLES, *DERIVED_TABLES)}
DATA_TABLES = tuple(t.name for t in TABLES if t.name != "runs")


def table(name: str) -> Table:
    """Return the documented table ``name``; raise ``KeyError`` naming the known tables."""
    try:
        return TABLE_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; tables are {', '.join(TABLE_BY_NAME)}") from None


def markdown() -> str:
    """Render the schema as Markdown (docs/schema.md is generated from this)."""
    lines = [f"Schema version {SCHEMA_VERSION}. Money in integer fen; timestamps local time.", ""]
    for t in (*TABLES, *DERIVED_TABLES):
        title = f"### `{t.name}`" + (" (derived)" if t.derived else "")
        lines += [title, "", t.doc, "", f"Key: `{', '.join(t.key)}`", ""]
        lines += ["| column | type | meaning |", "|---|---|---|"]
        for c in t.columns:
            doc = c.doc + (f" Values: {', '.join(f'`{v}`' for v in c.values)}." if c.values else "")
            lines.append(f"| `{c.name}` | {c.type}{'' if c.nullable else ' not null'} | {doc} |")
        lines.append("")
    return "\n".join(lines)
