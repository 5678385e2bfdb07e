"""The one error an import raises for bad input."""

from __future__ import annotations


class LogImportError(ValueError):
    """A log file cannot be imported; nothing was written to the store.

    The message reads ``file:line: column X: reason`` (parts that do not apply are left
    out).

    Attributes
    ----------
    file : str
        The offending file.
    line : int or None
        CSV: physical line number in the file, the header being line 1 (a record whose
        quoted field spans several lines is named by its first line). Parquet: 1-based
        row number (Parquet has no header line). None when the whole file is at fault.
    column : str or None
        The offending column, as named in the file's header.
    reason : str
        What is wrong, and what was expected.

    Examples
    --------
    >>> str(LogImportError("users.csv", "not an integer: 'abc'", line=3, column="user_id"))
    "users.csv:3: column user_id: not an integer: 'abc'"
    """

    def __init__(
        self, file: str, reason: str, *, line: int | None = None, column: str | None = None
    ) -> None:
        self.file, self.line, self.column, self.reason = str(file), line, column, reason
        where = self.file if line is None else f"{self.file}:{line}"
        what = reason if column is None else f"column {column}: {reason}"
        super().__init__(f"{where}: {what}")
