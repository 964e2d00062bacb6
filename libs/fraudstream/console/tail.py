"""``fraudstream alerts tail``: alerts as JSON lines, the smallest downstream consumer.

It reads the alerts topic ``read_committed`` (alerts of aborted scorer transactions
never show), every partition, and hands each alert to ``emit`` as one JSON line, in
partition then offset order within each poll. Where it starts: at ``since`` (the first
alert published at or after it) when given; else where ``group`` last stopped when
given; else at the beginning. Without ``follow`` it stops at the end the topic had when
it started; with it, when ``stop`` is set. With ``group`` it commits the offsets of what
it emitted after each poll, so a next run under that name goes on from there (it reads
every partition itself: it remembers a position, it does not share work).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import msgspec
import structlog
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError

from fraudstream.config import KafkaSettings
from fraudstream.kafka.consumer import EndOffsets, assign_topic, build_consumer, poll_until
from fraudstream.kafka.errors import reading_failed
from fraudstream.schemas import Alert

log = structlog.get_logger(__name__)

_decoder: Final = msgspec.json.Decoder(Alert)
_POLL_MS: Final = 500


@dataclass
class TailReport:
    """What a tail printed and skipped."""

    printed: int = 0
    unreadable: int = 0


def tail_alerts(
    settings: KafkaSettings,
    emit: Callable[[str], None],
    *,
    follow: bool = False,
    since: datetime | None = None,
    group: str | None = None,
    stop: threading.Event | None = None,
    wait_s: float = 10.0,
) -> TailReport:
    """Emit the alerts topic's committed alerts as JSON lines (see the module doc).

    Raises :class:`~fraudstream.kafka.errors.TopicNotFoundError` when the topic does
    not appear within ``wait_s`` and
    :class:`~fraudstream.errors.ServiceUnavailableError` when Kafka fails.
    """
    topic = settings.alerts_topic
    consumer = build_consumer(settings, "alerts-tail", group_id=group, fetch_max_wait_ms=100)
    try:
        assigned = assign_topic(consumer, topic, wait_s)
        _start(consumer, assigned, since, group)
        end = None if follow else EndOffsets(consumer.end_offsets(assigned))
        report = TailReport()
        for records in poll_until(consumer, end=end, stop=stop, poll_ms=_POLL_MS):
            for record in records:
                if end is None or end.before_end(record):
                    _emit(record, emit, report)
            if group is not None and records:
                consumer.commit()
        return report
    except KafkaError as exc:
        raise reading_failed(settings, topic, exc) from exc
    finally:
        consumer.close(autocommit=False)


def _start(
    consumer: KafkaConsumer,
    assigned: list[TopicPartition],
    since: datetime | None,
    group: str | None,
) -> None:
    """Seek each partition to where the tail starts."""
    if since is not None:
        at = math.floor(since.timestamp() * 1000)
        found = consumer.offsets_for_times(dict.fromkeys(assigned, at))
        ends = consumer.end_offsets(assigned)
        for tp in assigned:
            hit = found.get(tp)
            consumer.seek(tp, hit.offset if hit is not None else ends[tp])
        return
    for tp in assigned:
        committed = consumer.committed(tp) if group is not None else None
        if committed is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)


def _emit(record: ConsumerRecord, emit: Callable[[str], None], report: TailReport) -> None:
    """Emit one alert as a JSON line; count and log it when it cannot be read."""
    try:
        alert = _decoder.decode(record.value or b"")
    except msgspec.DecodeError as exc:
        report.unreadable += 1
        log.warning(
            "unreadable alert skipped",
            partition=record.partition,
            offset=record.offset,
            error=str(exc),
        )
        return
    emit(msgspec.json.encode(alert).decode())
    report.printed += 1
