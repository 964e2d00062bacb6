"""The canonical, versioned event schema: :class:`Transaction` and :class:`Label`.

These are the records that travel on the ``transactions`` and ``labels`` topics, as
JSON. Every record carries ``schema_version``; a consumer rejects versions it does not
know. A label is written as version 2 (:data:`LABEL_SCHEMA_VERSION`: it says who gave
it, ``source`` and ``analyst``) and read as version 1 or 2; a version-1 label is a
``delayed`` one. See ``docs/schemas.md`` for the field-by-field contract.

Validation happens where data enters: :func:`decode_transaction` checks types and the
value rules (:func:`validate_transaction`); dataset adapters check their rows before
building records. Building a record in code does not re-check it, which keeps the
replay's hot path cheap.

>>> from datetime import UTC, datetime
>>> tx = Transaction(
...     transaction_id="t1",
...     event_time=datetime(2024, 4, 1, 12, 0, tzinfo=UTC),
...     amount=12.5,
...     card_id="c7",
... )
>>> encode(tx)
b'{"schema_version":1,"transaction_id":"t1","event_time":"2024-04-01T12:00:00Z","amount":12.5,"card_id":"c7","merchant_id":null,"features":{}}'
>>> decode_transaction(encode(tx)) == tx
True
>>> decode_transaction(b'{"schema_version":1,"transaction_id":"t1"}')
Traceback (most recent call last):
...
fraudstream.errors.SchemaError: Object missing required field `event_time`
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Final, Literal, TypeAlias, TypeVar

import msgspec

from fraudstream.errors import SchemaError

#: The schema version this code writes and the only one it reads (labels aside).
SCHEMA_VERSION: Final = 1

#: The version of :class:`Label` this code writes: version 1 plus ``source`` and
#: ``analyst``.
LABEL_SCHEMA_VERSION: Final = 2

#: The label versions this code reads (a version-1 label is a ``delayed`` one).
LABEL_SCHEMA_VERSIONS: Final = (1, 2)

#: Where a label comes from: the delayed truth (chargebacks, customer claims; it is
#: authoritative) or an investigator's verdict (fast, and may be overruled).
LabelSource: TypeAlias = Literal["delayed", "investigator"]

#: Largest accepted amount: amounts are counted in whole cents, summed per card, and
#: must stay exact in a double (2**53 cents) in Redis.
MAX_AMOUNT: Final = 1e9

#: Largest accepted encoded record, in bytes. Bigger payloads are rejected unread.
MAX_RECORD_BYTES: Final = 64 * 1024

#: Largest accepted magnitude of a dataset feature (amounts have the tighter
#: :data:`MAX_AMOUNT`; found by the fuzzer: 1e308 overflowed the cents and crashed the
#: batch).
MAX_MAGNITUDE: Final = 1e12

#: Accepted years of an event time, as written (first, last + 1): a payment from before
#: 1970 or after 2199 is a broken clock or a forged record (and near year 1 or 9999
#: time zone arithmetic overflows).
EVENT_YEARS: Final = (1970, 2200)

_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
_UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]


def _check_version(version: int, readable: tuple[int, ...] = (SCHEMA_VERSION,)) -> None:
    if version not in readable:
        reads = " or ".join(str(v) for v in readable)
        raise SchemaError(
            f"unsupported schema_version {version} (this build reads {reads})",
            "unknown_schema_version",
        )


def validate_transaction(tx: Transaction) -> Transaction:
    """Check the value rules types cannot express; return ``tx`` or raise SchemaError."""
    _check_version(tx.schema_version)
    if not math.isfinite(tx.amount):
        raise SchemaError(f"amount must be a finite number >= 0, got {tx.amount!r}", "non_finite")
    if tx.amount < 0:
        raise SchemaError(
            f"amount must be a finite number >= 0, got {tx.amount!r}", "negative_amount"
        )
    if tx.amount > MAX_AMOUNT:
        raise SchemaError(
            f"amount must be at most {MAX_AMOUNT:.0e}, got {tx.amount!r}", "out_of_range"
        )
    if not EVENT_YEARS[0] <= tx.event_time.year < EVENT_YEARS[1]:
        raise SchemaError(
            f"event_time must be from {EVENT_YEARS[0]} to {EVENT_YEARS[1]}, "
            f"got {tx.event_time.isoformat()}",
            "out_of_range",
        )
    for name, value in tx.features.items():
        if not math.isfinite(value):
            raise SchemaError(f"feature {name!r} must be finite, got {value!r}", "non_finite")
        if abs(value) > MAX_MAGNITUDE:
            raise SchemaError(
                f"feature {name!r} = {value!r} exceeds {MAX_MAGNITUDE:g} in magnitude",
                "out_of_range",
            )
    return tx


def validate_label(label: Label) -> Label:
    """Check a label's schema version; return it or raise SchemaError.

    Version 1 has neither ``source`` nor ``analyst``: a version-1 record that carries
    them is rejected, as any record with a field its version does not define.

    >>> from datetime import UTC, datetime
    >>> at = datetime(2024, 4, 8, tzinfo=UTC)
    >>> validate_label(Label(transaction_id="t1", is_fraud=True, labelled_at=at)).source
    'delayed'
    >>> validate_label(
    ...     Label(
    ...         schema_version=1,
    ...         transaction_id="t1",
    ...         is_fraud=True,
    ...         labelled_at=at,
    ...         source="investigator",
    ...     )
    ... )
    Traceback (most recent call last):
    ...
    fraudstream.errors.SchemaError: schema_version 1 labels have no source or analyst
    """
    _check_version(label.schema_version, LABEL_SCHEMA_VERSIONS)
    if label.schema_version == 1 and (label.source != "delayed" or label.analyst is not None):
        raise SchemaError("schema_version 1 labels have no source or analyst", "unknown_field")
    return label


class Transaction(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One card payment, as every dataset adapter emits it.

    ``features`` holds the dataset's own numeric columns (for example ULB's ``V1``
    to ``V28``); the online features computed from history are not part of it.
    """

    schema_version: int = SCHEMA_VERSION
    transaction_id: _Id
    event_time: _UtcTime
    amount: float
    card_id: _Id | None = None
    merchant_id: _Id | None = None
    features: dict[str, float] = msgspec.field(default_factory=dict)


