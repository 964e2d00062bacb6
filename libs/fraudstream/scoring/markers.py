"""Which transactions already have a committed alert: the interface and its Redis store.

A transaction delivered again (the same id) must not alert again; one retried after an
aborted Kafka transaction must. The scorer writes the markers after the commit, so only
a committed alert suppresses another. :class:`AlertMarkerStore` is what the scorer
needs; :class:`AlertMarkers` keeps them in Redis (one Redis or a Redis Cluster), and
:class:`fraudstream.testing.doubles.MemoryAlertMarkers` in a set, for tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from redis.cluster import RedisCluster

from fraudstream.redis_client import AnyRedis


class AlertMarkerStore(Protocol):
    """Remembers which transactions were alerted."""

    def alerted(self, transaction_ids: Sequence[str]) -> set[str]:
        """Which of these already have a committed alert."""
        ...

    def mark(self, transaction_ids: Sequence[str]) -> None:
        """Remember these alerts (after their transaction committed)."""
        ...


class AlertMarkers:
    """The markers in Redis: a key per alerted transaction, expiring after ``ttl_ms``."""

    def __init__(self, client: AnyRedis, prefix: str, ttl_ms: int) -> None:
        self._client = client
        self._prefix = f"{prefix}:alerted:"
        self._ttl_ms = ttl_ms

    def alerted(self, transaction_ids: Sequence[str]) -> set[str]:
        """Which of these already have a committed alert."""
        if not transaction_ids:
            return set()
        keys = [self._prefix + t for t in transaction_ids]
        if isinstance(self._client, RedisCluster):  # one MGET per slot, node by node
            found = self._client.mget_nonatomic(keys)
        else:
            found = self._client.mget(keys)
        return {t for t, v in zip(transaction_ids, found, strict=True) if v is not None}

    def mark(self, transaction_ids: Sequence[str]) -> None:
        """Remember these alerts (after their transaction committed)."""
        if not transaction_ids:
            return
        pipe = self._client.pipeline(transaction=False)
        for t in transaction_ids:
            pipe.set(self._prefix + t, 1, px=self._ttl_ms)
        pipe.execute()
