"""Pick the adapter for a file and load it.

>>> DATASET_KINDS
('ulb', 'sparkov', 'simulated', 'canonical')
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from fraudstream.datasets.base import BadRowPolicy, Dataset
from fraudstream.datasets.canonical import load_canonical, parquet_kind
from fraudstream.datasets.sparkov import load_sparkov
from fraudstream.datasets.table import read_header
from fraudstream.datasets.ulb import load_ulb
from fraudstream.errors import DataFileError

DatasetKind = Literal["ulb", "sparkov", "simulated", "canonical"]
DATASET_KINDS: Final[tuple[DatasetKind, ...]] = ("ulb", "sparkov", "simulated", "canonical")


def detect_kind(path: Path) -> DatasetKind:
    """Tell the dataset kind from the file name and header (a Parquet file's schema)."""
    if path.suffix.lower() in {".parquet", ".pq"}:
        return parquet_kind(path)
    header = set(read_header(path))
    if {"V1", "Amount", "Class"} <= header:
        return "ulb"
    if {"cc_num", "trans_num", "amt"} <= header:
        return "sparkov"
    raise DataFileError(
        path,
        "unknown layout: expected ULB columns (Time, V1..V28, Amount, Class), "
        "Sparkov columns (cc_num, trans_num, amt, ...) or a canonical .parquet file",
        row=1,
    )


def load_dataset(
    path: Path, kind: DatasetKind | None = None, *, on_bad_row: BadRowPolicy = "raise"
) -> Dataset:
    """Load ``path`` with the adapter for ``kind`` (detected when ``None``)."""
    kind = kind or detect_kind(path)
    if kind == "ulb":
        return load_ulb(path, on_bad_row=on_bad_row)
    if kind == "sparkov":
        return load_sparkov(path, on_bad_row=on_bad_row)
    return load_canonical(path, on_bad_row=on_bad_row)
