"""The console's consumer: alerts, and the served features of alerted transactions,
into the :class:`~fraudstream.console.queue.AlertQueue`.

It reads the alerts topic and the scored topic in consumer group ``CONSOLE_GROUP_ID``
(``read_committed``: alerts of aborted scorer transactions never show), writes each
poll's alerts to Redis, then commits: a record read twice after a crash is written
twice, which changes nothing. Of the scored topic it keeps only records that alerted
(their features explain the alert's reasons). A record it cannot read is logged and
counted, and skipped: the scorer wrote it, so reading it again would fail again.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Final

import msgspec
import structlog
from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord
from prometheus_client import CollectorRegistry, Counter

from fraudstream.config import Settings
from fraudstream.console.queue import AlertQueue
from fraudstream.kafka.consumer import FlushPolicy, build_subscriber, consume_and_flush
from fraudstream.schemas import Alert, ScoredTransaction

log = structlog.get_logger(__name__)

_alert: Final = msgspec.json.Decoder(Alert)
_scored: Final = msgspec.json.Decoder(ScoredTransaction)
#: A scored record that alerted says so; most do not, and are not decoded at all.
_ALERTED: Final = b'"alert":true'

#: Write and commit after this many records, or this long after the last write.
POLICY: Final = FlushPolicy(max_size=2_000, max_age_s=0.5, poll_timeout_ms=200)


class IngestMetrics:
    """Records read, by topic and outcome."""

    def __init__(self, registry: CollectorRegistry) -> None:
        records = Counter(
            "console_records",
            "Records the console read, by kind and outcome",
            ["kind", "outcome"],
            registry=registry,
        )
        self.alerts = records.labels("alert", "stored")
        self.served = records.labels("scored", "stored")
        self.unreadable = records.labels("any", "unreadable")


class IngestBatch:
    """One poll's alerts and alerted served records, written to Redis, then committed."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        queue: AlertQueue,
        alerts_topic: str,
        metrics: IngestMetrics,
    ) -> None:
        self._consumer = consumer
        self._queue = queue
        self._alerts_topic = alerts_topic
        self._metrics = metrics
        self._alerts: list[Alert] = []
        self._served: list[ScoredTransaction] = []
        self._read = 0

    @property
    def size(self) -> int:
        """Records read since the last flush."""
        return self._read

    @property
    def pending(self) -> bool:
        """Whether records were read since the last flush (their offsets to commit)."""
        return self._read > 0

    def add(self, records: Sequence[ConsumerRecord]) -> None:
        """Decode what matters of one poll's records."""
        for record in records:
            self._read += 1
            value = record.value
            if value is None:
                continue
            try:
                if record.topic == self._alerts_topic:
                    self._alerts.append(_alert.decode(value))
                elif _ALERTED in value:
                    served = _scored.decode(value)
                    if served.alert:
                        self._served.append(served)
            except msgspec.DecodeError as exc:
                self._metrics.unreadable.inc()
                log.warning(
                    "unreadable record skipped",
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    error=str(exc),
                )

    def flush(self) -> None:
        """Write to Redis, then commit what was read."""
        self._queue.add(self._alerts, self._served)
        self._metrics.alerts.inc(len(self._alerts))
        self._metrics.served.inc(len(self._served))
        self._consumer.commit()
        self._alerts, self._served, self._read = [], [], 0


def run_ingest(
    settings: Settings, queue: AlertQueue, metrics: IngestMetrics, stop: threading.Event
) -> None:
    """Read alerts into ``queue`` until ``stop`` is set."""
    kafka = settings.kafka
    consumer = build_subscriber(
        kafka,
        "console",
        [kafka.alerts_topic, kafka.scored_topic],
        group_id=settings.console.group_id,
        fetch_max_wait_ms=100,
    )
    batch = IngestBatch(consumer, queue, kafka.alerts_topic, metrics)
    consume_and_flush(consumer, batch, POLICY, stop)
