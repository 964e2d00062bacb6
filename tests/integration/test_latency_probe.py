"""The benchmark's latency probe against a real broker."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kafka import KafkaProducer

from fraudstream.bench import probe
from fraudstream.config import Settings
from fraudstream.harness.kafka import unique_topics
from fraudstream.kafka.admin import ensure_topics
from fraudstream.schemas import Transaction, encode


def test_with_one_topic_both_figures_are_the_hop_alone(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(probe, "TIMEOUT_S", 30.0)
    kafka = unique_topics(Settings.load(KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap), "probe").kafka
    topic = kafka.transactions_topic
    ensure_topics(kafka, [topic])
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    now = datetime.now(UTC)
    for i in range(40):
        tx = Transaction(transaction_id=f"t{i}", event_time=now, amount=1.0, card_id="c")
        producer.send(topic, encode(tx))
    producer.flush()
    producer.close()

    results, inputs = probe.measure(kafka, topic, topic, 40, warmup_s=0.0)

    assert results.get_total_count() == inputs.get_total_count() == 40
    assert results.get_max_value() == inputs.get_max_value() > 0
