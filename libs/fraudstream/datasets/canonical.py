"""Canonical Parquet files: what ``fraudstream data generate`` writes and reads back.

The file holds the canonical columns (see :data:`~fraudstream.datasets.base.CANONICAL_COLUMNS`),
optionally ``fraud_scenario`` (simulator metadata, never a model feature) and any
numeric feature columns. A file with ``fraud_scenario`` is a ``simulated`` dataset,
one without it a ``canonical`` one (any dataset converted to the canonical columns).
Files are written atomically: a reader never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Final, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fraudstream.datasets.arrow import arrow_table
from fraudstream.datasets.base import CANONICAL_COLUMNS, BadRow, BadRowPolicy, Dataset
from fraudstream.datasets.table import MAX_REPORTED_BAD_ROWS
from fraudstream.errors import DataFileError

#: The simulator's column saying which fraud scenario made a row (0: none).
SCENARIO_COLUMN: Final = "fraud_scenario"
#: Columns that describe a row but must never feed a model.
METADATA_COLUMNS: Final = frozenset({SCENARIO_COLUMN})

#: What a canonical Parquet file holds: simulated transactions, or others.
ParquetKind = Literal["simulated", "canonical"]


def parquet_kind(path: Path) -> ParquetKind:
    """``simulated`` for a file written by the simulator (it has ``fraud_scenario``),
    ``canonical`` for another file with the canonical columns; a
    :class:`~fraudstream.errors.DataFileError` for any other file, naming its columns.
    """
    try:
        columns = pq.read_schema(path).names
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataFileError(path, f"not a readable Parquet file: {exc}") from exc
    missing = [c for c in CANONICAL_COLUMNS if c not in columns]
    if missing:
        raise DataFileError(
            path,
            f"unknown layout: a dataset's Parquet file has the columns "
            f"{', '.join(CANONICAL_COLUMNS)}; this one has {', '.join(columns) or 'none'}",
            column=missing[0],
        )
    return "simulated" if SCENARIO_COLUMN in columns else "canonical"


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` through a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        pq.write_table(arrow_table(frame), tmp, compression="snappy")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def load_canonical(path: Path, *, on_bad_row: BadRowPolicy = "raise") -> Dataset:
    """Read a canonical Parquet file into a :class:`Dataset`."""
    if not path.is_file():
        raise DataFileError(path, "no such file")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataFileError(path, f"not a readable Parquet file: {exc}") from exc
    frame = table.to_pandas()
    for column in CANONICAL_COLUMNS:
        if column not in frame.columns:
            raise DataFileError(path, "missing column", column=column)
    if frame.empty:
        raise DataFileError(path, "the file has no rows")
    frame = _coerce(path, frame)
    bad, reasons = _bad_rows(frame)
    bad_rows: tuple[BadRow, ...] = ()
    if bad.any():
        first = [
            BadRow(line=int(i) + 1, column=reasons[i][0], reason=reasons[i][1])
            for i in np.flatnonzero(bad)[:MAX_REPORTED_BAD_ROWS]
        ]
        if on_bad_row == "raise":
            raise DataFileError(path, first[0].reason, row=first[0].line, column=first[0].column)
        bad_rows = tuple(first)
        frame = frame[~bad]
    features = tuple(
        str(c)
        for c in frame.columns
        if c not in CANONICAL_COLUMNS
        and c not in METADATA_COLUMNS
        and pd.api.types.is_numeric_dtype(frame[c])
    )
    frame = frame.sort_values("event_time", kind="stable").reset_index(drop=True)
    return Dataset(
        name="simulated" if SCENARIO_COLUMN in frame.columns else "canonical",
        source=path,
        frame=frame,
        feature_columns=features,
        bad_rows=bad_rows,
        bad_row_count=int(bad.sum()),
    )


def _coerce(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(frame["event_time"].dtype, pd.DatetimeTZDtype):
        raise DataFileError(path, "must be a UTC timestamp column", column="event_time")
    for column in ("amount", "is_fraud"):
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise DataFileError(path, "must be numeric", column=column)
    frame = frame.copy()
    frame["event_time"] = frame["event_time"].dt.tz_convert("UTC")
    return frame


def _bad_rows(frame: pd.DataFrame) -> tuple[np.ndarray, dict[int, tuple[str, str]]]:
    checks = [
        ("transaction_id", frame["transaction_id"].isna().to_numpy(), "missing value"),
        ("event_time", frame["event_time"].isna().to_numpy(), "missing value"),
        (
            "amount",
            ~(np.isfinite(frame["amount"].to_numpy(dtype=float)) & (frame["amount"] >= 0)),
            "not a finite number >= 0",
        ),
        ("is_fraud", ~frame["is_fraud"].isin([0, 1]).to_numpy(), "not a 0/1 flag"),
    ]
    bad = np.zeros(len(frame), dtype=bool)
    reasons: dict[int, tuple[str, str]] = {}
    for column, mask, reason in checks:
        for index in np.flatnonzero(mask & ~bad)[:MAX_REPORTED_BAD_ROWS]:
            reasons[int(index)] = (column, reason)
        bad |= np.asarray(mask, dtype=bool)
    return bad, reasons
