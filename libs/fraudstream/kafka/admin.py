"""Create the topics fraudstream needs when they are missing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from fraudstream.config import KafkaSettings
from fraudstream.errors import ServiceUnavailableError


def ensure_topics(
    settings: KafkaSettings, topics: Iterable[str], *, partitions: int | None = None
) -> list[str]:
    """Create each missing topic; return the names created (existing ones are left alone).

    ``partitions`` defaults to ``settings.partitions``. Raises
    :class:`~fraudstream.errors.ServiceUnavailableError` when Kafka cannot be reached.
    """
    wanted = list(dict.fromkeys(topics))
    count = partitions or settings.partitions
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.servers,
            client_id=f"{settings.client_id}-admin",
            request_timeout_ms=settings.request_timeout_ms,
        )
    except KafkaError as exc:
        raise ServiceUnavailableError(
            f"Kafka at {settings.bootstrap_servers} is unavailable: {exc}"
        ) from exc
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
