"""``fraudstream archive`` as a process: consume, buffer, write Parquet, then commit.

It reads ``transactions.scored`` and ``labels`` in the consumer group
``ARCHIVE_GROUP_ID`` with ``read_committed`` and buffers the records. Every
``ARCHIVE_FLUSH_EVERY`` or ``ARCHIVE_FLUSH_ROWS`` rows (and on SIGTERM) it writes the
buffer to the archive and only then commits the offsets it consumed: at least once.
A crash between the write and the commit consumes those records again, and the
archive's idempotent write (:func:`~fraudstream.lake.store.write_rows`) skips the
rows already there. A write that fails (storage down) is retried with backoff, the
consumer kept paused meanwhile, ``/healthz`` reporting the storage down; nothing is
committed until it succeeds.

The archiver produces nothing, so it does not use the transactional
:class:`~fraudstream.streaming.loop.StreamLoop` (whose commit comes with every
batch) but the consume–flush loop it shares with the learner
(:func:`~fraudstream.kafka.consumer.consume_and_flush`); it borrows the
StreamLoop's backoff.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge

from fraudstream.config import Settings
from fraudstream.errors import SchemaError, ServiceUnavailableError
from fraudstream.kafka.admin import ensure_topics
from fraudstream.kafka.consumer import FlushPolicy, build_subscriber, consume_and_flush
from fraudstream.lake.records import to_frame, to_row
from fraudstream.lake.store import LABELS, SCORED, Table, write_rows
from fraudstream.observability.health import Health
from fraudstream.observability.http import ObservabilityServer
from fraudstream.signals import stop_on_signals
from fraudstream.streaming.loop import Backoff

log = structlog.get_logger(__name__)


class ArchiveMetrics:
    """The archiver's Prometheus metrics."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.consumed = Counter(
            "archive_records_consumed", "Records consumed, by topic", ["topic"], registry=registry
        )
        self.written = Counter(
            "archive_rows_written", "New rows written, by table", ["table"], registry=registry
        )
        self.rejected = Counter(
            "archive_records_rejected",
            "Records that could not be archived, by topic and reason",
            ["topic", "reason"],
            registry=registry,
        )
        self.flushes = Counter(
            "archive_flushes", "Buffers written and committed", registry=registry
        )
        self.failures = Counter(
            "archive_write_failures", "Writes that failed and will be retried", registry=registry
        )
        self.buffered = Gauge(
            "archive_rows_buffered", "Rows waiting to be written", registry=registry
        )


@dataclass
class Buffer:
    """Rows per table and the next offset of every partition they came from."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    count: int = 0

    def add(self, record: ConsumerRecord, table: Table, metrics: ArchiveMetrics) -> None:
        """Buffer one record's row; a bad record is counted, logged and skipped."""
        tp = TopicPartition(record.topic, record.partition)
        self.offsets[tp] = record.offset + 1
        try:
            row = to_row(record.value, table)
        except SchemaError as exc:
            metrics.rejected.labels(record.topic, exc.reason).inc()
            log.warning(
                "record not archived",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason=exc.reason,
                error=str(exc),
            )
            return
        self.rows.setdefault(table.name, []).append(row)
        self.count += 1


def flush(root: str, buffer: Buffer, metrics: ArchiveMetrics) -> None:
    """Write every buffered table (idempotently)."""
    for table in (SCORED, LABELS):
        rows = buffer.rows.get(table.name)
        if rows:
            written = write_rows(root, table, to_frame(rows))
            metrics.written.labels(table.name).inc(written)


def run_archiver(settings: Settings, stop: threading.Event | None = None) -> None:
    """Archive until SIGTERM/SIGINT (or ``stop``); the last buffer is written and
    committed before returning."""
    stop = stop or threading.Event()
    kafka, archive = settings.kafka, settings.archive
    tables = {kafka.scored_topic: SCORED, kafka.labels_topic: LABELS}
    registry = CollectorRegistry()
    metrics = ArchiveMetrics(registry)
    health = Health(["kafka", "storage"])
    server = ObservabilityServer(registry, health, archive.http_host, archive.http_port)
    try:
        with stop_on_signals(stop):
            consumer = _connect(settings, list(tables), health, stop)
            if consumer is None:
                return
            log.info("archiver started", path=archive.path, metrics_port=server.port)
            batch = _ArchiveBatch(archive.path, consumer, tables, metrics, health, stop)
            policy = FlushPolicy(archive.flush_rows, archive.flush_every.total_seconds())
            consume_and_flush(consumer, batch, policy, stop)
    finally:
        server.close()
        log.info("archiver stopped")


