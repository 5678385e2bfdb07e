"""Scorecards: the lab's estimators scored against the simulated world's truth.

Each section is a function ``(*, quick, seed, progress) -> dict`` registered in
:data:`SECTIONS`; :func:`run_scorecard` runs the chosen ones.

Example
-------
>>> from lab.scorecard import run_scorecard
>>> figures = run_scorecard(sections=("experiments",), quick=True, progress=False)  # doctest: +SKIP
>>> figures["experiments"]["checks"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from lab.scorecard._experiments import experiments_scorecard
from lab.scorecard._targeting import targeting_scorecard

__all__ = ["SECTIONS", "experiments_scorecard", "run_scorecard", "targeting_scorecard"]

#: Section name -> scorecard function, each ``f(*, quick, seed, progress) -> dict``.
SECTIONS: dict[str, Callable[..., dict]] = {
    "experiments": experiments_scorecard,
    "targeting": targeting_scorecard,
}


def run_scorecard(
    *,
    sections: Sequence[str] = tuple(SECTIONS),
    quick: bool = False,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Run scorecard ``sections`` and return ``{section: figures}``.

    Parameters
    ----------
    sections : sequence of str
        Names in :data:`SECTIONS`.
    quick : bool
        Small worlds and few replicates (seconds instead of minutes).
    seed : int
        Seed of the simulated worlds and re-randomisations.
    progress : bool
        Show progress bars and print each section's figures as JSON.

    Returns
    -------
    dict
    """
    if isinstance(sections, str):
        sections = (sections,)
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown or not sections:
        raise ValueError(f"sections must name some of {tuple(SECTIONS)}, got {tuple(sections)!r}")
    out = {}
    for name in sections:
        out[name] = SECTIONS[name](quick=quick, seed=seed, progress=progress)
        if progress:
            print(f"== scorecard: {name} ==")
            print(json.dumps(out[name], indent=2, default=float))
    return out
