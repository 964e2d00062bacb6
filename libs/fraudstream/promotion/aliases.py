"""Moving the champion alias: promotion, the way back, and the event that says so.

:func:`promote` and :func:`rollback` move the ``champion`` alias, keep the history of
earlier champions in a registered-model tag, record why on the promoted version, and
publish a :class:`~fraudstream.schemas.events.ModelEvent` on the model-events topic.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from kafka.errors import KafkaError

from fraudstream.config import KafkaSettings, Settings
from fraudstream.errors import FraudstreamError, ServiceUnavailableError
from fraudstream.kafka.admin import ensure_topics
from fraudstream.kafka.producer import build_producer
from fraudstream.registry.client import Registry
from fraudstream.schemas.events import ModelEvent, model_event
from fraudstream.schemas.outputs import encoder

log = structlog.get_logger(__name__)


class PromotionError(FraudstreamError):
    """A promotion or rollback that cannot be done (nothing to roll back to...)."""


def promote(
    settings: Settings,
    registry: Registry,
    version: str,
    reason: str,
    metrics: dict[str, float] | None = None,
) -> ModelEvent:
    """Point the champion alias at ``version`` and publish the event.

    The previous champion goes on the history, so :func:`rollback` can restore it.
    Promoting the current champion again changes nothing and publishes nothing.
    """
    alias = settings.mlflow.champion_alias
    if registry.version(version) is None:
        raise PromotionError(f"model {registry.name} has no version {version}")
    current = registry.by_alias(alias)
    previous = None if current is None else current.version
    event = model_event(
        "promoted",
        model_name=registry.name,
        alias=alias,
        version=version,
        previous_version=previous,
        reason=reason,
        metrics=metrics,
    )
    if previous == version:
        log.info("already champion", version=version)
        return event
    if previous is not None:
        registry.set_history([*registry.history(), previous])
    registry.set_alias(alias, version)
    registry.tag_version(
        version,
        {
            "fraudstream.promoted_at": datetime.now(UTC).isoformat(),
            "fraudstream.promotion_reason": reason,
            **{f"fraudstream.promotion.{k}": f"{v:.6f}" for k, v in (metrics or {}).items()},
        },
    )
    publish_event(settings.kafka, event)
    log.info("promoted", version=version, previous=previous, reason=reason)
    return event


def rollback(settings: Settings, registry: Registry, reason: str = "manual rollback") -> ModelEvent:
    """Restore the previous champion; raise :class:`PromotionError` when there is none."""
    alias = settings.mlflow.champion_alias
    history = registry.history()
    if not history:
        raise PromotionError(f"model {registry.name} has no earlier champion to roll back to")
    current = registry.by_alias(alias)
    restored = history.pop()
    registry.set_alias(alias, restored)
    registry.set_history(history)
    registry.tag_version(
        restored,
        {
            "fraudstream.restored_at": datetime.now(UTC).isoformat(),
            "fraudstream.restore_reason": reason,
        },
    )
    event = model_event(
        "rolled_back",
        model_name=registry.name,
        alias=alias,
        version=restored,
        previous_version=None if current is None else current.version,
        reason=reason,
    )
    publish_event(settings.kafka, event)
    log.info("rolled back", version=restored, replaced=event.previous_version)
    return event


def bootstrap_champion(settings: Settings, registry: Registry, version: str) -> dict[str, object]:
    """Make ``version`` the first champion, unless a champion exists (idempotent)."""
    current = registry.by_alias(settings.mlflow.champion_alias)
    if current is not None:
        return {"promoted": False, "champion": current.version, "reason": "a champion exists"}
    event = promote(settings, registry, version, "bootstrap: the first champion")
    return {"promoted": True, "champion": event.version, "reason": event.reason}


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
