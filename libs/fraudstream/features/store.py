"""The feature store interface, and the arithmetic every store shares.

A store turns a batch of :class:`FeatureRequest` into raw window aggregates (integer
counts, cents and milliseconds, :data:`RAW_COLUMNS`), recording the transactions as it
goes; :func:`assemble` turns those into the features of docs/features.md. Keeping the
arithmetic here means the Redis and in-memory stores differ only in where the
aggregates come from. A store fails with the errors of
:mod:`~fraudstream.features.errors`, whichever store it is.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import msgspec
import numpy as np
import pandas as pd

from fraudstream.features.definitions import (
    CARD_WINDOWS,
    DAY_MS,
    FEATURE_NAMES,
    HOUR_MS,
    MERCHANT_WINDOWS,
    epoch_ms,
    to_cents,
)
from fraudstream.schemas import Transaction

#: What a store returns per transaction, in this order.
RAW_COLUMNS: Final = (
    "flags",  # bit 0: duplicate, bit 1: too late
    "prev_gap_ms",  # -1: no previous transaction
    *(f"card_count_{s}" for s, _ in CARD_WINDOWS),
    *(f"card_cents_{s}" for s, _ in CARD_WINDOWS),
    *(f"merchant_count_{s}" for s, _ in MERCHANT_WINDOWS),
    *(f"merchant_frauds_{s}" for s, _ in MERCHANT_WINDOWS),
    *(f"merchant_delayed_count_{s}" for s, _ in MERCHANT_WINDOWS),
    "merchant_recent_frauds",
)
DUPLICATE_FLAG: Final = 1
LATE_FLAG: Final = 2

_N_CARD = len(CARD_WINDOWS)
_N_MERCHANT = len(MERCHANT_WINDOWS)


class FeatureRequest(msgspec.Struct, frozen=True, array_like=True):
    """What the store needs to know of one transaction.

    A msgspec struct, encoded as an array in field order: that is how the Redis store
    hands a batch to its script (one MessagePack argument, see features.lua).
    """

    transaction_id: str
    event_ms: int
    cents: int
    card_id: str | None = None
    merchant_id: str | None = None

    @classmethod
    def of(cls, tx: Transaction) -> FeatureRequest:
        """The request for a transaction."""
        return cls(
            transaction_id=tx.transaction_id,
            event_ms=math.floor(tx.event_time.timestamp() * 1000),
            cents=to_cents(tx.amount),
            card_id=tx.card_id or None,
            merchant_id=tx.merchant_id or None,
        )


def requests_from_frame(frame: pd.DataFrame) -> list[FeatureRequest]:
    """The requests for the rows of a frame with the canonical columns, in order."""
    cents = np.rint(frame["amount"].to_numpy(dtype=np.float64) * 100).astype(np.int64)
    return [
        FeatureRequest(
            transaction_id=str(tx),
            event_ms=t,
            cents=c,
            card_id=card if isinstance(card, str) and card else None,
            merchant_id=merchant if isinstance(merchant, str) and merchant else None,
        )
        for tx, t, c, card, merchant in zip(
            frame["transaction_id"].tolist(),
            epoch_ms(frame["event_time"]),
            cents.tolist(),
            frame["card_id"].tolist(),
            frame["merchant_id"].tolist(),
            strict=True,
        )
    ]


#: What :meth:`FeatureStore.process_parts` yields: one part's features at a time.
FeatureAnswers = Generator["FeatureBatch", None, None]


@dataclass(frozen=True)
class FraudReport:
    """A transaction known to be fraud, reported by the learner."""

    transaction_id: str
    merchant_id: str
    event_ms: int


@dataclass(frozen=True)
class FeatureBatch:
    """Features of a batch: one row per request, one column per feature name."""

    values: np.ndarray
    duplicate: np.ndarray
    late: np.ndarray
    names: tuple[str, ...] = FEATURE_NAMES

    def __len__(self) -> int:
        return len(self.values)

    def as_dicts(self) -> list[dict[str, float]]:
        """One ``{name: value}`` dict per transaction."""
        names = self.names
        return [dict(zip(names, row, strict=True)) for row in self.values.tolist()]

    def to_frame(self) -> pd.DataFrame:
        """The features as a DataFrame, plus the ``duplicate`` and ``late`` flags."""
        frame = pd.DataFrame(self.values, columns=list(self.names))
        frame["duplicate"] = self.duplicate
        frame["late"] = self.late
        return frame


class FeatureStore(Protocol):
    """Records transactions and answers their features, a batch at a time."""

    def process(self, requests: Sequence[FeatureRequest]) -> FeatureBatch:
        """Record each transaction (in order) and return its features as of its time."""
        ...

    def process_parts(self, parts: Sequence[Sequence[FeatureRequest]]) -> FeatureAnswers:
        """:meth:`process` each part in turn, yielding each part's features as they come.

        The parts are recorded in order, so a part sees the ones before it. A store may
        work on later parts while the caller uses earlier answers (Redis does).
        """
        ...

    def read(self, requests: Sequence[FeatureRequest]) -> FeatureBatch:
        """Record nothing; return, for each transaction, the features (and flags) that
        recording it alone would return now. The transactions of one call do not see
        each other."""
        ...

    def report_frauds(self, reports: Sequence[FraudReport]) -> None:
        """Tell the store these transactions were fraud (they feed the fraud shares)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def assemble(requests: Sequence[FeatureRequest], raw: np.ndarray) -> FeatureBatch:
    """Turn raw aggregates (rows of :data:`RAW_COLUMNS`) into features."""
    n = len(requests)
    raw = raw.reshape(n, len(RAW_COLUMNS)).astype(np.float64)
    has_card = np.array([r.card_id is not None for r in requests], dtype=bool)
    has_merchant = np.array([r.merchant_id is not None for r in requests], dtype=bool)
    cents = np.array([r.cents for r in requests], dtype=np.float64)
    event_ms = np.array([r.event_ms for r in requests], dtype=np.int64)

    c = 2
    card_counts = raw[:, c : c + _N_CARD]
    card_cents = raw[:, c + _N_CARD : c + 2 * _N_CARD]
    m = c + 2 * _N_CARD
    merchant_counts = raw[:, m : m + _N_MERCHANT]
    frauds = raw[:, m + _N_MERCHANT : m + 2 * _N_MERCHANT]
    delayed = raw[:, m + 2 * _N_MERCHANT : m + 3 * _N_MERCHANT]
    recent = raw[:, m + 3 * _N_MERCHANT]

    with np.errstate(divide="ignore", invalid="ignore"):
        means = np.where(card_counts > 0, card_cents / 100.0 / card_counts, 0.0)
        mean_30d = means[:, -1]
        over_mean = np.where(mean_30d > 0, cents / 100.0 / mean_30d, 1.0)
        share = np.where(delayed > 0, np.minimum(1.0, frauds / delayed), 0.0)
    prev = np.where(raw[:, 1] >= 0, raw[:, 1] / 1000.0, -1.0)

    card_block = np.column_stack([card_counts, means, prev, over_mean])
    card_block[~has_card] = 0.0
    card_block[~has_card, 2 * _N_CARD] = -1.0  # card_seconds_since_prev
    card_block[~has_card, 2 * _N_CARD + 1] = 1.0  # card_amount_over_mean_30d
    merchant_block = np.column_stack([merchant_counts, share, recent])
    merchant_block[~has_merchant] = 0.0

    hour = (event_ms // HOUR_MS) % 24
    weekday = (event_ms // DAY_MS + 3) % 7  # 1970-01-01 was a Thursday
    time_block = np.column_stack(
        [hour.astype(np.float64), (hour < 6).astype(np.float64), (weekday >= 5).astype(np.float64)]
    )
    flags = raw[:, 0].astype(np.int64)
    return FeatureBatch(
        values=np.column_stack([card_block, merchant_block, time_block]),
        duplicate=(flags & DUPLICATE_FLAG).astype(bool),
        late=(flags & LATE_FLAG).astype(bool),
    )
