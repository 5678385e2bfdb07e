"""Human names of runs and arms, in the session's language.

A preset's run is called by what the strategy does ("WeChat style", "微信风格"), an
edited strategy by its platform style and size; the run id stays available on hover.
Two runs of one preset (different seeds) get the seed appended.

Example
-------
>>> run_name({"run_id": "default-s0", "label": "default", "origin": "synthetic"}, "zh")
'默认组合'
>>> arm_name("holdout", "en")
'holdout (no coupons)'
>>> experiment_name("denomination", "zh")
'面额拆分'
"""

from __future__ import annotations

import re

from dashboards.i18n import STRINGS, label, t

_EDITED = re.compile(r"^edited_(?P<style>[a-z]+)_[0-9a-f]+_(?P<k>\d+)k$")


def run_name(run: dict, lang: str) -> str:
    """The display name of one ``runs`` row (``run_id``, ``label``, ``origin``)."""
    run_id, name = str(run["run_id"]), run.get("label")
    edited = _EDITED.match(run_id)
    if edited:
        return t(
            "name.edited",
            lang,
            style=label("platform", edited["style"], lang),
            users=t("name.users_k", lang, k=edited["k"]),
        )
    if name and f"preset.{name}" in STRINGS:
        return t(f"preset.{name}", lang)
    return str(name or run_id)


def run_names(runs: list[dict], lang: str) -> dict[str, str]:
    """``{run_id: name}``; names shared by several runs get the seed (or the run id)."""
    names = {str(r["run_id"]): run_name(r, lang) for r in runs}
    counts: dict[str, int] = {}
    for name in names.values():
        counts[name] = counts.get(name, 0) + 1
    out = {}
    for r in runs:
        run_id = str(r["run_id"])
        name = names[run_id]
        if counts[name] > 1:
            seed = r.get("seed")
            suffix = (
                t("name.seed", lang, seed=int(seed))
                if seed == seed and seed is not None
                else run_id
            )
            name = f"{name} · {suffix}"
        out[run_id] = name
    return out


def arm_name(arm: str, lang: str) -> str:
    """An experiment arm's display name (``holdout`` -> ``对照组（不发券）``); others pass through."""
    return label("arm", arm, lang)


def experiment_name(experiment: str, lang: str) -> str:
    """An experiment's display name (``denomination`` -> ``面额拆分``); others pass through."""
    return label("experiment", experiment, lang)
