"""``simulate``: turn a strategy into logs in the store, with the truth kept aside.

Two passes over chunks of users. Pass 1 builds each chunk's population, baseline
orders and offers up to the claim attempt, and collects the claim attempts. The
issuance engine then decides every attempt in time order across the whole run
(budgets and cross-user limits). Pass 2 regenerates each chunk from the same random
streams (or reuses it while it is small), draws redemptions for the issued coupons
and writes every table through Arrow. A run lands in one transaction: small runs and
in-memory stores write each chunk straight into it; large runs on a file store stage
the chunks as Parquet files next to the database and load each table with one INSERT,
so DuckDB writes the new row groups to the file instead of holding them in memory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from lab import schema
from lab._outcomes import refresh_experiment_users
from lab._validate import check
from lab.store import Store, StoreError, staging_folder
from lab.world._engine import REFUSED, Claims, Outcome, enforce, engine_metrics
from lab.world._funnel import Offers, Plan, compile_plan, make_offers
from lab.world._orders import Orders, baseline_orders
from lab.world._params import ENTRY_KEYS, PARAMS, Params
from lab.world._population import (
    DAY,
    PLATFORM_CODES,
    SEGMENT_CODES,
    Population,
    assign_arms,
    make_population,
    make_weather,
    rng_for,
)
from lab.world._presets import preset
from lab.world._redeem import expected_uplift, redeem, valid_until
from lab.world._strategy import Strategy

CHUNK_USERS = 20_000
_CACHE_OFFERS = 3_000_000  # keep pass-1 chunks in memory up to this many offers
# stage through Parquet from this many offers + claims + baseline orders (file stores only)
STAGE_MIN_ROWS = 1_000_000
_LOAD_MEMORY_LIMIT = "1GB"  # DuckDB's buffer pool while a staged run is loaded

_Write = Callable[[str, pa.Table], None]
_ENTRY_NAMES = tuple(k.split("/")[1] for k in ENTRY_KEYS)
_ENTRY_DICT = schema.table("offers").column("entry").values
_ENTRY_CODE = np.array([_ENTRY_DICT.index(e) for e in _ENTRY_NAMES], np.int32)
_EV = {e: i for i, e in enumerate(schema.EVENT_TYPES)}


class _Staging:
    """Parquet files per table in ``directory``, loaded into a store in one go."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: dict[str, list[str]] = {}

    def write(self, table_name: str, data: pa.Table) -> None:
        files = self.files.setdefault(table_name, [])
        path = self.directory / f"{table_name}-{len(files):06d}.parquet"
        pq.write_table(data, path, compression="lz4")
        files.append(str(path))

    def load(self, store: Store, run_id: str) -> None:
        # caller holds the transaction; tables in first-written order, files in chunk order
        for table_name, files in self.files.items():
            store.write_parquet(table_name, files, run_id=run_id)


@contextmanager
def _landing(store: Store, run_id: str, new_run: dict, *, staged: bool) -> Iterator[_Write]:
    """Yield the writer of a new run's tables; the run lands in one transaction on exit.

    ``staged`` (ignored for ``":memory:"`` stores): the tables go to Parquet files in a
    temporary directory next to the database, loaded with one INSERT per table on exit,
    so DuckDB streams the rows to the file instead of holding them uncommitted.
    """
    if store.in_memory or not staged:
        with store.transaction():
            store.create_run(run_id, **new_run)
            yield lambda name, data: store.write(name, data, run_id=run_id)
            refresh_experiment_users(store, run_id)
        return
    parent = Path(store.path).resolve().parent
    with staging_folder(parent) as tmp:  # removed on exit, or on the next open after kill -9
        staging = _Staging(tmp)
        yield staging.write
        with store.transaction() as con:
            # the load streams row groups to the file; keep its buffer pool below the
            # peak of the generation
            old_limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
            con.execute("SET memory_limit = ?", [_LOAD_MEMORY_LIMIT])
            try:
                store.create_run(run_id, **new_run)
                staging.load(store, run_id)
                refresh_experiment_users(store, run_id)
            finally:
                con.execute("SET memory_limit = ?", [old_limit])


@dataclass
class _Chunk:
    pop: Population
    base: Orders
    arms: np.ndarray
    offers: Offers  # real offers (no phantoms)
    uplift: np.ndarray  # expected extra orders per user


