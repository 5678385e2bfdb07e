"""Any CSV or Parquet file through a YAML column mapping (``format="mapped"``).

The mapping names, per lab table, the file that fills it, which of the file's columns
holds each lab column, the date formats, the money unit (fen or yuan) and how the
file's enum values translate; ``docs/mapping-example.yml`` is a commented example.
Values are converted to the lab format and then checked by the lab format's own rules
(:mod:`lab.ingest._lab`), with errors naming the user's file, line and column.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from lab import schema
from lab.ingest import _lab
from lab.ingest import _platform as P
from lab.ingest._errors import LogImportError

_TABLE_KEYS = {"file", "columns", "formats", "money", "values", "constants", "encoding"}
_TOP_KEYS = {"defaults", "tables"}
MONEY_UNITS = ("fen", "yuan")


@dataclass
class TablePlan:
    table: str
    path: Path
    columns: dict[str, str]  # lab column -> the file's column
    formats: dict[str, str]  # lab timestamp/date column -> strptime format
    money: str
    values: dict[str, dict[str, str]]  # lab column -> {file value: lab value}
    constants: dict[str, str]
    encoding: str


@dataclass
class Plan:
    mapping: Path
    tables: list[TablePlan] = field(default_factory=list)

    def paths(self) -> list[Path]:
        return [t.path for t in self.tables]


def _bad(mapping: Path, where: str, reason: str) -> LogImportError:
    return LogImportError(str(mapping), reason, column=where)


def load_mapping(mapping: Path, *, base: Path) -> Plan:
    """Read and check the mapping file; files resolve against ``base`` (a folder, or the
    folder of ``base`` when it is a file)."""
    import yaml

    if not mapping.is_file():
        raise LogImportError(str(mapping), "no such mapping file")
    try:
        spec = yaml.safe_load(mapping.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise LogImportError(
            str(mapping),
            f"not a YAML mapping: {str(exc).splitlines()[0]}",
            line=None if line is None else line + 1,
        ) from None
    if not isinstance(spec, dict) or not isinstance(spec.get("tables"), dict) or not spec["tables"]:
        raise _bad(mapping, "tables", "the mapping needs a 'tables' section naming lab tables")
    for key in spec:
        if key not in _TOP_KEYS:
            raise _bad(mapping, key, f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
    defaults = spec.get("defaults") or {}
    folder = base if base.is_dir() else base.parent
    plan = Plan(mapping)
    for table, t in spec["tables"].items():
        where = f"tables.{table}"
        if table not in _lab.TABLES:
            raise _bad(mapping, where, f"not a lab table (tables: {', '.join(_lab.TABLES)})")
        if not isinstance(t, dict) or "file" not in t or not isinstance(t.get("columns"), dict):
            raise _bad(mapping, where, "each table needs 'file' and 'columns' (lab column: yours)")
        for key in t:
            if key not in _TABLE_KEYS:
                raise _bad(
                    mapping,
                    f"{where}.{key}",
                    f"unknown key (known: {', '.join(sorted(_TABLE_KEYS))})",
                )
        spec_table = schema.table(table)
        constants = {k: str(v) for k, v in (t.get("constants") or {}).items()}
        for col in [*t["columns"], *(t.get("formats") or {}), *(t.get("values") or {}), *constants]:
            if col not in spec_table.column_names or col == "run_id":
                raise _bad(mapping, f"{where}.{col}", f"{table} has no column {col}")
        for col in spec_table.columns:
            if (
                not col.nullable
                and col.name != "run_id"
                and col.name not in t["columns"]
                and col.name not in constants
            ):
                raise _bad(
                    mapping,
                    f"{where}.columns",
                    f"{col.name} is required in {table}: map a column to it",
                )
        money = t.get("money", defaults.get("money", "fen"))
        if money not in MONEY_UNITS:
            raise _bad(
                mapping, f"{where}.money", f"unknown money unit {money!r} (known: fen, yuan)"
            )
        path = folder / str(t["file"])
        if not path.is_file():
            raise LogImportError(str(path), f"no such file (named by {mapping.name}, {where}.file)")
        plan.tables.append(
            TablePlan(
                table,
                path,
                {k: str(v) for k, v in t["columns"].items()},
                {k: str(v) for k, v in (t.get("formats") or {}).items()},
                money,
                {
                    k: {str(a): str(b) for a, b in (v or {}).items()}
                    for k, v in (t.get("values") or {}).items()
                },
                constants,
                str(t.get("encoding", defaults.get("encoding", "utf-8"))),
            )
        )
    return plan


@dataclass
class _View:
    """The converted rows of one table, shaped like a lab-format source for :mod:`_lab`."""

    con: duckdb.DuckDBPyConnection
    name: str
    types: dict[str, str]


def _load(con, t: TablePlan, name: str) -> tuple[list[int] | None, list[str]]:
    """Load the file as VARCHAR columns with ``_file`` = 0 and ``_row``; return the
    physical line of each row (CSV) and the header."""
    if t.path.suffix.lower() == ".parquet":
        try:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {name}_p AS SELECT * FROM read_parquet(?)",
                [str(t.path)],
            )
        except duckdb.Error as exc:
            raise LogImportError(
                str(t.path), f"cannot read Parquet: {str(exc).splitlines()[0]}"
            ) from None
        header = [r[0] for r in con.execute(f"DESCRIBE {name}_p").fetchall()]
        cols = ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' for c in header)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT 0 AS _file, rowid AS _row, {cols} FROM {name}_p"
        )
        con.execute(f"DROP TABLE {name}_p")
        return None, header
    raw = t.path.read_bytes()
    try:
        text = raw.decode(t.encoding)
    except LookupError:
        raise LogImportError(
            str(t.path), f"unknown encoding {t.encoding!r} in the mapping"
        ) from None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LogImportError(
            str(t.path),
            f"not valid {t.encoding} (byte 0x{raw[exc.start]:02X}): set 'encoding' in the mapping "
            "(gb18030 for GBK, utf-16)",
            line=line,
        ) from None
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header, rows, lines, last = None, [], [], 0
    try:
        for record in reader:
            first, last = last + 1, reader.line_num
            if not record:
                continue
            if header is None:
                header = [c.strip() for c in record]
                continue
            if len(record) != len(header):
                raise LogImportError(
                    str(t.path),
                    f"expected {len(header)} fields as in the header, found {len(record)}",
                    line=first,
                )
            rows.append(record)
            lines.append(first)
    except csv.Error as err:
        raise LogImportError(str(t.path), f"malformed CSV: {err}", line=last + 1) from None
    if header is None:
        raise LogImportError(str(t.path), "empty file: expected a header line", line=1)
    data = {"_file": [0] * len(rows), "_row": list(range(len(rows)))}
    for i, c in enumerate(header):
        data[c] = [r[i] if r[i] != "" else None for r in rows]
    arrow = pa.table(
        data,
        schema=pa.schema(
            [pa.field("_file", pa.int64()), pa.field("_row", pa.int64())]
            + [pa.field(c, pa.string()) for c in header]
        ),
    )
    con.register(f"{name}_src", arrow)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_src")
    con.unregister(f"{name}_src")
    return lines, header


def read(con, plan: Plan, *, temporary: bool = True) -> dict[str, _View]:
    """Load, convert and check every table of the plan; return the converted views.

    ``temporary=False``: the converted tables are tables of a staging database, which
    the store's connection attaches to insert them (the raw loads stay temporary).
    """
    kind = "TEMP TABLE" if temporary else "TABLE"
    views = {}
    for i, t in enumerate(plan.tables):
        raw = f"_lab_plat_map_{i}_raw"
        lines, header = _load(con, t, raw)

        def locate(f, row, column, reason, t=t, lines=lines):
            line = row + 1 if lines is None else lines[row]
            return LogImportError(str(t.path), reason, line=line, column=column)

        for lab_col, user_col in t.columns.items():
            if user_col not in header:
                raise LogImportError(
                    str(t.path),
                    f"missing column (the mapping reads it as {t.table}.{lab_col})",
                    line=None if lines is None else 1,
                    column=user_col,
                )
        rules, exprs = [], {}
        spec = schema.table(t.table)
        for col in spec.columns:
            if col.name == "run_id":
                continue
            if col.name in t.constants:
                exprs[col.name] = "?"
                continue
            if col.name not in t.columns:
                exprs[col.name] = "CAST(NULL AS VARCHAR)"
                continue
            q = f'"{t.columns[col.name]}"'
            v = f"trim({q})"
            user = t.columns[col.name]
            if col.name in t.formats:
                fmt = t.formats[col.name].replace("'", "''")
                rules.append(
                    P.Rule(
                        user,
                        f"{q} IS NOT NULL AND try_strptime({v}, '{fmt}') IS NULL",
                        lambda x, f=t.formats[col.name]: (
                            f"unparseable date {x!r} (the mapping's format is {f})"
                        ),
                        q,
                    )
                )
                v = f"strftime(strptime({v}, '{fmt}'), '%Y-%m-%d %H:%M:%S.%f')"
            elif col.name.endswith("_fen") and t.money == "yuan":
                rules += P.yuan_rules(user, q, needed=False)
                v = f"CAST({P.yuan_to_fen(q)} AS VARCHAR)"
            if col.name in t.values:
                mapping = t.values[col.name]
                keys = tuple(mapping)
                rules.append(
                    P.Rule(
                        user,
                        f"{q} IS NOT NULL AND {v} NOT IN ({', '.join('?' * len(keys))})",
                        lambda x, k=keys, c=col.name: (
                            f"unknown value {x!r} for {c} (the mapping knows: {', '.join(k)})"
                        ),
                        q,
                        keys,
                    )
                )
                cases = " ".join(
                    f"WHEN {v} = '{a.replace(chr(39), chr(39) * 2)}' THEN '{b.replace(chr(39), chr(39) * 2)}'"
                    for a, b in mapping.items()
                )
                v = f"CASE {cases} END"
            exprs[col.name] = v
        P.check(con, raw, rules, locate)
        name = f"_lab_plat_map_{i}"
        select = ", ".join(f'{e} AS "{c}"' for c, e in exprs.items())
        params = [t.constants[c] for c, e in exprs.items() if e == "?"]
        con.execute(
            f"CREATE OR REPLACE {kind} {name} AS SELECT _file, _row, {select} FROM {raw} ORDER BY _row",
            params,
        )
        view = _View(con, name, {c: "VARCHAR" for c in exprs})
        back = {c: t.columns.get(c, f"(constant {c})") for c in exprs}
        checks = [
            P.Rule(back[c.column], c.condition, c.reason, f'"{c.column}"', c.params)
            for c in _lab.checks(view, t.table)
        ]
        P.check(con, name, checks, locate)
        _check_keys(con, name, t, back, locate)
        views[t.table] = view
    return views


def _check_keys(con, name: str, t: TablePlan, back: dict, locate) -> None:
    spec = schema.table(t.table)
    key = [c for c in spec.key if c != "run_id"]
    part = ", ".join(f'CAST("{c}" AS {spec.column(c).type})' for c in key)
    found = con.execute(
        f"SELECT _row, first FROM (SELECT _row, min(_row) OVER (PARTITION BY {part}) AS first, "
        f"row_number() OVER (PARTITION BY {part} ORDER BY _row) AS k FROM {name}) "
        "WHERE k = 2 ORDER BY _row LIMIT 1"
    ).fetchone()
    if found:
        first = locate(0, found[1], "", "").line
        raise locate(
            0,
            found[0],
            ", ".join(back[c] for c in key),
            f"duplicate key: the same {', '.join(key)} as {'row' if first is None else 'line'} {first}",
        )


def insert(
    con, plan: Plan, views: dict[str, _View], *, run_id: str, timezone: str = "Asia/Shanghai"
) -> dict:
    """Write the converted tables as ``run_id``; return the run's size and dates."""
    from lab.ingest._import import _lab_size

    for table, view in views.items():
        _lab.insert(view, table, run_id=run_id, timezone=timezone)
    return _lab_size(con, run_id)
