"""Small dataset files in the real column layouts of ULB and Sparkov.

The rows are random but shaped like the originals, so adapters, replay and the
download path can be tested without the real (large, licensed) files.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np

from fraudstream.datasets.download import ULB_HEADER

SPARKOV_HEADER: Final = [
    "",
    "trans_date_trans_time",
    "cc_num",
    "merchant",
    "category",
    "amt",
    "first",
    "last",
    "gender",
    "street",
    "city",
    "state",
    "zip",
    "lat",
    "long",
    "city_pop",
    "job",
    "dob",
    "trans_num",
    "unix_time",
    "merch_lat",
    "merch_long",
    "is_fraud",
]
SPARKOV_CATEGORIES: Final = ("grocery_pos", "gas_transport", "shopping_net", "misc_net")
#: The constant gap between Sparkov's calendar time and its unix_time column.
SPARKOV_UNIX_SHIFT: Final = timedelta(days=2557)


def ulb_rows(n: int, *, seed: int = 0, fraud_every: int = 50) -> list[list[str]]:
    """``n`` ULB-shaped rows as text: Time ascending, V1..V28, Amount, Class."""
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0, 172_792, n)).round()
    rows = []
    for i in range(n):
        pca = [f"{v:.6f}" for v in rng.normal(0, 1.5, 28)]
        amount = f"{rng.gamma(1.5, 60):.2f}"
        label = "1" if i % fraud_every == fraud_every - 1 else "0"
        rows.append([f"{times[i]:.0f}", *pca, amount, label])
    return rows


def write_ulb_csv(path: Path, rows: list[list[str]] | None = None, *, n: int = 100) -> Path:
    """Write a ULB-layout creditcard.csv; every field quoted, as in the Kaggle file."""
    body = rows if rows is not None else ulb_rows(n)
    with path.open("w", newline="") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_ALL)
        writer.writerow(ULB_HEADER)
        writer.writerows(body)
    return path


def sparkov_rows(
    n: int, *, seed: int = 0, cards: int = 5, fraud_every: int = 25
) -> list[list[str]]:
    """``n`` Sparkov-shaped rows as text, in time order."""
    rng = np.random.default_rng(seed)
    start = datetime(2019, 1, 1, tzinfo=UTC)
    offsets = np.sort(rng.uniform(0, 10 * 86_400, n)).round()
    rows = []
    for i in range(n):
        when = start + timedelta(seconds=float(offsets[i]))
        card = str(4_000_000_000_000_000 + int(rng.integers(cards)))
        rows.append(
            [
                str(i),
                when.strftime("%Y-%m-%d %H:%M:%S"),
                card,
                f"fraud_Merchant {int(rng.integers(8))}",
                SPARKOV_CATEGORIES[int(rng.integers(len(SPARKOV_CATEGORIES)))],
                f"{rng.gamma(1.5, 50):.2f}",
                "Jane",
                "Doe",
                "F",
                "1 Main St",
                "Springfield",
                "IL",
                "62701",
                f"{rng.uniform(30, 45):.4f}",
                f"{rng.uniform(-100, -80):.4f}",
                str(int(rng.integers(1000, 100_000))),
                "Engineer",
                "1980-01-01",
                f"{i:032x}",
                str(int((when - SPARKOV_UNIX_SHIFT).timestamp())),
                f"{rng.uniform(30, 45):.6f}",
                f"{rng.uniform(-100, -80):.6f}",
                "1" if i % fraud_every == fraud_every - 1 else "0",
            ]
        )
    return rows


def write_sparkov_csv(path: Path, rows: list[list[str]] | None = None, *, n: int = 100) -> Path:
    """Write a Sparkov-layout CSV (fraudTrain.csv / fraudTest.csv)."""
    body = rows if rows is not None else sparkov_rows(n)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(SPARKOV_HEADER)
        writer.writerows(body)
    return path
