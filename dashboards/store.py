"""The dashboard's data-store layer: session state plus cached calls into ``lab``.

:class:`DataStore` holds what a session has selected (strategies, platform style, world
size, language) and answers every data question the views ask by calling ``lab``'s
public functions, never SQL. Results are memoised with :func:`panel.cache` across
sessions, keyed by the database file's version (size and modification time), so a
notebook that writes a new run invalidates the cache and the app picks the run up.

The main database is opened read-only. Edited strategies are simulated into scratch
in-memory stores, one per edited strategy, so the main file is never written.

Example
-------
>>> store = DataStore("data/lab.duckdb")  # doctest: +SKIP
>>> store.selected = store.run_ids()[:2]  # doctest: +SKIP
>>> store.comparison()  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import importlib
import json
import math
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import panel as pn
import param

import lab
from dashboards.names import run_names

DEFAULT_DB = Path("data") / "lab.duckdb"
MAX_SELECTED = 4
#: seconds a request waits for a writer's lock before cached results are served: none,
#: since the wait would sleep in the server's event loop, holding up every session
READ_WAIT = 0.0
#: 0 means "the size of the compared presets" (the default: edits compare in total too)
WORLD_SIZES = (0, 10_000, 50_000, 100_000)
PLATFORM_FILTERS = ("all", *lab.schema.PLATFORMS)
PLATFORM_STYLES = ("wechat", "alipay", "meituan", "mix")
ENTRY_KEYS = tuple(f"{p}/{e}" for p in lab.schema.PLATFORMS for e in lab.schema.ENTRIES[p])
LBS_RADII = (None, 1.0, 3.0, 5.0)
# Editor bounds: beyond them an edit is refused with a message in the page (a 3,000-rung
# ladder held the server for 52 s; 1e20 fen overflowed)
MAX_RUNGS = 12
MAX_YUAN = 100_000  # per threshold or coupon amount
MAX_RADIUS_KM = 50.0
MAX_BUDGET_YUAN = 1_000_000_000
HOLDOUT_SHARE = lab.world.DEFAULT_HOLDOUT_SHARE
# reported metrics shown per strategy (columns of lab.metrics' tables)
METRIC_COLUMNS = (
    "exposed_users",
    "claimers",
    "claim_conversion",
    "issued",
    "redeemed",
    "redemption_conversion",
    "redeemed_amount_fen",
    "aov_fen",
    "cost_fen",
    "roi",
)
# retention of claimers: any order on day k after the first claim
RETENTION = {"start_event": "claim", "return_event": "order", "period": "day", "max_periods": 14}
RETENTION_DAYS = (1, 7)
EXPERIMENT_METRICS = ("redeemed", "orders", "gmv", "redeemed_amount", "aov")
# scratch worlds kept in memory per server process; older ones are dropped
MAX_SCRATCH = 8

# Stores by key, so cached functions take plain strings (hashable) instead of objects.
_STORES: dict[str, lab.Store] = {}
_SCRATCH: OrderedDict[str, lab.Store] = OrderedDict()
_LOCK = threading.Lock()
_RUNG = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[:/]\s*(\d+(?:\.\d+)?)\s*$")


def parse_ladder(text: str) -> tuple[tuple[int, int], ...]:
    """Read a denomination ladder ``"50:5, 100:20"`` (yuan: threshold, amount) into fen pairs.

    An empty text means "keep each campaign's own coupon". Raises ``ValueError`` naming
    the rung that cannot be read.

    Example
    -------
    >>> parse_ladder("300:50, 100:20")
    ((30000, 5000), (10000, 2000))
    """
    if not isinstance(text, str):
        raise TypeError(f"ladder must be text such as '100:20, 300:50'; got {type(text).__name__}")
    parts = [p for p in (p.strip() for p in text.replace("，", ",").split(",")) if p]
    if len(parts) > MAX_RUNGS:
        raise ValueError(f"ladder: at most {MAX_RUNGS} rungs; got {len(parts)}")
    rungs = []
    for part in parts:
        m = _RUNG.match(part)
        if m is None:
            raise ValueError(
                f"ladder: cannot read {part[:40]!r}; write threshold:amount in yuan, e.g. 100:20"
            )
        values = [float(v) for v in m.groups()]
        if not all(math.isfinite(v) and v <= MAX_YUAN for v in values):
            raise ValueError(f"ladder: {part[:40]!r}: amounts go up to {MAX_YUAN:,} yuan")
        threshold, amount = (round(v * 100) for v in values)
        if amount <= 0 or (threshold and amount >= threshold):
            raise ValueError(f"ladder: {part!r} needs 0 < amount < threshold (or threshold 0)")
        rungs.append((threshold, amount))
    return tuple(rungs)


@dataclass(frozen=True)
class StrategyEdit:
    """What the editor changes on top of a platform-style preset (``platform_<style>``).

    ``entries`` are ``"platform/entry"`` keys (empty: the style's own entries);
    ``ladder`` is ``(threshold_fen, amount_fen)`` rungs (empty: keep each campaign's
    coupon); ``mechanic`` None keeps each campaign's mechanic; ``budget_yuan`` None is
    unlimited. A 10 % holdout is always added so incremental ROI can be measured.
    """

    style: str = "wechat"
    entries: tuple[str, ...] = ()
    ladder: tuple[tuple[int, int], ...] = ()
    segments: tuple[str, ...] = ()
    lbs_radius_km: float | None = None
    credit_tiers: tuple[int, ...] = ()
    mechanic: str | None = None
    risk_level: str = "basic"
    budget_yuan: int | None = None

    def __post_init__(self) -> None:
        if self.style not in PLATFORM_STYLES:
            raise ValueError(f"style must be one of {PLATFORM_STYLES}, got {self.style!r}")
        bad = [e for e in self.entries if e not in ENTRY_KEYS]
        if bad:
            raise ValueError(f"entries: unknown {bad}; allowed: {', '.join(ENTRY_KEYS)}")
        if self.mechanic is not None and self.mechanic not in lab.schema.MECHANICS:
            raise ValueError(
                f"mechanic must be one of {lab.schema.MECHANICS}, got {self.mechanic!r}"
            )
        if self.risk_level not in lab.schema.RISK_LEVELS:
            raise ValueError(
                f"risk_level must be one of {lab.schema.RISK_LEVELS}, got {self.risk_level!r}"
            )
        if self.budget_yuan is not None and not (
            isinstance(self.budget_yuan, int) and 0 < self.budget_yuan <= MAX_BUDGET_YUAN
        ):
            raise ValueError(
                f"budget_yuan must be a whole number from 1 to {MAX_BUDGET_YUAN:,} or None, "
                f"got {self.budget_yuan!r}"
            )
        radius = self.lbs_radius_km
        if radius is not None and not (
            isinstance(radius, int | float)
            and math.isfinite(radius)
            and 0 < radius <= MAX_RADIUS_KM
        ):
            raise ValueError(
                f"lbs_radius_km must be a distance above 0 and at most {MAX_RADIUS_KM:g} km, "
                f"or None; got {radius!r}"
            )
        if len(self.ladder) > MAX_RUNGS:
            raise ValueError(f"ladder: at most {MAX_RUNGS} rungs; got {len(self.ladder)}")
        for threshold, amount in self.ladder:
            if not (0 <= threshold <= MAX_YUAN * 100 and 0 < amount <= MAX_YUAN * 100):
                raise ValueError(
                    f"ladder: rung ({threshold}, {amount}) fen outside 0 to {MAX_YUAN:,} yuan"
                )

    def strategy(self):
        """The ``lab.world.Strategy`` this edit describes."""
        from lab.world import Campaign, Stock, Strategy, Targeting, preset

        base = preset(f"platform_{self.style}")
        by_entry = {f"{c.platform}/{c.entry}": c for c in base.campaigns}
        entries = self.entries or tuple(by_entry)
        targeting = Targeting(
            segments=tuple(self.segments),
            lbs_radius_km=self.lbs_radius_km,
            credit_tiers=tuple(self.credit_tiers),
        )
        campaigns = []
        for key in entries:
            platform, entry = key.split("/")
            template = by_entry.get(key) or Campaign(key, platform, entry, Stock(), frequency=0.3)
            # a ladder splits the entry's deliveries between its rungs
            rungs = self.ladder or (
                (template.stock.transaction_minimum_fen, template.stock.amount_fen),
            )
            for threshold, amount in rungs:
                stock = dataclasses.replace(
                    template.stock,
                    stock_type="threshold" if threshold else "no_threshold",
                    transaction_minimum_fen=threshold,
                    amount_fen=amount,
                )
                campaigns.append(
                    dataclasses.replace(
                        template,
                        name=f"{platform}_{entry}_{threshold // 100}_{amount // 100}",
                        stock=stock,
                        targeting=targeting,
                        mechanic=self.mechanic or template.mechanic,
                        risk_level=self.risk_level,
                        frequency=template.frequency / len(rungs),
                        unlock_amount_fen=None,
                    )
                )
        if self.budget_yuan is not None:
            share = self.budget_yuan * 100 // len(campaigns)
            campaigns = [
                dataclasses.replace(c, stock=dataclasses.replace(c.stock, total_budget_fen=share))
                for c in campaigns
            ]
        digest = hashlib.sha1(repr(self).encode()).hexdigest()[:8]
        return Strategy(
            f"edited_{self.style}_{digest}",
            campaigns=tuple(campaigns),
            description=f"Edited from platform_{self.style}: {self}",
            holdout_share=HOLDOUT_SHARE,
        )


#: incremental figures of a run (``lab.IncrementalGMV`` attribute or property -> column)
INCREMENTAL_COLUMNS = {
    "treatment_users": "treatment_users",
    "holdout_users": "holdout_users",
    "incremental_gmv_fen": "incremental_gmv_fen",
    "incremental_gmv_ci_low_fen": "ci_low_fen",
    "incremental_gmv_ci_high_fen": "ci_high_fen",
    "incremental_orders": "incremental_orders",
    "incremental_orders_ci_low": "orders_ci_low",
    "incremental_orders_ci_high": "orders_ci_high",
    "incremental_roi": "incremental_roi",
    "incremental_roi_ci_low": "roi_ci_low",
    "incremental_roi_ci_high": "roi_ci_high",
    "cost_per_incremental_order_fen": "cost_per_incremental_order_fen",
    "cost_per_incremental_order_ci_low_fen": "cpio_ci_low_fen",
    "cost_per_incremental_order_ci_high_fen": "cpio_ci_high_fen",
    "incremental_gmv_per_user_fen": "incremental_gmv_per_user_fen",
    "incremental_orders_per_user": "incremental_orders_per_user",
    "cost_per_user_fen": "cost_per_user_fen",
    "incremental_p_value": "p_value",
}


def incremental_row(inc) -> dict:
    """The incremental columns of one run from a ``lab.IncrementalGMV`` (NaN without one),
    plus ``gmv_per_cost`` with its interval."""
    nan = float("nan")
    row = {
        col: float(getattr(inc, attr)) if inc else nan for col, attr in INCREMENTAL_COLUMNS.items()
    }
    if inc is not None and inc.cost_fen > 0:
        row["gmv_per_cost"] = inc.incremental_gmv_fen / inc.cost_fen
        row["gmv_per_cost_ci_low"] = inc.ci_low_fen / inc.cost_fen
        row["gmv_per_cost_ci_high"] = inc.ci_high_fen / inc.cost_fen
    else:
        row.update(gmv_per_cost=nan, gmv_per_cost_ci_low=nan, gmv_per_cost_ci_high=nan)
    return row


def _store_version(store: lab.Store) -> str:
    """A string that changes whenever the file's content may have changed (its WAL too)."""
    if store.in_memory:
        return "memory"
    parts = []
    for path in (store.path, f"{store.path}.wal"):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue
        parts.append(f"{st.st_size}-{st.st_mtime_ns}")
    return "/".join(parts)


# Version of each store's last successful read: while a writer holds the file, results
# of that version (the last consistent state) are served from the cache.
_LAST_GOOD: dict[str, str] = {}
_WRITER_SEEN: dict[str, tuple[float, str | None]] = {}


def _consistent(cached, name: str, store_key: str, version: str, *args) -> object:
    """``cached(name, store_key, version, *args)``, or the last consistent version's result
    when a writer holds the file (``lab.StoreBusyError`` if that was never computed)."""
    try:
        result = cached(name, store_key, version, *args)
    except lab.StoreBusyError:
        last = _LAST_GOOD.get(store_key)
        if last is None or last == version:
            raise
        return cached(name, store_key, last, *args)
    _LAST_GOOD[store_key] = version
    return result


def _resolve(func_name: str):
    """``"funnel.funnel"`` -> ``lab.funnel.funnel`` (only names under ``lab``)."""
    module_name, _, attr = func_name.rpartition(".")
    module = importlib.import_module(f"lab.{module_name}" if module_name else "lab")
    return getattr(module, attr)


@pn.cache(max_items=1024)
def _cached_call(func_name: str, store_key: str, version: str, kwargs: tuple) -> object:
    """Call ``lab.<func_name>(store, **kwargs)``; ``version`` only keys the cache."""
    del version
    return _resolve(func_name)(_STORES[store_key], **dict(kwargs))


@pn.cache(max_items=64)
def _cached_method(method: str, store_key: str, version: str, *args: str) -> object:
    """Call ``store.<method>(*args)`` (``info``, ``run``), memoised per file version."""
    del version
    return getattr(_STORES[store_key], method)(*args)


def model_available(name: str) -> bool:
    """Whether ``lab.<name>`` (a module, or ``module.function``) exists in this checkout."""
    module, _, attr = name.partition(".")
    try:
        found = importlib.import_module(f"lab.{module}")
    except ImportError:
        return False
    return not attr or hasattr(found, attr)


class DataStore(param.Parameterized):
    """Session state of the dashboard and the only way views reach data.

    Parameters
    ----------
    db_path : str or Path
        DuckDB file written by ``lab`` (opened read-only).
    **params
        Initial values of the parameters below.

    Example
    -------
    >>> ds = DataStore("data/lab.duckdb")  # doctest: +SKIP
    >>> ds.param.update(selected=ds.run_ids()[:3], language="zh")  # doctest: +SKIP
    """

    selected = param.ListSelector(default=[], objects=[], doc="Run ids compared (2-4).")
    platform = param.Selector(
        default="all", objects=list(PLATFORM_FILTERS), doc="Platform the views show."
    )
    style = param.Selector(
        default="wechat", objects=list(PLATFORM_STYLES), doc="Platform style of edits."
    )
    world_size = param.Selector(
        default=WORLD_SIZES[0],
        objects=list(WORLD_SIZES),
        doc="Users in edited worlds; 0: as many as the compared presets.",
    )
    goal = param.Selector(
        default=lab.decision.GOALS[0], objects=list(lab.decision.GOALS), doc="Goal metric."
    )
    baseline = param.String(default="", doc="Run the winner is compared with ('' = runner-up).")
    max_fraud_share = param.Number(
        default=lab.Guardrails().max_fraud_share,
        bounds=(0, 1),
        doc="Guardrail: largest share of coupons issued to accounts the risk model blocks.",
    )
    max_cost_per_user_fen = param.Number(
        default=None,
        allow_None=True,
        bounds=(0, None),
        doc="Guardrail: largest coupon cost per assigned user (fen); None: no limit.",
    )
    notice = param.String(default="", doc="Last change to the selection the user should know of.")
    language = param.Selector(default="en", objects=["en", "zh"], doc="Interface language.")
    scratch_runs = param.List(default=[], doc="Run ids of strategies edited in this session.")
    busy = param.Boolean(default=False, doc="A simulation is running.")

    def __init__(self, db_path: str | Path = DEFAULT_DB, **params) -> None:
        self.db_path = str(db_path)
        # a writer may hold the file: a read does not wait for it (READ_WAIT), the last
        # consistent results are served from the cache (docs/reliability.md)
        self.main = lab.Store(self.db_path, read_only=True, lock_timeout=READ_WAIT)
        self._main_key = f"main:{Path(self.db_path).resolve()}"
        # comparison tables by selection, platform and data version (a session's recent ones)
        self._comparisons: OrderedDict[tuple, pd.DataFrame] = OrderedDict()
        _STORES[self._main_key] = self.main
        super().__init__(**params)
        self.refresh_runs()
        if not self.selected:
            self.selected = self.run_ids()[:2]

    # -- runs --------------------------------------------------------------------------
    def _key_for(self, run_id: str) -> tuple[str, str]:
        scratch_key = f"scratch:{run_id}"
        if scratch_key in _STORES:
            return scratch_key, "memory"
        return self._main_key, _store_version(self.main)

    def store_for(self, run_id: str) -> lab.Store:
        """The ``lab.Store`` holding ``run_id`` (main file or a scratch world)."""
        return _STORES[self._key_for(run_id)[0]]

    def run_info(self, run_id: str) -> dict:
        """The run's ``runs`` row (``lab.Store.run``), memoised."""
        key, version = self._key_for(run_id)
        return _consistent(_cached_method, "run", key, version, run_id)

    def runs(self) -> pd.DataFrame:
        """Runs of the main store (``lab.Store.info``) plus this session's edited runs."""
        frames = [_consistent(_cached_method, "info", self._main_key, _store_version(self.main))]
        for run_id in self.scratch_runs:
            key = f"scratch:{run_id}"
            if key in _STORES:
                frames.append(
                    _cached_method("info", key, f"memory:{id(_STORES[key])}").assign(
                        origin="edited"
                    )
                )
        frames = [f for f in frames if not f.empty]
        if not frames:
            return pd.DataFrame(columns=["run_id", "origin", "label"])
        return pd.concat(frames, ignore_index=True)

    def run_ids(self) -> list[str]:
        return self.runs()["run_id"].astype(object).tolist()

    def run_options(self) -> dict[str, str]:
        """``{display name: run_id}`` for the strategy picker.

        The picker (Choices.js) renders names as HTML, and labels come from data (an
        imported file's name, say), so names are HTML-escaped here.
        """
        return {html.escape(name): run_id for run_id, name in self.labels().items()}

    def writer(self) -> str | None:
        """The process writing to the main database now, or None (asks without waiting;
        one answer per second serves every session)."""
        now = time.monotonic()
        seen = _WRITER_SEEN.get(self._main_key)
        if seen is None or now - seen[0] > 1.0:
            seen = _WRITER_SEEN[self._main_key] = (now, self.main.writer())
        return seen[1]

    def compared(self) -> list[str]:
        """The selected runs that still exist (a scratch world may have been dropped)."""
        known = set(self.run_ids())
        return [r for r in self.selected if r in known]

    def refresh_runs(self) -> None:
        """Re-read the run list (new runs written by a notebook appear)."""
        ids = self.run_ids()
        self.param.selected.objects = ids
        kept = [r for r in self.selected if r in ids]
        if kept != self.selected:
            self.selected = kept

    # -- data for views ----------------------------------------------------------------
    def call(self, func_name: str, run_id: str, **kwargs) -> object:
        """``lab.<func_name>(store_of(run_id), run=run_id, **kwargs)``, memoised."""
        key, version = self._key_for(run_id)
        return _consistent(
            _cached_call, func_name, key, version, tuple(sorted({"run": run_id, **kwargs}.items()))
        )

    def platform_filter(self) -> str | None:
        """The platform the views restrict to, or None for all platforms (``all``, ``mix``)."""
        return self.platform if self.platform in lab.schema.PLATFORMS else None

    def result(self, func_name: str, run_id: str, **kwargs) -> object:
        """A model result of one run, broken down by platform when a platform is chosen."""
        if self.platform_filter() is not None:
            kwargs["by"] = "platform"
        return self.call(func_name, run_id, **kwargs)

    def frame(self, func_name: str, *, part: str = "to_frame", **kwargs) -> pd.DataFrame:
        """A table of every selected run's result, stacked, with ``run_id`` and ``strategy``.

        ``part`` is ``"to_frame"`` (the result's tidy table) or the name of a DataFrame
        attribute of the result (e.g. ``"curves"``). With a platform chosen, only that
        platform's rows are kept (the model is called with ``by="platform"``).
        """
        labels = self.labels()
        frames = [
            self.frame_of(run_id, func_name, part=part, **kwargs).assign(
                run_id=run_id, strategy=labels[run_id]
            )
            for run_id in self.compared()
        ]
        if not frames:
            return pd.DataFrame()
        return pd.concat(frames, ignore_index=True)

    def labels(self) -> dict[str, str]:
        """``{run_id: human name}`` in the session's language (:mod:`dashboards.names`)."""
        return run_names(self.runs().to_dict("records"), self.language)

    def overview(self) -> pd.DataFrame:
        """One row per selected run: label, origin, size and row counts (``Store.info``)."""
        runs = self.runs().set_index("run_id")
        out = runs.loc[self.compared()].reset_index()
        out["label"] = out["run_id"].map(self.labels())
        return out

    def metrics(self, run_id: str) -> dict:
        """Reported metrics of one run (``lab.metrics.campaign_metrics``) and, for the whole
        run, the holdout's incremental GMV and ROI with their intervals."""
        res = self.result("metrics.campaign_metrics", run_id, by=None)
        platform = self.platform_filter()
        if platform is None:
            rows = res.total
        else:
            rows = res.groups[res.groups["platform"].astype(object) == platform]
        row = {c: rows[c].iloc[0] if len(rows) else float("nan") for c in METRIC_COLUMNS}
        inc = res.incremental if platform is None else None
        row.update(incremental_row(inc))
        row["missing_reason"] = (
            ("platform_filter" if platform is not None else "no_holdout") if inc is None else ""
        )
        return row

    def fraud(self, run_id: str) -> dict:
        """Share of issued coupons taken by accounts the risk model blocks
        (``lab.risk.score_accounts``) and, for simulated runs, by true ring accounts
        (``lab.risk.evaluate_risk``, the C9 scorecard). Whole run only."""
        nan = float("nan")
        if self.platform_filter() is not None:
            return {"fraud_share_flagged": nan, "fraud_share_true": nan}
        true_share = nan
        if self.run_info(run_id)["origin"] == "synthetic":
            # the cached scores (same object for the same run) key this cache entry
            result = self.call("risk.score_accounts", run_id)
            true_share = self.call("risk.evaluate_risk", run_id, scores=result)["ring_coupon_share"]
        return {"fraud_share_flagged": self.fraud_share(run_id), "fraud_share_true": true_share}

    def fraud_share(self, run_id: str) -> float:
        """Share of the run's issued coupons taken by accounts the risk model blocks, whole
        run (the guardrail's figure whatever platform is shown). One cached
        ``lab.risk.score_accounts`` call serves this, the cards and the experiments."""
        scores = self.call("risk.score_accounts", run_id).frame
        issued = scores["n_issued"].sum()
        flagged = scores.loc[scores["decision"] == "block", "n_issued"].sum()
        return float(flagged / issued) if issued else float("nan")

    def blocked_users(self, run_id: str) -> tuple[int, ...]:
        """Accounts the risk model blocks (``lab.risk.score_accounts``), sorted."""
        scores = self.call("risk.score_accounts", run_id).frame
        return tuple(sorted(int(u) for u in scores.loc[scores["decision"] == "block", "user_id"]))

    def comparison(self) -> pd.DataFrame:
        """The comparison table of the selected runs (one row per run), as downloaded.

        Columns: the run (``run_id``, ``label``, ``origin``, ``n_users``, ``days``), the
        reported metrics of :data:`METRIC_COLUMNS`, ``incremental_*`` (holdout), fraud
        shares, retention on days 1 and 7 after the claim and the redemption cycle.
        """
        runs = self.compared()
        memo_key = (tuple(runs), self.platform, *(self._key_for(r) for r in runs))
        if memo_key in self._comparisons:
            table = self._comparisons[memo_key].copy()
            table["label"] = table["run_id"].map(self.labels())  # names follow the language
            return table
        base = self.overview()[["run_id", "label", "origin", "n_users", "days"]]
        rows = []
        for run_id in runs:
            row = {"run_id": run_id, **self.metrics(run_id), **self.fraud(run_id)}
            curves = self.frame_of(run_id, "retention.retention", part="curves", **RETENTION)
            for k in RETENTION_DAYS:
                rate = curves.loc[curves["period"] == k, "rate"]
                row[f"retention_d{k}"] = float(rate.iloc[0]) if len(rate) else float("nan")
            cycle = self.frame_of(run_id, "cycle.redemption_cycle")
            for c in ("mean_cycle_days", "median_cycle_days"):
                row[c] = float(cycle[c].iloc[0]) if len(cycle) else float("nan")
            rows.append(row)
        table = base.merge(pd.DataFrame(rows), on="run_id", how="left") if rows else base
        self._comparisons[memo_key] = table
        while len(self._comparisons) > 32:
            self._comparisons.popitem(last=False)
        return table.copy()

    def frame_of(
        self, run_id: str, func_name: str, *, part: str = "to_frame", **kwargs
    ) -> pd.DataFrame:
        """One run's result table, restricted to the chosen platform (see :meth:`frame`)."""
        res = self.result(func_name, run_id, **kwargs)
        df = res.to_frame() if part == "to_frame" else getattr(res, part).copy()
        platform = self.platform_filter()
        if platform is not None:
            df = df[df["platform"].astype(object) == platform].drop(columns="platform")
        return df.reset_index(drop=True)

    def experiments(self) -> list[tuple[str, str]]:
        """``(run_id, experiment)`` of the selected runs, from each run's strategy JSON."""
        pairs = []
        for run_id in self.compared():
            text = self.run_info(run_id)["strategy_json"]
            try:
                spec = json.loads(text) if text else {}
            except ValueError:
                spec = {}  # imported runs keep import options here, not a strategy
            for exp in spec.get("experiments", []) if isinstance(spec, dict) else []:
                pairs.append((run_id, exp["name"]))
        return pairs

    def analysis(self, run_id: str, experiment: str, *, covariate: str | None = None):
        """``lab.experiments.analyze`` of one experiment (all arms vs the control);
        ``covariate="pre_gmv"`` applies CUPED."""
        extra = {"covariate": covariate} if covariate else {}
        return self.call(
            "experiments.analyze",
            run_id,
            experiment=experiment,
            metrics=EXPERIMENT_METRICS,
            **extra,
        )

    # -- edited strategies ---------------------------------------------------------------
    def simulation_settings(self) -> dict:
        """Days, pre-period, start date and seed of edited runs: those of the first selected
        simulated run, so an edit shares its users and weather (common random numbers)."""
        for run_id in self.compared():
            info = self.run_info(run_id)
            if info["origin"] == "synthetic" and info["days"]:
                return {
                    "days": int(info["days"]),
                    "pre_days": int(info["pre_days"] or 0),
                    "seed": int(info["seed"] or 0),
                    "start_date": pd.Timestamp(info["start_date"]).date(),
                }
        return {"days": 28, "pre_days": 28, "seed": 0}

    def preset_users(self) -> int:
        """Users of the first selected simulated run (edits simulate at this size)."""
        for run_id in self.compared():
            info = self.run_info(run_id)
            if info["origin"] == "synthetic" and info.get("n_users"):
                return int(info["n_users"])
        return 100_000

    def simulate_edit(
        self, edit: StrategyEdit, *, users: int | None = None
    ) -> tuple[str, lab.Store]:
        """Simulate ``edit`` into a new in-memory store; return ``(run_id, store)``.

        Touches no session state, so it can run in a worker thread; pass the result
        to :meth:`add_scratch` on the session's thread. The same edit at the same size
        and settings is simulated once per server process.
        """
        from lab.world import simulate

        users = users or self.world_size or self.preset_users()
        settings = self.simulation_settings()
        strategy = edit.strategy()
        run_id = f"{strategy.name}_{users // 1000}k"
        key = f"scratch:{run_id}"
        with _LOCK:
            if key in _STORES:
                return run_id, _STORES[key]
        scratch = lab.Store(":memory:")
        simulate(strategy, store=scratch, users=users, run_id=run_id, progress=False, **settings)
        with _LOCK:
            _STORES[key] = _SCRATCH[key] = scratch
            while len(_SCRATCH) > MAX_SCRATCH:
                old, store = _SCRATCH.popitem(last=False)
                _STORES.pop(old, None)
                store.close()
        return run_id, scratch

    def add_scratch(self, run_id: str) -> str | None:
        """Add a simulated edit to this session's runs and to the comparison.

        At most :data:`MAX_SELECTED` strategies are compared: when the comparison is
        full, the last selected one makes room. Returns the run id it replaced (also
        kept in :attr:`notice`) so the page can say so, else None.
        """
        if run_id not in self.scratch_runs:
            self.scratch_runs = [*self.scratch_runs, run_id]
        self.refresh_runs()
        dropped = None
        if run_id not in self.selected:
            if len(self.selected) >= MAX_SELECTED:
                dropped = self.selected[MAX_SELECTED - 1]
            self.selected = [*self.selected[: MAX_SELECTED - 1], run_id]
        self.notice = dropped or ""
        return dropped

    # -- the decision ------------------------------------------------------------------
    def outcome(self, run_id: str):
        """``lab.strategy_outcome`` of one run, with its whole-run fraud share, memoised."""
        fraud = self.fraud_share(run_id)
        # an unknown share is left to the model's default: a NaN in the cache key never
        # matches itself, so every request would recompute the outcome
        known = {} if math.isnan(fraud) else {"fraud_share": fraud}
        # named in the session's language after the cached computation: a language
        # switch computes nothing, and so works while a writer holds the file
        outcome = self.call("decision.strategy_outcome", run_id, **known)
        return dataclasses.replace(outcome, label=self.labels()[run_id])

    def guardrails(self):
        """The session's guardrails (``lab.Guardrails``): fraud share and cost per user."""
        return lab.Guardrails(
            max_fraud_share=self.max_fraud_share, max_cost_per_user_fen=self.max_cost_per_user_fen
        )

    def decision(self):
        """``lab.decide`` over the compared runs on the chosen goal, baseline and guardrails."""
        runs = self.compared()
        baseline = self.baseline if self.baseline in runs else None
        return lab.decide(
            [self.outcome(r) for r in runs],
            goal=self.goal,
            baseline=baseline,
            guardrails=self.guardrails(),
        )

    def experiment_decision(
        self, run_id: str, experiment: str, arm: str | None = None, *, cuped: bool = True
    ):
        """``lab.experiment_decision`` of one stored experiment with the fraud guardrail
        (the risk model's blocked accounts, the session's limit), memoised."""
        return self.call(
            "decision.experiment_decision",
            run_id,
            experiment=experiment,
            arm=arm,
            cuped=cuped,
            blocked_users=self.blocked_users(run_id),
            max_fraud_share=self.max_fraud_share,
        )

    def incremental(self, run_id: str):
        """The run's holdout figures (``lab.IncrementalGMV``) or None."""
        return self.call("metrics.campaign_metrics", run_id, by=None).incremental
