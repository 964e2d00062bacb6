"""The history a backfill starts from: what the store would have been fed up to a moment.

A :class:`History` holds the transactions in the order the store would have received
them and the fraud reports with the position at which each would have reached it,
exactly the two frames :func:`~fraudstream.features.reference.compute_features` takes,
plus ``until``, the moment the state is for. :func:`history_from_frame` builds one
from a canonical dataset frame the way replay and learner feed a live store: every
transaction before ``until`` in event-time order, and a fraud reported a label delay
after its transaction (before the first transaction at or after that time, as
:func:`~fraudstream.features.served.served_features` models it) when that is no later
than ``until``.

>>> import pandas as pd
>>> frame = pd.DataFrame(
...     {
...         "transaction_id": ["a", "b", "c"],
...         "event_time": pd.to_datetime(
...             ["2024-04-01 10:00", "2024-04-03 09:00", "2024-04-09 12:00"], utc=True
...         ),
...         "card_id": ["k", "k", "k"],
...         "merchant_id": ["m", "m", "m"],
...         "amount": [10.0, 20.0, 30.0],
...         "is_fraud": [1, 1, 0],
...     }
... )
>>> history = history_from_frame(
...     frame, pd.Timestamp("2024-04-09 12:00", tz="UTC"), label_delay=pd.Timedelta(days=7)
... )
>>> history.transactions["transaction_id"].tolist()  # "c" is not before until
['a', 'b']
>>> history.fraud_labels[["transaction_id", "known_before"]].values.tolist()  # "b": 04-10
[['a', 2]]
"""

from __future__ import annotations

import hashlib
from dataclasses import astuple, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from fraudstream.errors import DataFileError
from fraudstream.features.definitions import FeatureConfig
from fraudstream.features.reference import LABEL_COLUMNS, TRANSACTION_COLUMNS

__all__ = [
    "History",
    "default_lookback",
    "event_ms",
    "history_from_frame",
    "load_history",
    "report_positions",
    "until_ms",
]

_EPOCH: Final = pd.Timestamp(0, tz="UTC")
_ONE_MS: Final = pd.Timedelta(1, unit="ms")


@dataclass(frozen=True)
class History:
    """Transactions in arrival order and fraud reports with their delivery positions.

    ``transactions`` has :data:`~fraudstream.features.reference.TRANSACTION_COLUMNS`,
    every event time before ``until_ms``; ``fraud_labels`` has
    :data:`~fraudstream.features.reference.LABEL_COLUMNS`, where ``known_before`` is
    the position of the transaction the report reaches the store just before, and
    ``len(transactions)`` means after the last one (still by ``until_ms``).
    """

    transactions: pd.DataFrame
    fraud_labels: pd.DataFrame
    until_ms: int
    source: str = ""

    def __post_init__(self) -> None:
        for frame, columns, what in (
            (self.transactions, TRANSACTION_COLUMNS, "transactions"),
            (self.fraud_labels, LABEL_COLUMNS, "fraud_labels"),
        ):
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise ValueError(f"{what} lacks the column(s) {', '.join(missing)}")

    def __len__(self) -> int:
        return len(self.transactions)

    def fingerprint(self, config: FeatureConfig) -> str:
        """A digest of everything the backfilled state depends on: the rows, their
        order, the reports, ``until`` and the feature settings. Two runs with the same
        fingerprint write the same state, so the second can resume or skip the first."""
        digest = hashlib.sha256()
        for frame, columns in (
            (self.transactions, TRANSACTION_COLUMNS),
            (self.fraud_labels, LABEL_COLUMNS),
        ):
            rows = pd.util.hash_pandas_object(frame[list(columns)], index=False)
            digest.update(rows.to_numpy().tobytes())
            digest.update(str(len(frame)).encode())
        digest.update(repr((self.until_ms, astuple(config))).encode())
        return digest.hexdigest()[:32]


