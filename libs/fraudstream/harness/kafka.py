"""Helpers for tests against a real Kafka broker: fresh topics, read everything back."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition

from fraudstream.config import KafkaSettings, Settings


@dataclass(frozen=True)
class Record:
    """One consumed record with where it was and when it was produced."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes


def unique_topics(settings: Settings, prefix: str = "test") -> Settings:
    """A copy of ``settings`` whose topic names are new, so tests never share data."""
    run = uuid.uuid4().hex[:10]
    kafka: KafkaSettings = settings.kafka.model_copy(
        update={
            "transactions_topic": f"{prefix}-{run}-transactions",
            "labels_topic": f"{prefix}-{run}-labels",
            "alerts_topic": f"{prefix}-{run}-alerts",
            "scored_topic": f"{prefix}-{run}-scored",
            "dlq_topic": f"{prefix}-{run}-dlq",
            "model_events_topic": f"{prefix}-{run}-model-events",
        }
    )
    return settings.model_copy(update={"kafka": kafka})


def read_topic(bootstrap: str | list[str], topic: str, *, timeout_s: float = 30.0) -> list[Record]:
    """Every committed record in ``topic`` up to its end offsets now, in partition order.

    Waits up to ``timeout_s`` for the topic to exist; returns ``[]`` if it never does.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
    )
    try:
        deadline = time.monotonic() + timeout_s
        partitions = consumer.partitions_for_topic(topic)
        while not partitions and time.monotonic() < deadline:
            time.sleep(0.2)
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return []
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        end = consumer.end_offsets(assigned)
        records: list[Record] = []
        remaining = {tp for tp in assigned if end[tp] > 0}
        while remaining and time.monotonic() < deadline:
            for tp, messages in consumer.poll(timeout_ms=500).items():
                for m in messages:
                    records.append(Record(m.partition, m.offset, m.timestamp, m.key, m.value))
                if consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        return records
    finally:
        consumer.close()
