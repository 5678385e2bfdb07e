"""compare_control_levels on hand-built worlds whose control level is known."""

from __future__ import annotations

import pytest

from lab.risk import compare_control_levels
from lab.store import Store


@pytest.fixture(scope="module")
def levels(world_factory):
    store = Store(":memory:")
    frames = {
        "off": world_factory(store, "off", n_legit=1000, seed=7),
        "basic": world_factory(
            store, "basic", n_legit=1000, seed=7, fraud_refusal=0.7, extra_latency_ms=300
        ),
        "strict": world_factory(
            store, "strict", n_legit=1000, seed=7, fraud_refusal=1.0, extra_latency_ms=1200
        ),
    }
    yield store, frames
    store.close()


def test_levels_match_pandas(levels):
    store, frames = levels
    cmp = compare_control_levels(store, runs={"off": "off", "basic": "basic", "strict": "strict"})
    df = cmp.to_frame().set_index("level")
    assert cmp.reference == "off"
    for level, f in frames.items():
        c = f["coupons"].merge(f["truth"], on="user_id")
        issued = c["status"].isin(["issued", "compensated"])
        assert df.loc[level, "claims"] == len(c)
        assert df.loc[level, "fraud_issued_share"] == pytest.approx(
            c.loc[issued, "is_fraud"].mean()
        )
        assert df.loc[level, "refused"] == int((c["status"] == "refused").sum())
        assert df.loc[level, "mean_latency_ms"] == pytest.approx(c["latency_ms"].mean())
    assert df.loc["strict", "fraud_issued_share"] == 0
    assert df.loc["off", "fraud_issued_share"] > 0.1
    # same seed, same base latencies: the increase is exactly the added latency
    assert df.loc["strict", "latency_increase_s"] == pytest.approx(1.2)
    assert df.loc["basic", "latency_increase_s"] == pytest.approx(0.3)
    assert df.loc["off", "latency_increase_s"] == 0


def test_validation(levels):
    store, _ = levels
    with pytest.raises(ValueError, match="at least one level"):
        compare_control_levels(store, runs={})
    with pytest.raises(KeyError, match="no run"):
        compare_control_levels(store, runs={"off": "missing"})
    cmp = compare_control_levels(store, runs={"basic": "basic", "strict": "strict"})
    assert cmp.reference == "basic"


def test_plots(levels, world):
    import holoviews as hv

    from lab.risk import evaluate_risk

    hv.extension("bokeh")
    store, _ = levels
    assert isinstance(compare_control_levels(store, runs={"off": "off"}).plot(), hv.Bars)
    wstore, _ = world
    assert isinstance(evaluate_risk(wstore, run="w").plot(), hv.Bars)
