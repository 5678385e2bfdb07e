"""Import of the platform formats (``wechatpay``, ``alipay``, ``mapped``): find the files,
hash them, validate everything in a staging database, then write the run in one
transaction (the only step that holds the store's lock)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from lab._outcomes import refresh_experiment_users
from lab.ingest import _alipay, _mapped, _wechatpay
from lab.ingest import _platform as P
from lab.ingest._errors import LogImportError
from lab.ingest._stage import staging
from lab.store import Store, StoreError, bulk_threads

PLATFORM_FORMATS = ("wechatpay", "alipay", "mapped")
_JSON = (".json", ".jsonl", ".ndjson")
ASSIGNMENTS = "assignments.csv"
_USER_COL = {"wechatpay": "openid", "alipay": "buyer_user_id"}


def _files(src: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if src.is_file():
        return [src]
    found = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    if not found:
        raise LogImportError(str(src), f"no files to import (expected {', '.join(suffixes)} files)")
    return found


def _classify(fmt: str, paths: list[Path]) -> dict[str, list]:
    """Sort files into the kinds each reader takes (JSON files are opened here)."""
    kinds: dict[str, list] = {}
    for path in paths:
        if path.name.lower() == ASSIGNMENTS:
            kinds.setdefault("assignments", []).append(path)
            continue
        if fmt == "alipay" and path.suffix.lower() in (".csv", ".zip"):
            kinds.setdefault("bills", []).append(path)
            continue
        if path.suffix.lower() not in _JSON:
            raise LogImportError(str(path), f"not a {fmt} file (expected JSON)")
        file = P.open_json(path)
        record = P.first_record(file)
        if record is None:
            continue  # an empty file brings nothing
        kind = (_wechatpay.kind_of if fmt == "wechatpay" else _alipay.kind_of)(record)
        if kind is None:
            what = (
                "a stock, user coupon, COUPON.USE notification or payment result"
                if fmt == "wechatpay"
                else "a trade query result (trade_no) or a user voucher (user_voucher_base_info)"
            )
            raise LogImportError(
                str(path), f"cannot tell what the records are: expected {what}", line=None
            )
        kinds.setdefault(kind, []).append(file)
    return kinds


def import_platform(
    src: Path,
    *,
    store: Store,
    format: str,
    run_id: str | None,
    label: str | None,
    apiv3_key: bytes | str | None,
    mapping: str | Path | None,
    threads: int | None = None,
) -> str:
    """See :func:`lab.ingest.import_logs`."""
    if format == "mapped":
        if mapping is None:
            raise ValueError("format='mapped' needs mapping= (a YAML mapping file)")
        plan = _mapped.load_mapping(Path(mapping), base=src)
        paths = [*plan.paths(), Path(mapping)]
    else:
        suffixes = _JSON + ((".csv", ".zip") if format == "alipay" else (".csv",))
        paths = _files(src, suffixes)
        if format == "wechatpay":
            paths = [p for p in paths if p.suffix.lower() in _JSON or p.name.lower() == ASSIGNMENTS]
    if isinstance(apiv3_key, str):
        apiv3_key = apiv3_key.encode()
    listing = "".join(f"{p.name}\0{_sha256(p)}\n" for p in sorted(paths, key=lambda p: p.name))
    sha = hashlib.sha256(f"{format}\n{listing}".encode()).hexdigest()
    with store.connect() as con:
        done = imported_before(con, sha)
        if done:
            return done
        run_id = run_id or f"{src.stem if src.is_file() else src.name}-{sha[:8]}"
        if store.has_run(run_id):
            raise StoreError(f"run {run_id!r} exists already in {store.path}; delete it first")
    # Files are read and checked in a staging database: the store's file stays free for
    # readers until the checked records are written (lab/ingest/_stage.py).
    with staging(store, threads=bulk_threads() if threads is None else threads) as stage:
        if format == "mapped":
            tables = _mapped.read(stage.con, plan, temporary=stage.temporary)
        else:
            kinds = _classify(format, paths)
            P.create_empty(stage.con, temporary=stage.temporary)
            if format == "wechatpay":
                _wechatpay.read(stage.con, kinds, apiv3_key=apiv3_key)
            else:
                _alipay.read(stage.con, kinds)
            for path in kinds.get("assignments", []):
                P.read_assignments(stage.con, path, user_col=_USER_COL[format])
            tables = P.canonical(stage.con)
        with stage.publish(store, tables) as (con, staged):
            done = imported_before(con, sha)  # by another process while this one checked
            if done:
                return done
            if format == "mapped":
                size = _mapped.insert(con, plan, staged, run_id=run_id)
            else:
                platform = "wechat" if format == "wechatpay" else "alipay"
                size = P.write_run(con, staged, run_id=run_id, platform=platform)
            _record(store, run_id, src, format, paths, sha, label, size)
    return run_id


def imported_before(con, sha: str) -> str | None:
    """The run imported from the same bytes (``runs.source_sha256``), if any."""
    found = con.execute(
        "SELECT run_id FROM runs WHERE source_sha256 = ? ORDER BY created_at, run_id LIMIT 1",
        [sha],
    ).fetchone()
    return found[0] if found else None


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            sha.update(chunk)
    return sha.hexdigest()


def _record(store: Store, run_id, src: Path, fmt, paths, sha, label, size: dict) -> None:
    store.create_run(
        run_id,
        origin="import",
        label=label or src.name,
        strategy={"format": fmt, "files": sorted(p.name for p in paths)},
        source_path=str(src.resolve()),
        source_sha256=sha,
        **size,
    )
    refresh_experiment_users(store, run_id)  # derived table, in the import's transaction
