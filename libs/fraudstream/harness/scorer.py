"""Helpers for tests that run the scorer against a real Kafka broker and Redis.

Start the scorer in a thread (:class:`ScorerThread`) or as the real CLI in a
subprocess (:class:`ScorerProcess`), produce raw records where you want them
(:func:`produce`), watch its output topics fill up (:class:`TopicWatcher`), scrape its
``/metrics`` and ``/healthz`` (:func:`http_get`, :func:`metric_values`) and run a
private Redis you can kill (:class:`RedisServer`). Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from fraudstream.config import KafkaSettings, RedisSettings, Settings
from fraudstream.durations import format_duration
from fraudstream.features.redis_store import delete_prefix
from fraudstream.harness.embedded import free_port
from fraudstream.harness.kafka import Record, kafka_settings, unique_topics
from fraudstream.kafka.admin import ensure_topics
from fraudstream.kafka.consumer import build_consumer
from fraudstream.kafka.producer import build_producer
from fraudstream.kafka.security import kafka_client_kwargs
from fraudstream.redis_client import build_any_redis
from fraudstream.scoring.service import run_scorer

__all__ = ["free_port"]  # re-exported for tests


def scorer_settings(
    kafka_bootstrap: str, redis_url: str, name: str = "scorer", **env: str
) -> Settings:
    """Settings of a scorer no other test shares anything with.

    Fresh topics, feature key prefix, consumer group and instance id, and a free
    ``/metrics`` port; ``env`` adds or overrides settings by variable name.
    """
    run = uuid.uuid4().hex[:10]
    base = Settings.load(
        **{
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "REDIS_URL": redis_url,
            "FEATURES_KEY_PREFIX": f"test-{name}-{run}",
            "SCORER_GROUP_ID": f"test-{name}-{run}",
            "SCORER_INSTANCE_ID": f"test-{name}-{run}",
            "SCORER_HTTP_PORT": str(free_port()),
            "MLFLOW_REGISTERED_MODEL_NAME": f"test-{name}-{run}",
            "MLFLOW_ALIAS_POLL_INTERVAL": "1s",
            **env,
        }
    )
    return unique_topics(base, name)


def with_delivery(settings: Settings, delivery: str) -> Settings:
    """``settings`` with the scorer's delivery (``exactly-once`` or ``at-least-once``)."""
    scorer = settings.scorer.model_copy(update={"delivery": delivery})
    return settings.model_copy(update={"scorer": scorer})


def replica(settings: Settings, name: str) -> Settings:
    """``settings`` for another replica of the same group: its own instance id (so its
    own transactional id) and ``/metrics`` port, everything else shared."""
    scorer = settings.scorer.model_copy(
        update={"instance_id": f"{settings.scorer.instance_id}-{name}", "http_port": free_port()}
    )
    return settings.model_copy(update={"scorer": scorer})


def learner_env(snapshot_every_labels: int, **env: str) -> dict[str, str]:
    """Settings (by variable name) of a learner under test, for :func:`scorer_settings`.

    It publishes a snapshot every ``snapshot_every_labels`` labels or every second,
    its ``/metrics`` on a free port; ``env`` adds or overrides settings.

    >>> learner_env(400, LEARNER_MLFLOW_EVERY="0")["LEARNER_SNAPSHOT_EVERY_LABELS"]
    '400'
    """
    return {
        "LEARNER_SNAPSHOT_EVERY_LABELS": str(snapshot_every_labels),
        "LEARNER_SNAPSHOT_EVERY": "1s",
        "LEARNER_HTTP_PORT": "0",
        **env,
    }


