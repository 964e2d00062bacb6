"""Every record on a fraudstream topic, in one place, with its version and codec.

- :mod:`~fraudstream.schemas.transactions`: what comes in (``transactions``,
  ``labels``), validated where it enters;
- :mod:`~fraudstream.schemas.outputs`: what the scorer writes (``fraud.alerts``,
  ``transactions.scored``, ``transactions.dlq``);
- :mod:`~fraudstream.schemas.events`: what promotion writes (``model.events``).

docs/schemas.md documents them field by field.
"""

from fraudstream.schemas.events import ModelEvent, model_event
from fraudstream.schemas.outputs import (
    Alert,
    DeadLetter,
    ScoredTransaction,
    alert_id_for,
    b64,
    encoder,
)
from fraudstream.schemas.transactions import (
    EVENT_YEARS,
    LABEL_SCHEMA_VERSION,
    LABEL_SCHEMA_VERSIONS,
    MAX_AMOUNT,
    MAX_MAGNITUDE,
    MAX_RECORD_BYTES,
    SCHEMA_VERSION,
    Label,
    LabelSource,
    Transaction,
    TransactionWire,
    decode_label,
    decode_transaction,
    encode,
    validate_label,
    validate_transaction,
)

__all__ = [
    "EVENT_YEARS",
    "LABEL_SCHEMA_VERSION",
    "LABEL_SCHEMA_VERSIONS",
    "MAX_AMOUNT",
    "MAX_MAGNITUDE",
    "MAX_RECORD_BYTES",
    "SCHEMA_VERSION",
    "Alert",
    "DeadLetter",
    "Label",
    "LabelSource",
    "ModelEvent",
    "ScoredTransaction",
    "Transaction",
    "TransactionWire",
    "alert_id_for",
    "b64",
    "decode_label",
    "decode_transaction",
    "encode",
    "encoder",
    "model_event",
    "validate_label",
    "validate_transaction",
]