def event_ms(times: pd.Series) -> np.ndarray:
    """Event times as whole milliseconds since the epoch (floored), as int64.

    The vectorised twin of :func:`~fraudstream.features.definitions.epoch_ms`.
    """
    as_utc = pd.to_datetime(times, utc=True)
    return ((as_utc - _EPOCH) // _ONE_MS).to_numpy(dtype=np.int64)


def until_ms(until: datetime | pd.Timestamp) -> int:
    """A moment as milliseconds since the epoch (naive means UTC), floored."""
    stamp = pd.Timestamp(until)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int((stamp - _EPOCH) // _ONE_MS)


def default_lookback(config: FeatureConfig) -> timedelta:
    """How far before ``until`` history can still matter to a store with expiring keys.

    An entity whose newest transaction is older than the key TTL would have had its
    keys expire, and a kept transaction is at most a horizon older than its entity's
    newest: nothing older can be in any key at ``until``.
    """
    return timedelta(milliseconds=config.key_ttl_ms + config.merchant_horizon_ms)


def report_positions(arrival_ms: np.ndarray, known_ms: np.ndarray) -> np.ndarray:
    """Where each report reaches the store: before the first transaction whose arrival
    brings the stream's event-time clock (the running maximum of event times) to or
    past the moment the report became known.

    >>> report_positions(np.array([10, 30, 20, 40]), np.array([5, 30, 35, 50])).tolist()
    [0, 1, 3, 4]
    """
    clock = np.maximum.accumulate(arrival_ms) if len(arrival_ms) else arrival_ms
    return np.searchsorted(clock, known_ms, side="left").astype(np.int64)


def history_from_frame(
    frame: pd.DataFrame,
    until: datetime | pd.Timestamp,
    *,
    label_delay: timedelta | pd.Timedelta,
    lookback: timedelta | None = None,
    source: str = "",
) -> History:
    """The history of a canonical frame (with ``is_fraud``) up to ``until``.

    Transactions before ``until`` (and, with ``lookback``, not before ``until -
    lookback``) in event-time order, as a replay sends them; each fraud reported
    ``label_delay`` after its transaction, when that is no later than ``until``.
    """
    end = until_ms(until)
    times = event_ms(frame["event_time"])
    keep = times < end
    if lookback is not None:
        keep &= times >= end - round(lookback.total_seconds() * 1000)
    kept = frame.loc[keep, [*TRANSACTION_COLUMNS, "is_fraud"]]
    order = np.argsort(times[keep], kind="stable")
    kept = kept.iloc[order].reset_index(drop=True)
    arrival = times[keep][order]
    frauds = np.flatnonzero(
        (kept["is_fraud"].to_numpy() == 1) & kept["merchant_id"].notna().to_numpy()
    )
    known = arrival[frauds] + round(pd.Timedelta(label_delay).total_seconds() * 1000)
    reported = known <= end
    fraud_rows = kept.iloc[frauds[reported]].reset_index(drop=True)
    labels = pd.DataFrame(
        {
            "transaction_id": fraud_rows["transaction_id"],
            "merchant_id": fraud_rows["merchant_id"],
            "event_time": fraud_rows["event_time"],
            "known_before": report_positions(arrival, known[reported]),
        }
    )
    return History(
        transactions=kept[list(TRANSACTION_COLUMNS)],
        fraud_labels=labels,
        until_ms=end,
        source=source,
    )


def load_history(
    path: Path,
    until: datetime | pd.Timestamp,
    *,
    label_delay: timedelta,
    lookback: timedelta | None = None,
) -> History:
    """:func:`history_from_frame` of a dataset file (any kind ``load_dataset`` reads)."""
    from fraudstream.datasets import load_dataset

    history = history_from_frame(
        load_dataset(path).frame,
        until,
        label_delay=label_delay,
        lookback=lookback,
        source=str(path),
    )
    if not len(history):
        stamp = pd.Timestamp(history.until_ms, unit="ms", tz="UTC").isoformat()
        raise DataFileError(path, f"no transaction before {stamp} to backfill from")
    return history
