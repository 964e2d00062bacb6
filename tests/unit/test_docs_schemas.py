"""The docs stay true to the code.

docs/schemas.md and docs/asyncapi.yaml describe the msgspec structs of the topics;
docs/scoring.md lists the scorer's settings and metrics. Each test compares a part of
the docs with what the code defines, so a field, reason code, metric or setting added
to the code without its documentation fails here.

jsonschema is not a dependency, so :func:`_violations` checks the few JSON Schema
keywords docs/asyncapi.yaml uses, and refuses any other keyword.
"""

from __future__ import annotations

import ast
import base64
import functools
import json
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from kafka.consumer.fetcher import ConsumerRecord
from prometheus_client import CollectorRegistry

import fraudstream.schemas.transactions
import fraudstream.scoring.core
import fraudstream.scoring.scorer
from fraudstream.config import KafkaSettings, ScorerSettings
from fraudstream.errors import SchemaError
from fraudstream.features.definitions import FEATURE_NAMES
from fraudstream.features.memory_store import MemoryFeatureStore
from fraudstream.observability.health import Health
from fraudstream.schemas import (
    LABEL_SCHEMA_VERSION,
    LABEL_SCHEMA_VERSIONS,
    Alert,
    DeadLetter,
    Label,
    ModelEvent,
    ScoredTransaction,
    Transaction,
    alert_id_for,
    b64,
    decode_label,
    decode_transaction,
    encode,
)
from fraudstream.scoring.decide import Decider
from fraudstream.scoring.holder import ModelHolder
from fraudstream.scoring.metrics import ScorerMetrics
from fraudstream.scoring.scorer import Scorer, ScorerTopics
from fraudstream.streaming.loop import LoopMetrics
from fraudstream.testing.samples import sample_label, sample_transaction

DOCS = Path(__file__).resolve().parents[2] / "docs"

#: Each documented struct and the setting that names its topic.
TOPIC_SETTINGS: dict[type[msgspec.Struct], str] = {
    Transaction: "transactions_topic",
    Label: "labels_topic",
    Alert: "alerts_topic",
    ScoredTransaction: "scored_topic",
    DeadLetter: "dlq_topic",
    ModelEvent: "model_events_topic",
}
STRUCTS = list(TOPIC_SETTINGS)
STRUCT_IDS = [s.__name__ for s in STRUCTS]

#: Who sends and receives what: (application, action, topic setting).
OPERATIONS = {
    ("replay", "send", "transactions_topic"),
    ("replay", "send", "labels_topic"),
    ("console", "send", "labels_topic"),
    ("scorer", "receive", "transactions_topic"),
    ("scorer", "send", "alerts_topic"),
    ("scorer", "send", "scored_topic"),
    ("scorer", "send", "dlq_topic"),
    ("learner", "receive", "labels_topic"),
    ("registry", "send", "model_events_topic"),
}

#: Topics created with other than KAFKA_PARTITIONS partitions.
PARTITIONS = {"model.events": 1}

SCORED_AT = datetime(2025, 6, 2, 9, 30, 12, 418305, tzinfo=UTC)


# -- reading the docs ------------------------------------------------------------------


@functools.cache
def _text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


@functools.cache
def _asyncapi() -> dict[str, Any]:
    document = yaml.safe_load(_text("asyncapi.yaml"))
    assert isinstance(document, dict)
    return document


def _topic(struct: type[msgspec.Struct]) -> str:
    default = KafkaSettings.model_fields[TOPIC_SETTINGS[struct]].default
    assert isinstance(default, str)
    return default


def _section(text: str, heading: str) -> str:
    """The text under ``heading`` (a whole heading line), up to the next heading as high."""
    lines = text.splitlines()
    assert lines.count(heading) == 1, f"expected the heading {heading!r} once"
    start = lines.index(heading)
    level = len(heading) - len(heading.lstrip("#"))
    end, fenced = len(lines), False
    for i in range(start + 1, len(lines)):
        line = lines[i]
        fenced ^= line.startswith("```")
        hashes = len(line) - len(line.lstrip("#"))
        if not fenced and 0 < hashes <= level and line[hashes : hashes + 1] == " ":
            end = i
            break
    return "\n".join(lines[start + 1 : end])


