"""``import_logs``: validate a log and store it as a new run, all or nothing."""

from __future__ import annotations

import hashlib
import re
import zoneinfo
from pathlib import Path

import pyarrow.parquet as pq

from lab import schema
from lab._outcomes import refresh_experiment_users
from lab.ingest import _lab, _tianchi
from lab.ingest._errors import LogImportError
from lab.ingest._platforms import PLATFORM_FORMATS, import_platform, imported_before
from lab.ingest._source import digest, load
from lab.ingest._stage import staging
from lab.store import SchemaVersionError, Store, StoreError, bulk_threads, check_threads

FORMATS = ("auto", "tianchi", "lab", "wechatpay", "alipay", "mapped")
#: the local time zone of a run's timestamps unless an import names another
DEFAULT_TIMEZONE = "Asia/Shanghai"
_SUFFIXES = (".csv", ".parquet")


def import_logs(
    path: str | Path,
    *,
    store: Store,
    format: str = "auto",
    run_id: str | None = None,
    label: str | None = None,
    table: str | None = None,
    apiv3_key: bytes | str | None = None,
    mapping: str | Path | None = None,
    encoding: str | None = None,
    timezone: str = DEFAULT_TIMEZONE,
    threads: int | None = None,
) -> str:
    """Validate a log file (or directory) and store it as a new run, in one transaction.

    Parameters
    ----------
    path : str or Path
        A Tianchi O2O CSV file, a lab-format directory, or one lab-format file.
    store : Store, keyword-only
        Where to write (opened writable).
    format : {"auto", "tianchi", "lab", "wechatpay", "alipay", "mapped"}, keyword-only
        ``auto`` reads a directory as ``lab``, a file whose header is the Tianchi one as
        ``tianchi``, and a file named after a table (``users.csv``) as ``lab``. The
        platform formats (WeChat Pay, Alipay, a CSV/Parquet column mapping) are never
        guessed: see ``docs/real-logs.md``.
    run_id : str, optional, keyword-only
        Id of the new run; default ``<file or directory name>-<first 8 hex digits of its
        SHA-256>``.
    label : str, optional, keyword-only
        Human-readable name of the run; default the file or directory name.
    table : str, optional, keyword-only
        Lab format, single file: the table it holds (default: the file's stem).
    apiv3_key : bytes or str, optional, keyword-only
        WeChat Pay: the merchant's APIv3 key (32 bytes), to decrypt ``COUPON.USE``
        notifications stored encrypted.
    mapping : str or Path, optional, keyword-only
        ``format="mapped"``: the YAML mapping file (see ``docs/mapping-example.yml``).
    encoding : str, optional, keyword-only
        Text encoding of CSV files (any Python codec name, e.g. ``"gbk"``). Default:
        UTF-8 (with or without BOM), UTF-16 with a BOM, else GB18030 (which reads GBK).
    timezone : str, keyword-only
        IANA name of the run's local time zone (default ``Asia/Shanghai``). Timestamps
        with an offset (``+08:00``, ``Z``, tz-aware Parquet) are converted to it;
        timestamps without one are taken as local time already. The result does not
        depend on the machine's ``TZ``.
    threads : int, optional, keyword-only
        DuckDB threads for parsing, checking and inserting (every format). Default
        :func:`lab.store.bulk_threads`: every core but one, so readers on the same
        machine keep a core. The store's file is locked only while the checked rows are
        inserted, not while they are parsed and checked.

    Returns
    -------
    str
        The run id. Importing bytes that were imported before (same SHA-256, recorded in
        ``runs.source_sha256``) writes nothing and returns the earlier run's id.

    Raises
    ------
    LogImportError
        Bad input, naming the file, line, column and reason. Nothing is written.
    StoreError
        The store is read-only, or ``run_id`` exists already.

    Examples
    --------
    >>> import lab
    >>> store = lab.Store(":memory:")
    >>> run = import_logs("ccf_offline_stage1_test_revised.csv", store=store)  # doctest: +SKIP
    """
    if format not in FORMATS:
        log_formats = ", ".join(f for f in FORMATS if f not in PLATFORM_FORMATS)
        raise ValueError(
            f"format must be one of {log_formats}; got {format!r} (platform formats: "
            f"{', '.join(PLATFORM_FORMATS)})"
        )
    _check_timezone(timezone)
    if threads is not None:
        check_threads(threads)
    if encoding is not None:
        _check_encoding(encoding)
    src = Path(path)
    if not src.exists():
        raise LogImportError(str(src), "no such file or directory")
    if store.read_only:
        raise StoreError(f"{store.path} is open read-only; open it with read_only=False to import")
    if format in PLATFORM_FORMATS:
        return import_platform(
            src,
            store=store,
            format=format,
            run_id=run_id,
            label=label,
            apiv3_key=apiv3_key,
            mapping=mapping,
            threads=threads,
        )
    fmt, files = _plan(src, format, table, encoding)
    facts = {t: digest(p, encoding=encoding) for t, p in files.items()}
    if src.is_dir():
        listing = "".join(f"{files[t].name}\0{facts[t].sha256}\n" for t in sorted(files))
        sha = hashlib.sha256(listing.encode()).hexdigest()
    else:
        sha = next(iter(facts.values())).sha256

    with store.connect() as con:
        done = imported_before(con, sha)
        if done:
            return done
        run_id = run_id or f"{src.stem if src.is_file() else src.name}-{sha[:8]}"
        if store.has_run(run_id):
            raise StoreError(f"run {run_id!r} exists already in {store.path}; delete it first")
    # Files are parsed and checked in a staging database: the store's file stays free for
    # readers until the checked rows are inserted (lab/ingest/_stage.py). Staged tables are
    # created before the transaction: only committed tables number their rows from 0 in
    # file order (``rowid``), which error messages and coupon ids rely on.
    with staging(store, threads=bulk_threads() if threads is None else threads) as stage:
        if fmt == "tianchi":
            (file,) = files.values()
            source = load(
                stage.con,
                file,
                name="_lab_import_tianchi",
                expected=_tianchi.COLUMNS,
                facts=facts["tianchi"],
                workdir=stage.workdir,
                temporary=stage.temporary,
            )
            if not source.n_rows:
                raise LogImportError(str(file), "no data rows after the header", line=2)
            source.check(_tianchi.checks())
            _tianchi.check_coupons(source)
            sources = {"tianchi": source}
        else:
            sources = {}
            for name, file in files.items():
                sources[name] = source = load(
                    stage.con,
                    file,
                    name=f"_lab_import_{name}",
                    expected=_lab.expected_columns(name),
                    optional=("run_id",),
                    facts=facts[name],
                    workdir=stage.workdir,
                    temporary=stage.temporary,
                )
                _lab.validate(source, name)
        with stage.publish(store, sources) as (con, staged):
            done = imported_before(con, sha)  # by another process while this one checked
            if done:
                return done
            if fmt == "tianchi":
                size = _tianchi.insert(staged["tianchi"], run_id=run_id)
            else:
                for name, source in staged.items():
                    _lab.insert(source, name, run_id=run_id, timezone=timezone)
                size = _lab_size(con, run_id)
            _record(store, run_id, src, fmt, files, sha, label, size, timezone)
    return run_id


