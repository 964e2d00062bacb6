"""Log line of every change of a member's partitions, so a rebalance shows in the logs.

kafka-python calls the listener on its I/O thread: it only logs, and returns at once.
A member the group dropped (its session ran out, e.g. a process paused past it) is
told its partitions are *lost*, not revoked: whatever it still had in flight for them
cannot commit.

>>> from kafka import TopicPartition
>>> partitions([TopicPartition("t", 3), TopicPartition("t", 0)])
['t-0', 't-3']
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from kafka import ConsumerRebalanceListener, TopicPartition

log = structlog.get_logger(__name__)


def partitions(tps: Iterable[TopicPartition]) -> list[str]:
    """``topic-partition`` names in order, for a log line."""
    return [f"{tp.topic}-{tp.partition}" for tp in sorted(tps)]


class RebalanceLog(ConsumerRebalanceListener):  # type: ignore[misc]
    """Logs the partitions assigned, revoked and lost of one service's consumer."""

    def __init__(self, service: str) -> None:
        self.service = service

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        names = partitions(revoked)
        if names:
            log.info("partitions revoked", service=self.service, partitions=names)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        log.info("partitions assigned", service=self.service, partitions=partitions(assigned))

    def on_partitions_lost(self, lost: Iterable[TopicPartition]) -> None:
        log.warning(
            "partitions lost: the group dropped this member, its uncommitted batch will not commit",
            service=self.service,
            partitions=partitions(lost),
        )
