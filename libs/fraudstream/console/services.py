"""What the console's pages use, built once from the settings, and the views they show.

:class:`ConsoleServices` holds the Redis client, the queue, the verdict desk, the
scorers' context and the consumer; its ``*_view`` methods gather what a template needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import redis
from prometheus_client import CollectorRegistry, Counter
from redis.exceptions import ClusterDownError, RedisClusterException, TryAgainError

from fraudstream.config import Settings
from fraudstream.console.auth import ConsoleAuth
from fraudstream.console.context import Context
from fraudstream.console.filters import parse_filter
from fraudstream.console.ingest import IngestMetrics
from fraudstream.console.queue import AlertQueue
from fraudstream.console.runner import IngestRunner, LazyProducer
from fraudstream.console.verdicts import VERDICTS, VerdictDesk
from fraudstream.errors import ServiceUnavailableError
from fraudstream.httpauth import required_key
from fraudstream.redis_client import AnyRedis, build_any_redis
from fraudstream.schemas import Alert

T = TypeVar("T")

#: Seconds between the queue's refreshes (with JavaScript).
REFRESH_S: Final = 3


@dataclass
class ConsoleServices:
    """The console's clients and stores."""

    settings: Settings
    auth: ConsoleAuth
    client: AnyRedis
    queue: AlertQueue
    context: Context
    producer: LazyProducer
    desk: VerdictDesk
    runner: IngestRunner
    registry: CollectorRegistry
    verdicts_given: Counter

    @classmethod
    def build(cls, settings: Settings, *, insecure_local: bool) -> ConsoleServices:
        """Everything the console needs; CONSOLE_KEY is required unless ``insecure_local``."""
        console = settings.console
        key = None if insecure_local else required_key(console.key, "CONSOLE_KEY", "the console")
        retention_ms = int(console.retention.total_seconds() * 1000)
        client = build_any_redis(settings.redis)
        queue = AlertQueue(
            client, console.key_prefix, max_alerts=console.max_alerts, retention_ms=retention_ms
        )
        registry = CollectorRegistry()
        producer = LazyProducer(settings.kafka)
        desk = VerdictDesk(
            client,
            producer,
            labels_topic=settings.kafka.labels_topic,
            prefix=console.key_prefix,
            retention_ms=retention_ms,
        )
        return cls(
            settings=settings,
            auth=ConsoleAuth(key),
            client=client,
            queue=queue,
            context=Context(client, settings),
            producer=producer,
            desk=desk,
            runner=IngestRunner(settings, queue, IngestMetrics(registry)),
            registry=registry,
            verdicts_given=Counter(
                "console_verdicts",
                "Verdicts that changed an alert's, by verdict",
                ["verdict"],
                registry=registry,
            ),
        )

    def close(self) -> None:
        """Stop the consumer, close the producer and Redis."""
        self.runner.stop()
        self.producer.close()
        self.client.close()

    def queue_view(self, query: Mapping[str, str], query_text: str, analyst: str) -> dict[str, Any]:
        """What the queue page (and its rows) show."""
        where, problems = parse_filter(query)
        alerts = redis_call(lambda: self.queue.newest(self.settings.console.page_size, where))
        newest = redis_call(lambda: self.queue.newest(1))
        day = newest[0].event_time if newest else datetime.now(UTC)
        return {
            "analyst": analyst,
            "open": self.auth.open,
            "alerts": alerts,
            "verdicts": {a.alert_id: self.desk.current(a.alert_id) for a in alerts},
            "where": where,
            "query": query_text,
            "problems": problems,
            "budget": redis_call(lambda: self.context.budget(day)),
            "held": redis_call(self.queue.size),
            "refresh_s": REFRESH_S,
            "ingest": self.runner.status(),
        }

    def alert(self, alert_id: str) -> Alert | None:
        """One alert of the queue."""
        return redis_call(lambda: self.queue.get(alert_id))

    def alert_view(self, alert: Alert, analyst: str, done: str) -> dict[str, Any]:
        """What an alert's page shows."""
        alert_id = alert.alert_id
        served = redis_call(lambda: self.queue.served_features(alert_id))
        history = self.context.card_history(alert.card_id)
        return {
            "analyst": analyst,
            "open": self.auth.open,
            "alert": alert,
            "reasons": [(name, served.get(name)) for name in alert.reasons],
            "served": served,
            "history": history,
            "merchant": self.context.merchant_share(alert),
            "trail": redis_call(lambda: self.desk.trail(alert_id)),
            "reviewed": redis_call(lambda: self.desk.reviewed(history)),
            "token": self.auth.token(analyst, alert_id),
            "verdicts": VERDICTS,
            "done": done,
        }


def redis_call(call: Callable[[], T]) -> T:
    """``call()``, with Redis (or a Redis Cluster's slot) being away raised as
    :class:`~fraudstream.errors.ServiceUnavailableError` (answered 503)."""
    try:
        return call()
    except (
        redis.ConnectionError,
        redis.TimeoutError,
        ClusterDownError,
        TryAgainError,
        RedisClusterException,
    ) as exc:
        raise ServiceUnavailableError(f"Redis is unavailable: {exc}") from exc
