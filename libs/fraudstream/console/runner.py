"""The console's background work: the alerts consumer kept running, a producer made
when first needed.

:class:`IngestRunner` runs :func:`~fraudstream.console.ingest.run_ingest` in a thread
and starts it again, with growing pauses, when Kafka or Redis fail: nothing is
committed past what was written, so nothing is lost. :class:`LazyProducer` builds the
labels producer on the first verdict, so the console starts while Kafka is away.
"""

from __future__ import annotations

import threading
from typing import Any, Final

import structlog
from kafka import KafkaProducer
from kafka.producer.future import FutureRecordMetadata

from fraudstream.config import KafkaSettings, Settings
from fraudstream.console.ingest import IngestMetrics, run_ingest
from fraudstream.console.queue import AlertQueue
from fraudstream.kafka.producer import build_producer

log = structlog.get_logger(__name__)

#: Pauses before starting the consumer again: first and longest, in seconds.
FIRST_PAUSE_S: Final = 1.0
LONGEST_PAUSE_S: Final = 30.0


class IngestRunner:
    """Reads the alerts topic in a thread until stopped, restarting after failures."""

    def __init__(self, settings: Settings, queue: AlertQueue, metrics: IngestMetrics) -> None:
        self._settings = settings
        self._queue = queue
        self._metrics = metrics
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console-ingest", daemon=True)
        self._status = "not started"

    def status(self) -> str:
        """``reading``, ``retrying: <error>``, ``stopped`` or ``not started``."""
        return self._status

    def start(self) -> None:
        """Start reading."""
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop reading (what was read is written and committed first)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        pause = FIRST_PAUSE_S
        while not self._stop.is_set():
            try:
                self._status = "reading"
                run_ingest(self._settings, self._queue, self._metrics, self._stop)
            except Exception as exc:  # Kafka or Redis away: logged, retried below
                self._status = f"retrying: {exc}"
                log.warning("alerts consumer failed; starting it again", error=repr(exc))
                self._stop.wait(pause)
                pause = min(pause * 2, LONGEST_PAUSE_S)
            else:
                pause = FIRST_PAUSE_S
        self._status = "stopped"


class LazyProducer:
    """A :func:`~fraudstream.kafka.producer.build_producer` producer, built on first send."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()

    def send(self, topic: str, **kwargs: Any) -> FutureRecordMetadata:
        """Send as :meth:`kafka.KafkaProducer.send` does."""
        with self._lock:
            if self._producer is None:
                self._producer = build_producer(self._settings, linger_ms=0)
        return self._producer.send(topic, **kwargs)

    def close(self) -> None:
        """Close the producer, if one was built."""
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=10)
                self._producer = None
