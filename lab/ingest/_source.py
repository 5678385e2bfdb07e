"""One input file (CSV or Parquet) loaded into a temporary DuckDB table.

DuckDB parses the file (fast, parallel); the temporary table keeps the file's row order,
so ``rowid`` is the 0-based data row. Line numbers are recovered with Python's ``csv``
module only when an error has to be reported, so the happy path never pays for them.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from lab.ingest._errors import LogImportError

_CHUNK = 1 << 24


#: encodings tried, in order, when none is given (UTF-16 is recognised by its BOM);
#: GB18030 is a superset of GBK and GB2312, the usual encodings of Chinese exports
DETECTED = ("utf-8", "gb18030")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass(frozen=True)
class Facts:
    """What one pass over a file's bytes tells: its hash, encoding and line endings."""

    sha256: str
    encoding: str | None  # None: no encoding tried decodes it
    mixed_endings: bool  # CRLF next to bare LF or CR: DuckDB's strict parser refuses these


def digest(path: Path, *, encoding: str | None = None) -> Facts:
    """SHA-256 of the file's bytes, the text encoding (``encoding`` or detected) and
    whether its line endings are mixed, in one pass."""
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        head = f.read(4)
    if encoding is None:
        encoding = next((name for bom, name in _BOMS if head.startswith(bom)), None)
    candidates = [encoding] if encoding else list(DETECTED)
    decoders = {name: codecs.getincrementaldecoder(name)() for name in candidates}
    crlf = bare = 0
    last = b""
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            sha.update(chunk)
            for name, decoder in list(decoders.items()):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    del decoders[name]
            joined = last + chunk  # a CRLF split across two chunks
            n_crlf = joined.count(b"\r\n") - last.count(b"\r\n")
            crlf += n_crlf
            bare += chunk.count(b"\n") + chunk.count(b"\r") - 2 * n_crlf
            last = chunk[-1:]
    for name, decoder in list(decoders.items()):
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            del decoders[name]
    found = next((name for name in candidates if name in decoders), None)
    return Facts(sha.hexdigest(), found, mixed_endings=bool(crlf and bare))


@dataclass(frozen=True)
class Check:
    """One validation rule: rows where ``condition`` (SQL over the source) holds are bad.

    ``reason`` turns the offending value into the error's reason.
    """

    column: str
    condition: str
    reason: Callable[[object], str]
    params: tuple = ()


@dataclass(frozen=True)
class Source:
    """A file loaded into the temporary table ``name`` of ``con``."""

    con: duckdb.DuckDBPyConnection
    path: Path  # the file named in errors
    name: str
    kind: str  # "csv" or "parquet"
    columns: tuple[str, ...]
    types: dict[str, str]
    n_rows: int
    read_path: Path | None = None  # the UTF-8, LF copy parsed instead of ``path``, if any
    delimiter: str = ","

    def lines(self, rowids: Iterable[int]) -> dict[int, int]:
        """Map 0-based data rows to line numbers (CSV: header = line 1; Parquet: row + 1)."""
        wanted = set(rowids)
        if self.kind == "parquet":
            return {r: r + 1 for r in wanted}
        found: dict[int, int] = {}
        records = _records(self.read_path or self.path, self.delimiter, shown=self.path)
        for row, (line, _) in enumerate(records, start=-1):  # header: row -1
            if row in wanted:
                found[row] = line
                if len(found) == len(wanted):
                    break
        return found

    def error(self, reason: str, *, rowid: int | None = None, column: str | None = None):
        line = None if rowid is None else self.lines([rowid])[rowid]
        return LogImportError(str(self.path), reason, line=line, column=column)

    def value(self, rowid: int, column: str) -> object:
        return self.con.execute(
            f'SELECT "{column}" FROM {self.name} WHERE rowid = ?', [rowid]
        ).fetchone()[0]

    def check(self, checks: Sequence[Check]) -> None:
        """Raise for the earliest bad row in the file (ties: the first check listed)."""
        if not checks or not self.n_rows:
            return
        select = ", ".join(f"min(rowid) FILTER (WHERE {c.condition})" for c in checks)
        params = [p for c in checks for p in c.params]
        firsts = self.con.execute(f"SELECT {select} FROM {self.name}", params).fetchone()
        bad = [(rowid, i) for i, rowid in enumerate(firsts) if rowid is not None]
        if bad:
            rowid, i = min(bad)
            check = checks[i]
            raise self.error(
                check.reason(self.value(rowid, check.column)), rowid=rowid, column=check.column
            )