def _first_table(section: str) -> list[list[str]]:
    """The body rows of the first Markdown table of ``section``, as stripped cells."""
    rows: list[list[str]] = []
    for line in section.splitlines():
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    assert len(rows) >= 2, "no table found"
    return rows[2:]  # header and separator


def _code_names(rows: Sequence[list[str]]) -> list[str]:
    """The first column of each row, which must be one `code span`."""
    names: list[str] = []
    for row in rows:
        match = re.fullmatch(r"`([^`]+)`", row[0])
        assert match, f"first cell {row[0]!r} is not a `name`"
        names.append(match.group(1))
    return names


def _struct_section(struct: type[msgspec.Struct]) -> str:
    return _section(_text("schemas.md"), f"## `{struct.__name__}` (topic `{_topic(struct)}`)")


def _json_examples(section: str) -> list[str]:
    return re.findall(r"```json\n(.*?)```", section, flags=re.DOTALL)


# -- the AsyncAPI document --------------------------------------------------------------


def _resolve(reference: str) -> Any:
    assert reference.startswith("#/"), f"only local references are used: {reference}"
    node: Any = _asyncapi()
    for escaped in reference[2:].split("/"):
        part = escaped.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), f"{reference}: {part!r} is not in an object"
        assert part in node, f"{reference} does not resolve"
        node = node[part]
    return node


