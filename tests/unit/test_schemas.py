"""The canonical event schema: round trips, and every kind of bad record rejected."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from fraudstream.errors import SchemaError
from fraudstream.schemas import (
    LABEL_SCHEMA_VERSION,
    MAX_AMOUNT,
    MAX_MAGNITUDE,
    MAX_RECORD_BYTES,
    SCHEMA_VERSION,
    Label,
    decode_label,
    decode_transaction,
    encode,
    validate_transaction,
)
from fraudstream.testing.samples import sample_label, sample_transaction


def test_transaction_round_trip_keeps_every_field() -> None:
    tx = sample_transaction(features={"V1": -1.5, "V2": 0.25}, merchant_id=None)
    assert decode_transaction(encode(tx)) == tx


def test_label_round_trip() -> None:
    label = sample_label(sample_transaction(), is_fraud=True)
    assert decode_label(encode(label)) == label


def test_encoded_time_is_utc_rfc3339() -> None:
    raw = msgspec.json.decode(encode(sample_transaction()))
    assert raw["event_time"] == "2024-04-01T12:00:00Z"
    assert raw["schema_version"] == SCHEMA_VERSION


def _tx_json(**changes: object) -> bytes:
    raw = msgspec.json.decode(encode(sample_transaction()))
    raw.update(changes)
    return msgspec.json.encode(raw)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "malformed"),
        (b"\xff\xfe{}", "invalid"),
        (_tx_json(amount="12"), "Expected `float`"),
        (_tx_json(amount=-1.0), "amount must be a finite number >= 0"),
        (
            b'{"schema_version":1,"transaction_id":"a","event_time":"2024-04-01T00:00:00Z",'
            b'"amount":1e999}',
            "out of range|finite",
        ),
        (_tx_json(schema_version=2), "unsupported schema_version 2"),
        (_tx_json(event_time="2024-04-01T12:00:00"), "timezone"),
        (_tx_json(event_time="yesterday"), "datetime"),
        (_tx_json(transaction_id=""), "length"),
        (_tx_json(features={"V1": "x"}), "Expected `float`"),
        (_tx_json(surprise=1), "unknown field"),
        (b'{"schema_version":1,"event_time":"2024-04-01T00:00:00Z","amount":1}', "transaction_id"),
    ],
)
def test_bad_transactions_are_rejected_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(SchemaError, match=reason):
        decode_transaction(payload)


def test_oversize_payload_is_rejected_unread() -> None:
    with pytest.raises(SchemaError, match="exceeds"):
        decode_transaction(b" " * (MAX_RECORD_BYTES + 1))


def test_non_finite_values_fail_validation() -> None:
    with pytest.raises(SchemaError, match="feature 'V1' must be finite"):
        validate_transaction(sample_transaction(features={"V1": float("nan")}))
    with pytest.raises(SchemaError, match="amount must be a finite number"):
        validate_transaction(sample_transaction(amount=float("inf")))
    tx = sample_transaction()
    assert validate_transaction(tx) is tx


def test_huge_numbers_are_out_of_range() -> None:
    """1e308 is finite, but its cents overflow the feature store's integers."""
    for tx in (
        sample_transaction(amount=1e308),
        sample_transaction(amount=MAX_MAGNITUDE * 2),
        sample_transaction(features={"V1": -1e300}),
    ):
        with pytest.raises(SchemaError, match=r"exceeds|at most") as raised:
            validate_transaction(tx)
        assert raised.value.reason == "out_of_range"
    edge = sample_transaction(amount=MAX_AMOUNT, features={"V1": -MAX_MAGNITUDE})
    assert validate_transaction(edge) is edge


def test_label_needs_a_timezone() -> None:
    payload = msgspec.json.encode(
        {"transaction_id": "a", "is_fraud": True, "labelled_at": "2024-04-01T00:00:00"}
    )
    with pytest.raises(SchemaError, match="timezone"):
        decode_label(payload)
    ok = Label(transaction_id="a", is_fraud=True, labelled_at=datetime(2024, 4, 1, tzinfo=UTC))
    assert decode_label(encode(ok)).is_fraud is True


def test_an_amount_too_large_to_count_in_cents_is_rejected() -> None:
    from fraudstream.schemas import MAX_AMOUNT

    raw = b'{"transaction_id":"t","event_time":"2024-04-01T12:00:00Z","amount":%s}'
    assert decode_transaction(raw % str(MAX_AMOUNT).encode()).amount == MAX_AMOUNT
    with pytest.raises(SchemaError, match="at most") as error:
        decode_transaction(raw % b"1.6e308")
    assert error.value.reason == "out_of_range"


@pytest.mark.parametrize("year", [1, 1969, 2200, 9999])
def test_an_implausible_event_time_is_out_of_range(year: int) -> None:
    """Year 9999 with a zone is where time zone arithmetic overflows (schemathesis)."""
    tx = sample_transaction(event_time=datetime(year, 6, 1, tzinfo=UTC))
    with pytest.raises(SchemaError, match="event_time must be from 1970 to 2200") as raised:
        validate_transaction(tx)
    assert raised.value.reason == "out_of_range"


def test_a_version_1_label_is_a_delayed_one() -> None:
    payload = (
        b'{"schema_version":1,"transaction_id":"a","is_fraud":true,'
        b'"labelled_at":"2024-04-08T00:00:00Z","card_id":"c1"}'
    )
    label = decode_label(payload)
    assert (label.schema_version, label.source, label.analyst) == (1, "delayed", None)


def test_an_investigator_label_round_trips_as_version_2() -> None:
    label = Label(
        transaction_id="a",
        is_fraud=True,
        labelled_at=datetime(2024, 4, 1, 2, 51, tzinfo=UTC),
        card_id="c1",
        source="investigator",
        analyst="a.martin",
    )
    raw = msgspec.json.decode(encode(label))
    assert raw["schema_version"] == LABEL_SCHEMA_VERSION == 2
    assert (raw["source"], raw["analyst"]) == ("investigator", "a.martin")
    assert decode_label(encode(label)) == label


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"schema_version": 1, "source": "investigator"}, "unknown_field"),
        ({"schema_version": 1, "analyst": "a.martin"}, "unknown_field"),
        ({"schema_version": 3}, "unknown_schema_version"),
        ({"source": "chargeback"}, "invalid_value"),
        ({"analyst": 7}, "wrong_type"),
        ({"reviewed": True}, "unknown_field"),
    ],
)
def test_bad_labels_are_rejected_with_a_reason(changes: dict[str, object], reason: str) -> None:
    raw = msgspec.json.decode(encode(sample_label(sample_transaction())))
    with pytest.raises(SchemaError) as raised:
        decode_label(msgspec.json.encode({**raw, **changes}))
    assert raised.value.reason == reason
