"""Every run the world writes is internally consistent.

offers, coupons, events and orders agree exactly; every claim attempt ends in exactly
one terminal status; budgets and limits hold; money is non-negative integer fen.
Small worlds of every preset, plus strategies built to hit each limit.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

import lab
from lab import schema
from lab.world import PRESETS, Campaign, Stock, Strategy, Targeting, simulate

START = dt.date(2026, 3, 2)

TIGHT = Strategy(
    "tight_limits",
    campaigns=(
        Campaign(
            "budget",
            "wechat",
            "mini_program",
            Stock(
                amount_fen=500,
                transaction_minimum_fen=3000,
                total_budget_fen=500 * 300,
                max_per_user=3,
            ),
            frequency=0.8,
            risk_level="off",
        ),
        Campaign(
            "daily",
            "wechat",
            "official_account",
            Stock(
                amount_fen=300,
                transaction_minimum_fen=2000,
                daily_budget_fen=300 * 20,
                max_per_user=5,
            ),
            frequency=0.8,
            risk_level="off",
        ),
        Campaign(
            "count",
            "meituan",
            "store_page",
            Stock(
                stock_type="random",
                amount_fen=500,
                max_amount_fen=900,
                transaction_minimum_fen=0,
                max_coupons=150,
                max_per_user=2,
                validity_type="fixed",
                valid_from_day=2,
                valid_until_day=9,
            ),
            frequency=0.8,
            risk_level="basic",
        ),
        Campaign(
            "person",
            "alipay",
            "wallet_home",
            Stock(
                stock_type="discount",
                discount_rate=0.9,
                amount_fen=0,
                max_amount_fen=1500,
                transaction_minimum_fen=2000,
                max_per_user=1,
                natural_person_limit=True,
                phone_limit=True,
                real_name_limit=True,
            ),
            frequency=0.8,
            risk_level="strict",
        ),
        Campaign(
            "tiered",
            "wechat",
            "card_wallet",
            Stock(
                amount_fen=300,
                transaction_minimum_fen=3000,
                max_amount_fen=1200,
                max_per_user=2,
                usable_weekdays=0b1100000,
                usable_hour_start=11,
                usable_hour_end=14,
            ),
            targeting=Targeting(segments=("active",), credit_tiers=(3, 4, 5)),
            frequency=0.6,
            mechanic="tiered_reward",
        ),
        Campaign(
            "box",
            "wechat",
            "mini_program",
            Stock(
                stock_type="random",
                amount_fen=600,
                max_amount_fen=1000,
                transaction_minimum_fen=3000,
                max_per_user=2,
            ),
            frequency=0.4,
            mechanic="blind_box",
        ),
    ),
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    store = lab.Store(tmp_path_factory.mktemp("cons") / "w.duckdb")
    runs = [
        simulate(name, store=store, users=800, days=10, pre_days=5, seed=3, progress=False)
        for name in PRESETS
    ]
    runs.append(
        simulate(TIGHT, store=store, users=3000, days=14, pre_days=3, seed=1, progress=False)
    )
    return store, runs


def q(store, sql, *params):
    return store.query(sql, list(params))


def test_all_presets_write_every_table(world):
    store, runs = world
    tables = (
        "users",
        "stocks",
        "offers",
        "coupons",
        "events",
        "orders",
        "weather",
        "engine_metrics",
        "truth_users",
        "truth_orders",
    )
    counts = q(
        store,
        " UNION ALL ".join(
            f"SELECT '{t}' AS t, run_id, count(*) AS n FROM {t} GROUP BY run_id" for t in tables
        ),
    )
    per_run = counts.groupby("run_id")["t"].nunique()
    assert set(per_run.index) == set(runs)
    assert (per_run == len(tables)).all()
    assert set(q(store, "SELECT DISTINCT origin FROM runs")["origin"]) == {"synthetic"}


def test_keys_unique(world):
    store, _ = world
    for t in schema.TABLES:
        if t.name == "runs":
            continue
        key = ", ".join(t.key)
        dup = q(
            store,
            f"SELECT count(*) AS n FROM (SELECT {key} FROM {t.name} GROUP BY ALL HAVING count(*) > 1)",
        )
        assert dup["n"][0] == 0, t.name


def test_enum_values_documented(world):
    store, _ = world
    for t in schema.TABLES:
        for c in t.columns:
            if c.values and t.name != "runs":
                found = q(
                    store, f"SELECT DISTINCT {c.name} AS v FROM {t.name} WHERE {c.name} IS NOT NULL"
                )["v"]
                assert set(found.astype(object)) <= set(c.values), (t.name, c.name)


def test_offer_steps_each_have_their_event(world):
    store, _ = world
    for col, etype in (
        ("delivered_at", "delivery"),
        ("exposed_at", "exposure"),
        ("rule_viewed_at", "rule_view"),
        ("shared_at", "share"),
        ("claimed_at", "claim"),
        ("redeemed_at", "redeem"),
        ("expired_at", "expire"),
    ):
        diff = q(
            store,
            f"""
            SELECT count(*) AS n FROM (
                (SELECT run_id, offer_id, {col} AS ts FROM offers WHERE {col} IS NOT NULL
                 EXCEPT ALL SELECT run_id, offer_id, ts FROM events WHERE event_type = ?)
                UNION ALL
                (SELECT run_id, offer_id, ts FROM events WHERE event_type = ?
                 EXCEPT ALL SELECT run_id, offer_id, {col} FROM offers WHERE {col} IS NOT NULL))""",
            etype,
            etype,
        )
        assert diff["n"][0] == 0, etype


def test_offer_steps_in_order(world):
    store, _ = world
    bad = q(
        store,
        """
        SELECT count(*) AS n FROM offers WHERE
            exposed_at < delivered_at OR rule_viewed_at < exposed_at OR claimed_at < rule_viewed_at
            OR (rule_viewed_at IS NOT NULL AND exposed_at IS NULL)
            OR (claimed_at IS NOT NULL AND rule_viewed_at IS NULL)
            OR (shared_at IS NOT NULL AND (shared_at < rule_viewed_at OR rule_viewed_at IS NULL))
            OR ((claimed_at IS NULL) <> (coupon_id IS NULL))""",
    )
    assert bad["n"][0] == 0


def test_every_claim_attempt_has_one_coupon_row_and_one_terminal_status(world):
    store, _ = world
    diff = q(
        store,
        """
        SELECT count(*) AS n FROM (
            (SELECT run_id, offer_id, coupon_id, claimed_at FROM offers WHERE claimed_at IS NOT NULL
             EXCEPT ALL SELECT run_id, offer_id, coupon_id, claimed_at FROM coupons)
            UNION ALL
            (SELECT run_id, offer_id, coupon_id, claimed_at FROM coupons
             EXCEPT ALL SELECT run_id, offer_id, coupon_id, claimed_at FROM offers WHERE claimed_at IS NOT NULL))""",
    )
    assert diff["n"][0] == 0
    bad = q(
        store,
        """
        SELECT count(*) AS n FROM coupons WHERE
            status NOT IN ('issued', 'compensated', 'refused')
            OR ((status = 'refused') <> (refusal_reason IS NOT NULL))
            OR ((status = 'refused') <> (issued_at IS NULL))
            OR issued_at < claimed_at
            OR (status = 'compensated' AND issued_at <= claimed_at)
            OR (status = 'refused' AND (redeemed_at IS NOT NULL OR expired_at IS NOT NULL))
            OR (redeemed_at IS NOT NULL AND expired_at IS NOT NULL)
            OR redeemed_at < issued_at OR redeemed_at > valid_until OR expired_at <> valid_until
            OR latency_ms <= 0""",
    )
    assert bad["n"][0] == 0
    # coupons mirror the offer's redemption and expiry
    mism = q(
        store,
        """
        SELECT count(*) AS n FROM offers o JOIN coupons c USING (run_id, coupon_id)
        WHERE o.redeemed_at IS DISTINCT FROM c.redeemed_at OR o.expired_at IS DISTINCT FROM c.expired_at""",
    )
    assert mism["n"][0] == 0


def test_redeemed_coupons_have_their_order(world):
    store, _ = world
    bad = q(
        store,
        """
        SELECT count(*) AS n FROM coupons c LEFT JOIN orders o
            ON o.run_id = c.run_id AND o.order_id = c.order_id
        WHERE c.redeemed_at IS NOT NULL AND (
            o.order_id IS NULL OR o.coupon_id IS DISTINCT FROM c.coupon_id OR o.ts <> c.redeemed_at
            OR o.discount_fen <> c.discount_fen OR o.discount_fen <= 0 OR o.user_id <> c.user_id
            OR o.amount_fen < c.transaction_minimum_fen OR o.discount_fen >= o.amount_fen)""",
    )
    assert bad["n"][0] == 0
    orphans = q(
        store,
        """
        SELECT count(*) AS n FROM orders o WHERE o.coupon_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM coupons c WHERE c.run_id = o.run_id AND c.coupon_id = o.coupon_id
              AND c.order_id = o.order_id)""",
    )
    assert orphans["n"][0] == 0
    redeem_events = q(
        store,
        """
        SELECT count(*) AS n FROM events e JOIN coupons c USING (run_id, coupon_id)
        WHERE e.event_type = 'redeem' AND (e.order_id <> c.order_id OR e.ts <> c.redeemed_at)""",
    )
    assert redeem_events["n"][0] == 0


def test_money_is_non_negative_integer_fen(world):
    store, _ = world
    types = q(
        store,
        """
        SELECT table_name, column_name, data_type FROM information_schema.columns
        WHERE column_name LIKE '%_fen'""",
    )
    assert set(types["data_type"]) == {"BIGINT"}
    bad = q(
        store,
        """
        SELECT (SELECT count(*) FROM orders WHERE amount_fen <= 0 OR discount_fen < 0
                   OR (coupon_id IS NULL) <> (discount_fen = 0))
             + (SELECT count(*) FROM coupons WHERE amount_fen < 0 OR discount_fen < 0)
             + (SELECT count(*) FROM truth_orders WHERE amount_fen <= 0) AS n""",
    )
    assert bad["n"][0] == 0


def test_coupon_orders_respect_channel_hours_and_weekdays(world):
    store, _ = world
    bad = q(
        store,
        """
        SELECT count(*) AS n FROM coupons c JOIN stocks s USING (run_id, stock_id)
        JOIN orders o ON o.run_id = c.run_id AND o.order_id = c.order_id
        WHERE hour(o.ts) < s.usable_hour_start OR hour(o.ts) >= s.usable_hour_end
           OR (s.usable_weekdays >> (isodow(o.ts) - 1)) & 1 = 0
           OR (s.order_channel IS NOT NULL AND o.order_channel <> s.order_channel)""",
    )
    assert bad["n"][0] == 0


def test_budgets_and_limits_hold(world):
    store, runs = world
    run = runs[-1]
    spent = q(
        store,
        """
        SELECT s.campaign, s.total_budget_fen, s.max_coupons, s.max_per_user,
               sum(c.amount_fen) AS spent, count(*) AS issued
        FROM coupons c JOIN stocks s USING (run_id, stock_id)
        WHERE c.run_id = ? AND c.status <> 'refused' GROUP BY ALL""",
        run,
    ).set_index("campaign")
    assert spent.loc["budget", "spent"] <= spent.loc["budget", "total_budget_fen"]
    assert spent.loc["budget", "spent"] > 0.9 * spent.loc["budget", "total_budget_fen"]
    assert spent.loc["count", "issued"] == spent.loc["count", "max_coupons"]
    daily = q(
        store,
        """
        SELECT claimed_at::DATE AS d, sum(c.amount_fen) AS spent FROM coupons c JOIN stocks s USING (run_id, stock_id)
        WHERE c.run_id = ? AND s.campaign = 'daily' AND c.status <> 'refused' GROUP BY 1""",
        run,
    )
    assert daily["spent"].max() <= 300 * 20
    per_user = q(
        store,
        """
        SELECT s.campaign, max(n) AS n, any_value(s.max_per_user) AS cap FROM (
            SELECT run_id, stock_id, user_id, count(*) AS n FROM coupons WHERE status <> 'refused'
            GROUP BY ALL) JOIN stocks s USING (run_id, stock_id) WHERE run_id = ? GROUP BY ALL""",
        run,
    )
    assert (per_user["n"] <= per_user["cap"]).all()
    reasons = set(
        q(
            store,
            "SELECT DISTINCT refusal_reason AS r FROM coupons WHERE run_id = ? AND status = 'refused'",
            run,
        )["r"].astype(object)
    )
    assert {
        "budget_exhausted",
        "daily_budget_exhausted",
        "max_coupons_reached",
        "per_user_limit",
        "real_name_failed",
    } <= reasons
    # budgets are enforced in claim-time order: nothing is issued after the first refusal
    late = q(
        store,
        """
        SELECT count(*) AS n FROM coupons c JOIN stocks s USING (run_id, stock_id)
        WHERE c.run_id = ? AND s.campaign = 'budget' AND c.status <> 'refused'
          AND c.claimed_at > (SELECT min(claimed_at) FROM coupons c2 WHERE c2.run_id = c.run_id
                              AND c2.stock_id = c.stock_id AND c2.refusal_reason = 'budget_exhausted')""",
        run,
    )
    assert late["n"][0] == 0


def test_strict_risk_adds_latency_and_real_name_checks(world):
    store, runs = world
    lat = q(
        store,
        """
        SELECT s.risk_level, avg(latency_ms) AS ms FROM coupons c JOIN stocks s USING (run_id, stock_id)
        WHERE c.run_id = ? GROUP BY 1""",
        runs[-1],
    ).set_index("risk_level")["ms"]
    assert lat["strict"] - lat["off"] > 800


def test_holdout_users_get_no_offers_and_assignments_are_complete(world):
    store, runs = world
    assert (
        q(
            store,
            """
        SELECT count(*) AS n FROM offers o JOIN assignments a USING (run_id, user_id)
        WHERE a.arm = 'holdout'""",
        )["n"][0]
        == 0
    )
    per = q(
        store,
        """
        SELECT r.run_id, e.experiment, (SELECT count(*) FROM assignments a WHERE a.run_id = r.run_id
               AND a.experiment = e.experiment) AS n, r.n_users,
               (SELECT count(*) FROM assignments h WHERE h.run_id = r.run_id
               AND h.arm = 'holdout') AS held,
               e.experiment IN (SELECT experiment FROM assignments WHERE run_id = r.run_id
               AND arm = 'holdout') AS has_holdout
        FROM runs r JOIN (SELECT DISTINCT run_id, experiment FROM assignments) e USING (run_id)""",
    )
    # the holdout experiment covers everyone; held-out users join no other experiment
    expected = per["n_users"] - per["held"].where(~per["has_holdout"], 0)
    assert (per["n"] == expected).all()
    assert per["has_holdout"].any() and (per["held"] > 0).all()
    # campaigns tied to an arm only reach that arm's users
    bad = q(
        store,
        """
        SELECT count(*) AS n FROM offers o JOIN stocks s USING (run_id, stock_id)
        JOIN assignments a ON a.run_id = o.run_id AND a.user_id = o.user_id AND a.experiment = s.experiment
        WHERE a.arm <> s.arm""",
    )
    assert bad["n"][0] == 0


def test_orders_are_truth_minus_pulled_forward_plus_coupon_orders(world):
    store, _ = world
    # every order without a coupon is a counterfactual order, unchanged
    bad = q(
        store,
        """
        SELECT count(*) AS n FROM orders o LEFT JOIN truth_orders t USING (run_id, order_id)
        WHERE o.coupon_id IS NULL AND (t.order_id IS NULL OR t.ts <> o.ts OR t.amount_fen <> o.amount_fen)""",
    )
    assert bad["n"][0] == 0
    # pre-period: no coupons, orders equal the counterfactual
    pre = q(
        store,
        """
        SELECT (SELECT count(*) FROM orders o JOIN runs r USING (run_id) WHERE o.ts < r.start_date) AS a,
               (SELECT count(*) FROM truth_orders o JOIN runs r USING (run_id) WHERE o.ts < r.start_date) AS b,
               (SELECT count(*) FROM events e JOIN runs r USING (run_id) WHERE e.ts < r.start_date) AS e""",
    )
    assert pre["a"][0] == pre["b"][0] > 0 and pre["e"][0] == 0


def test_engine_metrics_reconcile_with_coupons(world):
    store, _ = world
    m = q(
        store,
        """
        SELECT run_id, stock_id, sum(value) FILTER (WHERE metric = 'requests') AS req,
               sum(value) FILTER (WHERE metric = 'compensations') AS comp,
               sum(value) FILTER (WHERE metric = 'deliveries') AS dlv
        FROM engine_metrics GROUP BY ALL""",
    )
    c = q(
        store,
        """
        SELECT run_id, stock_id, count(*) AS req, count(*) FILTER (WHERE status = 'compensated') AS comp
        FROM coupons GROUP BY ALL""",
    )
    d = q(store, "SELECT run_id, stock_id, count(*) AS dlv FROM offers GROUP BY ALL")
    merged = m.merge(c, on=["run_id", "stock_id"], how="left", suffixes=("", "_c")).merge(
        d, on=["run_id", "stock_id"], how="left", suffixes=("", "_o")
    )
    merged = merged.fillna(0)
    assert np.allclose(merged["req"], merged["req_c"])
    assert np.allclose(merged["comp"], merged["comp_c"])
    assert np.allclose(merged["dlv"], merged["dlv_o"])
