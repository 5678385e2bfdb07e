"""``claim_rush``: a burst of claim attempts against a strategy's stocks.

The seed's flash moments (weekday 07:00 doubled coupons, a festival pop-up) are bursts
of claims that the issuance engine must decide in time order: who gets a coupon, who
hits a per-user limit, a risk rule or an exhausted budget. ``claim_rush`` sends such a
burst through the same engine as :func:`lab.world.simulate` and lands the decided
claims in the store. It stops at issuance: no offers, events or orders, so the run
answers "when does the budget run out, and who is refused" and measures how fast the
engine issues coupons end to end.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from lab import schema
from lab._validate import check
from lab.store import Store, StoreError
from lab.world._engine import REFUSED, Claims, enforce, engine_metrics
from lab.world._funnel import compile_plan, face_values
from lab.world._params import PARAMS
from lab.world._population import (
    DAY,
    PLATFORM_CODES,
    assign_arms,
    make_population,
    make_weather,
    rng_for,
)
from lab.world._presets import preset
from lab.world._redeem import valid_until
from lab.world._simulate import (
    _ENTRY_CODE,
    _ENTRY_DICT,
    CHUNK_USERS,
    _dict,
    _landing,
    _opt,
    _ts,
    _write_metrics,
    _write_static,
    users_table,
)
from lab.world._strategy import Strategy

_RUSH_STREAM = 11  # random stream of the rush's own draws, apart from simulate's
# A rush writes about one narrow row per attempt: written straight into the transaction
# (DuckDB holds ~100 bytes per uncommitted row) it lands twice as fast as staged through
# Parquet, so only very large rushes are staged.
_STAGE_MIN_CLAIMS = 20_000_000


def claim_rush(
    strategy: Strategy | str,
    *,
    store: Store,
    claims: int = 1_000_000,
    users: int = 100_000,
    seconds: float = 60.0,
    day: int = 0,
    hour: int = 7,
    seed: int = 0,
    run_id: str | None = None,
    start_date: dt.date = dt.date(2026, 3, 2),
    progress: bool = True,
) -> str:
    """Send ``claims`` claim attempts in ``seconds`` seconds through the issuance engine.

    Every attempt picks a campaign uniformly among the strategy's campaigns live on
    campaign day ``day``, then a user uniformly among the ``users`` (the same users that
    :func:`simulate` draws with this seed) who may claim it: a campaign of an experiment
    arm goes to that arm's users only, so holdout users make no attempts. Attempt times
    are uniform over the burst, which starts at ``hour``:00. The engine decides them exactly as in a simulation:
    risk rules, per-user, natural-person and phone limits, daily and total budgets and
    coupon caps in time order, latency and compensated failures. Targeting decides who
    is offered a coupon, not who may claim one, so it plays no part here.

    The run holds ``users``, ``stocks``, ``weather``, ``coupons`` (one row per attempt,
    issued, compensated or refused with a reason; no offer, redemption or order) and
    ``engine_metrics``, written in one transaction.

    Parameters
    ----------
    strategy : Strategy or str
        The strategy, or a preset name.
    store : Store
        Destination.
    claims, users : int
        Claim attempts in the burst; users who make them.
    seconds : float
        Length of the burst.
    day, hour : int
        Campaign day (0 = ``start_date``) and hour at which the burst starts.
    seed : int
        Random seed: the same seed gives identical tables.
    run_id : str, optional
        Defaults to ``f"{strategy.name}-rush-s{seed}"``.
    start_date : datetime.date
        First campaign day.
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    str
        The run id.

    Example
    -------
    >>> import lab
    >>> from lab.world import claim_rush
    >>> store = lab.Store(":memory:")
    >>> claim_rush("morning_doubled", store=store, claims=5_000, users=1_000, progress=False)
    'morning_doubled-rush-s0'
    >>> store.query("SELECT count(*) AS n FROM coupons")["n"].item()
    5000
    """
    check(locals())  # argument types and ranges, up front
    if isinstance(strategy, str):
        strategy = preset(strategy)
    if not isinstance(strategy, Strategy):
        raise ValueError(
            f"strategy must be a Strategy or a preset name, got {type(strategy).__name__}"
        )
    for name, v, lo in (("claims", claims, 1), ("users", users, 1), ("day", day, 0)):
        if int(v) != v or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    if int(hour) != hour or not 0 <= hour <= 23:
        raise ValueError(f"hour must be an integer in 0..23, got {hour!r}")
    if not 0 < seconds <= DAY - hour * 3600:
        raise ValueError(f"seconds must be > 0 and end the burst within its day, got {seconds!r}")
    run_id = run_id or f"{strategy.name}-rush-s{seed}"
    if store.has_run(run_id):
        raise StoreError(f"run {run_id!r} exists already in {store.path}; delete it first")
    p = PARAMS
    plan = compile_plan(strategy, pre_days=0, days=day + 1, weekday0=start_date.weekday())
    live = np.flatnonzero((plan.first_day <= day) & (day < plan.last_day))
    if len(live) == 0:
        raise ValueError(f"strategy {strategy.name!r} has no campaign live on day {day}")
    epoch = int(
        (dt.datetime.combine(start_date, dt.time()) - dt.datetime(1970, 1, 1)).total_seconds()
    )
    bounds = [
        (i, o, min(CHUNK_USERS, users - o)) for i, o in enumerate(range(0, users, CHUNK_USERS))
    ]
    bar = tqdm(total=len(bounds) + 2, desc=f"rush {run_id}", unit="step", disable=not progress)

    pops = []
    for ci, off, n in bounds:
        pops.append(make_population(seed, ci, off, n, p, 0))
        bar.update()
    user_ids = np.concatenate([pop.user_id for pop in pops])
    rng = rng_for(seed, _RUSH_STREAM)
    camp = live[rng.integers(0, len(live), claims)].astype(np.int8)
    who = np.empty(claims, np.int64)  # position among the users
    # held-out users get no offer at all, as in a simulation
    held = np.zeros(users, bool)
    for e, exp in enumerate(strategy.experiments):
        if plan.holdout_arms[e].any():
            held |= plan.holdout_arms[e][assign_arms(seed, exp.name, plan.arm_weights[e], user_ids)]
    for c in live:
        attempt = np.flatnonzero(camp == c)
        e = plan.arm_exp[c]
        if e < 0:
            eligible = np.flatnonzero(~held)
        else:
            exp = strategy.experiments[e]
            eligible = np.flatnonzero(
                (assign_arms(seed, exp.name, plan.arm_weights[e], user_ids) == plan.arm_idx[c])
                & ~held
            )
        if len(eligible) == 0 and len(attempt):
            raise ValueError(
                f"campaign {strategy.campaigns[c].name!r} has no users in its arm; "
                "raise users or the arm's weight"
            )
        who[attempt] = eligible[rng.integers(0, len(eligible), len(attempt))]
    t0 = day * DAY + hour * 3600
    # whole seconds of the burst, each as likely as its overlap with [0, seconds): counts
    # per second come out in time order, so no sort of the attempts is needed
    overlap = np.minimum(1.0, seconds - np.arange(int(np.ceil(seconds))))
    per_second = rng.multinomial(claims, overlap / overlap.sum())
    claimed = (t0 + np.repeat(np.arange(len(per_second)), per_second)).astype(np.int32)

    def of_users(field: str) -> np.ndarray:
        return np.concatenate([getattr(pop, field) for pop in pops])[who]

    attempts = Claims(
        campaign=camp,
        claimed=claimed,
        amount=face_values(plan, camp, rng.random(claims)).astype(np.int32),
        user_id=user_ids[who].astype(np.int32),
        person=of_users("person_id").astype(np.int32),
        phone=of_users("phone_id"),
        device=of_users("device_id"),
        ip=of_users("ip"),
        fraud=of_users("is_fraud"),
        real_name=of_users("real_name"),
    )
    outcome = enforce(attempts, plan, p, seed=seed)
    bar.update()

    new_run = dict(
        origin="synthetic",
        label=f"{strategy.name} claim rush",
        strategy=strategy.to_json(),
        seed=seed,
        n_users=users,
        days=day + 1,
        pre_days=0,
        start_date=start_date,
    )
    cc = camp.astype(np.int64)
    ok = outcome.status != REFUSED
    until = np.full(claims, -1, np.int64)
    until[ok] = valid_until(plan, cc[ok], outcome.issued[ok])
    with _landing(store, run_id, new_run, staged=claims >= _STAGE_MIN_CLAIMS) as write:
        _write_static(write, plan, make_weather(seed, day + 1, p), start_date, epoch)
        for pop in pops:
            write("users", users_table(pop, epoch))
        write(
            "coupons",
            pa.table(
                {
                    "coupon_id": np.arange(1, claims + 1, dtype=np.int64),
                    "stock_id": cc + 1,
                    "user_id": user_ids[who],
                    "platform": _dict(plan.platform[cc], PLATFORM_CODES),
                    "entry": _dict(_ENTRY_CODE[plan.entry_key[cc]], _ENTRY_DICT),
                    "claimed_at": _ts(claimed, epoch),
                    "status": _dict(outcome.status, schema.ISSUE_STATUSES),
                    "refusal_reason": _dict(outcome.reason, schema.REFUSAL_REASONS),
                    "issued_at": _ts(outcome.issued, epoch),
                    "latency_ms": outcome.latency_ms.astype(np.int32),
                    "amount_fen": _opt(attempts.amount, ~ok),
                    "transaction_minimum_fen": _opt(plan.minimum[cc], ~ok),
                    "valid_until": _ts(until, epoch),
                    "device_id": attempts.device,
                    "ip": attempts.ip,
                }
            ),
        )
        deliveries = np.zeros((plan.n, day + 1), np.int64)
        _write_metrics(
            write, engine_metrics(plan, deliveries, attempts, outcome, p, seed=seed), start_date
        )
    bar.update()
    bar.close()
    return run_id
