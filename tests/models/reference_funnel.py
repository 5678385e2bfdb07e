"""Small generated logs that follow lab/schema.py, and a plain-Python funnel reference.

The reference walks each unit's events one by one, exactly as the rules in
``lab/funnel/_funnel.py`` read, with no SQL: the models must agree with it count for
count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lab import schema

BASE = pd.Timestamp("2026-03-23")  # a Monday, a week before a month boundary
SLOT = pd.Timedelta(hours=6)  # coarse time grid: many equal timestamps
OFFER_COLUMNS = {
    "delivery": "delivered_at",
    "exposure": "exposed_at",
    "rule_view": "rule_viewed_at",
    "share": "shared_at",
    "claim": "claimed_at",
    "redeem": "redeemed_at",
    "expire": "expired_at",
}
MISSING = "(none)"
WEEK = pd.Timedelta(days=7)
OTHER = "other"
EDGES_S = (
    0,
    60,
    300,
    900,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    2 * 86400,
    3 * 86400,
    7 * 86400,
    14 * 86400,
    30 * 86400,
)


def make_logs(
    seed: int,
    *,
    n_users: int,
    n_offers: int,
    n_extra: int,
    n_orders: int,
    slots: int = 40,
    p_step: float = 0.6,
    p_repeat: float = 0.0,
    p_null: float = 0.0,
) -> dict[str, pd.DataFrame]:
    """Users, stocks, offers, events and orders; rows are shuffled (not in time order).

    Step times of an offer are drawn independently, so lifecycles may run backwards
    (a claim before the exposure); ``event_id`` is a random permutation, so ties in
    ``ts`` are broken in an order unrelated to insertion.

    ``p_repeat``: each offer event is logged a second time, at another random slot,
    with this probability (a rule view before and after the exposure); the offers
    table then holds each step's first occurrence, as an export of such a log would.
    ``p_null``: each event's ``stock_id``, ``platform`` and ``entry`` are NULL with
    this probability (imported logs often lack them).
    """
    rng = np.random.default_rng(seed)
    n_offers = n_offers if n_users else 0
    n_extra = n_extra if n_users else 0
    n_orders = n_orders if n_users else 0
    users = pd.DataFrame(
        {
            "user_id": np.arange(1, n_users + 1, dtype="int64"),
            "segment": rng.choice(schema.SEGMENTS, n_users),
            "credit_tier": rng.integers(1, 6, n_users),
            "primary_platform": rng.choice(schema.PLATFORMS, n_users),
        }
    )
    stock_entries = [
        ("wechat", "pay_page"),
        ("wechat", "card_wallet"),
        ("alipay", "pay_page"),
        ("meituan", "app_push"),
    ]
    stocks = pd.DataFrame(
        {
            "stock_id": np.arange(1, 5, dtype="int64"),
            "platform": [p for p, _ in stock_entries],
            "entry": [e for _, e in stock_entries],
            "stock_type": ["threshold", "discount", "threshold", "random"],
            "arm": ["control", "treatment", None, "treatment"],
        }
    )

    def times(n, p):
        t = BASE + SLOT * rng.integers(0, slots, n)
        return pd.Series(t).where(rng.random(n) < p).astype("datetime64[us]")

    offers = pd.DataFrame(
        {
            "offer_id": np.arange(1, n_offers + 1, dtype="int64"),
            "user_id": rng.integers(1, n_users + 1, n_offers) if n_users else np.array([], "int64"),
            "stock_id": rng.integers(1, 5, n_offers),
        }
    )
    for step, col in OFFER_COLUMNS.items():
        offers[col] = times(n_offers, 1.0 if step == "delivery" else p_step)
    offers = offers.merge(stocks[["stock_id", "platform", "entry"]], on="stock_id", how="left")

    parts = []
    for step, col in OFFER_COLUMNS.items():
        o = offers[offers[col].notna()]
        parts.append(
            pd.DataFrame(
                {
                    "ts": o[col],
                    "user_id": o["user_id"],
                    "event_type": step,
                    "stock_id": o["stock_id"],
                    "offer_id": o["offer_id"],
                }
            )
        )
    extra = pd.DataFrame(
        {
            "ts": times(n_extra, 1.0),
            "user_id": rng.integers(1, n_users + 1, n_extra) if n_users else np.array([], "int64"),
            "event_type": rng.choice(schema.EVENT_TYPES, n_extra),
            "stock_id": rng.integers(1, 5, n_extra),
            "offer_id": pd.array([None] * n_extra, dtype="Int64"),
        }
    )
    offer_events = pd.concat(parts, ignore_index=True)
    if p_repeat and len(offer_events):
        again = offer_events[rng.random(len(offer_events)) < p_repeat].copy()
        moved = pd.DatetimeIndex(BASE + SLOT * rng.integers(0, slots, len(again)))
        again["ts"] = moved.astype("datetime64[us]").to_numpy()
        offer_events = pd.concat([offer_events, again], ignore_index=True)
        first = offer_events.groupby(["offer_id", "event_type"])["ts"].min().unstack()
        for step, col in OFFER_COLUMNS.items():
            at = first[step] if step in first else pd.Series(dtype="datetime64[us]")
            at = at.reindex(offers["offer_id"].to_numpy())
            offers[col] = at.astype("datetime64[us]").to_numpy()
    events = pd.concat([offer_events, extra], ignore_index=True)
    events["offer_id"] = events["offer_id"].astype("Int64")
    events = events.merge(stocks[["stock_id", "platform", "entry"]], on="stock_id", how="left")
    if p_null:
        blank = rng.random(len(events)) < p_null
        events["stock_id"] = events["stock_id"].astype("Int64").mask(blank)
        events["platform"] = events["platform"].mask(blank, None)
        events["entry"] = events["entry"].mask(blank, None)
    events["event_id"] = rng.permutation(len(events)).astype("int64") + 1
    events = events.sample(frac=1, random_state=seed % 2**32).reset_index(drop=True)
    offers = offers.sample(frac=1, random_state=seed % 2**32).reset_index(drop=True)

    orders = pd.DataFrame(
        {
            "order_id": rng.permutation(n_orders).astype("int64") + 1,
            "user_id": rng.integers(1, n_users + 1, n_orders) if n_users else np.array([], "int64"),
            "ts": (BASE + SLOT * rng.integers(0, slots, n_orders)).astype("datetime64[us]"),
            "amount_fen": rng.integers(1000, 9000, n_orders),
            "discount_fen": 0,
        }
    )
    return {"users": users, "stocks": stocks, "offers": offers, "events": events, "orders": orders}


def write_logs(store, run: str, logs: dict[str, pd.DataFrame], **run_kwargs) -> None:
    store.create_run(run, origin="import", **run_kwargs)
    with store.transaction():
        for name, df in logs.items():
            if len(df):
                store.write(name, df, run_id=run)


def _label(value) -> str:
    return MISSING if value is None or pd.isna(value) else str(value)


def _collapse(recs: list[dict]) -> list[dict]:
    out = []
    for r in recs:
        if not out or out[-1]["event_type"] != r["event_type"]:
            out.append(r)
    return out


def reference_entities(
    logs,
    *,
    steps,
    order="ordered",
    window=WEEK,
    unit="offer",
    start=None,
    end=None,
    by=(),
    entry="first",
) -> pd.DataFrame:
    """One row per unit that reached the first step: unit_id, user_id, by..., t0..t{n-1}.

    ``by`` is a sequence of ``(name, table, column)``. ``entry="any"`` walks the steps
    from every first-step event and keeps the one that gets furthest (ties: earliest).
    """
    ev = logs["events"].copy()
    if start is not None:
        ev = ev[ev["ts"] >= pd.Timestamp(start)]
    if end is not None:
        ev = ev[ev["ts"] < pd.Timestamp(end)]
    if unit == "offer":
        ev = ev[ev["offer_id"].notna()]
    key = "offer_id" if unit == "offer" else "user_id"
    ev = ev.sort_values(["ts", "event_id"])
    users = logs["users"].set_index("user_id")
    stocks = logs["stocks"].set_index("stock_id")
    rows = []
    for uid, g in ev.groupby(key, sort=True):
        recs = g.to_dict("records")
        if order == "ordered":
            recs = [r for r in recs if r["event_type"] in steps]
            entries = [r for r in recs if r["event_type"] == steps[0]]

            def walk(anchor, recs=recs):
                t = [anchor["ts"]]
                for s in steps[1:]:
                    cands = [
                        r["ts"]
                        for r in recs
                        if r["event_type"] == s
                        and r["ts"] >= t[-1]
                        and (window is None or r["ts"] <= t[0] + window)
                    ]
                    if not cands:
                        break
                    t.append(min(cands))
                return t
        else:
            seq = _collapse(recs)
            entries = [(i, r) for i, r in enumerate(seq) if r["event_type"] == steps[0]]

            def walk(entry, seq=seq):
                pos, anchor = entry
                t = [anchor["ts"]]
                for k, s in enumerate(steps[1:], 1):
                    if (
                        pos + k < len(seq)
                        and seq[pos + k]["event_type"] == s
                        and (window is None or seq[pos + k]["ts"] <= t[0] + window)
                    ):
                        t.append(seq[pos + k]["ts"])
                    else:
                        break
                return t

        if not entries:
            continue
        # entries are in (ts, event_id) order: max() keeps the first of equal lengths
        walks = [(walk(e), e) for e in (entries if entry == "any" else entries[:1])]
        t, chosen = max(walks, key=lambda w: len(w[0]))
        anchor = chosen if order == "ordered" else chosen[1]
        row = {"unit_id": int(uid), "user_id": int(anchor["user_id"])}
        for name, table, col in by:
            if table == "users":
                v = users[col].get(anchor["user_id"])
            elif table == "stocks":
                v = stocks[col].get(anchor["stock_id"])
            else:
                v = anchor[col]
            row[name] = _label(v)
        for i in range(len(steps)):
            row[f"t{i}"] = t[i] if i < len(t) else pd.NaT
        rows.append(row)
    cols = ["unit_id", "user_id", *[n for n, _, _ in by], *[f"t{i}" for i in range(len(steps))]]
    out = pd.DataFrame(rows, columns=cols)
    for i in range(len(steps)):
        out[f"t{i}"] = pd.to_datetime(out[f"t{i}"]).astype("datetime64[us]")
    return out


def label_top(ent: pd.DataFrame, keys: list[str], top_n) -> pd.DataFrame:
    """Keep the top_n groups by starting count (ties by value), the rest as 'other'."""
    if not keys or top_n is None or ent.empty:
        return ent
    sizes = ent.groupby(keys).size().reset_index(name="n")
    sizes = sizes.sort_values(["n", *keys], ascending=[False] + [True] * len(keys))
    top = set(map(tuple, sizes[keys].head(top_n).to_numpy().tolist()))
    ent = ent.copy()
    keep = [tuple(r) in top for r in ent[keys].to_numpy().tolist()]
    for k in keys:
        ent[k] = ent[k].where(keep, OTHER)
    return ent


def reference_funnel(ent: pd.DataFrame, *, steps, keys: list[str], top_n=10):
    """(table, time_to_convert, histogram counts) computed from reference entities."""
    ent = label_top(ent, keys, top_n)
    n = len(steps)
    groups = ent.groupby(keys, sort=True) if keys else [((), ent)]
    rows, ttc, hist = [], [], []
    for g, d in groups:
        g = g if isinstance(g, tuple) else (g,)
        gd = dict(zip(keys, g, strict=True))
        counts = [int(d[f"t{i}"].notna().sum()) for i in range(n)]
        for i, step in enumerate(steps):
            prev = counts[i - 1] if i else counts[i]
            rows.append(
                {
                    **gd,
                    "step_index": i,
                    "step": step,
                    "count": counts[i],
                    "conversion_from_start": counts[i] / counts[0] if counts[0] else np.nan,
                    "conversion_from_previous": counts[i] / prev if prev else np.nan,
                    "dropoff": prev - counts[i],
                }
            )
        conv = d[d[f"t{n - 1}"].notna()]
        dur_us = ((conv[f"t{n - 1}"] - conv["t0"]) // pd.Timedelta(microseconds=1)).astype(
            "float64"
        )
        q = dur_us.quantile([0.25, 0.5, 0.75, 0.9]).to_numpy() if len(dur_us) else [np.nan] * 4
        ttc.append({**gd, "converted": len(conv), "q_us": list(q)})
        bins = np.searchsorted(np.array(EDGES_S) * 1e6, dur_us.to_numpy(), side="right") - 1
        hist.append({**gd, "counts": np.bincount(bins, minlength=len(EDGES_S)).tolist()})
    return pd.DataFrame(rows), ttc, hist


def week_start(ts: pd.Series) -> pd.Series:
    day = ts.dt.normalize()
    return day - pd.to_timedelta(day.dt.weekday, unit="D")


def vectorized_offer_counts(events: pd.DataFrame, *, steps, window) -> list[int]:
    """Ordered offer funnel counts in vectorised pandas (for logs too big to loop over)."""
    ev = events[events["offer_id"].notna() & events["event_type"].isin(steps)]
    first = ev.groupby(["offer_id", "event_type"])["ts"].min().unstack()
    first = first.reindex(columns=list(steps))
    t0 = first[steps[0]]
    reached, prev = [t0.notna()], t0
    for s in steps[1:]:
        ok = reached[-1] & (first[s] >= prev)
        if window is not None:
            ok &= first[s] <= t0 + window
        prev = first[s].where(ok)
        reached.append(ok)
    return [int(r.sum()) for r in reached]


def window_funnel_levels(logs, *, steps, window, unit="offer") -> dict[int, int]:
    """Furthest step reached per unit (1 = first step only), ClickHouse ``windowFunnel``
    style: a single pass over the unit's events sorted by time (ties: the earlier
    step first), remembering for each step the start of the latest chain that
    reached it. A first-step event starts a chain; a step-k event extends the chain
    that reached step k-1 if it is no later than that chain's start + ``window``.
    Units without a first-step event are absent.
    """
    ev = logs["events"]
    if unit == "offer":
        ev = ev[ev["offer_id"].notna()]
    ev = ev[ev["event_type"].isin(steps)]
    key = "offer_id" if unit == "offer" else "user_id"
    index = {s: i for i, s in enumerate(steps)}
    levels = {}
    for uid, g in ev.groupby(key):
        pairs = sorted(zip(g["ts"], g["event_type"].map(index), strict=True))
        starts = [None] * len(steps)
        for ts, k in pairs:
            if k == 0:
                starts[0] = ts
            elif starts[k - 1] is not None and (window is None or ts <= starts[k - 1] + window):
                starts[k] = starts[k - 1]
        reached = [k for k, s in enumerate(starts) if s is not None]
        if reached:
            levels[int(uid)] = max(reached) + 1
    return levels
