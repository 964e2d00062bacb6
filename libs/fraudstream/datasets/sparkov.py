"""Adapter for the Sparkov "Credit Card Transactions Fraud Detection" files.

``fraudTrain.csv`` and ``fraudTest.csv`` share one layout. Used here: ``cc_num``
(the card), ``merchant``, ``category``, ``amt``, ``trans_num`` (the transaction id),
``is_fraud``, the card holder's ``lat``/``long`` and ``city_pop``, the merchant's
``merch_lat``/``merch_long``, and the time.

Time: ``trans_date_trans_time`` (the calendar time printed in the file, taken as
UTC) when the column is there, else ``unix_time``. In the published files the two
differ by a constant shift of several years; the calendar time keeps hour-of-day
and weekday right.

Dataset features: the numeric location columns and a one-hot ``category_<name>``
per merchant category seen in the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pandas as pd

from fraudstream.datasets.base import BadRowPolicy, Dataset
from fraudstream.datasets.table import ColumnKind, read_csv_checked, read_header

COLUMNS: Final[dict[str, ColumnKind]] = {
    "trans_num": "str",
    "cc_num": "str",
    "merchant": "str",
    "category": "str",
    "amt": "float",
    "lat": "float",
    "long": "float",
    "city_pop": "float",
    "merch_lat": "float",
    "merch_long": "float",
    "is_fraud": "flag",
}
NUMERIC_FEATURES: Final = ("lat", "long", "city_pop", "merch_lat", "merch_long")
CALENDAR_TIME: Final = "trans_date_trans_time"
UNIX_TIME: Final = "unix_time"


def load_sparkov(path: Path, *, on_bad_row: BadRowPolicy = "raise") -> Dataset:
    """Read a Sparkov CSV file into a canonical :class:`Dataset`."""
    header = read_header(path)
    time_column = CALENDAR_TIME if CALENDAR_TIME in header else UNIX_TIME
    columns: dict[str, ColumnKind] = {
        **COLUMNS,
        time_column: "datetime" if time_column == CALENDAR_TIME else "float",
    }
    table = read_csv_checked(path, columns, on_bad_row)
    raw = table.frame
    if time_column == CALENDAR_TIME:
        event_time = raw[CALENDAR_TIME]
    else:
        event_time = pd.to_datetime(raw[UNIX_TIME], unit="s", utc=True)
    frame = pd.DataFrame(
        {
            "transaction_id": raw["trans_num"],
            "event_time": event_time,
            "card_id": raw["cc_num"],
            "merchant_id": raw["merchant"],
            "amount": raw["amt"],
            "is_fraud": raw["is_fraud"],
        }
    )
    for column in NUMERIC_FEATURES:
        frame[column] = raw[column]
    categories = sorted(raw["category"].unique())
    category_columns = tuple(f"category_{name}" for name in categories)
    for name, column in zip(categories, category_columns, strict=True):
        frame[column] = (raw["category"] == name).astype("float64")
    frame = frame.sort_values("event_time", kind="stable").reset_index(drop=True)
    return Dataset(
        name="sparkov",
        source=path,
        frame=frame,
        feature_columns=NUMERIC_FEATURES + category_columns,
        bad_rows=table.bad_rows,
        bad_row_count=table.bad_row_count,
    )
