"""Checked reading of tabular files: every problem names the file, line and column.

Adapters describe the columns they need and their kinds; :func:`read_csv_checked`
returns those columns converted, with unreadable rows either raised as a
:class:`~fraudstream.errors.DataFileError` or dropped and reported as
:class:`~fraudstream.datasets.base.BadRow`.

Line numbers are the file's: the header is line 1, the first data row line 2
(quoted fields with embedded newlines would shift them; no supported dataset has any).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np
import pandas as pd

from fraudstream.datasets.base import BadRow, BadRowPolicy
from fraudstream.errors import DataFileError

#: How a column is converted: a finite float, a 0/1 flag, a non-empty string, or a
#: ``YYYY-MM-DD HH:MM:SS`` timestamp (taken as UTC).
ColumnKind = Literal["float", "flag", "str", "datetime"]

#: How many bad rows a report keeps, in file order (all are counted).
MAX_REPORTED_BAD_ROWS: Final = 20

_DATETIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
_FIELDS_ERROR = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


@dataclass(frozen=True)
class CheckedTable:
    """The converted columns, the rows dropped and how many there were."""

    frame: pd.DataFrame
    line_numbers: np.ndarray
    bad_rows: tuple[BadRow, ...]
    bad_row_count: int


def read_header(path: Path) -> list[str]:
    """The column names of a CSV file; raise if it is missing, empty or unreadable."""
    if not path.is_file():
        raise DataFileError(path, "no such file")
    if path.stat().st_size == 0:
        raise DataFileError(path, "the file is empty")
    try:
        header = pd.read_csv(path, nrows=0)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataFileError(path, f"cannot read the header: {exc}", row=1) from exc
    return [str(c) for c in header.columns]


def require_columns(path: Path, header: list[str], required: list[str]) -> None:
    """Raise naming the first required column the header lacks."""
    for column in required:
        if column not in header:
            raise DataFileError(path, "missing column", column=column)


def read_csv_checked(
    path: Path, columns: Mapping[str, ColumnKind], on_bad_row: BadRowPolicy = "raise"
) -> CheckedTable:
    """Read ``columns`` of a CSV file, converting each to its kind.

    A row with a missing, unparsable or non-finite value in any of ``columns``
    is bad: with ``on_bad_row="raise"`` the first one raises, with ``"skip"`` all are
    dropped, counted, and the first :data:`MAX_REPORTED_BAD_ROWS` reported.
    """
    header = read_header(path)
    require_columns(path, header, list(columns))
    try:
        raw = pd.read_csv(
            path,
            usecols=list(columns),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            engine="c",
        )
    except pd.errors.ParserError as exc:
        match = _FIELDS_ERROR.search(str(exc))
        line = int(match.group(2)) if match else None
        raise DataFileError(path, f"malformed row: {exc}", row=line) from exc
    except UnicodeDecodeError as exc:
        raise DataFileError(path, f"not valid UTF-8 text: {exc}") from exc
    if raw.empty:
        raise DataFileError(path, "the file has a header but no rows")

    converted: dict[str, pd.Series] = {}
    problems: list[tuple[np.ndarray, str, str]] = []
    for name, kind in columns.items():
        values, bad, reason = _convert(raw[name], kind)
        converted[name] = values
        problems.append((bad, name, reason))
    frame = pd.DataFrame(converted)
    lines = np.arange(2, len(frame) + 2)
    bad_any = np.zeros(len(frame), dtype=bool)
    for bad, _, _ in problems:
        bad_any |= bad
    if not bad_any.any():
        return CheckedTable(frame, lines, (), 0)

    reports = _first_bad_rows(raw, problems, bad_any)
    if on_bad_row == "raise":
        first = reports[0]
        raise DataFileError(path, first.reason, row=first.line, column=first.column)
    keep = ~bad_any
    return CheckedTable(
        frame[keep].reset_index(drop=True), lines[keep], tuple(reports), int(bad_any.sum())
    )


def _convert(raw: pd.Series, kind: ColumnKind) -> tuple[pd.Series, np.ndarray, str]:
    """Convert one column; return the values, a bad-row mask and the reason for it."""
    text = raw.fillna("").astype(str).str.strip().str.strip("'\"")
    missing = (text == "").to_numpy()
    if kind == "str":
        return text, missing, "missing value"
    if kind == "datetime":
        times = pd.to_datetime(text, format=_DATETIME_FORMAT, errors="coerce", utc=True)
        bad = times.isna().to_numpy()
        return times, bad, f"not a time in the form {_DATETIME_FORMAT!r}"
    numbers = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = ~np.isfinite(numbers.to_numpy())
    if kind == "flag":
        bad |= ~numbers.isin([0.0, 1.0]).to_numpy()
        return numbers.fillna(0).astype("int8"), bad, "not a 0/1 flag"
    return numbers, bad, "not a finite number"


def _first_bad_rows(
    raw: pd.DataFrame, problems: list[tuple[np.ndarray, str, str]], bad_any: np.ndarray
) -> list[BadRow]:
    reports: list[BadRow] = []
    for index in np.flatnonzero(bad_any)[:MAX_REPORTED_BAD_ROWS]:
        for bad, name, reason in problems:
            if bad[index]:
                value = str(raw[name].iloc[index])[:40]
                detail = "missing value" if value.strip() == "" else f"{reason}: {value!r}"
                reports.append(BadRow(line=int(index) + 2, column=name, reason=detail))
                break
    return reports
