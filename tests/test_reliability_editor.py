"""The strategy editor's bounds (issue 19, point 6): every edit is accepted or refused
with a ValueError whose message the page shows; nothing overflows or runs for long."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboards.store import MAX_RUNGS, MAX_YUAN, StrategyEdit, parse_ladder


@pytest.mark.parametrize(
    "text,message",
    [
        ("100:" + "9" * 400, "amounts go up to"),
        ("1" + "0" * 20 + ":5", "amounts go up to"),
        (", ".join(["100:20"] * 3000), f"at most {MAX_RUNGS} rungs; got 3000"),
        ("100:-5", "cannot read"),
    ],
)
def test_an_impossible_ladder_is_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_ladder(text)


@given(st.text(alphabet="0123456789.:/, ，e-", max_size=60))
def test_any_ladder_text_is_read_or_refused(text):
    try:
        rungs = parse_ladder(text)
    except ValueError:
        return
    assert len(rungs) <= MAX_RUNGS
    assert all(0 < amount <= MAX_YUAN * 100 for _, amount in rungs)


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"lbs_radius_km": -5.0}, "lbs_radius_km must be a distance above 0"),
        ({"lbs_radius_km": math.nan}, "lbs_radius_km must be a distance above 0"),
        ({"lbs_radius_km": 1e9}, "lbs_radius_km must be a distance above 0"),
        ({"budget_yuan": -1}, "budget_yuan must be a whole number"),
        ({"budget_yuan": 10**20}, "budget_yuan must be a whole number"),
        ({"ladder": ((10**22, 500),)}, "outside 0 to"),
        ({"ladder": ((10000, 2000),) * 100}, f"at most {MAX_RUNGS} rungs"),
    ],
)
def test_an_impossible_edit_is_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        StrategyEdit(**fields)


def test_edits_inside_the_bounds_are_accepted():
    edit = StrategyEdit(lbs_radius_km=3.0, budget_yuan=50_000, ladder=parse_ladder("300:50"))
    assert edit.strategy().campaigns