def load(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    name: str,
    expected: Sequence[str],
    optional: Sequence[str] = (),
    facts: Facts | None = None,
    workdir: Path | None = None,
    temporary: bool = True,
) -> Source:
    """Load ``path`` into the table ``name`` after checking its header.

    The table is temporary unless ``temporary=False`` (a staging database another
    connection attaches to insert from).

    ``expected`` columns must all be present, ``optional`` ones may be; any other
    column is an error. CSV columns are loaded as VARCHAR (the caller validates and
    casts them); Parquet columns keep their types. A CSV file that is not UTF-8 (see
    ``facts``: GB18030/GBK, UTF-16) or mixes line endings is first copied to ``workdir``
    as UTF-8 with LF endings, line for line, so errors still name the original's lines.
    A header without commas but with tabs (Excel's "Unicode text") is tab-separated.
    """
    kind = "parquet" if path.suffix.lower() == ".parquet" else "csv"
    kind_of_table = "TEMP TABLE" if temporary else "TABLE"
    read_path, delimiter = None, ","
    if kind == "csv":
        facts = facts or digest(path)
        if facts.encoding is None:
            raise _encoding_error(path)
        if facts.encoding not in ("utf-8", "utf-8-sig") or facts.mixed_endings:
            if workdir is None:
                raise ValueError("workdir is needed to read a file that is not UTF-8")
            read_path = _normalised(path, facts.encoding, workdir / f"{name}.csv")
        header, delimiter = _csv_header(read_path or path, shown=path)
        _check_header(path, header, expected, optional, line=1)
        try:
            con.execute(
                f"CREATE {kind_of_table} {name} AS SELECT * FROM read_csv(?, header = true, "
                "auto_detect = false, columns = ?, delim = ?, quote = '\"', escape = '\"', "
                "strict_mode = true, null_padding = false)",
                [str(read_path or path), dict.fromkeys(header, "VARCHAR"), delimiter],
            )
        except duckdb.Error as exc:
            raise _structure_error(path, header, exc, read_path, delimiter) from None
    else:
        try:
            con.execute(
                f"CREATE {kind_of_table} {name} AS SELECT * FROM read_parquet(?)", [str(path)]
            )
        except duckdb.Error as exc:
            raise LogImportError(str(path), f"cannot read Parquet: {_first_line(exc)}") from None
        header = tuple(r[0] for r in con.execute(f"DESCRIBE {name}").fetchall())
        _check_header(path, header, expected, optional, line=None)
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {name})").fetchall())
    n_rows = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
    return Source(con, path, name, kind, header, types, n_rows, read_path, delimiter)


def _normalised(path: Path, encoding: str, target: Path) -> Path:
    """Copy ``path`` to ``target`` as UTF-8 with LF line endings (universal newlines)."""
    with (
        open(path, encoding=encoding, newline=None) as src,
        open(target, "w", encoding="utf-8", newline="\n") as out,
    ):
        while text := src.read(_CHUNK):
            out.write(text)
    return target


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def _csv_header(path: Path, *, shown: Path) -> tuple[tuple[str, ...], str]:
    """The header's fields and the delimiter (a comma; a tab when the header has only tabs)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        first = f.readline()
    delimiter = "\t" if "\t" in first and "," not in first else ","
    for record in csv.reader([first], delimiter=delimiter):
        if record:
            return tuple(record), delimiter
    raise LogImportError(
        str(shown), "empty file: expected a header line naming the columns", line=1
    )


def _check_header(
    path: Path, header: Sequence[str], expected: Sequence[str], optional: Sequence[str], *, line
) -> None:
    want = ", ".join(expected)
    seen = set()
    for col in header:
        if col in seen:
            raise LogImportError(
                str(path), "column appears twice in the header", line=line, column=col
            )
        seen.add(col)
    for col in expected:
        if col not in seen:
            raise LogImportError(
                str(path), f"missing column (expected columns: {want})", line=line, column=col
            )
    for col in header:
        if col not in expected and col not in optional:
            raise LogImportError(
                str(path), f"unexpected column (expected columns: {want})", line=line, column=col
            )


def _encoding_error(path: Path) -> LogImportError:
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):  # UTF-8 never puts 0x0A inside a character
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                column = None
                if number > 1:  # name the field holding the bad byte
                    header = _csv_header_lenient(path)
                    fields = next(csv.reader([raw.decode("utf-8", "replace")]), [])
                    idx = next((i for i, v in enumerate(fields) if "\ufffd" in v), None)
                    if idx is not None and idx < len(header):
                        column = header[idx]
                byte = raw[exc.start]
                return LogImportError(
                    str(path),
                    f"not valid UTF-8 (byte 0x{byte:02X} at byte {exc.start + 1} of the line), "
                    f"nor {', '.join(DETECTED[1:])} or UTF-16 with a BOM: save the file as UTF-8, "
                    "or name its encoding (encoding=, --encoding)",
                    line=number,
                    column=column,
                )
    raise AssertionError("digest() reported invalid UTF-8 in a valid file")  # pragma: no cover


def _csv_header_lenient(path: Path) -> list[str]:
    with open(path, "rb") as f:
        first = f.readline().decode("utf-8", "replace").lstrip("\ufeff")
    return next(csv.reader([first]), [])


def _records(
    path: Path, delimiter: str = ",", *, shown: Path | None = None
) -> Iterator[tuple[int, list[str]]]:
    """Yield (first line, fields) of each non-blank CSV record; DuckDB skips blank lines too.

    ``shown`` is the file errors name (the original of a normalised copy).
    """
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        last = 0
        try:
            for record in reader:
                first, last = last + 1, reader.line_num
                if record:
                    yield first, record
        except csv.Error as err:
            raise LogImportError(
                str(shown or path), f"malformed CSV: {err}", line=last + 1
            ) from None


def _structure_error(
    path: Path, header: Sequence[str], exc: duckdb.Error, read_path: Path | None, delimiter: str
) -> LogImportError:
    """Find the first record whose field count differs from the header's."""
    records = _records(read_path or path, delimiter, shown=path)
    next(records)  # the header
    for line, record in records:
        if len(record) != len(header):
            last = next(records, None) is None
            tail = " (truncated last line?)" if last and len(record) < len(header) else ""
            return LogImportError(
                str(path),
                f"expected {len(header)} fields as in the header, found {len(record)}{tail}",
                line=line,
            )
    return LogImportError(str(path), f"cannot parse CSV: {_first_line(exc)}")
