"""Chart conventions shared by every view: one colour per strategy, unit-aware axes, and
legends outside the plot area.

A session gives each run a colour from :data:`PALETTE` by the run's position in the
session's run list, so a strategy keeps its colour on every tab and when the selection
changes. Axis formatters are Bokeh ``CustomJSTickFormatter`` objects, so they render
in the browser and in saved HTML alike; money axes read ``¥1,200,000`` in English and
``¥120万`` in 中文, shares read ``48 %``; a tick label that would overlap its neighbour is
left out.

Example
-------
>>> colour_of(["a", "b"], "b")
'#E69F00'
>>> yuan_tick_text(1_234_567, "zh")
'¥123.5万'
"""

from __future__ import annotations

from bokeh.models import CustomJSTickFormatter, NoOverlap

#: Okabe-Ito: eight colours told apart with the common colour-vision deficiencies
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
)
#: Legends sit right of the plot, never over the data.
LEGEND = {"legend_position": "right", "legend_opts": {"label_text_font_size": "11px"}}
FONT_SIZES = {"title": "13pt", "labels": "11pt", "xticks": "10pt", "yticks": "10pt"}


def colour_of(run_ids: list[str], run_id: str) -> str:
    """The colour of ``run_id``: its position in the session's ``run_ids``, cycling."""
    index = run_ids.index(run_id) if run_id in run_ids else len(run_ids)
    return PALETTE[index % len(PALETTE)]


def yuan_tick_text(yuan: float, lang: str) -> str:
    """The Python twin of :func:`yuan_formatter` (used in hover text and tested against it)."""
    sign = "−" if yuan < 0 else ""
    value = abs(yuan)
    if lang == "zh" and value >= 10_000:
        wan = value / 10_000
        return f"{sign}¥{wan:,.1f}万".replace(".0万", "万")
    return f"{sign}¥{value:,.0f}"


_YUAN_JS = """
const sign = tick < 0 ? "−" : "";
const value = Math.abs(tick);
if (LANG === "zh" && value >= 10000) {
  let wan = (value / 10000).toLocaleString("en-US", {maximumFractionDigits: 1});
  return sign + "¥" + wan + "万";
}
return sign + "¥" + value.toLocaleString("en-US", {maximumFractionDigits: 0});
"""


def yuan_formatter(lang: str) -> CustomJSTickFormatter:
    """Ticks in yuan with thousands separators (``¥1,200,000``; ``¥120万`` in 中文)."""
    return CustomJSTickFormatter(code=_YUAN_JS.replace("LANG", repr(lang)))


def pct_formatter(*, decimals: int = 0) -> CustomJSTickFormatter:
    """Ticks of a share (0.48) as a percentage (``48 %``)."""
    return CustomJSTickFormatter(
        code=f'return (100 * tick).toFixed({decimals}).replace(/\\.0+$/, "") + " %";'
    )


def count_formatter() -> CustomJSTickFormatter:
    """Counts with thousands separators (``12,000``)."""
    return CustomJSTickFormatter(
        code='return tick.toLocaleString("en-US", {maximumFractionDigits: 0});'
    )


def labels_never_overlap(plot, element) -> None:
    """HoloViews hook: Bokeh leaves out a tick label that would overlap the one before it
    (``¥2,000,000`` on a narrow money axis ran into ``¥4,000,000``).

    Hooks run again on every update of a chart drawn in place: a new policy each time was
    a new model for Bokeh to register and the browser to build, on every filter change."""
    for axis in (*plot.state.xaxis, *plot.state.yaxis):
        if not isinstance(axis.major_label_policy, NoOverlap):
            axis.major_label_policy = NoOverlap()


def groups_named_only(plot, element) -> None:
    """HoloViews hook for bars nested by group, then strategy: the x axis names the groups
    only. Side by side, the strategies' names collided and Bokeh left out all but one
    per group; the colours, keyed above the charts, tell the strategies apart.
    (HoloViews' ``multi_level=False`` hides them too, but colours its bars by position.)"""
    for axis in plot.state.xaxis:
        axis.major_label_text_alpha = 0
        axis.major_label_text_font_size = "1px"  # leaves no empty row for them


def base_opts(*, height: int = 340, hooks: tuple = ()) -> dict:
    """Options of every chart: responsive width, readable fonts, no toolbar clutter, tick
    labels that never overlap; ``hooks``: the chart's own HoloViews hooks besides."""
    return {
        "responsive": True,
        "height": height,
        "fontsize": FONT_SIZES,
        # no toolbar over the title: hover still works, downloads are on their own tab
        "toolbar": None,
        "default_tools": [],
        "hooks": [labels_never_overlap, *hooks],
    }


def share_label(share: float) -> str:
    """A share printed on a bar: ``37.2 %``, ``1.3 %``, ``0.04 %``."""
    pct = 100 * share
    return f"{pct:.2f} %" if 0 < pct < 0.1 else f"{pct:.1f} %"


def thin_steps(df, x: str, ys: list[str], *, max_points: int = 400):
    """At most ``max_points`` rows of a step curve sorted by ``x``: the last row of each
    of ``max_points`` equal ``x`` bins, which keeps the curve's shape (a Kaplan-Meier or
    cumulative-incidence curve of 100,000 coupons has tens of thousands of steps, more
    than the screen has pixels)."""
    if len(df) <= max_points:
        return df
    lo, hi = float(df[x].min()), float(df[x].max())
    bins = ((df[x].astype(float) - lo) / ((hi - lo) or 1.0) * (max_points - 1)).round()
    return df.groupby(bins.to_numpy(), sort=True).tail(1)[[x, *ys]].reset_index(drop=True)


__all__ = [
    "LEGEND",
    "PALETTE",
    "base_opts",
    "colour_of",
    "count_formatter",
    "labels_never_overlap",
    "pct_formatter",
    "share_label",
    "thin_steps",
    "yuan_formatter",
    "yuan_tick_text",
]
