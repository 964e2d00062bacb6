"""Helpers for tests against a real Kafka broker: fresh topics, read everything back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fraudstream.config import KafkaSettings, Settings
from fraudstream.kafka.consumer import read_to_end
from fraudstream.kafka.errors import ReadTimeoutError, TopicNotFoundError


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


def kafka_settings(kafka: KafkaSettings | str | list[str]) -> KafkaSettings:
    """``kafka`` itself, or the environment's Kafka settings with these bootstrap servers
    (security included)."""
    if isinstance(kafka, KafkaSettings):
        return kafka
    servers = kafka if isinstance(kafka, str) else ",".join(kafka)
    return KafkaSettings(bootstrap_servers=servers)


def read_topic(
    kafka: KafkaSettings | str | list[str], topic: str, *, timeout_s: float = 30.0
) -> list[Record]:
    """Every committed record in ``topic`` up to its end offsets now, in partition order.

    ``kafka`` is the settings, or bootstrap servers (see :func:`kafka_settings`). Waits
    up to ``timeout_s`` for the topic to exist, returning ``[]`` if it never does; at
    ``timeout_s`` returns what was read so far.
    """
    try:
        records = read_to_end(
            kafka_settings(kafka), topic, timeout_s=timeout_s, wait_for_topic=True, role="harness"
        )
    except TopicNotFoundError:
        return []
    except ReadTimeoutError as exc:
        records = exc.records
    return [Record(m.partition, m.offset, m.timestamp, m.key, m.value) for m in records]
