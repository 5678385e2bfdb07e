"""Building hidden tabs ahead while the process is idle (dashboards/idle.py)."""

from __future__ import annotations

import pytest
from doubles import NextTickDoc

from dashboards import idle


@pytest.fixture
def clock(monkeypatch):
    """A fresh scheduler with a clock the test moves (``clock[0]`` seconds)."""
    now = [100.0]
    monkeypatch.setattr(idle.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(idle, "_live", set())
    monkeypatch.setattr(idle, "_waiting", {})
    monkeypatch.setattr(idle, "_last_work", 0.0)
    monkeypatch.setattr(idle, "_timer", None)
    yield now
    if idle._timer is not None:
        idle._timer.stop()


def test_a_request_holds_building_ahead_for_idle_seconds(clock):
    idle.worked()
    clock[0] += idle.IDLE_S * 0.9
    assert not idle.may_build_ahead()
    clock[0] += idle.IDLE_S * 0.2
    assert idle.may_build_ahead()


def test_more_live_sessions_than_the_limit_stop_building_ahead(clock):
    sessions = [object() for _ in range(idle.MAX_SESSIONS + 1)]
    for session in sessions[:-1]:
        idle.opened(session)
    assert idle.may_build_ahead()
    idle.opened(sessions[-1])
    assert not idle.may_build_ahead()
    idle.closed(sessions[0])
    assert idle.may_build_ahead()


def test_steps_run_one_at_a_time_in_the_sessions_lock_while_idle(clock):
    doc, steps = NextTickDoc(), []
    idle.build_ahead(doc, lambda: steps.append(len(steps)) or len(steps) < 2)
    idle._tick()  # idle: one step scheduled in the document's lock
    idle._tick()  # no second one before it ran
    assert len(doc.callbacks) == 1 and steps == []
    doc.run()
    assert steps == [0]
    idle._tick()  # a step counts as work: the next waits IDLE_S
    assert doc.callbacks == []
    clock[0] += idle.IDLE_S * 1.01
    idle.worked()  # a user asks for something: still waiting
    idle._tick()
    assert doc.callbacks == []
    clock[0] += idle.IDLE_S * 1.01
    idle._tick()
    doc.run()
    assert steps == [0, 1]  # the step said it was done
    clock[0] += idle.IDLE_S * 1.01
    idle._tick()
    assert doc.callbacks == [] and not idle._waiting


def test_a_closed_session_is_forgotten(clock):
    doc = NextTickDoc()
    idle.opened(doc)
    idle.build_ahead(doc, lambda: True)
    idle.closed(doc)
    idle._tick()
    assert doc.callbacks == [] and not idle._live