def _check_timezone(timezone: object) -> None:
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(
            f"timezone must be an IANA time zone name such as 'Asia/Shanghai'; got {timezone!r}"
        ) from None


def _check_encoding(encoding: object) -> None:
    import codecs

    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise ValueError(
            f"encoding must be a text encoding such as 'utf-8', 'gbk' or 'utf-16'; got {encoding!r}"
        ) from None


def _record(
    store: Store,
    run_id: str,
    src: Path,
    fmt: str,
    files: dict,
    sha: str,
    label,
    size: dict,
    timezone: str,
) -> None:
    store.create_run(
        run_id,
        origin="import",
        label=label or src.name,
        strategy={
            "format": fmt,
            "files": sorted(p.name for p in files.values()),
            "timezone": timezone,
        },
        source_path=str(src.resolve()),
        source_sha256=sha,
        **size,
    )
    refresh_experiment_users(store, run_id)  # derived table, in the import's transaction


def _plan(
    src: Path, format: str, table: str | None, encoding: str | None
) -> tuple[str, dict[str, Path]]:
    """Resolve the format and the files to read, keyed by table (``tianchi`` for Tianchi)."""
    if table is not None and table not in _lab.TABLES:
        raise ValueError(f"table must be one of {', '.join(_lab.TABLES)}; got {table!r}")
    if src.is_dir():
        if format == "tianchi":
            raise LogImportError(str(src), "a Tianchi log is one CSV file, not a directory")
        if table is not None:
            raise ValueError(
                "table= applies to a single file; a directory names its tables by file name"
            )
        return "lab", _lab_files(src)
    if format == "auto":
        format = "tianchi" if _has_tianchi_header(src, encoding) else "lab"
        if format == "lab" and (table or src.stem) not in _lab.TABLES:
            raise LogImportError(
                str(src),
                "cannot tell the format: expected the Tianchi O2O header "
                f"({','.join(_tianchi.COLUMNS)}) or a file named after a lab table "
                f"({', '.join(_lab.TABLES)}); pass format= (and table=)",
            )
    if format == "tianchi":
        if src.suffix.lower() != ".csv":
            raise LogImportError(str(src), "a Tianchi log is a .csv file")
        return "tianchi", {"tianchi": src}
    name = table or src.stem
    if name not in _lab.TABLES:
        raise LogImportError(
            str(src),
            f"not a lab table; name the file after one of {', '.join(_lab.TABLES)} or pass table=",
        )
    if src.suffix.lower() not in _SUFFIXES:
        raise LogImportError(str(src), "lab-format files are .csv or .parquet")
    return "lab", {name: src}


