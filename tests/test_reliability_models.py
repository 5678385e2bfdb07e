"""Public model functions under wrong arguments, and analyze's freshness check.

Issue 19, points 5 (analyze trusts stale derived rows) and 6 (arguments): a property
test feeds every public model function values of the wrong type and out of range, one
argument at a time, and expects a TypeError or ValueError that names the argument,
never an AttributeError, KeyError, OverflowError or a DuckDB error from deep inside.
"""

from __future__ import annotations

import math
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lab
from lab.experiments import analyze, experiment_users_status
from lab.world import simulate

RUN = "default-s0"


@pytest.fixture(scope="module")
def store():
    store = lab.Store(":memory:")
    simulate("default", store=store, users=600, days=7, pre_days=7, seed=0, progress=False)
    return store


def _not(*allowed):
    return lambda v: v not in allowed


NUMBERS = st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True))
NOT_TEXT = st.one_of(
    st.none(), st.integers(), st.floats(), st.lists(st.text(), max_size=2), st.binary()
)
BAD = {
    "store": st.one_of(st.none(), st.text(max_size=5), st.integers(), st.just({})),
    "run": st.one_of(
        NOT_TEXT,
        st.text(max_size=3).filter(lambda s: not s.strip()),
        st.text(min_size=1, max_size=12).filter(lambda s: s.strip() and s != RUN),
    ),
    "experiment": st.one_of(NOT_TEXT, st.just(""), st.just("   ")),
    "alpha": st.one_of(
        st.floats().filter(lambda x: not 0 < x < 1),
        st.just(math.nan),
        st.text(max_size=4),
        st.booleans(),
        st.none(),
    ),
    "start": st.one_of(
        st.integers(),
        st.floats(),
        st.sampled_from(["99991231", "not a date", "", "1800-01-01", "2026-13-45"]),
        st.lists(st.integers(), min_size=1, max_size=2),
    ),
    "end": st.sampled_from(["99991231", "yesterday-ish", "3000-01-01", 20260302, 1.5]),
    "window": st.one_of(
        st.sampled_from(["", "-3D", "100000D", "soon"]),
        st.integers(),
        st.floats(),
        st.lists(st.integers(), max_size=1),
    ),
    "by": st.one_of(
        st.integers(),
        st.floats(),
        st.lists(st.integers(), min_size=1, max_size=2),
        st.just({"a": 1}),
        st.binary(min_size=1),
    ),
    "steps": st.one_of(st.text(max_size=8), st.integers(), st.lists(st.integers(), min_size=1)),
    "metrics": st.one_of(st.text(max_size=8), st.integers(), st.lists(st.none(), min_size=1)),
    "top_n": st.one_of(st.integers(max_value=0), st.integers(min_value=10**7), st.floats()),
    "max_periods": st.one_of(
        st.integers(max_value=-1), st.integers(min_value=10**5), st.floats(), st.text(max_size=3)
    ),
    "bucket_seconds": st.one_of(
        st.integers(max_value=0), st.integers(min_value=10**9), st.floats()
    ),
    "horizon_days": st.one_of(
        st.floats().filter(lambda x: not 0 < x <= 36_500), st.text(max_size=3)
    ),
    "contamination": st.one_of(
        st.floats().filter(lambda x: not 0 < x <= 0.5), st.text(max_size=4).filter(_not("auto"))
    ),
    "random_state": st.one_of(st.integers(max_value=-1), st.integers(min_value=2**32), st.floats()),
    "rules": st.one_of(st.text(max_size=5), st.integers(), st.lists(st.integers(), min_size=1)),
    "scores": st.one_of(st.text(max_size=5), st.integers(), st.just({})),
    "block_at": st.one_of(st.floats().filter(lambda x: not 0 <= x <= 1), st.text(max_size=2)),
    "first_time": st.one_of(st.integers(), st.text(max_size=3), st.none()),
    "start_where": st.one_of(st.text(max_size=3), st.integers(), st.lists(st.integers())),
    "order": NOT_TEXT.filter(lambda v: v is not None),
    "unit": NOT_TEXT.filter(lambda v: v is not None),
    "method": NOT_TEXT.filter(lambda v: v is not None),
}

CALLS = {
    "funnel": (lab.funnel, {}),
    "funnel_trend": (lab.funnel_trend, {}),
    "dropped_at": (lab.dropped_at, {"step": "claim"}),
    "retention": (lab.retention, {}),
    "redemption_cycle": (lab.redemption_cycle, {}),
    "compare_cycles": (lab.compare_cycles, {"by": "platform"}),
    "campaign_metrics": (lab.campaign_metrics, {}),
    "push_fatigue": (lab.push_fatigue, {}),
    "issuance_timeline": (lab.issuance_timeline, {}),
    "analyze": (analyze, {"experiment": "holdout"}),
    "score_accounts": (lab.score_accounts, {}),
    "evaluate_risk": (lab.evaluate_risk, {}),
    "reconcile": (lab.reconcile, {}),
    "risk_features": (lab.risk_features, {}),
}


def _attackable(func) -> list[str]:
    import inspect

    return [p for p in inspect.signature(func).parameters if p in BAD]


@pytest.mark.parametrize("name", list(CALLS))
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_wrong_arguments_get_a_clear_error(store, name, data):
    func, extra = CALLS[name]
    params = _attackable(func)
    arg = data.draw(st.sampled_from(params), label="argument")
    value = data.draw(BAD[arg], label="value")
    kwargs = {"run": RUN, **extra, arg: value}
    target = kwargs.pop("store", store)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            func(target, **kwargs)
    except (TypeError, ValueError) as exc:
        assert arg in str(exc), f"{name}({arg}={value!r}): {exc}"
        # DuckDB's errors subclass these builtins through its own exception classes
        assert not type(exc).__module__.startswith(("duckdb", "_duckdb")), repr(exc)
    else:
        pytest.fail(f"{name}({arg}={value!r}) raised nothing")


def test_every_public_model_function_is_attacked():
    assert all(_attackable(func) for func, _ in CALLS.values())
    assert {"store", "run"} <= set(_attackable(lab.funnel))


# -- analyze sees in-place changes ------------------------------------------------------
def test_analyze_notices_an_in_place_update_of_its_sources():
    store = lab.Store(":memory:")
    run = simulate("default", store=store, users=600, days=7, pre_days=7, progress=False)
    before = analyze(store, run=run, experiment="holdout", metrics=("gmv",)).to_frame()
    assert experiment_users_status(store, run) == "fresh"
    # same row counts, different amounts: the old check (counts, created_at) missed it
    store.query("UPDATE orders SET amount_fen = amount_fen * 3 WHERE run_id = ?", [run])
    assert experiment_users_status(store, run) == "stale"
    with pytest.warns(RuntimeWarning, match="no longer matches"):
        after = analyze(store, run=run, experiment="holdout", metrics=("gmv",)).to_frame()
    assert after["control_mean"].iloc[0] == pytest.approx(3 * before["control_mean"].iloc[0])
    lab.refresh_experiment_users(store, run)
    assert experiment_users_status(store, run) == "fresh"
    store.query(
        "UPDATE assignments SET arm = 'holdout' WHERE run_id = ? AND user_id = "
        "(SELECT min(user_id) FROM assignments WHERE run_id = ? AND arm = 'treatment')",
        [run, run],
    )
    assert experiment_users_status(store, run) == "stale"
