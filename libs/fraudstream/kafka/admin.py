"""Topic administration: create what is missing, delete, wait for partitions."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable

import structlog
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError

from fraudstream.config import KafkaSettings
from fraudstream.errors import ServiceUnavailableError
from fraudstream.kafka.errors import building_client
from fraudstream.kafka.security import kafka_client_kwargs

log = structlog.get_logger(__name__)


def ensure_topics(
    settings: KafkaSettings, topics: Iterable[str], *, partitions: int | None = None
) -> list[str]:
    """Create each missing topic; return the names created (existing ones are left alone).

    ``partitions`` defaults to ``settings.partitions``. Raises
    :class:`~fraudstream.errors.ServiceUnavailableError` when Kafka cannot be reached.
    """
    wanted = list(dict.fromkeys(topics))
    count = partitions or settings.partitions
    with building_client(settings):
        admin = KafkaAdminClient(
            **kafka_client_kwargs(settings, "admin"),
            request_timeout_ms=settings.request_timeout_ms,
        )
    try:
        existing = set(admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if missing:
            new = [
                NewTopic(name, num_partitions=count, replication_factor=settings.replication_factor)
                for name in missing
            ]
            # another process may create one between our list and create: fine
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(new)
        return missing
    except KafkaError as exc:
        raise ServiceUnavailableError(f"cannot create topics {wanted}: {exc}") from exc
    finally:
        admin.close()


def delete_topics(settings: KafkaSettings, topics: Iterable[str]) -> None:
    """Delete those of ``topics`` that exist; best effort (for benchmark clean-up):
    a failure is logged, never raised over the caller's own error."""
    names = list(topics)
    try:
        admin = KafkaAdminClient(**kafka_client_kwargs(settings, "admin"))
    except KafkaError as exc:
        log.warning("topics not deleted", topics=names, error=str(exc))
        return
    try:
        existing = set(admin.list_topics())
        doomed = [name for name in names if name in existing]
        if doomed:
            admin.delete_topics(doomed)
    except KafkaError as exc:
        log.warning("topics not deleted", topics=names, error=str(exc))
    finally:
        admin.close()


def wait_for_partitions(consumer: KafkaConsumer, topic: str, timeout_s: float) -> set[int]:
    """The partitions of ``topic`` once the consumer's metadata knows them.

    Raises ``KafkaTimeoutError`` when they are not known within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        if time.monotonic() > deadline:
            raise KafkaTimeoutError(f"no partition metadata for topic {topic}")
        time.sleep(0.05)