def _dict(codes: np.ndarray, names) -> pa.DictionaryArray:
    codes = np.asarray(codes, np.int32)
    return pa.DictionaryArray.from_arrays(
        pa.array(codes, mask=codes < 0), pa.array(list(names), pa.string())
    )


def _ts(rel: np.ndarray, epoch: int) -> pa.Array:
    # microseconds: DuckDB's own TIMESTAMP unit, so the insert needs no conversion
    rel = np.asarray(rel, np.int64)
    return pa.array((rel + epoch) * 1_000_000, type=pa.timestamp("us"), mask=rel < 0)


def _opt(values: np.ndarray, mask: np.ndarray) -> pa.Array:
    return pa.array(values, mask=mask)


def _build_chunk(
    plan: Plan,
    strategy: Strategy,
    ci: int,
    off: int,
    n: int,
    *,
    seed: int,
    rain: np.ndarray,
    p: Params,
) -> _Chunk:
    pop = make_population(seed, ci, off, n, p, plan.pre_days)
    base = baseline_orders(pop, seed=seed, chunk=ci, weekday0=plan.weekday0, rain=rain, p=p)
    arms = np.zeros((n, len(strategy.experiments)), np.int8)
    for e, exp in enumerate(strategy.experiments):
        arms[:, e] = assign_arms(seed, exp.name, plan.arm_weights[e], pop.user_id)
    offers = make_offers(plan, pop, base, arms, rain, seed=seed, chunk=ci, p=p)
    start = np.where(offers.claimed >= 0, offers.claimed, offers.delivered)
    up = expected_uplift(
        plan,
        pop,
        offers.user,
        offers.campaign.astype(np.int64),
        offers.amount,
        start,
        offers.p_claim,
        p,
    )
    uplift = np.bincount(offers.user, weights=up, minlength=n)
    return _Chunk(pop, base, arms, offers.take(np.flatnonzero(~offers.phantom)), uplift)


