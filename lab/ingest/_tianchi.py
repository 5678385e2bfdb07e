"""The Tianchi O2O coupon log (offline coupons received, Alibaba Tianchi competition)."""

from __future__ import annotations

from lab.ingest._lab import DATE_RANGE
from lab.ingest._source import Check, Source

COLUMNS = ("User_id", "Merchant_id", "Coupon_id", "Discount_rate", "Distance", "Date_received")
_ROWS = "_lab_import_tianchi_rows"


def _nz(col: str) -> str:
    """The trimmed field, with the file's ``null`` marker (and empty fields) as NULL."""
    return f"NULLIF(trim(\"{col}\"), 'null')"


def checks() -> list[Check]:
    """Per-row rules of the Tianchi file."""
    out: list[Check] = []
    for col in COLUMNS:
        if col != "Distance":
            out.append(
                Check(
                    col, f"{_nz(col)} IS NULL", lambda v: "missing value (the column is required)"
                )
            )
    for col in ("User_id", "Merchant_id", "Coupon_id"):
        out.append(
            Check(
                col,
                f"NOT regexp_full_match({_nz(col)}, '[0-9]{{1,18}}')",
                lambda v: f"not an id (a whole number): {v!r}",
            )
        )
    d = _nz("Discount_rate")
    x, y = (f"TRY_CAST(split_part({d}, ':', {i}) AS BIGINT)" for i in (1, 2))
    ok = (
        f"(regexp_full_match({d}, '[0-9]{{1,9}}:[0-9]{{1,9}}') AND {y} BETWEEN 1 AND {x}) "
        f"OR regexp_full_match({d}, '0?\\.[0-9]*[1-9][0-9]*')"
    )
    out.append(
        Check(
            "Discount_rate",
            f"{d} IS NOT NULL AND NOT COALESCE({ok}, false)",
            lambda v: (
                f"malformed Discount_rate {v!r}: expected 'x:y' (spend x yuan, save y yuan, "
                "0 < y <= x) or a rate between 0 and 1 such as '0.95'"
            ),
        )
    )
    dist = _nz("Distance")
    out += [
        Check(
            "Distance",
            f"NOT regexp_full_match({dist}, '[+-]?[0-9]+')",
            lambda v: (
                f"malformed Distance {v!r}: expected a whole number 0-10 (units of 500 m) or null"
            ),
        ),
        Check(
            "Distance",
            f"{dist} IS NOT NULL AND NOT COALESCE(TRY_CAST({dist} AS INTEGER) BETWEEN 0 AND 10, false)",
            lambda v: f"Distance {v} out of range 0-10 (units of 500 m; 10 means 5 km or more)",
        ),
    ]
    date = _nz("Date_received")
    out.append(
        Check(
            "Date_received",
            f"NOT (regexp_full_match({date}, '[0-9]{{8}}') AND try_strptime({date}, '%Y%m%d') IS NOT NULL)",
            lambda v: f"unparseable date {v!r} (expected yyyymmdd)",
        )
    )
    first, last = DATE_RANGE
    out.append(
        Check(
            "Date_received",
            f"CAST(try_strptime({date}, '%Y%m%d') AS DATE) NOT BETWEEN ? AND ?",
            lambda v: f"date out of range: {v!r} (expected {first} to {last})",
            (first, last),
        )
    )
    return out


def check_coupons(source: Source) -> None:
    """One Coupon_id is one stock: it must keep one Discount_rate and one merchant."""
    found = source.con.execute(
        f"""
        SELECT rowid, first, rate <> rate0 FROM (
            SELECT rowid, rate, merchant,
                   first_value(rowid) OVER w AS first,
                   first_value(rate) OVER w AS rate0,
                   first_value(merchant) OVER w AS merchant0
            FROM (SELECT rowid, CAST({_nz("Coupon_id")} AS BIGINT) AS coupon,
                         {_nz("Discount_rate")} AS rate,
                         CAST({_nz("Merchant_id")} AS BIGINT) AS merchant
                  FROM {source.name})
            WINDOW w AS (PARTITION BY coupon ORDER BY rowid)
        ) WHERE rate <> rate0 OR merchant <> merchant0
        ORDER BY rowid LIMIT 1
        """
    ).fetchone()
    if found:
        rowid, first, rate_differs = found
        col = "Discount_rate" if rate_differs else "Merchant_id"
        lines = source.lines([rowid, first])
        raise source.error(
            f"Coupon_id {source.value(rowid, 'Coupon_id').strip()} has {col} "
            f"{source.value(rowid, col).strip()!r} here but {source.value(first, col).strip()!r} on "
            f"line {lines[first]}; one coupon id must keep one Discount_rate and one merchant",
            rowid=rowid,
            column=col,
        )


