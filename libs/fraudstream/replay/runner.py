"""Pace and send a planned replay; count what Kafka acknowledged.

The loop is deliberately small: the plan says when each record is due, the runner
waits until then (unless the pace is ``max``), hands the record to the producer and
tracks its future. A stop request (SIGINT/SIGTERM in the CLI) ends it between two
records; what was handed over is then flushed and counted.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Protocol

from kafka.producer.future import FutureRecordMetadata

from fraudstream.gctune import fewer_collections
from fraudstream.kafka.producer import DeliveryTracker
from fraudstream.replay.plan import Chunk
from fraudstream.replay.report import ReplayReport

#: Longest single sleep while waiting for a due record, so stops are noticed quickly.
MAX_SLEEP_S: Final = 0.05
#: Seconds a final flush may take before unacknowledged records count as failed.
FLUSH_TIMEOUT_S: Final = 60.0


class Producer(Protocol):
    """The part of ``KafkaProducer`` the runner uses."""

    def send(self, topic: str, value: bytes, key: bytes) -> FutureRecordMetadata: ...

    def flush(self, timeout: float | None = None) -> None: ...


@dataclass(frozen=True)
class Topics:
    """Where transactions and labels go."""

    transactions: str
    labels: str


Progress = Callable[[ReplayReport, float], None]


def run_replay(
    chunks: Iterable[Chunk],
    producer: Producer,
    topics: Topics,
    report: ReplayReport,
    *,
    paced: bool,
    stop: threading.Event,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ReplayReport:
    """Send every chunk's records when due; fill and return ``report``."""
    with fewer_collections():
        tracker = DeliveryTracker()
        send = producer.send
        track = tracker.track
        chunks = iter(chunks)
        first = next(chunks, None)  # the clock starts with the first record in hand
        started = clock()
        last_progress = started
        for chunk in itertools.chain([first] if first else [], chunks):
            if stop.is_set():
                break
            for due, is_label, key, value in zip(
                chunk.due, chunk.is_label, chunk.keys, chunk.values, strict=True
            ):
                if paced:
                    lag = _wait_until(started + due, clock, stop)
                    if lag is None:
                        break
                    report.max_lag_s = max(report.max_lag_s, lag)
                track(
                    send(topics.labels if is_label else topics.transactions, value=value, key=key)
                )
                if is_label:
                    report.labels_sent += 1
                else:
                    report.transactions_sent += 1
                if paced and progress is not None and clock() - last_progress > 0.25:
                    last_progress = clock()
                    progress(report, last_progress - started)
            tracker.poll()
            if progress is not None:
                progress(report, clock() - started)
        producer.flush(timeout=FLUSH_TIMEOUT_S)  # the run ends when Kafka has acknowledged
        tracker.drain()
        report.duration_s = clock() - started
        report.delivered = tracker.delivered
        report.failed = tracker.failed
        report.delivery_errors = tracker.errors
    return report


def _wait_until(deadline: float, clock: Callable[[], float], stop: threading.Event) -> float | None:
    """Sleep until ``deadline``; return how late we are then, or None if stopped."""
    while True:
        if stop.is_set():
            return None
        now = clock()
        if now >= deadline:
            return now - deadline
        stop.wait(min(deadline - now, MAX_SLEEP_S))
