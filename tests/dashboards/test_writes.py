"""Telling sessions that another process writes the database (dashboards/writes.py)."""

from __future__ import annotations

import pytest
from doubles import NextTickDoc

from dashboards import writes


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(writes, "_sessions", {})
    monkeypatch.setattr(writes, "_timer", None)
    yield
    if writes._timer is not None:
        writes._timer.stop()


def test_only_a_session_whose_answer_changed_is_updated_in_its_lock(fresh):
    quiet, told = NextTickDoc(), NextTickDoc()
    writer = {"quiet": None, "told": None}
    seen = {"quiet": None, "told": None}
    updates = []
    for name, doc in (("quiet", quiet), ("told", told)):
        writes.watch(
            doc,
            lambda name=name: writer[name] != seen[name],
            lambda name=name: updates.append(name) or seen.update({name: writer[name]}),
        )
    writes._tick()
    assert quiet.callbacks == told.callbacks == []  # nothing changed: no message at all
    writer["told"] = "PID 42"
    writes._tick()
    assert quiet.callbacks == [] and len(told.callbacks) == 1
    assert updates == []  # not outside the document's lock
    told.run()
    assert updates == ["told"]
    writes._tick()
    assert told.callbacks == []  # told once


def test_the_timer_runs_while_a_session_is_watched(fresh):
    doc = NextTickDoc()
    writes.watch(doc, lambda: False, lambda: None)
    assert writes.watched() == 1 and writes._timer.is_running()
    writes.forget(doc)
    writes.forget(doc)  # a session both closed and destroyed is forgotten twice
    assert writes.watched() == 0 and not writes._timer.is_running()
