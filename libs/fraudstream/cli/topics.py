"""``fraudstream topics``: create the topics every process expects, before they start."""

from __future__ import annotations

import typer

from fraudstream.config import Settings
from fraudstream.kafka.admin import ensure_topics


def topics() -> None:
    """Create every fraudstream topic that is missing; existing ones are left alone.

    Topic names come from KAFKA_*_TOPIC, their partitions from KAFKA_PARTITIONS and
    replication from KAFKA_REPLICATION_FACTOR. Run once when a stack starts (the
    compose `topics` service, the Kubernetes `topics` Job). Kafka unreachable: exit 69.
    """
    settings = Settings.load()
    created = ensure_topics(settings.kafka, settings.kafka.topics)
    existing = [name for name in settings.kafka.topics if name not in created]
    typer.echo(f"created: {', '.join(created) or '-'}; already there: {', '.join(existing) or '-'}")