def insert(source: Source, *, run_id: str) -> dict:
    """Write users, stocks, offers, coupons and claim events; return the run's size and dates."""
    con = source.con
    con.execute(
        f"""
        CREATE TEMP TABLE {_ROWS} AS
        SELECT rowid + 1 AS coupon_id,
               CAST({_nz("User_id")} AS BIGINT) AS user_id,
               CAST({_nz("Merchant_id")} AS BIGINT) AS merchant_id,
               CAST({_nz("Coupon_id")} AS BIGINT) AS stock_id,
               {_nz("Discount_rate")} AS rate,
               CAST({_nz("Distance")} AS INTEGER) AS distance,
               CAST(strptime({_nz("Date_received")}, '%Y%m%d') AS TIMESTAMP) AS day
        FROM {source.name}
        """
    )
    con.execute(
        f"""
        INSERT INTO users (run_id, user_id, primary_platform, distance_km)
        SELECT ?, user_id, 'offline', min(distance) * 0.5 FROM {_ROWS} GROUP BY user_id ORDER BY user_id
        """,
        [run_id],
    )
    con.execute(
        f"""
        INSERT INTO stocks (run_id, stock_id, stock_type, transaction_minimum_fen, amount_fen,
                            discount_rate, platform, entry, merchant_id)
        SELECT ?, stock_id,
               CASE WHEN contains(rate, ':') THEN 'threshold' ELSE 'discount' END,
               CASE WHEN contains(rate, ':') THEN CAST(split_part(rate, ':', 1) AS BIGINT) * 100 ELSE 0 END,
               CASE WHEN contains(rate, ':') THEN CAST(split_part(rate, ':', 2) AS BIGINT) * 100 END,
               CASE WHEN NOT contains(rate, ':') THEN CAST(rate AS DOUBLE) END,
               'offline', 'offline', merchant_id
        FROM (SELECT stock_id, first(rate) AS rate, first(merchant_id) AS merchant_id
              FROM {_ROWS} GROUP BY stock_id)
        ORDER BY stock_id
        """,
        [run_id],
    )
    con.execute(
        f"""
        INSERT INTO offers (run_id, offer_id, user_id, stock_id, platform, entry, delivered_at,
                            exposed_at, claimed_at, coupon_id)
        SELECT ?, coupon_id, user_id, stock_id, 'offline', 'offline', day, day, day, coupon_id
        FROM {_ROWS} ORDER BY coupon_id
        """,
        [run_id],
    )
    con.execute(
        f"""
        INSERT INTO coupons (run_id, coupon_id, stock_id, user_id, offer_id, platform, entry,
                             claimed_at, status, issued_at, amount_fen, transaction_minimum_fen)
        SELECT ?, r.coupon_id, r.stock_id, r.user_id, r.coupon_id, 'offline', 'offline', r.day,
               'issued', r.day, s.amount_fen, s.transaction_minimum_fen
        FROM {_ROWS} AS r JOIN stocks AS s ON s.run_id = ? AND s.stock_id = r.stock_id
        ORDER BY r.coupon_id
        """,
        [run_id, run_id],
    )
    con.execute(
        f"""
        INSERT INTO events (run_id, event_id, ts, user_id, event_type, platform, entry, stock_id,
                            offer_id, coupon_id)
        SELECT ?, coupon_id, day, user_id, 'claim', 'offline', 'offline', stock_id, coupon_id, coupon_id
        FROM {_ROWS} ORDER BY coupon_id
        """,
        [run_id],
    )
    n_users, first, last = con.execute(
        f"SELECT count(DISTINCT user_id), min(day), max(day) FROM {_ROWS}"
    ).fetchone()
    con.execute(f"DROP TABLE {_ROWS}")
    return {"n_users": n_users, "start_date": first.date(), "days": (last - first).days + 1}
