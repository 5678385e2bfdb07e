"""When a worker process may build hidden tabs ahead (dashboards/idle.py)."""

from __future__ import annotations

import pytest

from dashboards import idle


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(idle, "_live", set())
    monkeypatch.setattr(idle, "_last_work", 0.0)


def test_a_process_no_user_asked_anything_of_may_build_ahead(fresh):
    assert idle.may_build_ahead()


def test_a_request_holds_building_ahead_for_idle_seconds(fresh, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(idle.time, "monotonic", lambda: clock[0])
    idle.worked()
    clock[0] += idle.IDLE_S * 0.9
    assert not idle.may_build_ahead()
    clock[0] += idle.IDLE_S * 0.2
    assert idle.may_build_ahead()


def test_more_live_sessions_than_the_limit_stop_building_ahead(fresh):
    sessions = [object() for _ in range(idle.MAX_SESSIONS + 1)]
    for session in sessions[:-1]:
        idle.opened(session)
    assert idle.may_build_ahead()
    idle.opened(sessions[-1])
    assert not idle.may_build_ahead()
    idle.closed(sessions[0])
    assert idle.may_build_ahead()
