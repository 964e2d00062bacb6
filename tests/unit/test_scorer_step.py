"""The scorer's step on hand-made records, without Kafka or Redis.

Records go in through the list source of :mod:`fraudstream.testing.steps`; what the
step would produce (scored records, alerts, dead letters) comes out decoded. The
feature store, alert markers, budget, snapshots and registry are the in-memory ones.
"""

from __future__ import annotations

import base64
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry
from river import linear_model, preprocessing

from fraudstream.models import RiverModel
from fraudstream.schemas import MAX_RECORD_BYTES, alert_id_for, encode
from fraudstream.scoring.decide import Decider
from fraudstream.scoring.holder import ModelHolder
from fraudstream.scoring.metrics import ScorerMetrics
from fraudstream.scoring.scorer import MAX_DLQ_VALUE_BYTES
from fraudstream.testing.doubles import (
    MemoryAlertBudget,
    MemoryAlertMarkers,
    MemorySnapshots,
    StaticWatcher,
)
from fraudstream.testing.samples import SAMPLE_TIME, raw_transaction, sample_transaction
from fraudstream.testing.scorer import SCORER_TOPICS, memory_scorer, score_records
from fraudstream.testing.steps import consumer_record, consumer_records


def _tiny_river(version: str) -> RiverModel:
    """A logistic regression that learned: large amounts are fraud."""
    model = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    for _ in range(20):
        for amount, fraud in ((10.0, False), (40.0, False), (5_000.0, True)):
            model.learn_one({"amount": amount}, fraud)
    return RiverModel(model, version)


def _broken(version: str) -> RiverModel:
    """A snapshot that loads but raises when it scores."""
    return RiverModel(object(), version)


def _counter(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_valid_records_are_scored_with_their_source_position() -> None:
    registry = CollectorRegistry()
    scorer = memory_scorer(metrics=ScorerMetrics(registry))
    txs = [sample_transaction(amount=20.0 + i) for i in range(3)]
    out = score_records(scorer, consumer_records([encode(t) for t in txs], partition=4))
    assert [s.transaction_id for s in out.scored] == [t.transaction_id for t in txs]
    assert [(s.partition, s.offset) for s in out.scored] == [(4, 0), (4, 1), (4, 2)]
    assert {s.model_version for s in out.scored} == {"cold-start-1"}
    assert all(0.0 <= s.score < 0.5 and s.threshold == 0.5 and not s.alert for s in out.scored)
    assert all(s.features["amount"] == t.amount for s, t in zip(out.scored, txs, strict=True))
    assert {r.key for r in out.records} == {b"card-1"}
    assert out.alerts == []
    assert out.dead_letters == []
    assert _counter(registry, "scorer_transactions_scored_total") == 3


def test_a_high_risk_transaction_alerts_with_reasons() -> None:
    scorer = memory_scorer()
    usual = [sample_transaction(amount=30.0) for _ in range(5)]
    risky = sample_transaction(amount=9_000.0, merchant_id="merchant-9")
    out = score_records(scorer, consumer_records([encode(t) for t in [*usual, risky]]))
    (alert,) = out.alerts
    assert alert.transaction_id == risky.transaction_id
    assert alert.alert_id == alert_id_for(risky.transaction_id)
    assert alert.merchant_id == "merchant-9"
    assert alert.score >= alert.threshold == 0.5
    assert alert.reasons == ["amount", "card_amount_over_mean_30d"]
    assert [s.alert for s in out.scored] == [False] * 5 + [True]
    alert_records = [r for r in out.records if r.topic == SCORER_TOPICS.alerts]
    assert [r.key for r in alert_records] == [b"card-1"]


def _json(**changes: Any) -> bytes:
    return msgspec.json.encode(raw_transaction(**changes))


BAD_INPUT = [
    pytest.param(None, "empty", id="no-value"),
    pytest.param(b"not json", "not_json", id="not-json"),
    pytest.param(b"\xff\xfe{}", "invalid_utf8", id="not-utf8"),
    pytest.param(_json(schema_version=2), "unknown_schema_version", id="schema-version"),
    pytest.param(_json(amount=...), "missing_field", id="missing-field"),
    pytest.param(_json(amount="12.50"), "wrong_type", id="wrong-type"),
    pytest.param(_json(colour="red"), "unknown_field", id="unknown-field"),
    pytest.param(_json(features={"amount": 1.0}), "reserved_feature", id="reserved-amount"),
    pytest.param(
        _json(features={"card_tx_count_1d": 3.0}), "reserved_feature", id="reserved-feature"
    ),
    pytest.param(_json(card_id="x" * MAX_RECORD_BYTES), "oversize", id="oversize"),
]


@pytest.mark.parametrize(("value", "reason"), BAD_INPUT)
def test_bad_input_goes_to_the_dead_letters_with_its_reason_and_source(
    value: bytes | None, reason: str
) -> None:
    registry = CollectorRegistry()
    scorer = memory_scorer(metrics=ScorerMetrics(registry))
    good = sample_transaction()
    records = [
        consumer_record(encode(good), partition=2, offset=40),
        consumer_record(value, key=b"k-1", partition=2, offset=41, timestamp_ms=1_700),
    ]
    out = score_records(scorer, records)
    assert [s.transaction_id for s in out.scored] == [good.transaction_id]
    (letter,) = out.dead_letters
    assert letter.reason == reason
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
        "transactions",
        2,
        41,
    )
    assert letter.source_timestamp_ms == 1_700
    assert letter.key_base64 == base64.b64encode(b"k-1").decode()
    if value is None:
        assert letter.value_base64 is None
    else:
        assert letter.value_base64 is not None
        assert base64.b64decode(letter.value_base64) == value
        assert letter.value_size == len(value)
    assert [r.key for r in out.records if r.topic == SCORER_TOPICS.dlq] == [b"k-1"]
    assert _counter(registry, "scorer_dead_letters_total", reason=reason) == 1


