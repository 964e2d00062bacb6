"""The Parquet archive: date-partitioned tables in a folder or any fsspec URL.

Layout under the archive root (``ARCHIVE_PATH``)::

    scored/date=YYYY-MM-DD/part-<id>.parquet   one row per served transaction (event date)
    labels/date=YYYY-MM-DD/part-<id>.parquet   one row per label (date it became known)

Writing is idempotent: :func:`write_rows` first reads the keys already in each
partition and writes only rows whose key is new, as one new part file written under a
temporary name and then moved into place (a reader never sees half a file). Writing
the same rows twice (a batch consumed again after a crash) adds nothing. Readers also
drop repeated keys, so a part file left behind by an interrupted compaction cannot
double a row either.

Keys: a served transaction is identified by ``transaction_id`` (the first record
archived wins); a label by ``transaction_id`` and ``labelled_at`` (a corrected label is
a new row; the training set takes the latest one known at its cutoff).

>>> import pandas as pd
>>> rows = pd.DataFrame(
...     {
...         "transaction_id": ["a", "b"],
...         "event_time": pd.to_datetime(["2024-04-01 10:00", "2024-04-02 09:00"], utc=True),
...         "score": [0.1, 0.9],
...     }
... )
>>> write_rows("memory://doc-archive", SCORED, rows)
2
>>> write_rows("memory://doc-archive", SCORED, rows)  # again: nothing new
0
>>> read_scored("memory://doc-archive", "2024-04-01", "2024-04-03")["transaction_id"].tolist()
['a', 'b']
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.core import url_to_fs

from fraudstream.datasets.arrow import arrow_table

__all__ = [
    "LABELS",
    "SCORED",
    "Table",
    "compact_partition",
    "partitions",
    "read_labels",
    "read_parquet_file",
    "read_scored",
    "read_table",
    "write_rows",
]

#: Prefix of the flattened ``features`` columns (``features.amount``, ...).
FEATURE_PREFIX: Final = "features."


@dataclass(frozen=True)
class Table:
    """One archived table: its folder, the time column that dates a row, its key."""

    name: str
    time_column: str
    key: tuple[str, ...]


SCORED: Final = Table("scored", "event_time", ("transaction_id",))
LABELS: Final = Table("labels", "labelled_at", ("transaction_id", "labelled_at"))


def _fs(root: str) -> tuple[fsspec.AbstractFileSystem, str]:
    fs, path = url_to_fs(root)
    return fs, str(path).rstrip("/")


def _partition_dir(base: str, table: Table, day: date) -> str:
    return f"{base}/{table.name}/date={day.isoformat()}"


def _parts(fs: fsspec.AbstractFileSystem, directory: str) -> list[str]:
    if not fs.isdir(directory):
        return []
    return sorted(
        str(p)
        for p in fs.ls(directory, detail=False)
        if str(p).rsplit("/", 1)[-1].startswith("part-")
    )


def read_parquet_file(
    fs: fsspec.AbstractFileSystem, path: str, columns: list[str] | None = None
) -> pa.Table:
    """One Parquet file of any fsspec filesystem, read whole on this thread.

    ``pq.ParquetFile`` rather than ``pq.read_table``: given a Python file object,
    ``read_table`` goes through Arrow's dataset layer, whose fragments keep the file
    and may drop it on an Arrow worker thread after the read returns. If that happens
    while the interpreter exits, the worker cannot take the GIL and the process aborts
    ("terminate called without an active exception", apache/arrow#34314). Here the
    file is owned by the reader and released by the caller, under the GIL.
    """
    with fs.open(path, "rb") as handle, pq.ParquetFile(handle) as reader:
        return reader.read(columns=columns)


def _write_file(fs: fsspec.AbstractFileSystem, directory: str, table: pa.Table) -> str:
    """Write ``table`` as a new part file: to a hidden name first, then moved into place."""
    fs.makedirs(directory, exist_ok=True)
    name = f"part-{uuid.uuid4().hex}.parquet"
    temporary = f"{directory}/.tmp-{name}"
    with fs.open(temporary, "wb") as handle:
        pq.write_table(table, handle, compression="zstd")
    fs.mv(temporary, f"{directory}/{name}")
    return f"{directory}/{name}"


def _keys(frame: pd.DataFrame, table: Table) -> pd.Series:
    """One hashable key per row (strings joined, times as ISO text)."""
    parts = [
        frame[c].astype("string") if c != table.time_column else _iso(frame[c]) for c in table.key
    ]
    key = parts[0]
    for part in parts[1:]:
        key = key + "|" + part
    return key


def _iso(column: pd.Series) -> pd.Series:
    return pd.to_datetime(column, utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%f").astype("string")


def write_rows(root: str, table: Table, rows: pd.DataFrame) -> int:
    """Add ``rows`` to their date partitions, skipping keys already archived; return the
    number of rows written.

    ``rows`` needs the table's key columns and its time column (tz-aware). Rows whose
    key repeats within ``rows`` are written once (the first).
    """
    missing = [c for c in (*table.key, table.time_column) if c not in rows.columns]
    if missing:
        raise ValueError(f"rows for the {table.name} table lack columns {missing}")
    if rows.empty:
        return 0
    fs, base = _fs(root)
    rows = rows.assign(_key=_keys(rows, table)).drop_duplicates("_key", keep="first")
    days = pd.to_datetime(rows[table.time_column], utc=True).dt.date
    written = 0
    for day, group in rows.groupby(days, sort=True):
        directory = _partition_dir(base, table, day)
        existing = _existing_keys(fs, directory, table)
        new = group[~group["_key"].isin(existing)].drop(columns=["_key"])
        if new.empty:
            continue
        _write_file(fs, directory, arrow_table(new))
        written += len(new)
    return written


def _existing_keys(fs: fsspec.AbstractFileSystem, directory: str, table: Table) -> set[str]:
    keys: set[str] = set()
    for path in _parts(fs, directory):
        frame = read_parquet_file(fs, path, list(table.key)).to_pandas()
        keys.update(_keys(frame, table).tolist())
    return keys


def compact_partition(root: str, table: Table, day: date) -> int:
    """Merge a partition's part files into one; return the number of files merged.

    The merged file is moved into place before the old ones are deleted: an
    interruption leaves repeated rows on disk, which readers drop.
    """
    fs, base = _fs(root)
    directory = _partition_dir(base, table, day)
    paths = _parts(fs, directory)
    if len(paths) < 2:
        return 0
    frame = _concat([read_parquet_file(fs, p) for p in paths])
    frame = _dedupe(frame, table)
    _write_file(fs, directory, arrow_table(frame))
    for path in paths:
        fs.rm(path)
    return len(paths)


def partitions(root: str, table: Table) -> list[date]:
    """The dates that have a partition, in order."""
    fs, base = _fs(root)
    directory = f"{base}/{table.name}"
    if not fs.isdir(directory):
        return []
    found = []
    for path in fs.ls(directory, detail=False):
        name = str(path).rstrip("/").rsplit("/", 1)[-1]
        if name.startswith("date="):
            found.append(date.fromisoformat(name.removeprefix("date=")))
    return sorted(found)


def _as_datetime(value: str | date | datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def read_table(
    root: str, table: Table, start: str | date | datetime, end: str | date | datetime
) -> pd.DataFrame:
    """The rows of ``table`` with ``start <= time < end`` as a **pandas** frame, sorted by
    time, one row per key. Columns are the union over the part files (a column added
    later is NaN in older rows). ``start`` and ``end`` are dates, datetimes or ISO text
    (naive means UTC)."""
    lo, hi = _as_datetime(start), _as_datetime(end)
    fs, base = _fs(root)
    tables: list[pa.Table] = []
    day = lo.date()
    last = (hi - timedelta(microseconds=1)).date()
    while day <= last:
        for path in _parts(fs, _partition_dir(base, table, day)):
            tables.append(read_parquet_file(fs, path))
        day += timedelta(days=1)
    frame = _concat(tables)
    if frame.empty:
        return frame
    times = pd.to_datetime(frame[table.time_column], utc=True)
    frame = frame[(times >= lo) & (times < hi)]
    frame = _dedupe(frame, table)
    return frame.sort_values([table.time_column, *table.key], kind="stable").reset_index(drop=True)


def _concat(tables: list[pa.Table]) -> pd.DataFrame:
    if not tables:
        return pd.DataFrame()
    merged = pa.concat_tables(tables, promote_options="permissive")
    frame: pd.DataFrame = merged.to_pandas()
    return frame


def _dedupe(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    keys = _keys(frame, table)
    return frame[~keys.duplicated(keep="first").to_numpy()]


def read_scored(
    root: str, start: str | date | datetime, end: str | date | datetime
) -> pd.DataFrame:
    """Served transactions with ``start <= event_time < end`` (pandas; see
    :func:`read_table`). Features are columns named ``features.<name>``."""
    return read_table(root, SCORED, start, end)


def read_labels(
    root: str, start: str | date | datetime, end: str | date | datetime
) -> pd.DataFrame:
    """Labels that became known with ``start <= labelled_at < end`` (pandas; see
    :func:`read_table`)."""
    return read_table(root, LABELS, start, end)