def _deref(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = _resolve(node["$ref"])
    return node


def _channel_id(address: str) -> str:
    ids = [k for k, v in _asyncapi()["channels"].items() if v.get("address") == address]
    assert len(ids) == 1, f"expected one channel with address {address!r}, found {ids}"
    return ids[0]


def _payload(struct: type[msgspec.Struct]) -> dict[str, Any]:
    """The payload schema of the one message of the struct's channel."""
    channel = _asyncapi()["channels"][_channel_id(_topic(struct))]
    messages = list(channel["messages"].values())
    assert len(messages) == 1
    message = _deref(messages[0])
    assert message["name"] == struct.__name__
    payload = _deref(message["payload"])
    assert isinstance(payload, dict)
    return payload


def _walk(node: Any) -> Iterator[Any]:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from _walk(child)


# -- a tiny JSON Schema checker -----------------------------------------------------------

_CHECKED = {
    "$ref",
    "type",
    "const",
    "enum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "contentEncoding",
    "minimum",
    "maximum",
    "items",
    "maxItems",
    "required",
    "properties",
    "additionalProperties",
}
_ANNOTATIONS = {"description", "title", "default", "examples"}
_DATE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_TYPES: dict[str, Any] = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def _is_date_time(value: str) -> bool:
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return False
    try:
        datetime.strptime(f"{match.group(1)} {match.group(2)}", "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return False
    return True


def _is_base64(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except ValueError:
        return False
    return True


def _violations(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:  # noqa: PLR0912
    """What in ``value`` breaks ``schema``; empty when it is valid."""
    if "$ref" in schema:
        return _violations(value, _deref(schema), path)
    unknown = set(schema) - _CHECKED - _ANNOTATIONS
    assert not unknown, f"{path}: the checker does not know {sorted(unknown)}: teach it"
    if "type" in schema:
        names = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        if not any(_TYPES[name](value) for name in names):
            return [f"{path}: {value!r} is not of type {schema['type']}"]
    found: list[str] = []
    if "const" in schema and not _equal(value, schema["const"]):
        found.append(f"{path}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and not any(_equal(value, e) for e in schema["enum"]):
        found.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            found.append(f"{path}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            found.append(f"{path}: longer than {schema['maxLength']}")
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            found.append(f"{path}: {value!r} does not match {schema['pattern']!r}")
        if schema.get("format") == "date-time" and not _is_date_time(value):
            found.append(f"{path}: {value!r} is not an RFC 3339 date-time")
        if schema.get("contentEncoding") == "base64" and not _is_base64(value):
            found.append(f"{path}: {value!r} is not base64")
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            found.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            found.append(f"{path}: {value} > {schema['maximum']}")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            found.append(f"{path}: more than {schema['maxItems']} items")
        for i, item in enumerate(value):
            found += _violations(item, schema.get("items", {}), f"{path}[{i}]")
    if isinstance(value, dict):
        found += _object_violations(value, schema, path)
    return found


def _object_violations(value: dict[str, Any], schema: dict[str, Any], path: str) -> list[str]:
    found = [
        f"{path}: missing {name!r}" for name in schema.get("required", ()) if name not in value
    ]
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            found += _violations(item, properties[name], f"{path}.{name}")
        elif extra is False:
            found.append(f"{path}: unexpected {name!r}")
        elif isinstance(extra, dict):
            found += _violations(item, extra, f"{path}.{name}")
    return found


def _equal(a: Any, b: Any) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)


# -- records built by the code ---------------------------------------------------------


class _NoMarkers:
    """Alert markers that remember nothing (the Redis ones are tested elsewhere)."""

    def alerted(self, transaction_ids: Sequence[str]) -> set[str]:
        return set()

    def mark(self, transaction_ids: Sequence[str]) -> None:
        return None


def _record(offset: int, value: bytes | None, key: bytes | None = b"card-1") -> ConsumerRecord:
    fields: dict[str, Any] = dict.fromkeys(ConsumerRecord._fields)
    fields.update(
        topic="transactions",
        partition=2,
        offset=offset,
        timestamp=1_748_856_611_000 + offset,
        key=key,
        value=value,
        headers=[],
    )
    return ConsumerRecord(**fields)


@functools.cache
def _scorer_outputs() -> dict[str, tuple[dict[str, Any], ...]]:
    """What the real scoring step writes for a small batch, by topic, as JSON values."""
    scorer = Scorer(
        topics=ScorerTopics(
            alerts=_topic(Alert), scored=_topic(ScoredTransaction), dlq=_topic(DeadLetter)
        ),
        store=MemoryFeatureStore(),
        models=ModelHolder(None),
        decider=Decider(0.5),
        markers=_NoMarkers(),  # type: ignore[arg-type]
        metrics=ScorerMetrics(CollectorRegistry()),
        health=Health(["kafka", "redis"]),
    )
    small = sample_transaction(amount=12.0)
    large = sample_transaction(amount=2_500.0, features={"V1": -1.25, "V2": 3.0})
    anonymous = sample_transaction(amount=7.5, card_id=None, merchant_id=None)
    records = [
        _record(10, encode(small)),
        _record(11, encode(large)),
        _record(12, encode(anonymous), key=None),
        _record(13, None),
        _record(14, b"not json", key=None),
        _record(15, b'{"schema_version":1,"transaction_id":"x"}'),
    ]
    try:
        result = scorer(records)
    finally:
        close = getattr(scorer, "close", None)  # stops its Redis worker thread
        if close is not None:
            close()
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for out in result.outputs:
        by_topic.setdefault(out.topic, []).append(json.loads(out.value))
    return {topic: tuple(values) for topic, values in by_topic.items()}


def _built_examples(struct: type[msgspec.Struct]) -> list[msgspec.Struct]:
    """Instances of ``struct`` built directly, with the optional values both ways."""
    tx = sample_transaction(features={"V1": 0.5})
    if struct is Transaction:
        return [tx, sample_transaction(card_id=None, merchant_id=None)]
    if struct is Label:
        return [
            sample_label(tx, is_fraud=True),
            Label(**{**_fields_of(sample_label(tx)), "card_id": None}),
            Label(
                **{**_fields_of(sample_label(tx)), "source": "investigator", "analyst": "a.martin"}
            ),
        ]
    if struct is Alert:
        common = {
            "transaction_id": tx.transaction_id,
            "amount": tx.amount,
            "score": 0.93,
            "threshold": 0.5,
            "model_version": "cold-start-1",
            "event_time": tx.event_time,
            "scored_at": SCORED_AT,
        }
        return [
            Alert(
                alert_id=alert_id_for(tx.transaction_id),
                card_id=tx.card_id,
                merchant_id=tx.merchant_id,
                reasons=["amount", "card_amount_over_mean_30d"],
                **common,
            ),
            Alert(
                alert_id=alert_id_for(tx.transaction_id),
                card_id=None,
                merchant_id=None,
                reasons=[],
                **common,
            ),
        ]
    if struct is ScoredTransaction:
        features = {**dict.fromkeys(FEATURE_NAMES, 0.0), "amount": tx.amount, "V1": 0.5}
        return [
            ScoredTransaction(
                transaction_id=tx.transaction_id,
                card_id=None,
                merchant_id=None,
                event_time=tx.event_time,
                amount=tx.amount,
                features=features,
                score=0.0,
                threshold=1.0,
                alert=False,
                model_version="v7",
                scored_at=SCORED_AT,
                partition=0,
                offset=0,
                source_timestamp_ms=1_748_856_611_000,
            )
        ]
    if struct is ModelEvent:
        return [
            ModelEvent(
                event="promoted",
                model_name="fraudstream",
                alias="champion",
                version="4",
                previous_version=None,
                reason="bootstrap",
                metrics={"average_precision": 0.7},
                at=SCORED_AT,
            ),
            ModelEvent(
                event="rolled_back",
                model_name="fraudstream",
                alias="champion",
                version="3",
                previous_version="4",
                reason="manual rollback",
                metrics={},
                at=SCORED_AT,
            ),
        ]
    assert struct is DeadLetter
    return [
        DeadLetter(
            reason="oversize",
            detail="record of 70000 bytes exceeds 65536",
            source_topic="transactions",
            source_partition=5,
            source_offset=123,
            source_timestamp_ms=1_748_856_611_000,
            key_base64=b64(b"card-9"),
            value_base64=b64(b"\xff" * 10),
            failed_at=SCORED_AT,
        ),
        DeadLetter(
            reason="empty",
            detail="empty record (no value)",
            source_topic="transactions",
            source_partition=0,
            source_offset=0,
            source_timestamp_ms=-1,
            key_base64=None,
            value_base64=None,
            failed_at=SCORED_AT,
        ),
    ]


def _fields_of(record: msgspec.Struct) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in msgspec.structs.fields(record)}


def _as_json(record: msgspec.Struct) -> dict[str, Any]:
    value = json.loads(msgspec.json.encode(record))
    assert isinstance(value, dict)
    return value


# -- (a) fields: the struct, its table in schemas.md, its AsyncAPI schema ---------------


@pytest.mark.parametrize("struct", STRUCTS, ids=STRUCT_IDS)
def test_schemas_md_table_lists_every_field_in_order(struct: type[msgspec.Struct]) -> None:
    names = [f.encode_name for f in msgspec.structs.fields(struct)]
    assert _code_names(_first_table(_struct_section(struct))) == names


@pytest.mark.parametrize("struct", STRUCTS, ids=STRUCT_IDS)
def test_schemas_md_types_match_the_struct(struct: type[msgspec.Struct]) -> None:
    words = {
        "integer": "int",
        "number": "number",
        "string": "string",
        "boolean": "bool",
        "object": "object",
        "array": "array of strings",
    }
    generated = _msgspec_properties(struct)
    for row in _first_table(_struct_section(struct)):
        name = row[0].strip("`")
        types = _json_types(generated[name])
        expected = " or ".join(words[t] for t in sorted(types - {"null"})) + (
            " or null" if "null" in types else ""
        )
        assert row[1] == expected, f"{struct.__name__}.{name}"


@pytest.mark.parametrize("struct", STRUCTS, ids=STRUCT_IDS)
def test_asyncapi_properties_and_required_match_the_struct(
    struct: type[msgspec.Struct],
) -> None:
    fields = msgspec.structs.fields(struct)
    payload = _payload(struct)
    assert payload["type"] == "object"
    assert list(payload["properties"]) == [f.encode_name for f in fields]
    assert payload.get("required", []) == [f.encode_name for f in fields if f.required]
    forbids_unknown = struct.__struct_config__.forbid_unknown_fields
    assert (payload.get("additionalProperties", True) is False) == forbids_unknown


@pytest.mark.parametrize("struct", STRUCTS, ids=STRUCT_IDS)
def test_asyncapi_types_formats_and_lengths_match_msgspec(struct: type[msgspec.Struct]) -> None:
    generated = _msgspec_properties(struct)
    properties = _payload(struct)["properties"]
    for name, expected in generated.items():
        documented, where = properties[name], f"{struct.__name__}.{name}"
        assert _json_types(documented) == _json_types(expected), where
        # the docs may state more than the type: the output structs take any datetime,
        # the scorer always writes aware ones (the record tests check the format)
        for keyword in ("format", "minLength", "maxLength"):
            if _keyword(expected, keyword) is not None:
                assert _keyword(documented, keyword) == _keyword(expected, keyword), where
    if struct is Label:
        assert properties["schema_version"]["enum"] == list(LABEL_SCHEMA_VERSIONS)
        assert properties["schema_version"]["default"] == LABEL_SCHEMA_VERSION
    else:
        assert properties["schema_version"]["const"] == fraudstream.schemas.SCHEMA_VERSION


def _msgspec_properties(struct: type[msgspec.Struct]) -> dict[str, dict[str, Any]]:
    (ref,), components = msgspec.json.schema_components([struct])
    schema = components[ref["$ref"].rsplit("/", 1)[-1]]
    properties: dict[str, dict[str, Any]] = schema["properties"]
    return properties


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return list(schema.get("anyOf", [schema]))


def _json_types(schema: dict[str, Any]) -> set[str]:
    types: set[str] = set()
    for branch in _branches(schema):
        if "type" not in branch and "enum" in branch:  # msgspec's Literal: an enum only
            types |= {"string" for value in branch["enum"] if isinstance(value, str)}
            continue
        declared = branch["type"]
        types |= {declared} if isinstance(declared, str) else set(declared)
    return types


def _keyword(schema: dict[str, Any], keyword: str) -> Any:
    values = {repr(b[keyword]) for b in _branches(schema) if keyword in b}
    assert len(values) <= 1
    return values.pop() if values else None


def test_scored_features_schema_lists_the_online_features_and_amount() -> None:
    features = _payload(ScoredTransaction)["properties"]["features"]
    assert features["required"] == [*FEATURE_NAMES, "amount"]
    assert features["additionalProperties"] == {"type": "number"}


# -- (b) records the code builds validate against the AsyncAPI schemas ------------------


@pytest.mark.parametrize("struct", STRUCTS, ids=STRUCT_IDS)
def test_built_records_validate(struct: type[msgspec.Struct]) -> None:
    for record in _built_examples(struct):
        assert _violations(_as_json(record), _payload(struct)) == []


@pytest.mark.parametrize(
    "struct",
    [Alert, ScoredTransaction, DeadLetter],
    ids=["Alert", "ScoredTransaction", "DeadLetter"],
)
def test_what_the_scorer_writes_validates(struct: type[msgspec.Struct]) -> None:
    written = _scorer_outputs()[_topic(struct)]
    assert written
    for value in written:
        assert _violations(value, _payload(struct)) == []


def test_the_scorer_batch_covers_alerts_nulls_and_every_dead_letter_kind() -> None:
    outputs = _scorer_outputs()
    assert len(outputs[_topic(Alert)]) == 1
    assert [s["card_id"] for s in outputs[_topic(ScoredTransaction)]] == ["card-1", "card-1", None]
    letters = outputs[_topic(DeadLetter)]
    assert [d["reason"] for d in letters] == ["empty", "not_json", "missing_field"]
    assert letters[1]["key_base64"] is None
    assert letters[0]["value_base64"] is None


@pytest.mark.parametrize("struct", STRUCTS, ids=STRUCT_IDS)
def test_the_checker_rejects_broken_records(struct: type[msgspec.Struct]) -> None:
    good = _as_json(_built_examples(struct)[0])
    required = [f.encode_name for f in msgspec.structs.fields(struct) if f.required]
    assert _violations({k: v for k, v in good.items() if k != required[0]}, _payload(struct))
    for name in good:
        assert _violations({**good, name: {"not": "this"}}, _payload(struct)), name
    unread = max(LABEL_SCHEMA_VERSIONS) + 1 if struct is Label else 2
    assert _violations({**good, "schema_version": unread}, _payload(struct))


def test_the_checker_knows_date_times() -> None:
    assert _is_date_time("2024-04-01T12:00:00Z")
    assert _is_date_time("2024-04-01T12:00:00.418305+02:00")
    assert not _is_date_time("2024-04-01T12:00:00")
    assert not _is_date_time("2024-02-30T12:00:00Z")
    assert not _is_date_time("yesterday")


@pytest.mark.parametrize("struct", STRUCTS, ids=STRUCT_IDS)
def test_schemas_md_examples_decode_and_validate(struct: type[msgspec.Struct]) -> None:
    examples = _json_examples(_struct_section(struct))
    assert examples, f"no JSON example for {struct.__name__}"
    for example in examples:
        data = example.encode()
        if struct is Transaction:
            decode_transaction(data)  # the scorer's own validation
        if struct is Label:
            decode_label(data)  # the learner's own validation
        msgspec.json.decode(data, type=struct, strict=True)
        assert _violations(json.loads(data), _payload(struct)) == []


def test_asyncapi_message_examples_validate() -> None:
    for name, message in _asyncapi()["components"]["messages"].items():
        for example in message.get("examples", []):
            assert _violations(example["payload"], _deref(message["payload"])) == [], name


# -- (c) reason codes: the code, schemas.md and the AsyncAPI enum agree ------------------


def _reason_codes_in_code() -> set[str]:
    """Every reason a SchemaError can carry to the DLQ, read from the source."""
    default = SchemaError.__init__.__defaults__
    assert default is not None
    codes: set[str] = set()
    for module in (
        fraudstream.schemas.transactions,
        fraudstream.scoring.scorer,
        fraudstream.scoring.core,
    ):
        assert module.__file__ is not None
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        functions = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _called(node) == "SchemaError"):
                continue
            where = f"{module.__name__}, line {node.lineno}"
            reasons = [k.value for k in node.keywords if k.arg == "reason"] + node.args[1:2]
            if not reasons:
                codes.add(default[0])  # SchemaError's default reason
            elif isinstance(reasons[0], ast.Constant) and isinstance(reasons[0].value, str):
                codes.add(reasons[0].value)
            elif isinstance(reasons[0], ast.Call) and _called(reasons[0]) in functions:
                codes |= _returned_strings(functions[_called(reasons[0])], where)
            else:
                pytest.fail(f"{where}: cannot read the SchemaError reason; extend this test")
    return codes


def _called(call: ast.Call) -> str | None:
    return call.func.id if isinstance(call.func, ast.Name) else None


def _returned_strings(function: ast.FunctionDef, where: str) -> set[str]:
    codes: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Return):
            value = node.value
            assert isinstance(value, ast.Constant), (
                f"{where}: {function.name} returns a non-literal"
            )
            assert isinstance(value.value, str)
            codes.add(value.value)
    return codes


def _documented_reason_codes() -> list[str]:
    section = _section(_struct_section(DeadLetter), "### Reason codes")
    return _code_names(_first_table(section))


def test_reason_codes_of_the_code_are_read() -> None:
    # guards the reader above: these are certainly among what it finds
    assert {"not_json", "oversize", "unknown_schema_version", "empty"} <= _reason_codes_in_code()


def test_every_reason_code_is_documented_and_no_other() -> None:
    documented = _documented_reason_codes()
    assert len(documented) == len(set(documented))
    assert set(documented) == _reason_codes_in_code()


def test_asyncapi_reason_enum_matches_the_docs() -> None:
    enum = _payload(DeadLetter)["properties"]["reason"]["enum"]
    assert enum == _documented_reason_codes()


# -- (d) metrics: docs/scoring.md and the registry agree --------------------------------


def _metric_families() -> list[Any]:
    registry = CollectorRegistry()
    ScorerMetrics(registry)
    LoopMetrics(registry, "scorer")
    return list(registry.collect())


def _exposed_metric_names() -> set[str]:
    """Names as scraped: counters end in _total, info metrics in _info."""
    suffixes = {"counter": "_total", "info": "_info"}
    return {f.name + suffixes.get(f.type, "") for f in _metric_families()}


def test_metrics_table_lists_every_metric_once() -> None:
    table = _first_table(_section(_text("scoring.md"), "## Metrics and health"))
    names = _code_names(table)
    assert len(names) == len(set(names))
    assert set(names) == _exposed_metric_names()


def test_every_metric_named_in_scoring_md_exists() -> None:
    histograms = {f.name for f in _metric_families() if f.type == "histogram"}
    known = _exposed_metric_names() | {
        h + suffix for h in histograms for suffix in ("_bucket", "_sum", "_count")
    }
    mentioned = set(re.findall(r"\b(?:scorer|stream)_[a-z0-9_]*[a-z0-9]\b", _text("scoring.md")))
    assert mentioned
    assert mentioned - known == set()


def test_metrics_table_types_match() -> None:
    types = {
        f.name + {"counter": "_total", "info": "_info"}.get(f.type, ""): f.type
        for f in _metric_families()
    }
    table = _first_table(_section(_text("scoring.md"), "## Metrics and health"))
    for row in table:
        name = row[0].strip("`")
        assert row[1].split()[0] == types[name], name


# -- settings and topology -------------------------------------------------------------


def test_scoring_md_settings_table_lists_every_scorer_setting() -> None:
    table = _first_table(_section(_text("scoring.md"), "## Settings"))
    expected = {f"SCORER_{name.upper()}" for name in ScorerSettings.model_fields}
    assert set(_code_names(table)) == expected
    mentioned = set(re.findall(r"\bSCORER_[A-Z0-9_]*[A-Z0-9]\b", _text("scoring.md")))
    assert mentioned - expected == set()


def test_asyncapi_is_a_3_0_document_for_the_local_broker() -> None:
    document = _asyncapi()
    assert document["asyncapi"] == "3.0.0"
    assert {"title", "version"} <= set(document["info"])
    assert set(document) <= {
        "asyncapi",
        "id",
        "info",
        "servers",
        "defaultContentType",
        "channels",
        "operations",
        "components",
    }
    local = document["servers"]["local"]
    assert local["protocol"] == "kafka"
    assert local["host"] == KafkaSettings.model_fields["bootstrap_servers"].default


def test_asyncapi_references_resolve() -> None:
    for node in _walk(_asyncapi()):
        if isinstance(node, dict) and "$ref" in node:
            assert _resolve(node["$ref"]) is not None


def test_asyncapi_channels_are_the_topics() -> None:
    channels = _asyncapi()["channels"]
    assert {c["address"] for c in channels.values()} == {_topic(s) for s in STRUCTS}
    partitions = KafkaSettings.model_fields["partitions"].default
    for channel in channels.values():
        expected = PARTITIONS.get(channel["address"], partitions)
        assert channel["bindings"]["kafka"]["partitions"] == expected
        for message in channel["messages"].values():
            assert message["$ref"].startswith("#/components/messages/")


def test_asyncapi_operations_are_who_sends_and_receives_what() -> None:
    setting_of = {_topic(s): setting for s, setting in TOPIC_SETTINGS.items()}
    found = set()
    for operation_id, operation in _asyncapi()["operations"].items():
        channel_ref = operation["channel"]["$ref"]
        assert channel_ref.startswith("#/channels/")
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel_ref + "/messages/"), operation_id
        application = re.match(r"[a-z]+", operation_id)
        assert application is not None
        address = _resolve(channel_ref)["address"]
        found.add((application.group(0), operation["action"], setting_of[address]))
    assert found == OPERATIONS


def test_schemas_md_topics_table_names_every_topic() -> None:
    rows = _first_table(_section(_text("schemas.md"), "## Topics"))
    assert _code_names(rows) == [_topic(s) for s in STRUCTS]
    assert [row[2] for row in rows] == [f"`{s.__name__}`" for s in STRUCTS]
    assert "(issue" not in _text("schemas.md")
