"""Consume a batch, process it, produce the results and commit the offsets.

Two deliveries (:class:`Delivery`), chosen per service:

- **exactly-once**, the default: each poll batch runs as one Kafka transaction,
  opened before the step runs: the
records the step emits and the consumer offsets of the batch commit together
(kafka-python's transactional producer, KIP-447 group metadata), so downstream
``read_committed`` consumers see every result exactly once even when the process
crashes between two batches. The batch's offsets are known before the step runs, so
they are sent to the transaction on a thread of their own while the step works (two
broker round trips off the batch's critical path); like the records, they count only
if the transaction commits.
- **at-least-once**, opt-in: no transaction. The records go out as the step emits
  them (idempotent producer, ``acks=all``), the producer is flushed, every send is
  checked, and only then are the offsets committed. Results are readable as soon as
  the broker has them instead of after the commit's markers (measured: about half the
  latency here, see docs/benchmarks.md); the price is that a crash or a failed batch
  after some records went out delivers those records again when the batch is
  retried. Consumers tell a repeat by its id (alert ids are derived from the
  transaction id).

Failures:

- the step raises :class:`~fraudstream.errors.ServiceUnavailableError` (Redis down):
  the transaction is aborted (what was emitted is discarded; at-least-once, what
  went out stays out and goes out again with the retry), the consumer is rewound
  to the batch's first offsets, the process reports not-ready and retries with
  exponential backoff;
- a Kafka error while producing or committing: the transaction is aborted, the
  consumer rewound, and the batch retried the same way. A send the broker rejects
  (a record over the topic's size limit) is one: before committing, the producer is
  flushed and every send of the batch checked, in both deliveries. At-least-once,
  the retry gets a new producer: kafka-python 3.0.12 leaves an idempotent producer
  unusable for good after any non-retriable error (a transactional one only aborts);
- the group no longer knows this member (``CommitFailedError``: unknown member id or
  stale generation, e.g. after a broker restart or a stall longer than the session):
  the transaction is aborted and the consumer replaced by a new member, which resumes
  from the committed offsets (kafka-python's consumer was seen never to notice on its
  own, failing every commit after a Redis outage). A transaction commits only if the
  member that polled its batch is still the member (same generation) when the offsets
  are sent and again just before the commit, and the broker checks the offsets
  against that generation: a process resumed after a long stop would otherwise
  commit a batch its partitions' new owner has already scored;
- the producer fenced: once, it starts over with new clients (a broker restart, or a
  stall of this process past the transaction timeout, aborts the open transaction
  and bumps the epoch); fenced again within a minute, another instance holds the
  same transactional id and the loop ends with :class:`FencedError` rather than fight
  it. kafka-python names the fence only once; later calls fail with a plain
  ``KafkaError`` that :func:`fenced` recognises. A transactional producer that cannot
  even abort is replaced;
- a stop request (SIGTERM) ends the loop between two batches, after a commit.

While it runs, the objects that exist at its start (the imported libraries, the
model) are frozen out of the garbage collector's sight and young objects are
collected less often (:func:`~fraudstream.gctune.fewer_collections`): a full
collection over everything pandas, River and MLflow allocate at import was measured
pausing the scorer 105 ms at 2,000 transactions a second, a tail latency of its own.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Protocol, TypeVar

import structlog
from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import (
    CommitFailedError,
    FencedInstanceIdError,
    KafkaError,
    ProducerFencedError,
)
from kafka.producer.future import FutureRecordMetadata
from kafka.structs import ConsumerGroupMetadata, OffsetAndMetadata, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from fraudstream.config import KafkaSettings
from fraudstream.errors import FraudstreamError, ServiceUnavailableError
from fraudstream.gctune import fewer_collections
from fraudstream.kafka.consumer import build_subscriber
from fraudstream.kafka.producer import build_producer
from fraudstream.observability.buckets import PHASE_SECONDS
from fraudstream.observability.health import Health
from fraudstream.streaming.rebalance import RebalanceLog

log = structlog.get_logger(__name__)

_BATCH_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class FencedError(FraudstreamError):
    """Another process took over this transactional id; this one must stop."""

    exit_code = 75  # EX_TEMPFAIL: a supervisor may restart it


class Delivery(StrEnum):
    """What a downstream consumer is promised about each result (see the module doc)."""

    EXACTLY_ONCE = "exactly-once"
    AT_LEAST_ONCE = "at-least-once"


@dataclass(frozen=True)
class OutRecord:
    """A record the step wants produced in the batch's transaction."""

    topic: str
    value: bytes
    key: bytes | None = None


