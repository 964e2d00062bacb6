"""Sample records with sensible defaults, overridable field by field.

>>> tx = sample_transaction(amount=99.0)
>>> tx.amount, tx.card_id
(99.0, 'card-1')
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any, Final

from fraudstream.schemas import Label, ScoredTransaction, Transaction

SAMPLE_TIME: Final = datetime(2024, 4, 1, 12, 0, tzinfo=UTC)
_ids = count(1)


def sample_transaction(**overrides: Any) -> Transaction:
    """A valid transaction; each call gets a fresh id unless one is given."""
    fields: dict[str, Any] = {
        "transaction_id": f"tx-{next(_ids):08d}",
        "event_time": SAMPLE_TIME,
        "amount": 42.5,
        "card_id": "card-1",
        "merchant_id": "merchant-1",
        "features": {},
    }
    fields.update(overrides)
    return Transaction(**fields)


def raw_transaction(**changes: Any) -> dict[str, Any]:
    """A transaction as the JSON object a producer sends, with fields changed, added (any
    value, valid or not) or removed (``...``): the raw material of bad-input tests.

    >>> raw = raw_transaction(amount="12.50", card_id=...)
    >>> raw["amount"], "card_id" in raw
    ('12.50', False)
    """
    fields: dict[str, Any] = {
        "schema_version": 1,
        "transaction_id": "bad-tx",
        "event_time": "2024-04-01T12:00:00Z",
        "amount": 12.5,
        "card_id": "card-bad",
        "merchant_id": "merchant-1",
        "features": {},
    }
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not ...}


def sample_label(
    tx: Transaction, *, is_fraud: bool = False, delay: timedelta = timedelta(0)
) -> Label:
    """The label of ``tx``, known ``delay`` after it happened."""
    return Label(
        transaction_id=tx.transaction_id,
        is_fraud=is_fraud,
        labelled_at=tx.event_time + delay,
        card_id=tx.card_id,
    )


def sample_scored(**overrides: Any) -> ScoredTransaction:
    """A scored record as the scorer writes it: an alert on ``tx-1`` unless changed.

    >>> scored = sample_scored(transaction_id="t1", score=0.2, alert=False)
    >>> scored.transaction_id, scored.merchant_id, scored.alert
    ('t1', 'merchant-1', False)
    """
    fields: dict[str, Any] = {
        "transaction_id": "tx-1",
        "card_id": "card-1",
        "merchant_id": "merchant-1",
        "event_time": SAMPLE_TIME,
        "amount": 10.0,
        "features": {"amount": 10.0},
        "score": 0.9,
        "threshold": 0.5,
        "alert": True,
        "model_version": "m-1",
        "scored_at": SAMPLE_TIME,
        "partition": 0,
        "offset": 0,
        "source_timestamp_ms": 0,
    }
    fields.update(overrides)
    return ScoredTransaction(**fields)
