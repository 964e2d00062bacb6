"""Producers built from settings, and counting of what was delivered.

Every producer is idempotent with ``acks=all``; linger, batch size and compression come
from :class:`~fraudstream.config.KafkaSettings`. A
:class:`DeliveryTracker` counts acknowledged and failed sends without blocking the
sender: failures are counted and the first few kept for the report, never ignored.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

from kafka import KafkaProducer
from kafka.partitioner.default import DefaultPartitioner, murmur2
from kafka.producer.future import FutureRecordMetadata

from fraudstream.config import KafkaSettings
from fraudstream.kafka.errors import building_client
from fraudstream.kafka.security import kafka_client_kwargs

#: How many delivery errors a tracker keeps word for word (all are counted).
MAX_KEPT_ERRORS: Final = 10

#: Keys whose hash the partitioner remembers (a card id is sent again and again).
KEY_HASH_CACHE: Final = 1 << 16


@lru_cache(maxsize=KEY_HASH_CACHE)
def _key_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


class CachedKeyPartitioner(DefaultPartitioner):  # type: ignore[misc]
    """kafka-python's default partitioner (the Java client's murmur2 of the key), with
    the hash of recent keys remembered: kafka-python computes murmur2 in pure Python,
    a few microseconds a record. Records without a key are spread as before.
    """

    def partition(
        self,
        topic: str,
        key: Any,
        serialized_key: bytes | None,
        value: Any,
        serialized_value: bytes | None,
        cluster: Any,
    ) -> int:
        if serialized_key is None:
            return int(super().partition(topic, key, None, value, serialized_value, cluster))
        partitions = sorted(cluster.partitions_for_topic(topic))
        return int(partitions[_key_hash(bytes(serialized_key)) % len(partitions)])


def build_producer(
    settings: KafkaSettings, *, role: str = "producer", **overrides: Any
) -> KafkaProducer:
    """An idempotent, ``acks=all`` producer configured from ``settings``, its client id
    naming ``role``."""
    config: dict[str, Any] = {
        **kafka_client_kwargs(settings, role),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": settings.linger_ms,
        "batch_size": settings.batch_size,
        "compression_type": None
        if settings.compression_type == "none"
        else settings.compression_type,
        "request_timeout_ms": settings.request_timeout_ms,
        "partitioner": CachedKeyPartitioner(),
    }
    config.update(overrides)
    with building_client(settings):
        return KafkaProducer(**config)


@dataclass
class DeliveryTracker:
    """Counts the outcome of sends as their futures complete.

    Call :meth:`track` with each send's future, :meth:`poll` now and then (cheap: it
    only looks at futures already done, oldest first) and :meth:`drain` after a flush.
    """

    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    _pending: deque[FutureRecordMetadata] = field(default_factory=deque)

    def track(self, future: FutureRecordMetadata) -> None:
        """Remember a send's future until it completes."""
        self._pending.append(future)

    @property
    def pending(self) -> int:
        """Sends not yet acknowledged or failed."""
        return len(self._pending)

    def poll(self) -> None:
        """Count the futures that are done, in send order, stopping at the first pending."""
        pending = self._pending
        while pending and pending[0].is_done:
            self._count(pending.popleft())

    def drain(self) -> None:
        """Count every future; after a flush all are done (a still-pending one is failed)."""
        while self._pending:
            future = self._pending.popleft()
            if future.is_done:
                self._count(future)
            else:
                self._fail("not acknowledged before the flush timeout")

    def _count(self, future: FutureRecordMetadata) -> None:
        if future.failed():
            self._fail(repr(future.exception))
        else:
            self.delivered += 1

    def _fail(self, reason: str) -> None:
        self.failed += 1
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append(reason)