@dataclass
class _ArchiveBatch:
    """The archiver's :class:`~fraudstream.kafka.consumer.Batch`: records buffered as
    rows; a flush writes them, then commits their offsets."""

    root: str
    consumer: KafkaConsumer
    tables: dict[str, Table]
    metrics: ArchiveMetrics
    health: Health
    stop: threading.Event
    buffer: Buffer = field(default_factory=Buffer)

    @property
    def size(self) -> int:
        """Rows buffered."""
        return self.buffer.count

    @property
    def pending(self) -> bool:
        """Whether a record was consumed since the last flush (a rejected one too: its
        offset is to be committed)."""
        return bool(self.buffer.offsets)

    def add(self, records: Sequence[ConsumerRecord]) -> None:
        """Buffer the records' rows (a bad record is counted and skipped)."""
        for record in records:
            self.metrics.consumed.labels(record.topic).inc()
            self.buffer.add(record, self.tables[record.topic], self.metrics)
        self.metrics.buffered.set(self.buffer.count)

    def flush(self) -> None:
        """Write, retrying with backoff (paused consumer), then commit the offsets;
        start a new buffer.

        Once ``stop`` is set a failed write is not retried (a stop does not wait for
        storage to return): the buffer is dropped uncommitted and consumed again by
        whoever reads these partitions next.
        """
        buffer, self.buffer = self.buffer, Buffer()
        if self._write(buffer):
            self._commit(buffer)

    def _write(self, buffer: Buffer) -> bool:
        """Write the buffer, retrying until it is written (True) or stopped (False)."""
        consumer, metrics, health = self.consumer, self.metrics, self.health
        backoff = Backoff(0.5, 30.0)
        assigned = list(consumer.assignment())
        while True:
            try:
                flush(self.root, buffer, metrics)
                health.up("storage")
                break
            except OSError as exc:
                metrics.failures.inc()
                health.down("storage", str(exc))
                log.warning("archive write failed, retrying", error=str(exc))
                if self.stop.is_set():
                    return False
                consumer.pause(*assigned)
                backoff.wait(self.stop)
                # keep polling while paused; what a partition assigned meanwhile returns
                # is put back, so it is read again after the write
                for tp, records in consumer.poll(timeout_ms=0).items():
                    consumer.seek(tp, records[0].offset)
        consumer.resume(*assigned)
        return True

    def _commit(self, buffer: Buffer) -> None:
        """Commit the offsets after the buffer's records; a failure is reported, not raised."""
        offsets = {tp: OffsetAndMetadata(o, "", -1) for tp, o in buffer.offsets.items()}
        try:
            self.consumer.commit(offsets)
            self.health.up("kafka")
        except KafkaError as exc:  # rows stay archived; a rewind re-reads them idempotently
            self.health.down("kafka", str(exc))
            log.warning("offsets not committed; the rows will be read again", error=str(exc))
        self.metrics.flushes.inc()


def _connect(
    settings: Settings, topics: list[str], health: Health, stop: threading.Event
) -> KafkaConsumer | None:
    """The group consumer, retried with backoff while Kafka is unavailable."""
    kafka = settings.kafka
    backoff = Backoff(0.5, 10.0)
    while not stop.is_set():
        try:
            ensure_topics(kafka, topics)
            consumer = build_subscriber(
                kafka,
                "archiver",
                topics,
                group_id=settings.archive.group_id,
                max_poll_records=5000,
                session_timeout_ms=10_000,
                heartbeat_interval_ms=3_000,
                max_poll_interval_ms=600_000,
            )
        except (KafkaError, ServiceUnavailableError) as exc:
            health.down("kafka", str(exc))
            log.warning("kafka unavailable, retrying", error=str(exc))
            backoff.wait(stop)
            continue
        health.up("kafka")
        health.up("storage")
        return consumer
    return None
