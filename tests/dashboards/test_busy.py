"""Each page's busy indicator follows its own session's work (dashboards/busy.py)."""

from __future__ import annotations

import panel as pn
import pytest
from bokeh.document import Document
from panel.io.state import set_curdoc

from dashboards import busy


@pytest.fixture
def pages(monkeypatch):
    """Two sessions' documents, each with its page's indicator tracked, and the values
    each indicator was set to."""
    monkeypatch.setattr(busy, "_indicators", busy.weakref.WeakKeyDictionary())
    seen: dict[str, list[bool]] = {}
    docs = {}
    for name in ("working", "reading"):
        doc, spinner = Document(), pn.indicators.LoadingSpinner()
        pn.state.sync_busy(spinner)  # as a template does for its page
        busy.track(doc, spinner)
        seen[name] = []
        spinner.param.watch(lambda event, name=name: seen[name].append(event.new), "value")
        docs[name] = (doc, spinner)
    yield docs, seen
    for doc, spinner in docs.values():
        busy.forget(doc)
        assert spinner not in pn.state._indicators


def _callback_of(doc) -> None:
    """What Panel does around a session's callback: the process's flag on, then off."""
    with set_curdoc(doc):
        pn.state._add_busy_event("event")
        pn.state._remove_busy_event("event")


def test_only_the_working_session_shows_busy(pages):
    docs, seen = pages
    _callback_of(docs["working"][0])
    assert seen == {"working": [True, False], "reading": []}


def test_an_indicator_left_on_is_cleared_when_nothing_runs(pages):
    """The flag goes off outside any session (Panel's cleanup of a lost event)."""
    docs, seen = pages
    with set_curdoc(docs["reading"][0]):
        pn.state._add_busy_event("lost")
    pn.state._remove_busy_event("lost")
    assert seen == {"working": [], "reading": [True, False]}


def test_a_forgotten_page_is_not_told(pages):
    docs, seen = pages
    busy.forget(docs["working"][0])
    _callback_of(docs["working"][0])
    assert seen["working"] == []


def test_work_outside_any_session_shows_on_no_page(pages):
    docs, seen = pages
    with set_curdoc(None):
        pn.state._add_busy_event("outside")
        pn.state._remove_busy_event("outside")
    assert seen == {"working": [], "reading": []}
