"""What the scorer writes: alerts, scored transactions and dead letters.

Documented field by field in docs/schemas.md.
"""

from __future__ import annotations

import base64
from datetime import datetime

import msgspec

from fraudstream.schemas.transactions import SCHEMA_VERSION


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """A transaction the fraud team should look at (topic ``fraud.alerts``)."""

    schema_version: int = SCHEMA_VERSION
    alert_id: str
    transaction_id: str
    card_id: str | None
    merchant_id: str | None
    amount: float
    score: float
    threshold: float
    model_version: str
    reasons: list[str]
    event_time: datetime
    scored_at: datetime


class ScoredTransaction(msgspec.Struct, frozen=True, kw_only=True):
    """A transaction as served: its model input, score and decision (``transactions.scored``)."""

    schema_version: int = SCHEMA_VERSION
    transaction_id: str
    card_id: str | None
    merchant_id: str | None
    event_time: datetime
    amount: float
    features: dict[str, float]
    score: float
    threshold: float
    alert: bool
    model_version: str
    scored_at: datetime
    partition: int
    offset: int
    source_timestamp_ms: int
    shadow_score: float | None = None
    shadow_model_version: str | None = None


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """A record the scorer could not read (``transactions.dlq``), with its original bytes."""

    schema_version: int = SCHEMA_VERSION
    reason: str
    detail: str
    source_topic: str
    source_partition: int
    source_offset: int
    source_timestamp_ms: int
    key_base64: str | None
    value_base64: str | None
    failed_at: datetime
    #: Size of the original value; ``value_base64`` holds only its first
    #: ``MAX_DLQ_VALUE_BYTES`` when ``value_truncated`` (a dead letter must fit Kafka's
    #: record size limit, or the whole batch could never commit).
    value_size: int | None = None
    value_truncated: bool = False

    def original_value(self) -> bytes | None:
        """The bytes that failed, exactly as consumed."""
        return None if self.value_base64 is None else base64.b64decode(self.value_base64)


def b64(data: bytes | None) -> str | None:
    """Base64 text of ``data`` (None stays None)."""
    return None if data is None else base64.b64encode(data).decode("ascii")


def alert_id_for(transaction_id: str) -> str:
    """The alert id of a transaction: the same on every retry, so consumers can dedupe.

    >>> alert_id_for("tx-1")
    'alert:tx-1'
    """
    return f"alert:{transaction_id}"


encoder = msgspec.json.Encoder()
