"""Consumers built from settings, a topic read to its end, and the consume–flush loop.

:func:`build_consumer` is the one way fraudstream builds a consumer: the security
settings (:func:`~fraudstream.kafka.security.kafka_client_kwargs`) always apply.
:func:`assign_topic` gives a consumer every partition of a topic, and
:func:`poll_until` polls it until its :class:`EndOffsets` are reached, a deadline
passes or it is stopped: :func:`read_to_end` (every partition of a topic up to the
end offsets it has when called) and ``fraudstream alerts tail`` read with them.
:func:`consume_and_flush` is the loop of the services that buffer what they read and
write it out now and then (the archiver, the learner): poll, add, flush by size or
age, flush once more when stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError, KafkaTimeoutError

from fraudstream.config import KafkaSettings
from fraudstream.kafka.admin import wait_for_partitions
from fraudstream.kafka.errors import (
    ReadTimeoutError,
    TopicNotFoundError,
    building_client,
    reading_failed,
)
from fraudstream.kafka.security import kafka_client_kwargs

#: Longest single poll of :func:`read_to_end`, so the deadline is checked often.
_READ_POLL_MS: Final = 500

#: Prefixes of the keyword arguments that only the settings may give.
_SECURITY: Final = ("security_", "sasl_", "ssl_")


def build_consumer(
    settings: KafkaSettings, role: str, *, group_id: str | None = None, **overrides: Any
) -> KafkaConsumer:
    """A consumer configured from ``settings``, its client id naming ``role``.

    It reads ``read_committed``, never commits on its own, starts at the earliest
    offset where none is committed and waits the settings' request timeout, unless
    ``overrides`` (kafka-python's keyword arguments) say otherwise. Without
    ``group_id`` it belongs to no group. Servers and security come from ``settings``
    only: overriding them is a ``ValueError``. Raises
    :class:`~fraudstream.errors.ServiceUnavailableError` when Kafka cannot be reached.
    """
    taken = [k for k in overrides if k == "bootstrap_servers" or k.startswith(_SECURITY)]
    if taken:
        raise ValueError(f"{', '.join(taken)} come from the Kafka settings only")
    config: dict[str, Any] = {
        **kafka_client_kwargs(settings, role),
        "group_id": group_id,
        "enable_auto_commit": False,
        "isolation_level": "read_committed",
        "auto_offset_reset": "earliest",
        "request_timeout_ms": settings.request_timeout_ms,
    }
    config.update(overrides)
    with building_client(settings):
        return KafkaConsumer(**config)


def build_subscriber(
    settings: KafkaSettings,
    role: str,
    topics: Sequence[str],
    *,
    group_id: str | None = None,
    listener: ConsumerRebalanceListener | None = None,
    **overrides: Any,
) -> KafkaConsumer:
    """A :func:`build_consumer` consumer subscribed to ``topics`` once their partitions
    are known (each waited for up to the settings' request timeout); ``listener`` hears
    of each change of its partitions.

    A member whose first assignment disagrees with the metadata it learns next joins
    the group a second time at once, and kafka-python 3.0 was seen to lose that second
    rebalance (a member stuck with no partitions for minutes). Two things disagree
    unless handled: partitions not yet known when subscribing (an empty first
    assignment), and kafka-python's record of the subscribed topics' partitions, which
    it only takes on a metadata response *after* the subscription; so the partitions
    are waited for first, and one metadata request follows the subscription, before
    the first poll joins. Raises ``KafkaTimeoutError`` when a topic's partitions are
    not known in time (the consumer is closed, as on any Kafka error here).
    """
    consumer = build_consumer(settings, role, group_id=group_id, **overrides)
    try:
        for topic in topics:
            wait_for_partitions(consumer, topic, settings.request_timeout_ms / 1000)
        consumer.subscribe(list(topics), listener=listener)
        consumer.topics()  # a metadata response that the subscription's partitions match
    except KafkaError:
        consumer.close(autocommit=False)
        raise
    return consumer


def assign_topic(consumer: KafkaConsumer, topic: str, wait_s: float) -> list[TopicPartition]:
    """Assign ``consumer`` every partition of ``topic``; return them in partition order.

    Waits up to ``wait_s`` for the topic to appear, and raises
    :class:`~fraudstream.kafka.errors.TopicNotFoundError` when it does not.
    """
    try:
        partitions = wait_for_partitions(consumer, topic, wait_s)
    except KafkaTimeoutError:
        raise TopicNotFoundError(topic) from None
    assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    return assigned


class EndOffsets:
    """Where a bounded read ends: each partition's end offset, and the partitions whose
    position has not reached it yet.

    >>> tp = TopicPartition("alerts", 0)
    >>> end = EndOffsets({tp: 2, TopicPartition("alerts", 1): 0})
    >>> end.remaining == {tp}
    True
    """

    def __init__(self, end: Mapping[TopicPartition, int]) -> None:
        self.end: dict[TopicPartition, int] = dict(end)
        #: Partitions short of their end offset (an empty one never is).
        self.remaining = {tp for tp, offset in self.end.items() if offset > 0}

    def reached(self, consumer: KafkaConsumer, timeout_ms: int | None = None) -> bool:
        """Whether every partition's position reached its end offset.

        Every remaining partition's position is checked, not only those that returned
        records: one ending with an aborted transaction or a commit marker moves on
        without returning any.
        """
        self.remaining = {
            tp
            for tp in self.remaining
            if (consumer.position(tp, timeout_ms=timeout_ms) or 0) < self.end[tp]
        }
        return not self.remaining

    def before_end(self, record: ConsumerRecord) -> bool:
        """Whether ``record`` lies before its partition's end offset (records produced
        after the end offsets were taken may come along in a fetch)."""
        offset: int = record.offset
        return offset < self.end[TopicPartition(record.topic, record.partition)]


def poll_until(
    consumer: KafkaConsumer,
    *,
    end: EndOffsets | None = None,
    stop: threading.Event | None = None,
    deadline: float | None = None,
    poll_ms: int = _READ_POLL_MS,
) -> Iterator[list[ConsumerRecord]]:
    """Poll ``consumer`` and yield each poll's records (maybe none), in partition then
    offset order, until ``end`` is reached, ``stop`` is set or ``deadline`` (a
    :func:`time.monotonic` time) passes; without any of them, for ever.

    ``end`` is checked before the first poll and after each.
    """

    def left_ms() -> int | None:
        return None if deadline is None else _left_ms(deadline)

    if end is not None and end.reached(consumer, left_ms()):
        return
    while not (stop is not None and stop.is_set()):
        left = left_ms()
        if left is not None and left <= 0:
            return
        polled = consumer.poll(timeout_ms=poll_ms if left is None else min(poll_ms, left))
        yield [r for tp in sorted(polled) for r in polled[tp]]
        if end is not None and end.reached(consumer, left_ms()):
            return


def read_to_end(
    settings: KafkaSettings,
    topic: str,
    *,
    timeout_s: float = 60.0,
    wait_for_topic: bool = False,
    idle_s: float | None = None,
    role: str = "reader",
) -> list[ConsumerRecord]:
    """Every committed record of ``topic``, all partitions, up to the end offsets it
    has now, in partition then offset order (``[]`` for an empty topic).

    Records produced meanwhile may come along in the last fetch. ``wait_for_topic``
    waits for a missing topic to appear (within ``timeout_s``). ``idle_s`` ends the
    read, without error, after that long without a record: for brokers whose end
    offsets cannot be trusted (see the field notes on tansu).

    Raises :class:`~fraudstream.kafka.errors.TopicNotFoundError` when there is no
    such topic, :class:`~fraudstream.kafka.errors.ReadTimeoutError` (with the records
    read) when the end is not reached within ``timeout_s``, and
    :class:`~fraudstream.errors.ServiceUnavailableError` when Kafka fails.
    """
    deadline = time.monotonic() + timeout_s
    consumer = build_consumer(settings, role)
    try:
        assigned = assign_topic(consumer, topic, _left_s(deadline) if wait_for_topic else 0)
        consumer.seek_to_beginning(*assigned)
        end = EndOffsets(consumer.end_offsets(assigned, timeout_ms=_left_ms(deadline)))
        records = _read(consumer, end, deadline, idle_s)
        if end.remaining:
            raise ReadTimeoutError(
                f"{topic}: not read to its end within {timeout_s:g} s: "
                f"{len(records)} records read, partitions "
                f"{sorted(tp.partition for tp in end.remaining)} short of their end offsets",
                records,
            )
        return records
    except KafkaTimeoutError as exc:
        raise ReadTimeoutError(
            f"{topic}: not read to its end within {timeout_s:g} s: {exc}"
        ) from exc
    except KafkaError as exc:
        raise reading_failed(settings, topic, exc) from exc
    finally:
        consumer.close(autocommit=False)


def _read(
    consumer: KafkaConsumer, end: EndOffsets, deadline: float, idle_s: float | None
) -> list[ConsumerRecord]:
    """Poll until ``end`` is reached, the deadline passes or, with ``idle_s``, that long
    passes without a record (``end`` is then taken as reached); the records in
    partition then offset order."""
    read: dict[TopicPartition, list[ConsumerRecord]] = {tp: [] for tp in end.end}
    last_record = time.monotonic()
    for records in poll_until(consumer, end=end, deadline=deadline):
        for record in records:
            read[TopicPartition(record.topic, record.partition)].append(record)
        now = time.monotonic()
        if records:
            last_record = now
        elif idle_s is not None and now - last_record >= idle_s:
            end.remaining = set()  # what the broker would give is read
            break
    return [r for tp in sorted(read) for r in read[tp]]


def _left_s(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)


def _left_ms(deadline: float) -> int:
    return int(_left_s(deadline) * 1000)


class Batch(Protocol):
    """What :func:`consume_and_flush` fills with records and flushes when due."""

    @property
    def size(self) -> int:
        """What counts toward the size trigger (rows buffered, labels learned)."""
        ...

    @property
    def pending(self) -> bool:
        """Whether a flush would have anything to do; the age trigger waits for it."""
        ...

    def add(self, records: Sequence[ConsumerRecord]) -> None:
        """Take one poll's records (maybe none), in partition then offset order."""
        ...

    def flush(self) -> None:
        """Write out what was added (and commit, if the service commits); start afresh."""
        ...


@dataclass(frozen=True)
class FlushPolicy:
    """When a batch is flushed: once its size reaches ``max_size``, or once
    ``max_age_s`` passed since the last flush with something pending.

    >>> policy = FlushPolicy(max_size=100, max_age_s=5.0)
    >>> policy.due(size=100, pending=True, age_s=0.0), policy.due(3, True, 5.0)
    (True, True)
    >>> policy.due(3, True, 4.9), policy.due(0, False, 60.0)
    (False, False)
    """

    max_size: int
    max_age_s: float
    poll_timeout_ms: int = 200

    def due(self, size: int, pending: bool, age_s: float) -> bool:
        """Whether a batch of ``size``, last flushed ``age_s`` ago, is to be flushed."""
        return size >= self.max_size or (pending and age_s >= self.max_age_s)


def consume_and_flush(
    consumer: KafkaConsumer, batch: Batch, policy: FlushPolicy, stop: threading.Event
) -> None:
    """Poll and add to ``batch``, flushing when ``policy`` says so, until ``stop`` is
    set; then flush once more if anything is pending.

    What is committed, and when, is the batch's business (its ``flush``). An error
    from the consumer or the batch ends the loop without a last flush. The consumer
    is closed, without committing, however the loop ends.
    """
    try:
        flushed = time.monotonic()
        while not stop.is_set():
            polled = consumer.poll(timeout_ms=policy.poll_timeout_ms)
            batch.add([r for tp in sorted(polled) for r in polled[tp]])
            if policy.due(batch.size, batch.pending, time.monotonic() - flushed):
                batch.flush()
                flushed = time.monotonic()
        if batch.pending:
            batch.flush()
    finally:
        consumer.close(autocommit=False)