def test_a_dead_letter_keeps_only_the_head_of_a_huge_value() -> None:
    value = b"x" * (MAX_DLQ_VALUE_BYTES + 10)
    (letter,) = score_records(memory_scorer(), [consumer_record(value)]).dead_letters
    assert letter.reason == "oversize"
    assert letter.value_truncated
    assert letter.value_size == len(value)
    assert letter.value_base64 is not None
    assert base64.b64decode(letter.value_base64) == value[:MAX_DLQ_VALUE_BYTES]


def test_a_transaction_delivered_again_after_its_alert_committed_does_not_alert_again() -> None:
    registry = CollectorRegistry()
    markers = MemoryAlertMarkers()
    scorer = memory_scorer(markers=markers, metrics=ScorerMetrics(registry))
    risky = encode(sample_transaction(amount=9_000.0))
    first = score_records(scorer, [consumer_record(risky, offset=0)])
    again = score_records(scorer, [consumer_record(risky, offset=1)])
    assert len(first.alerts) == 1
    assert markers.marked == {first.alerts[0].transaction_id}
    assert [s.alert for s in again.scored] == [True]  # still scored as risky...
    assert again.alerts == []  # ...but not alerted twice
    assert _counter(registry, "scorer_alerts_suppressed_total") == 1
    assert _counter(registry, "scorer_alerts_total") == 1


def test_a_batch_retried_after_an_abort_alerts_again() -> None:
    markers = MemoryAlertMarkers()
    scorer = memory_scorer(markers=markers)
    batch = [consumer_record(encode(sample_transaction(amount=9_000.0)))]
    aborted = score_records(scorer, batch, commit=False)
    assert markers.marked == set()  # the aborted alert never reached anyone
    retried = score_records(scorer, batch)
    assert [a.alert_id for a in retried.alerts] == [a.alert_id for a in aborted.alerts]
    assert len(retried.alerts) == 1


def test_the_challenger_scores_in_shadow_and_decides_nothing() -> None:
    challenger = _tiny_river("logreg-60")
    models = ModelHolder(None, StaticWatcher.serving(challenger=challenger))
    scorer = memory_scorer(models=models)
    txs = [sample_transaction(amount=25.0), sample_transaction(amount=4_000.0)]
    out = score_records(scorer, consumer_records([encode(t) for t in txs]))
    assert {s.model_version for s in out.scored} == {"cold-start-1"}
    assert {s.shadow_model_version for s in out.scored} == {"logreg-60"}
    shadow = [s.shadow_score for s in out.scored]
    assert all(v is not None and 0.0 <= v <= 1.0 for v in shadow)
    assert shadow[0] is not None
    assert shadow[1] is not None
    assert shadow[0] < shadow[1]
    assert [s.alert for s in out.scored] == [s.score >= 0.5 for s in out.scored]
    assert [s.score for s in out.scored] != shadow  # the alerts follow the champion's scores


def test_a_challenger_that_fails_is_dropped_and_the_batch_scored() -> None:
    models = ModelHolder(None, StaticWatcher.serving(challenger=_broken("logreg-bad")))
    scorer = memory_scorer(models=models)
    out = score_records(scorer, [consumer_record(encode(sample_transaction()))])
    assert [(s.model_version, s.shadow_score, s.shadow_model_version) for s in out.scored] == [
        ("cold-start-1", None, None)
    ]
    assert models.shadow is None
    assert models.load_failures == 1


def test_a_model_that_raises_falls_back_to_the_last_good_model() -> None:
    snapshots = MemorySnapshots()
    models = ModelHolder(snapshots)
    scorer = memory_scorer(models=models)

    def batch(offset: int) -> list[str]:
        record = consumer_record(encode(sample_transaction()), offset=offset)
        return [s.model_version for s in score_records(scorer, [record]).scored]

    snapshots.publish(_tiny_river("logreg-20"))
    assert batch(0) == ["logreg-20"]
    snapshots.publish(_broken("logreg-40"))
    assert batch(1) == ["logreg-20"]  # the broken snapshot failed, the last good one scored
    assert models.load_failures == 1
    assert batch(2) == ["logreg-20"]  # and it is not tried again
    assert models.load_failures == 1


def test_the_daily_budget_keeps_the_highest_scores() -> None:
    budget = MemoryAlertBudget()
    scorer = memory_scorer(decider=Decider(0.5, budget_per_day=1, counter=budget))
    txs = [sample_transaction(amount=a) for a in (3_000.0, 9_000.0, 5_000.0)]
    out = score_records(scorer, consumer_records([encode(t) for t in txs]))
    assert [a.transaction_id for a in out.alerts] == [txs[1].transaction_id]
    assert budget.used == {SAMPLE_TIME.date().isoformat(): 1}
    later = score_records(scorer, [consumer_record(encode(sample_transaction(amount=9e3)))])
    assert later.alerts == []  # the day is spent
