"""Sample records with sensible defaults, overridable field by field.

>>> tx = sample_transaction(amount=99.0)
>>> tx.amount, tx.card_id
(99.0, 'card-1')
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any, Final

from fraudstream.schemas import Label, Transaction

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
