"""The canonical in-memory form of a dataset, shared by every adapter.

An adapter reads a file into a :class:`Dataset`: a pandas frame with the canonical
columns below, sorted by event time, plus the dataset's own numeric feature columns.
:meth:`Dataset.events` turns it into the stream of records the rest of the system
speaks (:class:`~fraudstream.schemas.Transaction`, :class:`~fraudstream.schemas.Label`).

>>> import pandas as pd
>>> frame = pd.DataFrame(
...     {
...         "transaction_id": ["a", "b"],
...         "event_time": pd.to_datetime(["2024-04-01 10:00", "2024-04-02 09:00"], utc=True),
...         "card_id": ["c1", None],
...         "merchant_id": ["m1", "m2"],
...         "amount": [10.0, 250.0],
...         "is_fraud": [0, 1],
...         "V1": [0.5, -1.5],
...     }
... )
>>> data = Dataset(name="example", source="mem", frame=frame, feature_columns=("V1",))
>>> tx, label = next(data.events())
>>> tx.transaction_id, tx.features, label.is_fraud
('a', {'V1': 0.5}, False)
>>> data.summary().fraud_rate
0.5
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, Literal

import pandas as pd

from fraudstream.schemas import Label, Transaction

#: Columns every canonical frame has, in this order.
CANONICAL_COLUMNS: Final = (
    "transaction_id",
    "event_time",
    "card_id",
    "merchant_id",
    "amount",
    "is_fraud",
)

#: What to do with a row that cannot be read: stop with an error, or skip and count it.
BadRowPolicy = Literal["raise", "skip"]


@dataclass(frozen=True)
class BadRow:
    """A row an adapter could not read: its line in the file, the column and why."""

    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column!r}: {self.reason}"


@dataclass(frozen=True)
class DatasetSummary:
    """What ``fraudstream data info`` prints."""

    name: str
    source: str
    rows: int
    start: datetime | None
    end: datetime | None
    frauds: int
    cards: int | None
    merchants: int | None
    bad_rows: int
    #: The dataset's columns: the canonical ones, its features and any metadata.
    columns: tuple[str, ...] = ()

    @property
    def fraud_rate(self) -> float:
        """Share of rows that are fraud (0 for an empty dataset)."""
        return self.frauds / self.rows if self.rows else 0.0

    @property
    def days(self) -> float:
        """Time span covered, in days."""
        if self.start is None or self.end is None:
            return 0.0
        return (self.end - self.start).total_seconds() / 86_400


@dataclass(frozen=True)
class Dataset:
    """A dataset in canonical form, sorted by event time."""

    name: str
    source: str | Path
    frame: pd.DataFrame
    feature_columns: tuple[str, ...] = ()
    bad_rows: tuple[BadRow, ...] = field(default=())
    bad_row_count: int = 0

    def __len__(self) -> int:
        return len(self.frame)

    def events(self, label_delay: timedelta = timedelta(0)) -> Iterator[tuple[Transaction, Label]]:
        """Yield each row as a (Transaction, Label) pair, in event-time order.

        ``labelled_at`` is the event time plus ``label_delay``: the moment the truth
        becomes known to the system.
        """
        frame = self.frame
        ids = frame["transaction_id"].tolist()
        times = frame["event_time"].dt.to_pydatetime().tolist()
        cards = frame["card_id"].tolist()
        merchants = frame["merchant_id"].tolist()
        amounts = frame["amount"].tolist()
        frauds = frame["is_fraud"].tolist()
        columns = self.feature_columns
        values = frame[list(columns)].to_numpy(dtype=float).tolist() if columns else None
        for i, tx_id in enumerate(ids):
            card = cards[i] if isinstance(cards[i], str) else None
            features = dict(zip(columns, values[i], strict=True)) if values else {}
            tx = Transaction(
                transaction_id=tx_id,
                event_time=times[i],
                amount=amounts[i],
                card_id=card,
                merchant_id=merchants[i] if isinstance(merchants[i], str) else None,
                features=features,
            )
            label = Label(
                transaction_id=tx_id,
                is_fraud=bool(frauds[i]),
                labelled_at=times[i] + label_delay,
                card_id=card,
            )
            yield tx, label

    def summary(self) -> DatasetSummary:
        """Rows, time span, fraud count, distinct cards and merchants."""
        frame = self.frame
        times = frame["event_time"]
        empty = frame.empty
        cards = frame["card_id"].dropna()
        merchants = frame["merchant_id"].dropna()
        return DatasetSummary(
            name=self.name,
            source=str(self.source),
            rows=len(frame),
            start=None if empty else times.iloc[0].to_pydatetime(),
            end=None if empty else times.iloc[-1].to_pydatetime(),
            frauds=int(frame["is_fraud"].sum()),
            cards=int(cards.nunique()) if len(cards) else None,
            merchants=int(merchants.nunique()) if len(merchants) else None,
            bad_rows=self.bad_row_count,
            columns=tuple(str(c) for c in frame.columns),
        )