def scorer_env(settings: Settings) -> dict[str, str]:
    """The environment that makes ``fraudstream score`` use ``settings``."""
    kafka, scorer = settings.kafka, settings.scorer
    secret = settings.redis.password
    return {
        **os.environ,
        **({"REDIS_PASSWORD": secret.get_secret_value()} if secret is not None else {}),
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TRANSACTIONS_TOPIC": kafka.transactions_topic,
        "KAFKA_LABELS_TOPIC": kafka.labels_topic,
        "KAFKA_ALERTS_TOPIC": kafka.alerts_topic,
        "KAFKA_SCORED_TOPIC": kafka.scored_topic,
        "KAFKA_DLQ_TOPIC": kafka.dlq_topic,
        "REDIS_URL": settings.redis.url,
        "REDIS_CLUSTER_NODES": settings.redis.cluster_nodes,
        "FEATURES_KEY_PREFIX": settings.features.key_prefix,
        "SCORER_GROUP_ID": scorer.group_id,
        "SCORER_INSTANCE_ID": scorer.instance_id,
        "SCORER_THRESHOLD": str(scorer.threshold),
        "SCORER_HTTP_HOST": scorer.http_host,
        "SCORER_HTTP_PORT": str(scorer.http_port),
        "SCORER_FOLLOW_REGISTRY": str(scorer.follow_registry).lower(),
        "SCORER_DELIVERY": scorer.delivery,
        "SCORER_SESSION_TIMEOUT": format_duration(scorer.session_timeout),
        "SCORER_TRANSACTION_TIMEOUT": format_duration(scorer.transaction_timeout),
        "SCORER_STATIC_MEMBERSHIP": str(scorer.static_membership).lower(),
        "MLFLOW_TRACKING_URI": settings.mlflow.tracking_uri,
        "MLFLOW_REGISTERED_MODEL_NAME": settings.mlflow.registered_model_name,
        "MLFLOW_ALIAS_POLL_INTERVAL": f"{settings.mlflow.alias_poll_interval.total_seconds()}s",
        "FRAUDSTREAM_LOG_LEVEL": "INFO",
    }


def create_topics(settings: Settings) -> None:
    """Create every topic the scorer reads and writes (the scorer would, later)."""
    ensure_topics(settings.kafka, settings.kafka.topics)


def delete_keys(redis_settings: RedisSettings | str, prefix: str) -> int:
    """Delete the Redis keys under ``prefix`` (a test's features, markers, counters), on
    the Redis Cluster when ``redis_settings`` name one.

    ``redis_settings`` is a test's ``settings.redis`` (its password and CA bundle
    apply), or just a URL.
    """
    if isinstance(redis_settings, str):
        redis_settings = RedisSettings(url=redis_settings)
    client = build_any_redis(redis_settings)
    try:
        return delete_prefix(client, prefix)
    finally:
        client.close()


def wait_until(
    condition: Callable[[], bool],
    timeout_s: float,
    *,
    interval_s: float = 0.1,
    check: Callable[[], None] | None = None,
) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout_s`` passed (False).

    ``check`` runs before each try and may raise to give up early (a dead scorer).

    >>> wait_until(lambda: True, 1.0)
    True
    >>> wait_until(lambda: False, 0.05, interval_s=0.01)
    False
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if check is not None:
            check()
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


