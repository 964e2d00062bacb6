"""A failed Kafka connection attempt closes its socket (no broker: a refused port)."""

from __future__ import annotations

import contextlib
import gc
import logging
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from kafka import KafkaProducer

from fraudstream.harness.embedded import free_port
from fraudstream.kafka import sockets


class _FailedAttempts(logging.Handler):
    """Counts kafka-python's "Connection failed" records without keeping them (a kept
    record holds the error, whose traceback holds the socket)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += str(record.msg).startswith("Connection failed")


@contextlib.contextmanager
def _counting_failed_attempts() -> Iterator[_FailedAttempts]:
    """Count failed connection attempts; kafka-python's records reach no other handler."""
    logger = logging.getLogger("kafka")
    failed = _FailedAttempts()
    logger.addHandler(failed)
    logger.propagate = False
    try:
        yield failed
    finally:
        logger.propagate = True
        logger.removeHandler(failed)


def _unclosed_sockets_after_failed_connects() -> int:
    """Unclosed-socket warnings left by a producer whose broker refuses it."""
    with warnings.catch_warnings(record=True) as caught, _counting_failed_attempts() as failed:
        warnings.simplefilter("always", ResourceWarning)
        producer = KafkaProducer(
            bootstrap_servers=f"127.0.0.1:{free_port()}",  # refused
            api_version=(3, 0),  # no version probe: the producer starts at once
            reconnect_backoff_ms=20,
            reconnect_backoff_max_ms=20,
        )
        deadline = time.monotonic() + 10
        while failed.count < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        producer.close(timeout=5)
        assert failed.count >= 3, "the producer did not try to connect"
        gc.collect()
    return sum("unclosed <socket.socket" in str(w.message) for w in caught)


#: Counts the warnings with kafka-python's own ``sock_connect``, in a process of its own.
_UNPATCHED_PROBE = """
from kafka.net.inet import KafkaNetSocket

import test_kafka_sockets as probe  # imports fraudstream.kafka, which wraps sock_connect

KafkaNetSocket.sock_connect = KafkaNetSocket.sock_connect.__wrapped__
print(probe._unclosed_sockets_after_failed_connects())
"""


def test_a_refused_connection_attempt_closes_its_socket() -> None:
    sockets.close_failed_connects()  # already applied by importing fraudstream.kafka

    assert _unclosed_sockets_after_failed_connects() == 0


def test_kafka_python_alone_leaves_the_socket_open() -> None:
    # The defect the wrapper mends; if kafka-python fixes it, this fails and the
    # wrapper in fraudstream.kafka.sockets can go. It runs in a child process: a
    # socket it leaks that the collector finds only later would warn from, and fail,
    # whichever test runs then.
    probe = subprocess.run(
        [sys.executable, "-c", _UNPATCHED_PROBE],
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert int(probe.stdout.split()[-1]) > 0
