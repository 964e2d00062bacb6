"""Bad input against the running scorer: a hypothesis fuzzer and a catalogue of
malformed records. Zero crashes; every bad record in the DLQ with its reason (the one
the schema code gives for it); every valid neighbour scored.

The fuzzer generates the records first (derandomized, so a run is reproducible), then
all of them go through one scorer: a crash anywhere fails the test.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from fraudstream.config import Settings
from fraudstream.errors import SchemaError
from fraudstream.harness.faults import read_outputs
from fraudstream.harness.scorer import (
    RawRecord,
    ScorerThread,
    TopicWatcher,
    http_get,
    metric_values,
    produce,
)
from fraudstream.schemas import decode_transaction, encode
from fraudstream.scoring.core import RESERVED_NAMES
from fraudstream.testing.samples import SAMPLE_TIME, raw_transaction, sample_transaction

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FUZZ_EXAMPLES = 400


def _json(**changes: Any) -> bytes:
    """A raw transaction's JSON as Python writes it: NaN and Infinity come out as
    (invalid) bare words."""
    return json.dumps(raw_transaction(**changes), allow_nan=True).encode()


#: name -> value; the expected reason comes from the schema code (see _expected)
CATALOGUE: dict[str, bytes | None] = {
    "amount as text": _json(amount="12.50"),
    "amount as bool": _json(amount=True),
    "id as number": _json(transaction_id=12345),
    "features as list": _json(features=[1.0, 2.0]),
    "feature as text": _json(features={"V1": "0.5"}),
    "time as number": _json(event_time=1711972800),
    "time without zone": _json(event_time="2024-04-01T12:00:00"),
    "missing amount": _json(amount=...),
    "missing id": _json(transaction_id=...),
    "missing time": _json(event_time=...),
    "empty object": b"{}",
    "JSON null": b"null",
    "JSON string": b'"a transaction"',
    "NaN amount": _json(amount=float("nan")),
    "NaN feature": _json(features={"V1": float("nan")}),
    "Infinity amount": _json(amount=float("inf")),
    "1e999 amount": _json(amount=1.0).replace(b"1.0", b"1e999"),
    "-1e999 feature": _json(features={"V2": 1.0}).replace(b"1.0", b"-1e999"),
    "1e308 amount": _json(amount=1e308),
    "huge integer amount": _json(amount=10**40),
    "400-digit amount": _json(amount=1).replace(b'"amount": 1', b'"amount": 1' + b"0" * 400),
    "-1e300 feature": _json(features={"V3": -1e300}),
    "negative amount": _json(amount=-0.01),
    "1 MB payload": _json(merchant_id="m" * 1_000_000),
    "invalid UTF-8": b'{"transaction_id": "\xc3\x28"}',
    "latin-1 bytes": _json(card_id="caf\u00e9").replace(b"\\u00e9", b"\xe9"),
    "schema version 0": _json(schema_version=0),
    "schema version 2": _json(schema_version=2),
    "schema version as text": _json(schema_version="1"),
    "unknown field": _json(cvv="123"),
    "reserved feature": _json(features={"amount": 1.0}),
    "id of 129 chars": _json(transaction_id="x" * 129),
    "deep nesting": b"[" * 50_000 + b"]" * 50_000,
    "truncated": _json()[:40],
    "tombstone": None,
}


def _expected(value: bytes | None) -> str:
    """What the scorer must do with ``value``: "valid", or the DLQ reason."""
    if value is None:
        return "empty"
    try:
        tx = decode_transaction(value)
    except SchemaError as exc:
        return exc.reason
    return "reserved_feature" if not RESERVED_NAMES.isdisjoint(tx.features) else "valid"


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
_field_change = st.one_of(st.just(...), _json_values)  # ... removes the field
_fuzzed = st.one_of(
    # a transaction with some fields removed or replaced by any JSON value
    st.dictionaries(
        st.sampled_from(
            ["schema_version", "transaction_id", "event_time", "amount", "card_id", "features"]
        ),
        _field_change,
        max_size=3,
    ).map(lambda changes: _json(**changes)),
    # the same, with a dataset feature of any value
    st.floats(allow_nan=True, allow_infinity=True).map(lambda v: _json(features={"V1": v})),
    st.binary(max_size=200),  # any bytes
    st.integers(min_value=1, max_value=150).map(lambda n: _json()[:n]),  # truncated
)


def _fuzz_values() -> list[bytes]:
    """FUZZ_EXAMPLES records from the strategy, the same every run."""
    values: list[bytes] = []

    @hypothesis_settings(
        max_examples=FUZZ_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(_fuzzed)
    def collect(value: bytes) -> None:
        values.append(value)

    collect()
    return values


@dataclass(frozen=True)
class _Sent:
    name: str
    expected: str  # "valid" or the DLQ reason
    partition: int
    offset: int


@pytest.mark.timeout(240)
def test_fuzzed_and_malformed_records_go_to_the_dlq_and_never_stop_the_scorer(
    settings: Settings,
) -> None:
    fuzz = _fuzz_values()
    named = [*CATALOGUE.items(), *((f"fuzz {i}", v) for i, v in enumerate(fuzz))]
    # a fuzzed record that happens to be valid is scored like any other
    records: list[RawRecord] = []
    plan: list[tuple[str, str]] = []
    valid_ids: list[str] = []
    for i, (name, value) in enumerate(named):
        expected = _expected(value)
        partition = i % 3
        records.append(RawRecord(value, f"bad-{i}".encode(), partition))
        plan.append((name, expected))
        neighbour = sample_transaction(
            card_id=f"fuzz-card-{partition}",
            event_time=SAMPLE_TIME + timedelta(seconds=i),
        )
        records.append(RawRecord(encode(neighbour), neighbour.card_id.encode(), partition))
        plan.append((f"neighbour {i}", "valid"))
        valid_ids.append(neighbour.transaction_id)
    # a duplicate transaction id: the same valid record twice
    twice = sample_transaction(card_id="fuzz-card-0", event_time=SAMPLE_TIME + timedelta(days=1))
    for _ in range(2):
        records.append(RawRecord(encode(twice), b"fuzz-card-0", 0))
        plan.append(("duplicate id", "valid"))

    kafka = settings.kafka
    landed = produce(kafka.servers, kafka.transactions_topic, records, timeout_s=60)
    sent = [_Sent(n, e, p.partition, p.offset) for (n, e), p in zip(plan, landed, strict=True)]
    bad = [s for s in sent if s.expected != "valid"]
    n_valid = len(sent) - len(bad)
    with (
        ScorerThread(settings) as scorer,
        TopicWatcher(kafka.servers, kafka.scored_topic) as scored_watch,
        TopicWatcher(kafka.servers, kafka.dlq_topic) as dlq_watch,
    ):
        assert scored_watch.wait_for(n_valid, 120, check=scorer.check) == n_valid, scorer.describe()
        assert dlq_watch.wait_for(len(bad), 30, check=scorer.check) == len(bad)
        scorer.check()  # zero crashes: still running
        status, metrics = http_get(f"{scorer.url}/metrics")
        assert status == 200
    outputs = read_outputs(settings)
    by_place = {(d.source_partition, d.source_offset): d for d in outputs.letters}
    wrong = [
        (s.name, s.expected, by_place[(s.partition, s.offset)].reason)
        for s in bad
        if by_place.get((s.partition, s.offset)) is None
        or by_place[(s.partition, s.offset)].reason != s.expected
    ]
    scored_places = Counter((s.partition, s.offset) for s in outputs.scored)
    unscored = [
        s.name for s in sent if s.expected == "valid" and not scored_places[(s.partition, s.offset)]
    ]
    reasons = Counter(d.reason for d in outputs.letters)
    fuzz_bad = sum(1 for s in bad if s.name.startswith("fuzz"))
    print(
        f"bad input: {len(CATALOGUE)} catalogue records, {len(fuzz)} fuzzed "
        f"({fuzz_bad} bad, {len(fuzz) - fuzz_bad} valid), {len(valid_ids)} valid neighbours, "
        f"1 id sent twice; scored {len(outputs.scored)} of {n_valid} valid, DLQ "
        f"{len(outputs.letters)} of {len(bad)} bad, wrong reason {len(wrong)}, crashes 0"
    )
    print("DLQ by reason: " + ", ".join(f"{r} {n}" for r, n in sorted(reasons.items())))
    assert wrong == []
    assert unscored == []
    assert len(outputs.scored) == n_valid
    assert len(outputs.letters) == len(bad) == len(by_place)
    for letter in outputs.letters:
        assert letter.detail
        assert letter.source_topic == kafka.transactions_topic
    dead = metric_values(metrics, "scorer_dead_letters_total")
    assert {dict(k)["reason"]: v for k, v in dead.items()} == dict(reasons)
    copies = [s for s in outputs.scored if s.transaction_id == twice.transaction_id]
    assert len(copies) == 2
    assert copies[0].features == copies[1].features  # the repeat was not counted again
