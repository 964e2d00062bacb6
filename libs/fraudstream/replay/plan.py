"""What a replay sends and when: a pure function of the dataset and the options.

Transactions and their labels are merged into one stream ordered by event time, a
label standing at its transaction's event time plus the label delay (after the
transaction itself when the delay is zero). Each item gets a *due* time, in seconds
after the replay starts:

- ``speed`` N: event time elapsed since the first transaction, divided by N; labels
  the same way, so a 7-day label delay at speed 1,000 is about 10 minutes;
- ``rate`` R: the k-th transaction is due at k / R; a label goes out with the first
  transaction at or after its own time (labels due after the last transaction of a
  pass go out at the end of that pass);
- ``max``: everything is due at once.

``--start`` DATE sends the transactions from DATE on and, with them, the labels due
after DATE of earlier transactions (a deployment started on DATE receives those too).
``--loop`` replays the data again and again with event times moved on by the span of
the data and transaction ids suffixed ``~<pass>``, so every record stays unique.

>>> import pandas as pd
>>> frame = pd.DataFrame(
...     {
...         "transaction_id": ["a", "b", "c"],
...         "event_time": pd.to_datetime(
...             ["2024-01-01 00:00:00", "2024-01-01 00:00:10", "2024-01-01 00:00:20"], utc=True
...         ),
...         "card_id": ["k1", "k2", "k1"],
...         "merchant_id": [None, None, None],
...         "amount": [1.0, 2.0, 3.0],
...         "is_fraud": [0, 1, 0],
...     }
... )
>>> from fraudstream.datasets import Dataset
>>> options = ReplayOptions(pace=Pace("speed", 10.0), label_delay=timedelta(seconds=15))
>>> for item in plan_items(Dataset("d", "mem", frame), options):
...     print(item.due, "label" if item.is_label else "tx", item.key)
0.0 tx b'k1'
1.0 tx b'k2'
1.5 label b'k1'
2.0 tx b'k1'
2.5 label b'k2'
3.5 label b'k1'
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal, NamedTuple

import msgspec
import numpy as np
import pandas as pd
import polars as pl

from fraudstream.datasets import Dataset
from fraudstream.schemas import Label, TransactionWire, encode

PaceMode = Literal["speed", "rate", "max"]

#: Items encoded per chunk handed from the feeder to the sender.
CHUNK_SIZE: Final = 5_000

_EMPTY: Final = msgspec.Raw(b"{}")


@dataclass(frozen=True)
class Pace:
    """How fast to replay: ``speed`` x event time, ``rate`` transactions/s, or ``max``."""

    mode: PaceMode
    value: float = 0.0

    def __post_init__(self) -> None:
        if self.mode != "max" and not self.value > 0:
            raise ValueError(f"{self.mode} must be > 0, got {self.value}")


@dataclass(frozen=True)
class ReplayOptions:
    """Everything that decides what is sent and when."""

    pace: Pace
    label_delay: timedelta = timedelta(days=7)
    label_fraction: float = 1.0
    limit: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    loop: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.label_fraction <= 1.0:
            raise ValueError(f"label fraction must be in [0, 1], got {self.label_fraction}")
        if self.label_delay < timedelta(0):
            raise ValueError("label delay must be >= 0")
        if self.limit is not None and self.limit < 0:
            raise ValueError("limit must be >= 0")


class Item(NamedTuple):
    """One record to send: when, to which topic, with which key and value."""

    due: float
    is_label: bool
    key: bytes
    value: bytes


class Chunk(NamedTuple):
    """Consecutive items as parallel lists, the unit the feeder hands over."""

    due: list[float]
    is_label: list[bool]
    keys: list[bytes]
    values: list[bytes]
    transactions: int


def select(dataset: Dataset, options: ReplayOptions) -> pd.DataFrame:
    """The rows inside ``[start, end)`` of event time."""
    frame = dataset.frame
    times = frame["event_time"]
    keep = np.ones(len(frame), dtype=bool)
    if options.start is not None:
        keep &= (times >= pd.Timestamp(options.start)).to_numpy()
    if options.end is not None:
        keep &= (times < pd.Timestamp(options.end)).to_numpy()
    return frame[keep].reset_index(drop=True)


def planned_transactions(dataset: Dataset, options: ReplayOptions) -> int | None:
    """How many transactions the replay will send (``None``: forever, with ``--loop``)."""
    rows = len(select(dataset, options))
    if options.loop and rows:
        return options.limit
    return rows if options.limit is None else min(rows, options.limit)


def plan_chunks(dataset: Dataset, options: ReplayOptions) -> Iterator[Chunk]:
    """The whole replay as encoded chunks, in send order."""
    frame = select(dataset, options)
    if frame.empty:
        return
    early = _labels_due_after_start(dataset, options)
    remaining = options.limit
    times = _ns(frame)
    span = int(times[-1] - times[0]) + 1_000_000_000  # one second between passes
    rng = np.random.default_rng(options.seed)
    passes = 0
    while remaining is None or remaining > 0:
        rows = len(frame) if remaining is None else min(len(frame), remaining)
        part = frame.iloc[:rows]
        if passes == 0 and not early.empty:
            part = pd.concat([early, part], ignore_index=True)
        labelled = rng.random(len(part)) < options.label_fraction
        yield from _pass_chunks(
            dataset,
            part,
            _ns(part) + passes * span,
            times[0],
            labelled,
            options,
            passes,
            label_only=len(part) - rows,
        )
        if remaining is not None:
            remaining -= rows
        passes += 1
        if not options.loop:
            break


def _labels_due_after_start(dataset: Dataset, options: ReplayOptions) -> pd.DataFrame:
    """Transactions before ``start`` whose labels come after it: a replay that starts
    mid-stream sends those labels (not the transactions), as the label feed of a
    deployment started that day would."""
    if options.start is None or options.label_delay <= timedelta(0):
        return dataset.frame.iloc[:0]
    times = dataset.frame["event_time"]
    start = pd.Timestamp(options.start)
    keep = ((times < start) & (times + options.label_delay >= start)).to_numpy()
    return dataset.frame[keep].reset_index(drop=True)


def _ns(frame: pd.DataFrame) -> np.ndarray:
    """Event times in ns since the epoch."""
    return frame["event_time"].to_numpy(dtype="datetime64[ns]").astype(np.int64)


def plan_items(dataset: Dataset, options: ReplayOptions) -> Iterator[Item]:
    """The replay item by item (for tests and small data; the sender uses chunks)."""
    for chunk in plan_chunks(dataset, options):
        yield from map(Item, chunk.due, chunk.is_label, chunk.keys, chunk.values)


def _pass_chunks(
    dataset: Dataset,
    frame: pd.DataFrame,
    times: np.ndarray,
    origin: int,
    labelled: np.ndarray,
    options: ReplayOptions,
    pass_index: int,
    *,
    label_only: int = 0,
) -> Iterator[Chunk]:
    """One pass; its first ``label_only`` rows send their label only."""
    n = len(frame)
    delay_ns = int(options.label_delay.total_seconds() * 1e9)
    tx_rows = np.arange(label_only, n)
    label_rows = np.flatnonzero(labelled)
    positions = np.concatenate([times[tx_rows], times[label_rows] + delay_ns])
    rows = np.concatenate([tx_rows, label_rows])
    is_label = np.concatenate(
        [np.zeros(len(tx_rows), dtype=bool), np.ones(len(label_rows), dtype=bool)]
    )
    order = np.argsort(positions, kind="stable")  # ties: transactions before labels
    due = _due(options.pace, positions[order], is_label[order], times[tx_rows], origin, pass_index)
    encoder = _Encoder(dataset, frame, pass_index, options.label_delay)
    for begin in range(0, len(order), CHUNK_SIZE):
        part = order[begin : begin + CHUNK_SIZE]
        chunk_rows = rows[part].tolist()
        chunk_labels = is_label[part].tolist()
        keys, values = encoder.encode(chunk_rows, chunk_labels)
        yield Chunk(
            due=due[begin : begin + CHUNK_SIZE].tolist(),
            is_label=chunk_labels,
            keys=keys,
            values=values,
            transactions=len(chunk_labels) - sum(chunk_labels),
        )


def _due(
    pace: Pace,
    positions: np.ndarray,
    is_label: np.ndarray,
    tx_times: np.ndarray,
    origin: int,
    pass_index: int,
) -> np.ndarray:
    if pace.mode == "max":
        return np.zeros(len(positions))
    if pace.mode == "speed":
        return np.maximum((positions - origin) / 1e9 / pace.value, 0.0)
    # rate: transaction k of this pass is due at (pass_index * n + k) / rate; a label
    # with the first transaction at or after its position
    n = len(tx_times)
    tx_index = np.searchsorted(tx_times, positions, side="left").astype(float)
    tx_index[~is_label] = np.arange(n)
    return (pass_index * n + tx_index) / pace.value


class _Encoder:
    """Encodes rows of one pass as transactions or labels, keyed by card (or id)."""

    def __init__(
        self, dataset: Dataset, frame: pd.DataFrame, pass_index: int, label_delay: timedelta
    ) -> None:
        suffix = f"~{pass_index}" if pass_index else ""
        shift = timedelta(0)
        if pass_index:
            times = dataset.frame["event_time"]
            shift = (times.iloc[-1] - times.iloc[0] + pd.Timedelta(seconds=1)) * pass_index
        self.ids = [f"{tx_id}{suffix}" for tx_id in frame["transaction_id"].tolist()]
        self.times = (frame["event_time"] + shift).dt.to_pydatetime().tolist()
        self.cards = [c if isinstance(c, str) else None for c in frame["card_id"].tolist()]
        self.merchants = [m if isinstance(m, str) else None for m in frame["merchant_id"].tolist()]
        self.amounts = frame["amount"].astype(float).tolist()
        self.frauds = frame["is_fraud"].astype(bool).tolist()
        self.columns = dataset.feature_columns
        self.features = pl.from_pandas(frame[list(self.columns)]) if self.columns else None
        self.keys = [(c or i).encode() for c, i in zip(self.cards, self.ids, strict=True)]
        self.label_delay = label_delay

    def encode(self, rows: list[int], labels: list[bool]) -> tuple[list[bytes], list[bytes]]:
        keys = [self.keys[row] for row in rows]
        features = self._features(
            [r for r, is_label in zip(rows, labels, strict=True) if not is_label]
        )
        values = [
            self._label(row) if is_label else self._transaction(row, features[row])
            for row, is_label in zip(rows, labels, strict=True)
        ]
        return keys, values

    def _features(self, rows: list[int]) -> dict[int, msgspec.Raw]:
        """The features object of each row as JSON, encoded in bulk by polars (the
        per-row Python alternative costs three times as much)."""
        if self.features is None or not rows:
            return dict.fromkeys(rows, _EMPTY)
        encoded = self.features.select(
            pl.struct(self.columns).gather(rows).struct.json_encode()
        ).to_series()
        return {row: msgspec.Raw(text.encode()) for row, text in zip(rows, encoded, strict=True)}

    def _transaction(self, row: int, features: msgspec.Raw) -> bytes:
        return encode(
            TransactionWire(
                transaction_id=self.ids[row],
                event_time=self.times[row],
                amount=self.amounts[row],
                card_id=self.cards[row],
                merchant_id=self.merchants[row],
                features=features,
            )
        )

    def _label(self, row: int) -> bytes:
        return encode(
            Label(
                transaction_id=self.ids[row],
                is_fraud=self.frauds[row],
                labelled_at=self.times[row] + self.label_delay,
                card_id=self.cards[row],
            )
        )
