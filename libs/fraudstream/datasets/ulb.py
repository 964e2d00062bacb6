"""Adapter for the ULB "Credit Card Fraud Detection" file, ``creditcard.csv``.

Columns: ``Time`` (seconds since the first transaction), ``V1``..``V28`` (PCA
components), ``Amount`` and ``Class`` (1 = fraud). 284,807 rows over two days of
September 2013. There is no card or merchant id: transactions are keyed by their id,
``ulb-<row>``, the row's 0-based position in the file.

Event times are ``origin + Time``; the origin defaults to 2013-09-01 00:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import pandas as pd

from fraudstream.datasets.base import BadRowPolicy, Dataset
from fraudstream.datasets.table import ColumnKind, read_csv_checked

PCA_COLUMNS: Final = tuple(f"V{i}" for i in range(1, 29))
COLUMNS: Final[dict[str, ColumnKind]] = {
    "Time": "float",
    **dict.fromkeys(PCA_COLUMNS, "float"),
    "Amount": "float",
    "Class": "flag",
}
DEFAULT_ORIGIN: Final = datetime(2013, 9, 1, tzinfo=UTC)


def load_ulb(
    path: Path, *, on_bad_row: BadRowPolicy = "raise", origin: datetime = DEFAULT_ORIGIN
) -> Dataset:
    """Read ``creditcard.csv`` into a canonical :class:`Dataset`."""
    table = read_csv_checked(path, COLUMNS, on_bad_row)
    raw = table.frame
    frame = pd.DataFrame(
        {
            "transaction_id": [f"ulb-{line - 2:06d}" for line in table.line_numbers],
            "event_time": pd.Timestamp(origin) + pd.to_timedelta(raw["Time"], unit="s"),
            "card_id": pd.Series(None, index=raw.index, dtype="object"),
            "merchant_id": pd.Series(None, index=raw.index, dtype="object"),
            "amount": raw["Amount"].astype("float64"),
            "is_fraud": raw["Class"].astype("int8"),
        }
    )
    for column in PCA_COLUMNS:
        frame[column] = raw[column]
    frame = frame.sort_values("event_time", kind="stable").reset_index(drop=True)
    return Dataset(
        name="ulb",
        source=path,
        frame=frame,
        feature_columns=PCA_COLUMNS,
        bad_rows=table.bad_rows,
        bad_row_count=table.bad_row_count,
    )
