"""Helpers of the platform-format tests: the test key, store snapshots, the failure check,
and a run restricted to what a platform format can carry."""

from __future__ import annotations

from pathlib import Path

import pytest

import lab
from lab import schema
from lab.ingest import LogImportError, import_logs
from lab.store import Store

KEY = b"0123456789abcdefghijklmnopqrstuv"  # a 32-byte test APIv3 key


def snapshot(store: Store) -> dict[str, int]:
    """Row count of every table, the runs table included."""
    return {
        t.name: int(store.query(f"SELECT count(*) AS n FROM {t.name}")["n"][0])
        for t in schema.TABLES
    }


def fails(store: Store, path: Path, message: str, **kwargs) -> LogImportError:
    """Import ``path``, expect exactly ``message``, and check nothing was written."""
    before = snapshot(store)
    with pytest.raises(LogImportError) as info:
        import_logs(path, store=store, **kwargs)
    assert str(info.value) == message
    assert snapshot(store) == before
    return info.value


def carried(store: Store, run: str, new: str) -> str:
    """Copy of ``run`` holding only what the platform formats carry: issued coupons
    (refused claim attempts never reach the platform), claimed when issued, one offer per
    coupon, with no exposures; every order, and the experiment assignments."""
    r = store.run(run)
    with store.transaction() as con:
        store.create_run(
            new,
            origin="synthetic",
            start_date=r["start_date"].date(),
            days=int(r["days"]),
            pre_days=int(r["pre_days"]),
            n_users=int(r["n_users"]),
        )
        for table in ("users", "stocks", "orders", "assignments"):
            cols = ", ".join(c for c in schema.table(table).column_names if c != "run_id")
            con.execute(
                f"INSERT INTO {table} SELECT ?, {cols} FROM {table} WHERE run_id = ?", [new, run]
            )
        con.execute(
            """INSERT INTO coupons (run_id, coupon_id, stock_id, user_id, offer_id, claimed_at,
                   status, issued_at, amount_fen, transaction_minimum_fen, valid_until,
                   redeemed_at, order_id, discount_fen, expired_at)
            SELECT ?, coupon_id, stock_id, user_id, coupon_id, coalesce(issued_at, claimed_at),
                   'issued', coalesce(issued_at, claimed_at), amount_fen, transaction_minimum_fen,
                   valid_until, redeemed_at, order_id, discount_fen, expired_at
            FROM coupons WHERE run_id = ? AND status IN ('issued', 'compensated')""",
            [new, run],
        )
        con.execute(
            """INSERT INTO offers (run_id, offer_id, user_id, stock_id, delivered_at, claimed_at,
                   coupon_id, redeemed_at, expired_at)
            SELECT run_id, coupon_id, user_id, stock_id, claimed_at, claimed_at, coupon_id,
                   redeemed_at, expired_at FROM coupons WHERE run_id = ?""",
            [new],
        )
        con.execute(
            """INSERT INTO events (run_id, event_id, ts, user_id, event_type, stock_id, offer_id,
                   coupon_id, order_id)
            SELECT run_id, row_number() OVER (ORDER BY ts, coupon_id, k), ts, user_id, t,
                   stock_id, coupon_id, coupon_id, o FROM (
                SELECT run_id, claimed_at AS ts, 0 AS k, 'claim' AS t, user_id, stock_id,
                       coupon_id, NULL::BIGINT AS o FROM coupons WHERE run_id = ?
                UNION ALL SELECT run_id, redeemed_at, 1, 'redeem', user_id, stock_id, coupon_id,
                       order_id FROM coupons WHERE run_id = ? AND redeemed_at IS NOT NULL
                UNION ALL SELECT run_id, expired_at, 2, 'expire', user_id, stock_id, coupon_id,
                       NULL FROM coupons WHERE run_id = ? AND expired_at IS NOT NULL)""",
            [new, new, new],
        )
        lab.refresh_experiment_users(store, new)
    return new