#: Hands a record to the batch's open transaction.
Emit = Callable[[OutRecord], None]


@dataclass
class StepResult:
    """What a step returns: what to do once the batch committed, and any records it
    collected instead of emitting them (when called without ``emit``)."""

    outputs: list[OutRecord] = field(default_factory=list)
    after_commit: Callable[[], None] | None = None


class Step(Protocol):
    """A service's processing of one poll batch (records in partition, offset order).

    The loop opens the batch's transaction first and passes ``emit``: records emitted
    go out while the step still works on the rest (sending overlaps the step's waits),
    and are discarded if the batch fails. A step may also have a ``close()`` method;
    the loop calls it when it ends.
    """

    def __call__(
        self, records: Sequence[ConsumerRecord], emit: Emit | None = None
    ) -> StepResult: ...


@dataclass(frozen=True)
class LoopConfig:
    """How the loop consumes and commits."""

    group_id: str
    topics: tuple[str, ...]
    #: Names the producer's transactions (exactly-once only).
    transactional_id: str
    delivery: Delivery = Delivery.EXACTLY_ONCE
    max_poll_records: int = 2000
    poll_timeout_ms: int = 100
    fetch_max_wait_ms: int = 10
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 10.0
    transaction_timeout_ms: int = 30_000
    #: The commit flushes anyway: lingering would only add latency.
    linger_ms: int = 0
    #: Right after a commit the coordinator often answers CONCURRENT_TRANSACTIONS
    #: while it writes the markers; kafka-python's default 100 ms backoff before the
    #: retry showed up as 100-200 ms stalls (measured), so retry sooner.
    retry_backoff_ms: int = 10
    #: How long a dead member keeps its partitions (kafka-python's default is 45 s).
    session_timeout_ms: int = 10_000
    #: Fenced twice within this many seconds: another process holds the transactional id.
    fence_window_s: float = 60.0
    #: Static group membership (KIP-345) under this id: a member back within the
    #: session timeout gets its partitions again without a rebalance. None: dynamic.
    group_instance_id: str | None = None

    @property
    def transactional(self) -> bool:
        """Whether each batch runs in a Kafka transaction (exactly-once)."""
        return self.delivery is Delivery.EXACTLY_ONCE


class _Then(StrEnum):
    """What the loop does after a batch: go on, or first replace a client."""

    NEXT = "next"
    NEW_CONSUMER = "new consumer"
    NEW_PRODUCER = "new producer"


_Client = TypeVar("_Client", KafkaConsumer, KafkaProducer)


#: The phases of a batch the loop times (``stream_phase_seconds``), in their order:
#: the poll that returned the batch; the transaction's begin (exactly-once); the
#: service's step; sending the offsets to the transaction (on its own thread, while
#: the step runs) and the wait for it after the step; the flush of the batch's sends;
#: the commit (the transaction's, or the consumer's offsets at-least-once); and, from
#: the batch's first send to its acknowledgement, the first send (after a commit, the
#: next transaction's first partition registration may be refused until the broker
#: has written the markers).
PHASES: Final = (
    "poll",
    "begin",
    "step",
    "send_offsets",
    "offsets_wait",
    "flush",
    "commit",
    "first_send",
)


