"""Plain pandas/numpy references for lab.cycle and lab.metrics, and small log generators.

The references follow the documented definitions row by row, without SQL and without
statsmodels, so a test comparing them with the models checks the SQL, the joins and
the library calls at once.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from hypothesis import strategies as st

START = pd.Timestamp("2026-01-01")
DAYS = 10
STOCKS = pd.DataFrame(
    {
        "stock_id": [1, 2],
        "stock_type": ["threshold", "no_threshold"],
        "campaign": ["a", "b"],
        "platform": ["wechat", "meituan"],
        "entry": ["pay_page", "app_push"],
    }
)
ISSUED = ("issued", "compensated")


def load(store, run: str, log: dict[str, pd.DataFrame], *, start=START, days=DAYS) -> str:
    """Write a generated log as run ``run`` (window ``[start, start + days)``)."""
    store.create_run(run, origin="import", start_date=start.date(), days=days)
    for table, frame in log.items():
        if not frame.empty:
            store.write(table, frame, run_id=run)
    return run


# -- generators ----------------------------------------------------------------------


@st.composite
def coupon_logs(draw, *, max_users: int = 5, max_coupons: int = 10) -> dict[str, pd.DataFrame]:
    """A small log: users, stocks, offers, coupons and orders, with ties and censoring.

    Times are on a half-day grid so ties are common; validity, redemption delay and
    the window end all land on that grid too.
    """
    n_users = draw(st.integers(1, max_users))
    users = pd.DataFrame(
        {
            "user_id": np.arange(1, n_users + 1),
            "segment": [draw(st.sampled_from(["new", "active"])) for _ in range(n_users)],
        }
    )
    half = pd.Timedelta(hours=12)
    end = START + pd.Timedelta(days=DAYS)
    offers, coupons, orders = [], [], []
    for i in range(draw(st.integers(0, max_coupons))):
        user = draw(st.integers(1, n_users))
        stock = draw(st.sampled_from([1, 2]))
        platform, entry = STOCKS.loc[stock - 1, ["platform", "entry"]]
        claimed = START + draw(st.integers(0, 2 * DAYS - 1)) * half
        exposed = draw(st.booleans())
        offers.append(
            {
                "offer_id": i + 1,
                "user_id": user,
                "stock_id": stock,
                "platform": platform,
                "entry": entry,
                "delivered_at": claimed,
                "exposed_at": claimed if exposed else None,
            }
        )
        if not draw(st.booleans()):
            continue  # an offer without a claim
        status = draw(st.sampled_from(["issued", "issued", "compensated", "refused"]))
        issued = {
            "issued": draw(st.sampled_from([claimed, None])),
            "compensated": claimed + half,
            "refused": None,
        }[status]
        t0 = claimed if issued is None else issued
        valid_until = t0 + draw(st.integers(1, 14)) * half
        delay = draw(st.one_of(st.none(), st.integers(0, 14)))
        redeemed = (
            t0 + delay * half
            if status != "refused" and delay is not None and t0 + delay * half <= valid_until
            else None
        )
        order_id, discount = None, None
        if redeemed is not None:
            order_id = 1000 + i
            amount = draw(st.integers(0, 20_000))
            discount = draw(st.integers(0, amount))
            orders.append(
                {
                    "order_id": order_id,
                    "user_id": user,
                    "ts": redeemed,
                    "amount_fen": amount,
                    "discount_fen": discount,
                    "coupon_id": i + 1,
                }
            )
        expired = (
            valid_until
            if status != "refused"
            and redeemed is None
            and valid_until <= end
            and draw(st.booleans())  # some logs leave expired_at empty
            else None
        )
        coupons.append(
            {
                "coupon_id": i + 1,
                "stock_id": stock,
                "user_id": user,
                "offer_id": i + 1,
                "platform": platform,
                "entry": entry,
                "claimed_at": claimed,
                "status": status,
                "issued_at": issued,
                "valid_until": valid_until,
                "redeemed_at": redeemed,
                "order_id": order_id,
                "discount_fen": discount,
                "expired_at": expired,
            }
        )
    for j in range(draw(st.integers(0, 3))):
        orders.append(
            {
                "order_id": 5000 + j,
                "user_id": draw(st.integers(1, n_users)),
                "ts": START + draw(st.integers(-2, 2 * DAYS + 1)) * half,
                "amount_fen": draw(st.integers(0, 9_000)),
                "discount_fen": 0,
                "coupon_id": None,
            }
        )
    return {
        "users": users,
        "stocks": STOCKS,
        "offers": _frame(
            offers,
            ["offer_id", "user_id", "stock_id", "platform", "entry", "delivered_at", "exposed_at"],
        ),
        "coupons": _frame(
            coupons,
            [
                "coupon_id",
                "stock_id",
                "user_id",
                "offer_id",
                "platform",
                "entry",
                "claimed_at",
                "status",
                "issued_at",
                "valid_until",
                "redeemed_at",
                "order_id",
                "discount_fen",
                "expired_at",
            ],
        ),
        "orders": _frame(
            orders, ["order_id", "user_id", "ts", "amount_fen", "discount_fen", "coupon_id"]
        ),
    }


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    for col in columns:
        if col.endswith("_at") or col == "ts":
            frame[col] = pd.to_datetime(frame[col])
        elif col.endswith(("_id", "_fen")):
            frame[col] = frame[col].astype("Int64")  # nullable: unused coupons have no order
    return frame


def holdout_log(rng: np.random.Generator, *, users: int, lift_fen: float) -> dict:
    """Users split 30/70 into holdout/treatment; treatment users spend ``lift_fen`` more."""
    arm = np.where(rng.random(users) < 0.3, "holdout", "treatment")
    orders = []
    for user in range(users):
        n = rng.poisson(2.0)
        for k in range(n):
            amount = int(rng.gamma(2.0, 2_000.0)) + (
                int(lift_fen) if arm[user] == "treatment" else 0
            )
            discount = int(rng.integers(0, 500)) if arm[user] == "treatment" else 0
            day = rng.uniform(-3, DAYS + 1)  # some orders fall outside the period
            orders.append(
                {
                    "order_id": user * 100 + k,
                    "user_id": user,
                    "amount_fen": amount,
                    "discount_fen": discount,
                    "ts": START + pd.Timedelta(days=day),
                }
            )
    return {
        "assignments": pd.DataFrame(
            {"experiment": "holdout", "user_id": np.arange(users), "arm": arm}
        ),
        "orders": _frame(orders, ["order_id", "user_id", "amount_fen", "discount_fen", "ts"]),
    }


# -- cycle references ----------------------------------------------------------------


def reference_data_end(log: dict, *, start=START, days=DAYS) -> pd.Timestamp:
    """Latest order, redemption or run-window end (the generated logs have no events)."""
    candidates = [start + pd.Timedelta(days=days)]
    candidates += list(log["orders"]["ts"].dropna()) + list(log["coupons"]["redeemed_at"].dropna())
    return max(candidates)


def reference_durations(coupons: pd.DataFrame, data_end: pd.Timestamp) -> pd.DataFrame:
    """One row per issued coupon: duration_days, redeemed flag, outcome, platform."""
    rows = []
    for c in coupons.itertuples(index=False):
        if c.status not in ISSUED:
            continue
        t0 = c.claimed_at if pd.isna(c.issued_at) else c.issued_at
        expiry = c.valid_until if pd.isna(c.expired_at) else c.expired_at
        if not pd.isna(c.redeemed_at):
            stop, outcome = c.redeemed_at, "redeemed"
        elif expiry <= data_end:
            stop, outcome = expiry, "expired"
        else:
            stop, outcome = data_end, "open"
        days = max((stop - t0).total_seconds() / 86_400, 0.0)
        rows.append(
            {
                "platform": c.platform,
                "duration_days": days,
                "redeemed": outcome == "redeemed",
                "outcome": outcome,
            }
        )
    return pd.DataFrame(rows, columns=["platform", "duration_days", "redeemed", "outcome"])


def manual_km(time, event) -> pd.DataFrame:
    """Kaplan-Meier by the product-limit definition, with Greenwood's variance.

    At a time with both events and censorings the events come first (the censored
    are still at risk), as in every textbook.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    rows, surv, greenwood = [], 1.0, 0.0
    for t in sorted(set(time[event])):
        at_risk = int(np.sum(time >= t))
        d = int(np.sum((time == t) & event))
        surv *= 1 - d / at_risk
        greenwood += d / (at_risk * (at_risk - d)) if at_risk > d else np.nan
        rows.append(
            {
                "time": t,
                "at_risk": at_risk,
                "events": d,
                "surv": surv,
                "se": surv * np.sqrt(greenwood) if surv > 0 else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=["time", "at_risk", "events", "surv", "se"])


def manual_restricted_mean(km: pd.DataFrame, horizon: float) -> float:
    """Integral of the step survival curve from 0 to ``horizon``."""
    area, last_t, last_s = 0.0, 0.0, 1.0
    for t, s in zip(km["time"], km["surv"], strict=True):
        if t >= horizon:
            break
        area += last_s * (t - last_t)
        last_t, last_s = t, s
    return area + last_s * (horizon - last_t)


def manual_median(km: pd.DataFrame) -> float:
    """First event time at which S(t) <= 0.5 (lifelines, R's survival), NaN if none."""
    below = km[km["surv"] <= 0.5 + 1e-12]
    return float(below["time"].iloc[0]) if not below.empty else np.nan


# -- metrics references --------------------------------------------------------------

METRIC_COLUMNS = (
    "exposed_users",
    "claimers",
    "issued",
    "redeemed",
    "redeemed_amount_fen",
    "cost_fen",
    "claim_conversion",
    "redemption_conversion",
    "aov_fen",
    "roi",
)


def reference_metrics(log: dict, by: str | None) -> pd.DataFrame:
    """The seed's metrics per ``by`` column of the offer/coupon (or for the run)."""
    offers, coupons, orders = log["offers"], log["coupons"], log["orders"]
    coupons = coupons[coupons["status"].isin(ISSUED)].merge(
        orders[["order_id", "amount_fen"]], on="order_id", how="left"
    )
    exposed = offers[offers["exposed_at"].notna()]
    keys = sorted(set(exposed[by]) | set(coupons[by])) if by else [None]
    rows = []
    for key in keys:
        e = exposed if by is None else exposed[exposed[by] == key]
        c = coupons if by is None else coupons[coupons[by] == key]
        r = c[c["redeemed_at"].notna()]
        amount, cost = int(r["amount_fen"].sum()), int(r["discount_fen"].sum())
        row = {
            "exposed_users": e["user_id"].nunique(),
            "claimers": c["user_id"].nunique(),
            "issued": len(c),
            "redeemed": len(r),
            "redeemed_amount_fen": amount,
            "cost_fen": cost,
        }
        row["claim_conversion"] = (
            row["claimers"] / row["exposed_users"] if row["exposed_users"] else np.nan
        )
        row["redemption_conversion"] = len(r) / len(c) if len(c) else np.nan
        row["aov_fen"] = amount / len(r) if len(r) else np.nan
        row["roi"] = (amount - cost) / cost if cost else np.nan
        rows.append(({by: key} if by else {}) | row)
    return pd.DataFrame(rows, columns=[*([by] if by else []), *METRIC_COLUMNS])


def reference_incremental(log: dict, *, start: dt.datetime, end: dt.datetime) -> dict:
    """Per-user basket GMV in [start, end), holdout vs treatment, with scipy's Welch test."""
    from scipy import stats

    orders = log["orders"]
    orders = orders[(orders["ts"] >= start) & (orders["ts"] < end)]
    per_user = orders.groupby("user_id")[["amount_fen", "discount_fen"]].sum()
    a = log["assignments"].set_index("user_id")
    a = a.join(per_user).fillna({"amount_fen": 0, "discount_fen": 0})
    treat, hold = a[a["arm"] != "holdout"], a[a["arm"] == "holdout"]
    test = stats.ttest_ind(treat["amount_fen"], hold["amount_fen"], equal_var=False)
    ci = test.confidence_interval(0.95)
    n = len(treat)
    cost = float(treat["discount_fen"].sum())
    gmv = (treat["amount_fen"].mean() - hold["amount_fen"].mean()) * n
    return {
        "treatment_users": n,
        "holdout_users": len(hold),
        "incremental_gmv_fen": gmv,
        "ci_low_fen": ci.low * n,
        "ci_high_fen": ci.high * n,
        "p_value": test.pvalue,
        "cost_fen": cost,
        "incremental_roi": (gmv - cost) / cost,
    }


def manual_logrank(time, event, group) -> float:
    """Two-group log-rank chi-square, (O - E)^2 / V summed over distinct event times."""
    time, event, group = np.asarray(time, float), np.asarray(event, bool), np.asarray(group)
    first = sorted(set(group))[0]
    observed = expected = variance = 0.0
    for t in sorted(set(time[event])):
        at_risk = time >= t
        n, n1 = at_risk.sum(), (at_risk & (group == first)).sum()
        d = ((time == t) & event).sum()
        d1 = ((time == t) & event & (group == first)).sum()
        observed += d1
        expected += d * n1 / n
        if n > 1:
            variance += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    return (observed - expected) ** 2 / variance


def loglog_band(surv: float, se: float, z: float = 1.959963984540054) -> tuple[float, float]:
    """Log-log interval for S (Kalbfleisch-Prentice), as R's conf.type = "log-log"."""
    half = z * se / (surv * abs(np.log(surv)))
    theta = np.log(-np.log(surv))
    return float(np.exp(-np.exp(theta + half))), float(np.exp(-np.exp(theta - half)))


# -- competing risks -----------------------------------------------------------------


def cycle_log(stops) -> dict[str, pd.DataFrame]:
    """A coupons log from ``(days, outcome)`` pairs, every coupon issued at START.

    ``"redeemed"`` redeems at ``days``, ``"expired"`` expires at ``days`` and
    ``"open"`` is valid past the data end (the DAYS-day run window), so it is
    censored there; ``days`` of an open coupon is ignored.
    """
    rows = []
    for i, (days, outcome) in enumerate(stops):
        at = START + pd.Timedelta(days=days)
        valid = at if outcome == "expired" else START + pd.Timedelta(days=DAYS + 30)
        rows.append(
            {
                "coupon_id": i + 1,
                "stock_id": 1,
                "user_id": i + 1,
                "platform": "wechat",
                "entry": "pay_page",
                "claimed_at": START,
                "status": "issued",
                "issued_at": START,
                "valid_until": valid,
                "expired_at": at if outcome == "expired" else pd.NaT,
                "redeemed_at": at if outcome == "redeemed" else pd.NaT,
            }
        )
    return {"coupons": pd.DataFrame(rows)}


def manual_aalen_johansen(time, cause) -> pd.DataFrame:
    """Cumulative incidence of cause 1 (cause 2 competing, 0 censored), subject by subject.

    At each distinct time with a cause-1 event: F(t) = F(t-) + S(t-) d1 / n, with S the
    Kaplan-Meier curve of either cause (events before censorings at ties). The variance
    is Collett's delta-method formula, summed term by term over every earlier event time.
    """
    time = np.asarray(time, dtype=float)
    cause = np.asarray(cause, dtype=int)
    steps = []  # (t, n, d, d1, S(t-), F(t)) at each time with an event of either cause
    surv, incidence = 1.0, 0.0
    for t in sorted(set(time[cause > 0])):
        n = int(np.sum(time >= t))
        d1 = int(np.sum((time == t) & (cause == 1)))
        d = int(np.sum((time == t) & (cause > 0)))
        incidence += surv * d1 / n
        steps.append((t, n, d, d1, surv, incidence))
        surv *= 1 - d / n
    rows = []
    for t, n_t, _, d1_t, _, f_t in steps:
        if d1_t == 0:
            continue
        variance = 0.0
        for ti, n, d, d1, s_before, f_i in steps:
            if ti > t:
                break
            if n > d:
                variance += (f_t - f_i) ** 2 * d / (n * (n - d))
            variance += s_before**2 * d1 * (n - d1) / n**3
            variance -= 2 * (f_t - f_i) * s_before * d1 / n**2
        rows.append({"time": t, "at_risk": n_t, "events": d1_t, "cif": f_t, "variance": variance})
    return pd.DataFrame(rows, columns=["time", "at_risk", "events", "cif", "variance"])
