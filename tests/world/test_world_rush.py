"""``claim_rush``: the issuance engine against a sequential reference, and the run it lands."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import lab
from lab.world import Campaign, Stock, Strategy, claim_rush, simulate
from lab.world._params import PARAMS

TIGHT = Strategy(
    "tight",
    campaigns=(
        Campaign(
            "popup",
            "wechat",
            "mini_program",
            Stock(
                stock_type="no_threshold",
                transaction_minimum_fen=0,
                amount_fen=300,
                max_per_user=2,
                daily_budget_fen=600_000,
                natural_person_limit=True,
                phone_limit=True,
            ),
            risk_level="basic",
        ),
        Campaign(
            "store",
            "meituan",
            "store_page",
            Stock(transaction_minimum_fen=2000, amount_fen=500, max_per_user=3, max_coupons=1_500),
            risk_level="off",
        ),
        Campaign(
            "box",
            "alipay",
            "pay_page",
            Stock(
                stock_type="random",
                transaction_minimum_fen=0,
                amount_fen=500,
                max_amount_fen=900,
                max_per_user=5,
                total_budget_fen=1_000_000,
                real_name_limit=True,
            ),
            risk_level="basic",
        ),
    ),
)


@pytest.fixture(scope="module")
def rush():
    store = lab.Store(":memory:")
    run = claim_rush(TIGHT, store=store, claims=20_000, users=2_000, seconds=7_200, progress=False)
    coupons = store.query(
        "SELECT * FROM coupons WHERE run_id = ? ORDER BY claimed_at, coupon_id", [run]
    )
    users = store.query("SELECT * FROM users WHERE run_id = ? ORDER BY user_id", [run])
    stocks = store.query("SELECT * FROM stocks WHERE run_id = ? ORDER BY stock_id", [run])
    return store, run, coupons, users, stocks


def sequential_reference(coupons: pd.DataFrame, stocks: pd.DataFrame) -> dict:
    """The engine's rules applied one attempt at a time with plain counters.

    Rules run in the engine's order; each counts the attempts still alive when it runs
    (a refused attempt does not spend, and a rule does not see attempts an earlier rule
    refused). ``coupons`` carries the engine inputs the tables do not store: ``person``,
    ``phone``, ``real_name`` and the face value asked for, ``amount``.
    """
    p = PARAMS
    risk = dict(zip(stocks.stock_id, stocks.risk_level, strict=True))
    st = stocks.set_index("stock_id")
    alive = {c: True for c in coupons.coupon_id}
    reason = {}

    def rule(name, applies, key, limit):
        seen = Counter()
        for row in coupons.itertuples():
            if not (alive[row.coupon_id] and applies(row)):
                continue
            k = key(row)
            if seen[k] >= limit(row):
                alive[row.coupon_id] = False
                reason[row.coupon_id] = name
            seen[k] += 1

    def spend(name, applies, key, budget):
        spent = Counter()
        for row in coupons.itertuples():
            if not (alive[row.coupon_id] and applies(row)):
                continue
            k = key(row)
            spent[k] += row.amount
            if spent[k] > budget(row):
                alive[row.coupon_id] = False
                reason[row.coupon_id] = name

    basic = lambda r: risk[r.stock_id] in ("basic", "strict")  # noqa: E731
    day = lambda r: r.claimed_at.normalize()  # noqa: E731
    # the device rule counts every attempt, refused ones included
    device_seen = Counter()
    for row in coupons.itertuples():
        if basic(row):
            k = (row.stock_id, row.device_id, day(row))
            if device_seen[k] >= p.device_day_cap:
                alive[row.coupon_id] = False
                reason[row.coupon_id] = "rate_limited"
            device_seen[k] += 1
    rule(
        "risk_blocked",
        basic,
        lambda r: (r.stock_id, r.ip // 256, day(r)),
        lambda r: p.ip_block_day_cap,
    )
    for row in coupons.itertuples():
        needs = risk[row.stock_id] == "strict" or st.real_name_limit[row.stock_id]
        if alive[row.coupon_id] and needs and not row.real_name:
            alive[row.coupon_id] = False
            reason[row.coupon_id] = "real_name_failed"
    max_per_user = lambda r: st.max_per_user[r.stock_id]  # noqa: E731
    rule(
        "natural_person_limit",
        lambda r: st.natural_person_limit[r.stock_id],
        lambda r: (r.stock_id, r.person),
        max_per_user,
    )
    rule(
        "phone_limit",
        lambda r: st.phone_limit[r.stock_id],
        lambda r: (r.stock_id, r.phone),
        max_per_user,
    )
    rule("per_user_limit", lambda r: True, lambda r: (r.stock_id, r.user_id), max_per_user)
    spend(
        "daily_budget_exhausted",
        lambda r: not pd.isna(st.daily_budget_fen[r.stock_id]),
        lambda r: (r.stock_id, day(r)),
        lambda r: st.daily_budget_fen[r.stock_id],
    )
    spend(
        "budget_exhausted",
        lambda r: True,
        lambda r: r.stock_id,
        lambda r: st.total_budget_fen[r.stock_id],
    )
    rule(
        "max_coupons_reached",
        lambda r: not pd.isna(st.max_coupons[r.stock_id]),
        lambda r: r.stock_id,
        lambda r: st.max_coupons[r.stock_id],
    )
    return reason


def test_engine_matches_sequential_reference(rush, monkeypatch):
    """Every refusal (and its reason) equals a one-attempt-at-a-time reference."""
    from lab.world import _rush

    captured = {}
    enforce = _rush.enforce

    def keep(claims, plan, p, *, seed):
        captured["claims"] = claims
        return enforce(claims, plan, p, seed=seed)

    monkeypatch.setattr(_rush, "enforce", keep)
    store = lab.Store(":memory:")
    run = claim_rush(TIGHT, store=store, claims=20_000, users=2_000, seconds=7_200, progress=False)
    claims = captured["claims"]
    coupons = store.query("SELECT * FROM coupons WHERE run_id = ? ORDER BY coupon_id", [run])
    # the engine's own inputs that the tables do not hold: person, phone, face value asked
    coupons["person"] = claims.person
    coupons["phone"] = claims.phone
    coupons["real_name"] = claims.real_name
    coupons["amount"] = claims.amount
    coupons = coupons.sort_values(["claimed_at", "coupon_id"], kind="stable")
    stocks = rush[4]
    expected = sequential_reference(coupons, stocks)
    got = coupons.loc[coupons.status == "refused"].set_index("coupon_id")["refusal_reason"]
    assert got.astype(object).to_dict() == expected
    # every rule fired, so the comparison covers each of them
    assert set(expected.values()) >= {
        "rate_limited",
        "real_name_failed",
        "per_user_limit",
        "daily_budget_exhausted",
        "budget_exhausted",
        "max_coupons_reached",
    }


def test_run_reconciles(rush):
    store, run, coupons, _, stocks = rush
    assert len(coupons) == 20_000
    assert coupons.coupon_id.is_unique
    refused = coupons.status == "refused"
    assert coupons.loc[refused, "refusal_reason"].notna().all()
    assert coupons.loc[~refused, "refusal_reason"].isna().all()
    assert coupons.loc[refused, ["issued_at", "amount_fen", "valid_until"]].isna().all().all()
    ok = coupons[~refused]
    assert (ok.issued_at > ok.claimed_at).all()
    assert (ok.valid_until > ok.issued_at).all()
    # the burst starts at 07:00 on the first campaign day and lasts two hours
    start = pd.Timestamp("2026-03-02 07:00")
    assert coupons.claimed_at.min() >= start
    assert coupons.claimed_at.max() < start + pd.Timedelta(hours=2)
    # budgets hold: issued face value per stock never exceeds the stock's budgets
    spent = ok.groupby("stock_id").amount_fen.sum()
    for s in stocks.itertuples():
        assert spent.get(s.stock_id, 0) <= s.total_budget_fen
        if not pd.isna(s.daily_budget_fen):
            assert spent.get(s.stock_id, 0) <= s.daily_budget_fen
        if not pd.isna(s.max_coupons):
            assert (ok.stock_id == s.stock_id).sum() <= s.max_coupons
        per_user = ok[ok.stock_id == s.stock_id].groupby("user_id").size()
        assert per_user.max() <= s.max_per_user
    # no offers, events or orders: the rush stops at issuance
    counts = store.describe_run(run).set_index("table")["rows"]
    assert counts[["offers", "events", "orders"]].sum() == 0
    assert counts["engine_metrics"] > 0


def test_same_seed_same_rows_and_same_users_as_simulate():
    def rows(seed):
        store = lab.Store(":memory:")
        run = claim_rush(
            "morning_doubled", store=store, claims=3_000, users=800, seed=seed, progress=False
        )
        return store, run

    (a, ra), (b, rb), (c, rc) = rows(1), rows(1), rows(2)
    q = "SELECT * EXCLUDE (run_id) FROM coupons WHERE run_id = ? ORDER BY coupon_id"
    pd.testing.assert_frame_equal(a.query(q, [ra]), b.query(q, [rb]))
    assert not a.query(q, [ra]).equals(c.query(q, [rc]))
    # a rush meets the users that a simulation with the same seed draws
    sim = lab.Store(":memory:")
    rs = simulate("morning_doubled", store=sim, users=800, days=7, seed=1, progress=False)
    u = "SELECT * EXCLUDE (run_id) FROM users WHERE run_id = ? ORDER BY user_id"
    rushed, simulated = a.query(u, [ra]), sim.query(u, [rs])
    # registration times are drawn in days before the run's first day and cut to whole
    # seconds, and the two runs start their clocks on different days
    gap = (rushed.pop("registered_at") - simulated.pop("registered_at")).abs()
    assert gap.max() <= pd.Timedelta(seconds=1)
    pd.testing.assert_frame_equal(rushed, simulated)


def test_arm_campaigns_go_to_their_arm_only():
    store = lab.Store(":memory:")
    run = claim_rush("morning_doubled", store=store, claims=4_000, users=1_000, progress=False)
    sim = lab.Store(":memory:")
    rs = simulate("morning_doubled", store=sim, users=1_000, days=7, progress=False)
    arms = sim.query(
        "SELECT user_id, arm FROM assignments WHERE run_id = ? AND experiment = 'morning'", [rs]
    )
    claimed = store.query(
        "SELECT c.user_id, s.arm FROM coupons c JOIN stocks s USING (run_id, stock_id) "
        "WHERE c.run_id = ?",
        [run],
    )
    merged = claimed.merge(arms, on="user_id", suffixes=("_stock", "_user"))
    assert len(merged) == len(claimed) == 4_000
    assert (merged.arm_stock.astype(object) == merged.arm_user.astype(object)).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"claims": 0}, "claims"),
        ({"users": 1.5}, "users"),
        ({"hour": 24}, "hour"),
        ({"seconds": 0}, "seconds"),
        ({"hour": 23, "seconds": 7_200}, "seconds"),
    ],
)
def test_bad_arguments(kwargs, match):
    # a float where a count belongs is a TypeError, an out-of-range count a ValueError
    with pytest.raises((TypeError, ValueError), match=match):
        claim_rush("default", store=lab.Store(":memory:"), progress=False, **kwargs)


def test_day_without_live_campaign():
    week = Strategy("week", campaigns=(replace(TIGHT.campaigns[1], end_day=7),))
    claim_rush(week, store=lab.Store(":memory:"), day=6, claims=10, users=10, progress=False)
    with pytest.raises(ValueError, match="no campaign live on day 7"):
        claim_rush(week, store=lab.Store(":memory:"), day=7, claims=10, users=10, progress=False)


def test_existing_run_is_refused():
    store = lab.Store(":memory:")
    claim_rush("default", store=store, claims=100, users=50, progress=False)
    with pytest.raises(lab.StoreError, match="exists already"):
        claim_rush("default", store=store, claims=100, users=50, progress=False)


def test_engine_codes_equal_sparse_and_dense_keys():
    """Grouping on 62-bit device hashes equals grouping on their dense codes."""
    from lab.world._engine import _group_codes

    rng = np.random.default_rng(3)
    dense = rng.integers(0, 50, 5_000)
    sparse = rng.integers(1, 2**62, 50)[dense]
    camp = rng.integers(0, 4, 5_000)
    a = _group_codes([camp, sparse], limit=1 << 40)
    b = camp * 50 + dense
    # same partition: a bijection between the codes
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    assert len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))