def simulate(
    strategy: Strategy | str,
    *,
    store: Store,
    users: int = 20_000,
    days: int = 28,
    seed: int = 0,
    run_id: str | None = None,
    pre_days: int = 28,
    start_date: dt.date = dt.date(2026, 3, 2),
    progress: bool = True,
) -> str:
    """Simulate ``strategy`` for ``users`` over ``days`` and write the run into ``store``.

    Parameters
    ----------
    strategy : Strategy or str
        The strategy, or a preset name (see :data:`lab.world.PRESETS`).
    store : Store
        Destination; the run is written in one transaction (all of it, or nothing).
        On a file store, a run of at least ``STAGE_MIN_ROWS`` (1 million) offers,
        claim attempts and baseline orders is first staged as Parquet files in a temporary
        directory next to the database (removed afterwards, also on error), then
        loaded with one INSERT per table, so DuckDB writes the rows to the file instead
        of keeping ~90 bytes per uncommitted row in memory (a 100M-event world peaks
        below 3 GiB instead of 15 GiB). Smaller runs and ``":memory:"`` stores are
        written chunk by chunk, without touching the disk. The tables are identical,
        row order included, either way.
    users, days, pre_days : int
        Number of users; campaign days; days of coupon-free orders before the campaign.
    seed : int
        Random seed: the same seed gives identical tables; two strategies with the same
        seed share the same users, weather and baseline orders.
    run_id : str, optional
        Defaults to ``f"{strategy.name}-s{seed}"``.
    start_date : datetime.date
        First campaign day.
    progress : bool
        Show a tqdm bar over user chunks.

    Returns
    -------
    str
        The run id.

    Example
    -------
    >>> import lab
    >>> from lab.world import simulate
    >>> store = lab.Store(":memory:")
    >>> simulate("aa_test", store=store, users=500, days=7, pre_days=7, progress=False)
    'aa_test-s0'
    """
    check(locals())  # argument types and ranges, up front
    if isinstance(strategy, str):
        strategy = preset(strategy)
    if not isinstance(strategy, Strategy):
        raise ValueError(
            f"strategy must be a Strategy or a preset name, got {type(strategy).__name__}"
        )
    for name, v, lo in (("users", users, 1), ("days", days, 1), ("pre_days", pre_days, 0)):
        if int(v) != v or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    p = PARAMS
    run_id = run_id or f"{strategy.name}-s{seed}"
    if store.has_run(run_id):  # before minutes of work, not at the end
        raise StoreError(f"run {run_id!r} exists already in {store.path}; delete it first")
    day0 = start_date - dt.timedelta(days=pre_days)
    epoch = int((dt.datetime.combine(day0, dt.time()) - dt.datetime(1970, 1, 1)).total_seconds())
    plan = compile_plan(strategy, pre_days=pre_days, days=days, weekday0=day0.weekday())
    n_days = pre_days + days
    rain = make_weather(seed, n_days, p)
    bounds = [
        (i, o, min(CHUNK_USERS, users - o)) for i, o in enumerate(range(0, users, CHUNK_USERS))
    ]
    bar = tqdm(total=2 * len(bounds), desc=f"simulate {run_id}", unit="chunk", disable=not progress)

    # pass 1: claim attempts of every chunk
    cache: dict[int, _Chunk] = {}
    cached_offers = 0
    parts: list[dict] = []
    deliveries = np.zeros((plan.n, n_days), np.int64)
    n_base = []
    n_offers = 0
    for ci, off, n in bounds:
        ch = _build_chunk(plan, strategy, ci, off, n, seed=seed, rain=rain, p=p)
        o = ch.offers
        np.add.at(deliveries, (o.campaign.astype(np.int64), o.delivered // DAY), 1)
        c = o.claimed >= 0
        u = o.user[c]
        # compact dtypes: all claim attempts of the run stay in memory for the engine
        parts.append(
            dict(
                campaign=o.campaign[c],
                claimed=o.claimed[c].astype(np.int32),
                amount=o.amount[c].astype(np.int32),
                user_id=ch.pop.user_id[u].astype(np.int32),
                person=ch.pop.person_id[u].astype(np.int32),
                phone=ch.pop.phone_id[u],
                device=ch.pop.device_id[u],
                ip=ch.pop.ip[u],
                fraud=ch.pop.is_fraud[u],
                real_name=ch.pop.real_name[u],
            )
        )
        n_base.append(len(ch.base))
        n_offers += len(o)
        if cached_offers + len(o) <= _CACHE_OFFERS:
            cache[ci] = ch
            cached_offers += len(o)
        bar.update()
    claims = Claims(**{k: np.concatenate([q[k] for q in parts]) for k in parts[0]})
    claim_offsets = np.r_[0, np.cumsum([len(q["campaign"]) for q in parts])]
    del parts
    outcome = enforce(claims, plan, p, seed=seed)
    metrics = engine_metrics(plan, deliveries, claims, outcome, p, seed=seed)
    del claims  # pass 2 needs the outcomes only
    base_offsets = np.r_[0, np.cumsum(n_base)]

    new_run = dict(
        origin="synthetic",
        label=strategy.name,
        strategy=strategy.to_json(),
        seed=seed,
        n_users=users,
        days=days,
        pre_days=pre_days,
        start_date=start_date,
    )

    staged_rows = n_offers + int(claim_offsets[-1]) + int(base_offsets[-1])
    with _landing(store, run_id, new_run, staged=staged_rows >= STAGE_MIN_ROWS) as write:
        _write_static(write, plan, rain, day0, epoch)
        ids = {"offer": 0, "event": 0, "order": int(base_offsets[-1])}
        for ci, off, n in bounds:
            ch = cache.pop(ci, None) or _build_chunk(
                plan, strategy, ci, off, n, seed=seed, rain=rain, p=p
            )
            sl = slice(claim_offsets[ci], claim_offsets[ci + 1])
            out = Outcome(
                outcome.status[sl], outcome.reason[sl], outcome.issued[sl], outcome.latency_ms[sl]
            )
            _write_chunk(
                write,
                plan,
                ch,
                out,
                int(claim_offsets[ci]),
                int(base_offsets[ci]),
                ids,
                rain=rain,
                epoch=epoch,
                seed=seed,
                chunk=ci,
                start_date=start_date,
                p=p,
            )
            bar.update()
        _write_metrics(write, metrics, day0)
        del outcome  # a staged load needs none of the run's arrays
    bar.close()
    return run_id


def users_table(pop: Population, epoch: int) -> pa.Table:
    """The ``users`` rows of a population chunk."""
    return pa.table(
        {
            "user_id": pop.user_id,
            "primary_platform": _dict(pop.primary_platform, PLATFORM_CODES),
            "uses_wechat": pop.uses[:, 0],
            "uses_alipay": pop.uses[:, 1],
            "uses_meituan": pop.uses[:, 2],
            "city_tier": pop.city_tier,
            "distance_km": np.round(pop.distance_km, 3),
            "segment": _dict(pop.segment, SEGMENT_CODES),
            "credit_tier": pop.credit_tier,
            "friends": pop.friends,
            "device_id": pop.device_id,
            "ip": pop.ip,
            "phone_prefix": pop.phone_prefix,
            # accounts older than the run have negative run times: no NULL mask here
            "registered_at": pa.array(
                (pop.registered_at + epoch) * 1_000_000, type=pa.timestamp("us")
            ),
        }
    )


def _write_static(write: _Write, plan: Plan, rain: np.ndarray, day0: dt.date, epoch: int) -> None:
    days = np.array([day0 + dt.timedelta(days=i) for i in range(len(rain))], dtype="datetime64[D]")
    write("weather", pa.table({"day": pa.array(days), "rain": pa.array(rain)}))
    rows = []
    for i, c in enumerate(plan.strategy.campaigns):
        s = c.stock
        lo = s.valid_from_day if s.validity_type == "fixed" else c.start_day
        hi = (
            s.valid_until_day
            if s.validity_type == "fixed" and s.valid_until_day is not None
            else (c.end_day or plan.days)
        )
        rows.append(
            {
                "stock_id": i + 1,
                "campaign": c.name,
                "stock_type": s.stock_type,
                "transaction_minimum_fen": s.transaction_minimum_fen,
                "amount_fen": None if s.stock_type == "discount" else s.amount_fen,
                "max_amount_fen": s.max_amount_fen,
                "discount_rate": s.discount_rate,
                "total_budget_fen": s.total_budget_fen,
                "daily_budget_fen": s.daily_budget_fen,
                "max_coupons": s.max_coupons,
                "max_per_user": s.max_per_user,
                "natural_person_limit": s.natural_person_limit,
                "phone_limit": s.phone_limit,
                "real_name_limit": s.real_name_limit,
                "validity_type": s.validity_type,
                "valid_from": dt.datetime.combine(day0, dt.time())
                + dt.timedelta(days=plan.pre_days + lo),
                "valid_until": dt.datetime.combine(day0, dt.time())
                + dt.timedelta(days=plan.pre_days + hi),
                "valid_days": s.valid_days if s.validity_type == "relative" else None,
                "usable_weekdays": s.usable_weekdays,
                "usable_hour_start": s.usable_hour_start,
                "usable_hour_end": s.usable_hour_end,
                "goods_tag": s.goods_tag,
                "order_channel": s.order_channel,
                "platform": c.platform,
                "entry": c.entry,
                "mechanic": c.mechanic,
                "risk_level": c.risk_level,
                "merchant_id": 1,
                "experiment": c.experiment,
                "arm": c.arm,
            }
        )
    if rows:
        cols = {k: [r[k] for r in rows] for k in rows[0]}
        write("stocks", pa.table(cols))


def _write_metrics(write: _Write, m: dict, day0: dt.date) -> None:
    names = ("deliveries", "requests", "failures", "compensations", "cost_units")
    k = len(m["campaign"])
    day = np.datetime64(day0, "D") + m["day"].astype("timedelta64[D]")
    tbl = pa.table(
        {
            "stock_id": np.tile(m["campaign"] + 1, len(names)).astype(np.int64),
            "day": pa.array(np.tile(day, len(names))),
            "metric": _dict(np.repeat(np.arange(len(names)), k), names),
            "value": np.concatenate([np.asarray(m[x], float) for x in names]),
        }
    )
    write("engine_metrics", tbl)


def _write_chunk(
    write: _Write,
    plan: Plan,
    ch: _Chunk,
    out: Outcome,
    coupon0: int,
    order0: int,
    ids: dict,
    *,
    rain,
    epoch: int,
    seed: int,
    chunk: int,
    start_date: dt.date,
    p: Params,
) -> None:
    pop, base, o = ch.pop, ch.base, ch.offers
    n = len(pop)
    camp = o.campaign.astype(np.int64)
    stock_id = camp + 1
    ek = plan.entry_key[camp]
    uid = pop.user_id

    # users, truth_users, assignments
    write("users", users_table(pop, epoch))
    write(
        "truth_users",
        pa.table(
            {
                "user_id": uid,
                "is_fraud": pop.is_fraud,
                "ring_id": _opt(pop.ring_id, pop.ring_id < 0),
                "base_order_rate": pop.base_rate,
                "price_sensitivity": pop.price_sensitivity,
                "true_uplift_orders": ch.uplift,
            }
        ),
    )
    start_ts = dt.datetime.combine(start_date, dt.time())
    held = np.zeros(n, bool)
    for e, hold in enumerate(plan.holdout_arms):
        held |= hold[ch.arms[:, e]]
    for e, exp in enumerate(plan.strategy.experiments):
        # a held-out user gets no offer from any experiment, so joins only the holdout's
        keep = np.ones(n, bool) if plan.holdout_arms[e].any() else ~held
        k = int(keep.sum())
        write(
            "assignments",
            pa.table(
                {
                    "experiment": _dict(np.zeros(k, np.int32), [exp.name]),
                    "user_id": uid[keep],
                    "arm": _dict(ch.arms[keep, e], [a.name for a in exp.arms]),
                    "assigned_at": pa.array(np.full(k, np.datetime64(start_ts, "s"))),
                }
            ),
        )

    # coupons: one row per claim attempt
    m = len(o)
    offer_id = ids["offer"] + 1 + np.arange(m, dtype=np.int64)
    ids["offer"] += m
    ci = np.flatnonzero(o.claimed >= 0)
    coupon_id = coupon0 + 1 + np.arange(len(ci), dtype=np.int64)
    cu, cc = o.user[ci], camp[ci]
    ok = out.status != REFUSED
    oi = np.flatnonzero(ok)
    rng = rng_for(seed, 6, chunk)
    r = redeem(plan, pop, base, cu[oi], cc[oi], o.amount[ci][oi], out.issued[oi], rain, rng, p)
    k = len(ci)
    red_ts = np.full(k, -1, np.int64)
    exp_ts = np.full(k, -1, np.int64)
    red_ts[oi] = np.where(r.redeemed, r.ts, -1)
    exp_ts[oi] = r.expired
    until = np.full(k, -1, np.int64)
    until[oi] = valid_until(plan, cc[oi], out.issued[oi])
    ri = oi[r.redeemed]
    order_ids = np.full(k, -1, np.int64)
    order_ids[ri] = ids["order"] + 1 + np.arange(len(ri), dtype=np.int64)
    ids["order"] += len(ri)
    disc = np.full(k, -1, np.int64)
    disc[ri] = r.discount[r.redeemed]
    reason = out.reason
    write(
        "coupons",
        pa.table(
            {
                "coupon_id": coupon_id,
                "stock_id": cc + 1,
                "user_id": uid[cu],
                "offer_id": offer_id[ci],
                "platform": _dict(plan.platform[cc], PLATFORM_CODES),
                "entry": _dict(_ENTRY_CODE[ek[ci]], _ENTRY_DICT),
                "claimed_at": _ts(o.claimed[ci], epoch),
                "status": _dict(out.status, schema.ISSUE_STATUSES),
                "refusal_reason": _dict(reason, schema.REFUSAL_REASONS),
                "issued_at": _ts(out.issued, epoch),
                "latency_ms": out.latency_ms.astype(np.int32),
                "amount_fen": _opt(o.amount[ci], ~ok),
                "transaction_minimum_fen": _opt(plan.minimum[cc], ~ok),
                "valid_until": _ts(until, epoch),
                "redeemed_at": _ts(red_ts, epoch),
                "order_id": _opt(order_ids, order_ids < 0),
                "discount_fen": _opt(disc, disc < 0),
                "expired_at": _ts(exp_ts, epoch),
                "device_id": pop.device_id[cu],
                "ip": pop.ip[cu],
            }
        ),
    )

    # offers
    off_coupon = np.full(m, -1, np.int64)
    off_coupon[ci] = coupon_id
    off_red = np.full(m, -1, np.int64)
    off_red[ci] = red_ts
    off_exp = np.full(m, -1, np.int64)
    off_exp[ci] = exp_ts
    write(
        "offers",
        pa.table(
            {
                "offer_id": offer_id,
                "user_id": uid[o.user],
                "stock_id": stock_id,
                "platform": _dict(plan.platform[camp], PLATFORM_CODES),
                "entry": _dict(_ENTRY_CODE[ek], _ENTRY_DICT),
                "delivered_at": _ts(o.delivered, epoch),
                "exposed_at": _ts(o.exposed, epoch),
                "rule_viewed_at": _ts(o.viewed, epoch),
                "shared_at": _ts(o.shared, epoch),
                "claimed_at": _ts(o.claimed, epoch),
                "coupon_id": _opt(off_coupon, off_coupon < 0),
                "redeemed_at": _ts(off_red, epoch),
                "expired_at": _ts(off_exp, epoch),
            }
        ),
    )

    # orders: baseline minus pulled-forward ones, plus coupon orders
    keep = np.ones(len(base), bool)
    keep[r.consumed] = False
    base_id = order0 + 1 + np.arange(len(base), dtype=np.int64)
    merchant = 1 + (uid * 2654435761 % 20)
    rr = r.redeemed
    o_user = np.r_[base.user[keep], cu[oi][rr]]
    tbl = pa.table(
        {
            "order_id": np.r_[base_id[keep], order_ids[ri]],
            "user_id": uid[o_user],
            "ts": _ts(np.r_[base.ts[keep], r.ts[rr]], epoch),
            "merchant_id": merchant[o_user],
            "order_channel": _dict(np.r_[base.channel[keep], r.channel[rr]], schema.ORDER_CHANNELS),
            "platform": _dict(
                np.r_[base.platform[keep], plan.platform[cc[oi][rr]]], PLATFORM_CODES
            ),
            "amount_fen": np.r_[base.amount[keep], r.amount[rr]],
            "discount_fen": np.r_[np.zeros(keep.sum(), np.int64), r.discount[rr]],
            "coupon_id": _opt(
                np.r_[np.zeros(keep.sum(), np.int64), coupon_id[ri]],
                np.r_[np.ones(keep.sum(), bool), np.zeros(len(ri), bool)],
            ),
        }
    )
    write("orders", tbl)
    write(
        "truth_orders",
        pa.table(
            {
                "order_id": base_id,
                "user_id": uid[base.user],
                "ts": _ts(base.ts, epoch),
                "order_channel": _dict(base.channel, schema.ORDER_CHANNELS),
                "amount_fen": base.amount,
            }
        ),
    )

    # events: the same facts, long format
    parts = []

    def add(mask_idx, ts, etype, coupon=None, order=None):
        parts.append((mask_idx, ts, np.full(len(mask_idx), _EV[etype], np.int8), coupon, order))

    idx = np.arange(m)
    add(idx, o.delivered, "delivery")
    for col, et in ((o.exposed, "exposure"), (o.viewed, "rule_view"), (o.shared, "share")):
        s = np.flatnonzero(col >= 0)
        add(s, col[s], et)
    add(ci, o.claimed[ci], "claim", coupon_id)
    s = np.flatnonzero(red_ts >= 0)
    add(ci[s], red_ts[s], "redeem", coupon_id[s], order_ids[s])
    s = np.flatnonzero(exp_ts >= 0)
    add(ci[s], exp_ts[s], "expire", coupon_id[s])
    oix = np.concatenate([q[0] for q in parts])
    ts = np.concatenate([q[1] for q in parts])
    et = np.concatenate([q[2] for q in parts])
    cpn = np.concatenate(
        [q[3] if q[3] is not None else np.full(len(q[0]), -1, np.int64) for q in parts]
    )
    odr = np.concatenate(
        [q[4] if q[4] is not None else np.full(len(q[0]), -1, np.int64) for q in parts]
    )
    if plan.end_ts < 2**23:  # one int64 sort key: time, then event type, then offer
        order = np.argsort((ts << 40) | (et.astype(np.int64) << 37) | oix, kind="stable")
    else:
        order = np.lexsort((oix, et, ts))
    oix, ts, et, cpn, odr = oix[order], ts[order], et[order], cpn[order], odr[order]
    eu = o.user[oix]
    ne = len(oix)
    write(
        "events",
        pa.table(
            {
                "event_id": ids["event"] + 1 + np.arange(ne, dtype=np.int64),
                "ts": _ts(ts, epoch),
                "user_id": uid[eu],
                "event_type": _dict(et, schema.EVENT_TYPES),
                "platform": _dict(plan.platform[camp[oix]], PLATFORM_CODES),
                "entry": _dict(_ENTRY_CODE[ek[oix]], _ENTRY_DICT),
                "stock_id": stock_id[oix],
                "offer_id": offer_id[oix],
                "coupon_id": _opt(cpn, cpn < 0),
                "order_id": _opt(odr, odr < 0),
                "device_id": pop.device_id[eu],
                "ip": pop.ip[eu],
            }
        ),
    )
    ids["event"] += ne
