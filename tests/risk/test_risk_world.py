"""Risk control on small simulated worlds (lab.world presets risk_off/basic/strict)."""

from __future__ import annotations

import pytest

from lab.risk import compare_control_levels, evaluate_risk, reconcile, score_accounts
from lab.store import Store

world = pytest.importorskip("lab.world")


@pytest.fixture(scope="module")
def risk_worlds():
    store = Store(":memory:")
    runs = {
        level: world.simulate(
            f"risk_{level}", store=store, users=20_000, days=14, pre_days=14, seed=0, progress=False
        )
        for level in ("off", "basic", "strict")
    }
    yield store, runs
    store.close()


def test_strict_control_keeps_rings_out(risk_worlds):
    store, runs = risk_worlds
    df = compare_control_levels(store, runs=runs).frame.set_index("level")
    assert df.loc["strict", "fraud_issued_share"] < 0.003
    assert (
        df.loc["off", "fraud_issued_share"]
        > df.loc["basic", "fraud_issued_share"]
        > df.loc["strict", "fraud_issued_share"]
    )
    assert df.loc["strict", "latency_increase_s"] > df.loc["basic", "latency_increase_s"] > 0


def test_model_finds_the_rings_the_world_planted(risk_worlds):
    store, runs = risk_worlds
    ev = evaluate_risk(store, run=runs["off"], scores=score_accounts(store, run=runs["off"]))
    assert ev["fraud_accounts"] > 0
    assert ev["precision_block"] >= 0.9
    assert ev["recall_flagged"] >= 0.9
    assert ev["legit_blocked_share"] <= 0.005


@pytest.mark.parametrize("level", ["off", "basic", "strict"])
def test_world_logs_reconcile(risk_worlds, level):
    store, runs = risk_worlds
    report = reconcile(store, run=runs[level])
    assert report.ok, report.discrepancies.head(20).to_string()
