"""HTML for the decision: KPI cards, the verdict and the one-page decision memo.

Pure functions of ``lab``'s results (no Panel), so the page and the downloaded memo show
the same text. Every number is formatted through ``lab``'s metric dictionary and carries
``data-metric`` / ``data-run`` / ``data-value`` attributes (browser tests read them) and
its definition as a ``title`` (shown on hover).

Example
-------
>>> cards_html(pd.DataFrame(), None, lang="en")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import numbers

import pandas as pd

import lab
from dashboards.i18n import t

CARD_CSS = """
#verdict {font-size: 16px; line-height: 1.5; padding: 10px 14px; border-left: 5px solid #9a6700;
  background: #fff8c5; margin: 4px 0;}
#verdict[data-status=ship] {border-left-color: #1a7f37; background: #dafbe1;}
#verdict[data-status=blocked], #verdict[data-status=no_decision] {border-left-color: #cf222e;
  background: #ffebe9;}
.lab-cards {display: flex; flex-wrap: wrap; gap: 12px; margin: 4px 0 12px 0;}
.lab-card {border: 1px solid #d0d7de; border-radius: 8px; padding: 10px 14px; min-width: 220px;
  flex: 1 1 220px; background: #fff;}
.lab-card.winner {border: 2px solid #1a7f37; box-shadow: 0 0 0 2px #dafbe1;}
.lab-card h3 {margin: 0 0 6px 0; font-size: 16px;}
.lab-card .badge {background: #1a7f37; color: #fff; border-radius: 10px; padding: 1px 8px;
  font-size: 12px; margin-left: 6px;}
.lab-card dl {margin: 0; display: grid; grid-template-columns: auto; row-gap: 2px;}
.lab-card dt {font-size: 12px; color: #57606a; margin-top: 6px;}
.lab-card dd {margin: 0; font-size: 18px; font-weight: 600;}
.lab-card dd .ci {font-size: 12px; font-weight: 400; color: #57606a; margin-left: 4px;}
.lab-card .missing {font-size: 13px; color: #9a6700; font-weight: 400;}
"""


def raw(value: object) -> str:
    """The exact value for a ``data-value`` attribute (floats round-trip via ``float()``)."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    return str(value)


#: card rows: metric key, value column, interval columns (or None)
CARD_ROWS = (
    ("gmv_per_cost", "gmv_per_cost", ("gmv_per_cost_ci_low", "gmv_per_cost_ci_high")),
    (
        "incremental_orders",
        "incremental_orders",
        ("incremental_orders_ci_low", "incremental_orders_ci_high"),
    ),
    ("incremental_gmv_per_user", "incremental_gmv_per_user_fen", None),
    ("cost", "cost_fen", None),
    ("fraud_share", "fraud_share_flagged", None),
)
_INCREMENTAL = {"gmv_per_cost", "incremental_orders", "incremental_gmv_per_user"}


def value_html(key: str, value: object, run: str, lang: str, *, css: str = "kpi-value") -> str:
    """One number: formatted by the dictionary, raw value and definition as attributes."""
    m = lab.metric(key)
    return (
        f'<span class="{css}" data-metric="{html.escape(key)}" data-run="{html.escape(run)}" '
        f'data-value="{html.escape(raw(value))}" title="{html.escape(m.definition(lang))}">'
        f"{html.escape(m.format(value, lang))}</span>"
    )


def missing_text(reason: str, lang: str) -> str:
    """Why a run has no incremental figure, in words."""
    return t(f"missing.{reason or 'no_holdout'}", lang)


def cards_html(frame: pd.DataFrame, decision, *, lang: str) -> str:
    """One KPI card per strategy (a row of ``frame``), the winner marked."""
    winner = decision.winner if decision is not None else None
    cards = []
    for row in frame.itertuples(index=False):
        row = row._asdict()
        run = str(row["run_id"])
        items = []
        for key, column, interval in CARD_ROWS:
            m = lab.metric(key)
            value = row.get(column, float("nan"))
            if key in _INCREMENTAL and pd.isna(value):
                body = (
                    f'<span class="missing" data-metric="{key}" data-run="{html.escape(run)}">'
                    f"{html.escape(missing_text(row.get('missing_reason', ''), lang))}</span>"
                )
            else:
                body = value_html(key, value, run, lang)
                if interval and not pd.isna(row.get(interval[0], float("nan"))):
                    text = lab.format_interval(
                        key, row[interval[0]], row[interval[1]], lang=lang, fen=m.in_fen
                    )
                    body += f'<span class="ci">{html.escape(text)}</span>'
            items.append(
                f'<dt title="{html.escape(m.definition(lang))}">{html.escape(m.label(lang))}</dt>'
                f"<dd>{body}</dd>"
            )
        is_winner = run == winner
        badge = (
            f'<span class="badge">{html.escape(t("overview.best", lang))}</span>'
            if is_winner
            else ""
        )
        cards.append(
            f'<div class="lab-card{" winner" if is_winner else ""}" data-run="{html.escape(run)}">'
            f"<h3>{html.escape(str(row.get('label') or run))}{badge}</h3><dl>{''.join(items)}</dl></div>"
        )
    return f'<div class="lab-cards" id="kpi-cards">{"".join(cards)}</div>'


def verdict_html(decision, *, lang: str) -> str:
    """The verdict sentence of a ``lab.Decision`` with its status as an attribute."""
    if decision is None:
        return ""
    return (
        f'<p id="verdict" data-status="{decision.status}" data-winner="{html.escape(str(decision.winner))}">'
        f"{html.escape(decision.sentence(lang))}</p>"
    )


MEMO_CSS = """
body {font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Helvetica Neue", Arial, sans-serif;
  max-width: 960px; margin: 24px auto; color: #1f2328; font-size: 14px;}
h1 {font-size: 22px; margin-bottom: 4px;} h2 {font-size: 16px; margin-top: 20px;}
.meta {color: #57606a; font-size: 12px;}
#verdict {font-size: 16px; padding: 10px 14px; border-left: 4px solid #1a7f37; background: #f6f8fa;}
img {max-width: 100%;}
table.lab-kpi {border-collapse: collapse; font-size: 12px; width: 100%;}
table.lab-kpi th, table.lab-kpi td {border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: right;}
table.lab-kpi th[scope=row], table.lab-kpi thead th:first-child {text-align: left;}
@media print {body {margin: 0; max-width: none;} .lab-card {break-inside: avoid;}
  @page {size: A4; margin: 12mm;}}
"""


def memo_html(
    *,
    lang: str,
    decision,
    cards: str,
    table: str,
    charts: list[tuple[str, bytes]],
    strategies: list[str],
) -> str:
    """A one-page, self-contained, printable decision memo (no external resources)."""
    figures = "".join(
        f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}"><figcaption>{html.escape(title)}</figcaption></figure>'
        for title, png in charts
    )
    today = dt.date.today().isoformat()
    return f"""<!DOCTYPE html>
<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">
<title>{html.escape(t("memo.title", lang))}</title>
<style>{MEMO_CSS}{CARD_CSS}</style></head><body>
<h1>{html.escape(t("memo.title", lang))}</h1>
<p class="meta">{html.escape(t("memo.meta", lang, date=today, strategies=", ".join(strategies)))}</p>
<h2>{html.escape(t("memo.verdict", lang))}</h2>
{verdict_html(decision, lang=lang)}
<h2>{html.escape(t("memo.cards", lang))}</h2>
{cards}
<h2>{html.escape(t("memo.charts", lang))}</h2>
{figures}
<h2>{html.escape(t("memo.details", lang))}</h2>
{table}
<h2>{html.escape(t("memo.method", lang))}</h2>
<p>{html.escape(t("memo.method_text", lang))}</p>
</body></html>
"""