class LoopMetrics:
    """The loop's own Prometheus metrics (services add theirs)."""

    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self.records = Counter(
            "stream_records_consumed", "Records consumed", ["service"], registry=registry
        ).labels(service)
        self.produced = Counter(
            "stream_records_produced", "Records produced", ["service"], registry=registry
        ).labels(service)
        self.commits = Counter(
            "stream_transactions_committed", "Batches committed", ["service"], registry=registry
        ).labels(service)
        self.retries = Counter(
            "stream_batch_retries",
            "Batches rewound and retried, by cause",
            ["service", "cause"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "stream_batch_seconds",
            "Time to process and commit one batch",
            ["service"],
            buckets=_BATCH_BUCKETS,
            registry=registry,
        ).labels(service)
        phases = Histogram(
            "stream_phase_seconds",
            "Time in each phase of one batch (see the loop's PHASES)",
            ["service", "phase"],
            buckets=PHASE_SECONDS,
            registry=registry,
        )
        self.phases = {phase: phases.labels(service, phase) for phase in PHASES}
        self.lag = Gauge(
            "stream_consumer_lag",
            "Records behind the high-water mark, summed over assigned partitions",
            ["service"],
            registry=registry,
        ).labels(service)
        self.service = service

    def retry(self, cause: str) -> None:
        self.retries.labels(self.service, cause).inc()

    def phase(self, name: str, since: float) -> float:
        """Count the time from ``since`` (``perf_counter``) to now as phase ``name``;
        return now."""
        now = time.perf_counter()
        self.phases[name].observe(now - since)
        return now


class Backoff:
    """Exponential backoff with jitter, interruptible by the stop event."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        self._initial = initial_s
        self._max = max_s
        self._next = initial_s

    def wait(self, stop: threading.Event) -> None:
        """Sleep the current delay (or until stopped), then double it."""
        stop.wait(self._next * random.uniform(0.8, 1.2))  # jitter, not crypto
        self._next = min(self._next * 2, self._max)

    def reset(self) -> None:
        """Back to the initial delay after a success."""
        self._next = self._initial


@dataclass
class _Batch:
    """One poll batch on its way through the loop: its records, the offsets that
    commit it, and the futures of what it sent."""

    consumer: KafkaConsumer
    producer: KafkaProducer
    records: list[ConsumerRecord]
    offsets: dict[TopicPartition, OffsetAndMetadata]
    metrics: LoopMetrics
    #: the consumer's group membership when the batch was polled.
    membership: ConsumerGroupMetadata
    sent: list[FutureRecordMetadata] = field(default_factory=list)

    def emit(self, out: OutRecord) -> None:
        """Send a record (in the batch's transaction, when there is one)."""
        future = self.producer.send(out.topic, value=out.value, key=out.key)
        if not self.sent:  # timed from here to its acknowledgement, on the I/O thread
            since = time.perf_counter()
            future.add_both(lambda _: self.metrics.phase("first_send", since))
        self.sent.append(future)

    def flush(self) -> None:
        """Wait until every send is acknowledged or failed; raise the first failure."""
        self.producer.flush()
        for future in self.sent:
            if future.failed():
                exc = future.exception
                raise exc if isinstance(exc, KafkaError) else KafkaError(repr(exc))


class StreamLoop:
    """Runs a :class:`Step` over a consumer group, one commit per batch."""

    def __init__(
        self,
        kafka: KafkaSettings,
        config: LoopConfig,
        step: Step,
        *,
        health: Health,
        metrics: LoopMetrics,
    ) -> None:
        self._kafka = kafka
        self._config = config
        self._step = step
        self._health = health
        self._metrics = metrics
        self._backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)
        self._lag = LagTracker()
        #: Sends each batch's offsets to its transaction while the step runs.
        self._offsets = ThreadPoolExecutor(max_workers=1, thread_name_prefix="txn-offsets")
        #: Records consumed in committed batches so far: what in-process callers (the
        #: benchmark) read, where collecting the whole Prometheus registry would cost
        #: the loop CPU.
        self.records_committed = 0

    @property
    def service(self) -> str:
        """The ``service`` label of the loop's metrics."""
        return self._metrics.service

    def run(self, stop: threading.Event) -> None:
        """Process batches until ``stop`` is set; raise FencedError if fenced twice.

        A first fence starts over with new clients: a broker restart aborts the open
        transaction and bumps the producer epoch, which kafka-python reports as fenced.
        Fenced again within ``fence_window_s``, another live process holds the
        transactional id: this one gives way.
        """
        last_fence: float | None = None
        try:
            with fewer_collections():
                while not stop.is_set():
                    try:
                        self._run_clients(stop)
                        return
                    except FencedError as exc:
                        now = time.monotonic()
                        if (
                            last_fence is not None
                            and now - last_fence < self._config.fence_window_s
                        ):
                            raise
                        last_fence = now
                        self._metrics.retry("fenced")
                        log.warning(
                            "producer fenced, starting over with new clients", error=str(exc)
                        )
        finally:
            self._offsets.shutdown(wait=True)
            close = getattr(self._step, "close", None)
            if close is not None:
                close()

    def _run_clients(self, stop: threading.Event) -> None:
        """Process batches with one producer until stopped (or fenced)."""
        clients = self._connect(stop)
        if clients is None:
            return
        consumer, producer = clients
        try:
            while not stop.is_set():
                since = time.perf_counter()
                try:
                    polled = consumer.poll(timeout_ms=self._config.poll_timeout_ms)
                except FencedInstanceIdError as exc:  # static membership: id taken over
                    raise FencedError(
                        f"group instance id {self._config.group_instance_id} fenced"
                    ) from exc
                if not polled:
                    continue
                self._metrics.phase("poll", since)
                then = self._process(consumer, producer, polled, stop)
                if then is _Then.NEW_CONSUMER:
                    consumer.close(autocommit=False)
                    new_consumer = self._until_made(self._consumer, stop)
                    if new_consumer is None:
                        return
                    consumer = new_consumer
                elif then is _Then.NEW_PRODUCER:
                    producer.close(timeout=10)
                    new_producer = self._until_made(self._producer, stop)
                    if new_producer is None:
                        return
                    producer = new_producer
        finally:
            consumer.close(autocommit=False)
            producer.close(timeout=10)

    def _connect(self, stop: threading.Event) -> tuple[KafkaConsumer, KafkaProducer] | None:
        """Clients, retried with backoff while Kafka is unavailable."""
        producer = self._until_made(self._producer, stop)
        if producer is None:
            return None
        consumer = self._until_made(self._consumer, stop)
        if consumer is None:
            producer.close(timeout=10)
            return None
        self._health.up("kafka")
        self._backoff.reset()
        return consumer, producer

    def _until_made(self, make: Callable[[], _Client], stop: threading.Event) -> _Client | None:
        """``make()``, retried with backoff while Kafka is unavailable (None: stopped).

        Readiness and the backoff are left as they are: a client replaced after a
        failed batch says nothing of the batch's next try, only a commit does.
        """
        while not stop.is_set():
            try:
                return make()
            except (KafkaError, ServiceUnavailableError) as exc:
                self._health.down("kafka", str(exc))
                log.warning("kafka unavailable, retrying", error=str(exc))
                self._backoff.wait(stop)
        return None

    def _producer(self) -> KafkaProducer:
        """The producer of the loop's delivery; transactional, its transactions
        initialised (raises KafkaError)."""
        config = self._config
        transactions: dict[str, Any] = (
            {
                "transactional_id": config.transactional_id,
                "transaction_timeout_ms": config.transaction_timeout_ms,
            }
            if config.transactional
            else {}
        )
        producer = build_producer(
            self._kafka,
            linger_ms=config.linger_ms,
            retry_backoff_ms=config.retry_backoff_ms,
            **transactions,
        )
        if config.transactional:
            try:
                producer.init_transactions()
            except KafkaError:
                producer.close(timeout=10)
                raise
        return producer

    def _consumer(self) -> KafkaConsumer:
        """A read_committed consumer subscribed to the topics (raises KafkaError or
        ServiceUnavailableError)."""
        config = self._config
        return build_subscriber(
            self._kafka,
            config.group_id,
            config.topics,
            group_id=config.group_id,
            max_poll_records=config.max_poll_records,
            fetch_max_wait_ms=config.fetch_max_wait_ms,
            session_timeout_ms=config.session_timeout_ms,
            heartbeat_interval_ms=config.session_timeout_ms // 3,
            group_instance_id=config.group_instance_id,
            listener=RebalanceLog(self.service),
        )

    def _process(
        self,
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        polled: dict[TopicPartition, list[ConsumerRecord]],
        stop: threading.Event,
    ) -> _Then:
        """Process and commit one batch (or rewind it); say which client to replace."""
        started = time.perf_counter()
        batch = _Batch(
            consumer,
            producer,
            records=[r for tp in sorted(polled) for r in polled[tp]],
            offsets={
                tp: OffsetAndMetadata(records[-1].offset + 1, "", -1)
                for tp, records in polled.items()
            },
            metrics=self._metrics,
            membership=consumer.group_metadata(),
        )
        transactional = self._config.transactional
        try:
            deliver = self._in_transaction if transactional else self._at_least_once
            result = deliver(batch)
        except ServiceUnavailableError as exc:
            _undo(producer, transactional)
            self._retry(consumer, polled, "dependency", exc, stop)
            return _Then.NEXT
        except CommitFailedError as exc:  # this member is not (or no longer) in the group
            _undo(producer, transactional)
            self._metrics.retry("rejoin")
            log.warning("group membership lost, rejoining", error=str(exc))
            return _Then.NEW_CONSUMER
        except KafkaError as exc:
            if transactional and fenced(exc):
                raise FencedError(
                    f"transactional id {self._config.transactional_id} fenced"
                ) from exc
            aborted = _undo(producer, transactional)
            self._retry(consumer, polled, "kafka", exc, stop)
            # an idempotent producer may be dead for good (see the module's docstring),
            # and so is a transactional one that cannot even abort
            return _Then.NEXT if transactional and aborted else _Then.NEW_PRODUCER
        self._health.up("kafka")
        self._backoff.reset()
        metrics = self._metrics
        metrics.records.inc(len(batch.records))
        self.records_committed += len(batch.records)
        metrics.produced.inc(len(batch.sent))
        metrics.commits.inc()
        metrics.batch_seconds.observe(time.perf_counter() - started)
        metrics.lag.set(self._lag.update(consumer, polled))
        if result.after_commit is not None:
            result.after_commit()
        return _Then.NEXT

    def _in_transaction(self, batch: _Batch) -> StepResult:
        """Exactly-once: the step's records and the offsets in one transaction."""
        producer, metrics = batch.producer, self._metrics
        since = time.perf_counter()
        producer.begin_transaction()
        since = metrics.phase("begin", since)
        offsets_sent = self._offsets.submit(self._send_offsets, batch)
        try:
            result = self._run_step(batch)
        except BaseException:
            wait([offsets_sent])  # settled before the transaction is aborted
            raise
        since = metrics.phase("step", since)
        offsets_sent.result()
        since = metrics.phase("offsets_wait", since)
        # kafka-python 3.0.12's commit waits forever when a send fails after the
        # commit began (a record the broker rejects, measured): fail the batch first
        batch.flush()
        since = metrics.phase("flush", since)
        _still_member(batch)
        producer.commit_transaction()
        metrics.phase("commit", since)
        return result

    def _send_offsets(self, batch: _Batch) -> None:
        """The batch's offsets into its transaction (on the offsets thread), with the
        membership they were polled under, for the broker to check (KIP-447)."""
        since = time.perf_counter()
        _still_member(batch)
        batch.producer.send_offsets_to_transaction(batch.offsets, batch.membership)
        self._metrics.phase("send_offsets", since)

    def _at_least_once(self, batch: _Batch) -> StepResult:
        """At-least-once: every record acknowledged, then the offsets committed."""
        metrics = self._metrics
        since = time.perf_counter()
        result = self._run_step(batch)
        since = metrics.phase("step", since)
        batch.flush()
        since = metrics.phase("flush", since)
        batch.consumer.commit(batch.offsets)
        metrics.phase("commit", since)
        return result

    def _run_step(self, batch: _Batch) -> StepResult:
        """The step, then whatever records it returned instead of emitting them."""
        result = self._step(batch.records, batch.emit)
        for out in result.outputs:
            batch.emit(out)
        return result

    def _retry(
        self,
        consumer: KafkaConsumer,
        polled: dict[TopicPartition, list[ConsumerRecord]],
        cause: str,
        exc: Exception,
        stop: threading.Event,
    ) -> None:
        """Rewind to the batch's first offsets and wait before it is polled again."""
        for tp, batch in polled.items():
            consumer.seek(tp, batch[0].offset)
        if cause == "kafka":
            self._health.down("kafka", str(exc))
        self._metrics.retry(cause)
        log.warning("batch not committed, will retry", cause=cause, error=str(exc))
        self._backoff.wait(stop)


class LagTracker:
    """Records behind the high-water marks, per partition, from what fetches returned.

    After each committed batch, a partition of the batch is behind by its high-water
    mark (from the fetch response) minus the offset after its last record; the others
    keep their last known lag. No request to the broker; partitions no longer assigned
    are forgotten.
    """

    def __init__(self) -> None:
        self._lags: dict[TopicPartition, int] = {}

    def update(
        self, consumer: KafkaConsumer, polled: dict[TopicPartition, list[ConsumerRecord]]
    ) -> int:
        """Update from a committed batch; return the total lag."""
        for tp, batch in polled.items():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                self._lags[tp] = max(highwater - (batch[-1].offset + 1), 0)
        assigned = consumer.assignment()
        for tp in [tp for tp in self._lags if tp not in assigned]:
            del self._lags[tp]
        return sum(self._lags.values())


def fenced(exc: KafkaError) -> bool:
    """Whether ``exc`` means the producer was fenced (its epoch is no longer current).

    kafka-python 3.0.12 raises :class:`~kafka.errors.ProducerFencedError` only from the
    request that met the fence; after it the producer is in a fatal state, and every
    later send or transactional call raises a plain ``KafkaError`` that carries the
    fence among its arguments or only in its text.

    >>> fenced(ProducerFencedError())
    True
    >>> fenced(KafkaError("Cannot perform send ...", ProducerFencedError()))
    True
    >>> fenced(KafkaError("... in an error state: [Error 90] ProducerFencedError"))
    True
    >>> fenced(KafkaError("Request timed out"))
    False
    """
    if isinstance(exc, ProducerFencedError):
        return True
    if any(isinstance(arg, ProducerFencedError) for arg in exc.args):
        return True
    return ProducerFencedError.__name__ in str(exc)


def _still_member(batch: _Batch) -> None:
    """Raise :class:`~kafka.errors.CommitFailedError` unless the consumer is still the
    group member that polled the batch.

    A process stopped past its session timeout (a long pause, SIGSTOP) is out of the
    group when it resumes, and kafka-python then reports the membership as "no
    generation", which the broker accepts with any offsets: the partitions' new owner
    has scored the batch again by then, so committing it would publish it twice.
    """
    polled, now = batch.membership, batch.consumer.group_metadata()
    if polled.generation_id < 0 or not polled.member_id:
        raise CommitFailedError("the batch was polled outside the group")
    if (now.generation_id, now.member_id) != (polled.generation_id, polled.member_id):
        raise CommitFailedError(
            f"group generation {polled.generation_id} ended (now {now.generation_id})"
        )


def _undo(producer: KafkaProducer, transactional: bool) -> bool:
    """Abort the batch's transaction; at-least-once, what went out cannot be undone.

    False when the abort failed: the transaction may already be dead, and the producer
    with it (a fatal error).
    """
    if not transactional:
        return True
    try:
        producer.abort_transaction()
    except KafkaError as exc:
        log.warning("abort failed", error=str(exc))
        return False
    return True