class TransactionWire(msgspec.Struct, frozen=True, kw_only=True):
    """A :class:`Transaction` whose ``features`` object is already JSON.

    For producers that encode the features of many rows at once (the replay does it
    with polars); it encodes to the same JSON as the equivalent Transaction. Same
    fields, same order: a test holds the two together.
    """

    schema_version: int = SCHEMA_VERSION
    transaction_id: str
    event_time: datetime
    amount: float
    card_id: str | None = None
    merchant_id: str | None = None
    features: msgspec.Raw = msgspec.Raw(b"{}")


class Label(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The truth about one transaction, known some time after it happened.

    ``source`` says who gave it: ``delayed`` (the default, and every version-1 label)
    is the authoritative truth that comes days later; ``investigator`` is an
    analyst's verdict (``analyst`` names them), which a later delayed label
    overrules.
    """

    schema_version: int = LABEL_SCHEMA_VERSION
    transaction_id: _Id
    is_fraud: bool
    labelled_at: _UtcTime
    card_id: _Id | None = None
    source: LabelSource = "delayed"
    analyst: str | None = None


_encoder = msgspec.json.Encoder()
_tx_decoder = msgspec.json.Decoder(Transaction)
_label_decoder = msgspec.json.Decoder(Label)


def encode(record: Transaction | TransactionWire | Label) -> bytes:
    """Encode a record as canonical JSON bytes."""
    return _encoder.encode(record)


_T = TypeVar("_T")


def _decode(decoder: msgspec.json.Decoder[_T], data: bytes) -> _T:
    if len(data) > MAX_RECORD_BYTES:
        raise SchemaError(f"record of {len(data)} bytes exceeds {MAX_RECORD_BYTES}", "oversize")
    try:
        return decoder.decode(data)
    except msgspec.DecodeError as exc:  # ValidationError is a subclass
        raise SchemaError(str(exc), _reason(exc, data)) from exc
    except UnicodeDecodeError as exc:  # msgspec decodes str values with Python's codec
        raise SchemaError(f"invalid UTF-8: {exc}", "invalid_utf8") from exc


def _reason(exc: msgspec.DecodeError, data: bytes) -> str:  # noqa: PLR0911 - one per code
    """A short code for why decoding failed, for counting and routing."""
    message = str(exc)
    if not isinstance(exc, msgspec.ValidationError):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return "invalid_utf8"
        return "not_json"
    if message.startswith("Object missing required field"):
        return "missing_field"
    if "out of range" in message:
        return "non_finite"
    if message.startswith("Expected") and ("length" in message or "timezone" in message):
        return "invalid_value"
    if message.startswith("Expected"):
        return "wrong_type"
    if message.startswith("Object contains unknown field"):
        return "unknown_field"
    return "invalid_value"


def decode_transaction(data: bytes) -> Transaction:
    """Decode and validate one transaction; raise :class:`SchemaError` with the reason."""
    return validate_transaction(_decode(_tx_decoder, data))


def decode_label(data: bytes) -> Label:
    """Decode and validate one label; raise :class:`SchemaError` with the reason."""
    return validate_label(_decode(_label_decoder, data))