class ScorerThread:
    """:func:`~fraudstream.scoring.service.run_scorer` in a thread, stopped by an event.

    Use as a context manager; leaving the block stops the scorer (it finishes its batch
    and commits) and re-raises whatever ended it early.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="scorer", daemon=True)

    @property
    def url(self) -> str:
        """Base URL of its ``/metrics`` and ``/healthz``."""
        scorer = self.settings.scorer
        return f"http://{scorer.http_host}:{scorer.http_port}"

    def _run(self) -> None:
        try:
            run_scorer(self.settings, self.stop_event)
        except BaseException as exc:  # handed to the test by check()
            self.error = exc

    def start(self) -> ScorerThread:
        """Start scoring."""
        self._thread.start()
        return self

    def check(self) -> None:
        """Raise what ended the scorer, or RuntimeError if it ended without being asked."""
        if self.error is not None:
            raise self.error
        ended = self._thread.ident is not None and not self._thread.is_alive()
        if ended and not self.stop_event.is_set():
            raise RuntimeError("the scorer thread ended without being stopped")

    @property
    def alive(self) -> bool:
        """True while the scorer runs."""
        return self._thread.is_alive()

    def describe(self) -> str:
        """Its readiness and loop counters, for a failed wait's message."""
        status, health = http_get(f"{self.url}/healthz")
        _, metrics = http_get(f"{self.url}/metrics")
        counters = {
            name: metric_values(metrics, name)
            for name in ("stream_records_consumed_total", "stream_transactions_committed_total")
        }
        consumed = sum(counters["stream_records_consumed_total"].values())
        hint = " (it consumed nothing: no partitions assigned?)" if consumed == 0 else ""
        return f"scorer alive={self.alive}, /healthz {status} {health}, {counters}{hint}"

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask it to stop, wait for it, and re-raise any error it ended with."""
        self.stop_event.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise TimeoutError(f"the scorer did not stop within {timeout_s} s")
        if self.error is not None:
            raise self.error

    def __enter__(self) -> ScorerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.stop()
            return
        with contextlib.suppress(BaseException):  # the block's error is the one to see
            self.stop()


class ScorerProcess:
    """The real ``fraudstream score`` CLI in a subprocess, its output in a log file."""

    def __init__(
        self, settings: Settings, log_path: Path, *, extra_env: dict[str, str] | None = None
    ) -> None:
        exe = shutil.which("fraudstream")
        if exe is None:
            raise RuntimeError("the fraudstream console script is not installed")
        self.settings = settings
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        self.process = subprocess.Popen(
            [exe, "score"],
            env={**scorer_env(settings), **(extra_env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def check(self) -> None:
        """Raise RuntimeError if the process has exited."""
        code = self.process.poll()
        if code is not None:
            raise RuntimeError(f"scorer exited early with {code}:\n{self.log_tail()}")

    def send_signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` (SIGTERM to stop it cleanly, SIGKILL to crash it)."""
        self.process.send_signal(sig)

    def wait(self, timeout_s: float = 30.0) -> int:
        """Wait for the exit code; kill it and raise TimeoutError if it takes too long."""
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise TimeoutError(
                f"scorer did not exit within {timeout_s} s:\n{self.log_tail()}"
            ) from None
        finally:
            self._log.flush()

    def close(self) -> None:
        """Kill it if it still runs, and close the log."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()

    def log_tail(self, lines: int = 30) -> str:
        """The last lines it logged."""
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass(frozen=True)
class RawRecord:
    """A record to produce byte for byte: any value, even None (a tombstone)."""

    value: bytes | None
    key: bytes | None = None
    partition: int | None = None


@dataclass(frozen=True)
class Produced:
    """Where a record landed."""

    partition: int
    offset: int


def produce(
    kafka: KafkaSettings | str | list[str],
    topic: str,
    records: Iterable[RawRecord],
    *,
    timeout_s: float = 30,
) -> list[Produced]:
    """Produce the records in order (idempotent, acks=all); return where each landed.

    ``kafka`` is the settings, or bootstrap servers (see
    :func:`~fraudstream.harness.kafka.kafka_settings`); security settings apply.
    """
    producer = build_producer(
        kafka_settings(kafka),
        role="harness",
        linger_ms=5,
        max_request_size=4 * 1024 * 1024,
    )
    try:
        futures = [
            producer.send(topic, value=r.value, key=r.key, partition=r.partition) for r in records
        ]
        producer.flush(timeout=timeout_s)
        landed = [f.get(timeout=timeout_s) for f in futures]
    finally:
        producer.close(timeout=10)
    return [Produced(m.partition, m.offset) for m in landed]


class TopicWatcher:
    """Every committed record of a topic from its beginning, read as it arrives.

    A ``read_committed`` consumer assigned to all partitions (no group): aborted
    transactions never show, records of open ones show once they commit.
    """

    def __init__(
        self, kafka: KafkaSettings | str | list[str], topic: str, *, timeout_s: float = 30
    ) -> None:
        self.topic = topic
        self.records: list[Record] = []
        self._consumer = build_consumer(kafka_settings(kafka), "watcher", fetch_max_wait_ms=50)
        try:
            deadline = time.monotonic() + timeout_s
            partitions = self._consumer.partitions_for_topic(topic)
            while not partitions and time.monotonic() < deadline:
                time.sleep(0.2)
                partitions = self._consumer.partitions_for_topic(topic)
            if not partitions:
                raise TimeoutError(f"topic {topic} does not exist after {timeout_s} s")
            assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
            self._consumer.assign(assigned)
            self._consumer.seek_to_beginning(*assigned)
        except BaseException:
            self._consumer.close()
            raise

    def poll(self, timeout_ms: int = 100) -> int:
        """Read what has arrived; return how many records are known now."""
        for messages in self._consumer.poll(timeout_ms=timeout_ms).values():
            self.records.extend(
                Record(m.partition, m.offset, m.timestamp, m.key, m.value) for m in messages
            )
        return len(self.records)

    def wait_for(
        self, count: int, timeout_s: float, *, check: Callable[[], None] | None = None
    ) -> int:
        """Read until at least ``count`` records are known or ``timeout_s`` passed.

        Returns how many are known; ``check`` runs between polls and may raise.
        """
        deadline = time.monotonic() + timeout_s
        while len(self.records) < count and time.monotonic() < deadline:
            if check is not None:
                check()
            self.poll()
        return len(self.records)

    def settle(self, quiet_s: float = 1.0, timeout_s: float = 10.0) -> int:
        """Read until nothing new arrives for ``quiet_s`` (or ``timeout_s`` passed)."""
        deadline = time.monotonic() + timeout_s
        last_change = time.monotonic()
        known = len(self.records)
        while time.monotonic() < deadline and time.monotonic() - last_change < quiet_s:
            if self.poll() != known:
                known = len(self.records)
                last_change = time.monotonic()
        return known

    def close(self) -> None:
        """Close the consumer."""
        self._consumer.close()

    def __enter__(self) -> TopicWatcher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def committed_offsets(kafka: KafkaSettings | str | list[str], group_id: str, topic: str) -> int:
    """The sum of a consumer group's committed offsets over a topic's partitions
    (``kafka`` as for :func:`produce`)."""
    admin = KafkaAdminClient(**kafka_client_kwargs(kafka_settings(kafka), "admin"))
    try:
        offsets = admin.list_group_offsets({group_id: None}).get(group_id, {})
    finally:
        admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)


def http_get(url: str, timeout_s: float = 5.0) -> tuple[int, str]:
    """Status code and body of a GET; (0, error text) when nothing answers."""
    try:
        response = httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError as exc:
        return 0, str(exc)
    return response.status_code, response.text


def metric_values(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples called ``name`` in Prometheus text, by their sorted labels.

    >>> text = 'x_total{reason="a"} 2.0\\nx_total{reason="b"} 1.0\\n'
    >>> metric_values(text, "x_total")
    {(('reason', 'a'),): 2.0, (('reason', 'b'),): 1.0}
    """
    return {
        tuple(sorted(sample.labels.items())): float(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


class RedisServer:
    """A private, non-persistent ``redis-server`` on a port of its own, killable at will.

    With ``password`` it runs with ``--requirepass``; with ``data_dir`` it keeps an
    append-only file there, so its data survives :meth:`stop` and :meth:`start`.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        password: str | None = None,
        data_dir: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.password = password
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its redis:// URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        """Start it (again) on its port and wait until it accepts connections."""
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no" if self.data_dir is None else "yes",
                *(["--dir", str(self.data_dir)] if self.data_dir is not None else []),
                *(["--requirepass", self.password] if self.password else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_until(self._answers, timeout_s, interval_s=0.05):
            self.kill()
            raise TimeoutError(f"redis-server on port {self.port} did not start")
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                answer = sock.recv(16)  # without AUTH a password-protected one says NOAUTH
                return answer.startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def stop(self, timeout_s: float = 30.0) -> None:
        """Shut it down cleanly (SIGTERM): with ``data_dir`` its data is kept."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout_s)

    def kill(self) -> None:
        """Kill it at once (SIGKILL): connections drop, data is lost."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.kill()


@dataclass
class Counts:
    """What a scorer test sent and what came out, printed in one line."""

    sent: int = 0
    scored: int = 0
    alerts: int = 0
    dlq: int = 0
    duplicates: int = 0
    lost: int = 0

    def line(self, label: str) -> str:
        """``label: sent N, scored N, ...``."""
        return (
            f"{label}: sent {self.sent}, scored {self.scored}, alerts {self.alerts}, "
            f"DLQ {self.dlq}, duplicates {self.duplicates}, lost {self.lost}"
        )


def duplicates_and_lost(sent: Iterable[str], scored: Iterable[str]) -> tuple[int, int]:
    """Copies scored beyond those sent, and sent copies never scored, counted per id.

    >>> duplicates_and_lost(["a", "b", "b", "c"], ["a", "a", "b", "b", "x"])
    (2, 1)
    """
    sent_n, scored_n = Counter(sent), Counter(scored)
    return sum((scored_n - sent_n).values()), sum((sent_n - scored_n).values())
