"""``model.events``: one record per alias move, for services and people downstream."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import msgspec
from kafka.errors import KafkaError

from fraudstream.config import KafkaSettings
from fraudstream.errors import ServiceUnavailableError
from fraudstream.kafka.admin import ensure_topics
from fraudstream.kafka.producer import build_producer
from fraudstream.schemas import SCHEMA_VERSION

encoder = msgspec.json.Encoder()


class ModelEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A promotion or a rollback of the champion alias (keyed by model name)."""

    schema_version: int = SCHEMA_VERSION
    event: Literal["promoted", "rolled_back"]
    model_name: str
    alias: str
    version: str
    previous_version: str | None
    reason: str
    metrics: dict[str, float]
    at: datetime


def model_event(
    event: Literal["promoted", "rolled_back"],
    *,
    model_name: str,
    alias: str,
    version: str,
    previous_version: str | None,
    reason: str,
    metrics: dict[str, float] | None = None,
) -> ModelEvent:
    """A :class:`ModelEvent` stamped now."""
    return ModelEvent(
        event=event,
        model_name=model_name,
        alias=alias,
        version=version,
        previous_version=previous_version,
        reason=reason,
        metrics=metrics or {},
        at=datetime.now(UTC),
    )


def publish_event(settings: KafkaSettings, event: ModelEvent, timeout_s: float = 30.0) -> None:
    """Send ``event`` to the model-events topic and wait until it is acknowledged."""
    ensure_topics(settings, [settings.model_events_topic], partitions=1)
    producer = build_producer(settings, linger_ms=0)
    try:
        future = producer.send(
            settings.model_events_topic, encoder.encode(event), key=event.model_name.encode()
        )
        future.get(timeout=timeout_s)
    except KafkaError as exc:
        raise ServiceUnavailableError(
            f"model event not published to {settings.model_events_topic}: {exc}"
        ) from exc
    finally:
        producer.close(timeout=5)