def _lab_files(directory: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() not in _SUFFIXES:
            continue  # READMEs and the like travel with logs
        _check_readable(path)
        name = path.stem
        if name == "runs":
            raise LogImportError(
                str(path),
                "the runs table is not imported (an import creates its own run); a directory "
                "written by `python -m lab export` loads with Store.import_parquet "
                "(`python -m lab import` does this)",
            )
        if name not in _lab.TABLES:
            spec = schema.TABLE_BY_NAME.get(name)
            reason = (
                "not a lab table"
                if spec is None
                else f"{name} is derived from the logs on import"
                if spec.derived
                else "truth tables come only from the simulator"
            )
            raise LogImportError(
                str(path), f"{reason}; table files are {', '.join(_lab.TABLES)} (.csv or .parquet)"
            )
        if name in files:
            raise LogImportError(
                str(path), f"table {name} given twice ({files[name].name} and {path.name})"
            )
        files[name] = path
    if not files:
        raise LogImportError(
            str(directory),
            f"no table files; expected some of {', '.join(_lab.TABLES)} (.csv or .parquet)",
        )
    return files


def _check_readable(path: Path) -> None:
    """A table file must be a regular file that can be opened (not a FIFO, a dangling
    symlink or a symlink loop): skipping it would import the run without that table."""
    try:
        regular = path.is_file()
        if regular:
            with open(path, "rb"):
                pass
    except OSError as exc:
        raise LogImportError(str(path), f"cannot read the table file: {exc.strerror}") from None
    if not regular:
        what = (
            "a symlink to nothing (dangling)"
            if path.is_symlink() and not path.exists()
            else "not a regular file"
        )
        raise LogImportError(str(path), f"cannot read the table file: {what}")


def _has_tianchi_header(path: Path, encoding: str | None) -> bool:
    _check_readable(path)
    facts_encoding = encoding or ("utf-16" if _utf16_bom(path) else "utf-8")
    with open(path, encoding=facts_encoding, errors="replace", newline="") as f:
        first = f.readline().lstrip("\ufeff").strip()
    # lab tables use lower-case names, so any Tianchi column name is a safe tell; the header
    # check then names whatever else is missing or extra
    return bool({c.strip() for c in re.split("[,\t]", first)} & set(_tianchi.COLUMNS))


def _utf16_bom(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) in (b"\xff\xfe", b"\xfe\xff")


def _lab_size(con, run_id: str) -> dict:
    n_users = con.execute("SELECT count(*) FROM users WHERE run_id = ?", [run_id]).fetchone()[0]
    first, last = con.execute(
        "SELECT min(ts), max(ts) FROM (SELECT ts FROM events WHERE run_id = ? "
        "UNION ALL SELECT ts FROM orders WHERE run_id = ?)",
        [run_id, run_id],
    ).fetchone()
    if first is None:
        return {"n_users": n_users}
    return {
        "n_users": n_users,
        "start_date": first.date(),
        "days": (last.date() - first.date()).days + 1,
    }


def import_export(src: Path, *, store: Store, run_id: str | None) -> str:
    """``Store.import_parquet``: a ``lab export`` directory, validated table by table in a
    staging database, then inserted in one transaction."""
    runs_file = src / "runs.parquet"
    if not runs_file.exists():
        raise StoreError(f"{src}: no runs.parquet; is this a directory written by export?")
    _check_readable(runs_file)
    rows = pq.read_table(runs_file).to_pylist()
    if len(rows) != 1:
        raise StoreError(f"{runs_file}: expected one run, found {len(rows)}")
    row = rows[0]
    if row.get("schema_version") != schema.SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{runs_file}: written with schema version {row.get('schema_version')!r}, "
            f"this lab reads version {schema.SCHEMA_VERSION}"
        )
    new_id = run_id or str(row["run_id"])
    if store.has_run(new_id):
        raise StoreError(f"run {new_id!r} exists already in {store.path}; delete it first")
    # Tables are loaded and checked in a staging database, as in import_logs: the store's
    # file is locked only while the checked rows are inserted.
    with staging(store, threads=bulk_threads()) as stage:
        sources = {}
        for spec in schema.TABLES:
            path = src / f"{spec.name}.parquet"
            if spec.name == "runs" or not (path.exists() or path.is_symlink()):
                continue
            _check_readable(path)
            source = load(
                stage.con,
                path,
                name=f"_lab_export_{spec.name}",
                expected=_lab.expected_columns(spec.name),
                optional=("run_id",),
                workdir=stage.workdir,
                temporary=stage.temporary,
            )
            _lab.validate(source, spec.name, allow_empty=True)
            sources[spec.name] = source
        with stage.publish(store, sources) as (_, staged):
            store.create_run(
                new_id,
                origin=row["origin"],
                label=row["label"],
                strategy=row["strategy_json"],
                seed=row["seed"],
                n_users=row["n_users"],
                days=row["days"],
                pre_days=row["pre_days"],
                start_date=row["start_date"],
                source_path=row["source_path"],
                source_sha256=row["source_sha256"],
            )
            for name, source in staged.items():
                if not schema.table(name).derived:
                    _lab.insert(source, name, run_id=new_id, timezone=DEFAULT_TIMEZONE)
            refresh_experiment_users(store, new_id)  # derived: rebuilt, not trusted
    return new_id
