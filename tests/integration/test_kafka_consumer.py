"""Reading a topic to its end and the consume–flush loop, against a real Kafka."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence

import pytest
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import IllegalStateError

from fraudstream.config import KafkaSettings
from fraudstream.harness.kafka import read_topic
from fraudstream.harness.scorer import committed_offsets, wait_until
from fraudstream.kafka.admin import delete_topics, ensure_topics
from fraudstream.kafka.consumer import (
    FlushPolicy,
    build_subscriber,
    consume_and_flush,
    read_to_end,
)
from fraudstream.kafka.errors import ReadTimeoutError, TopicNotFoundError
from fraudstream.kafka.producer import build_producer


@pytest.fixture
def kafka(kafka_bootstrap: str) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=kafka_bootstrap)


@pytest.fixture
def new_topic(kafka: KafkaSettings) -> Iterator[Callable[[], str]]:
    """Make topics of three partitions; they are deleted at the end."""
    made: list[str] = []

    def make() -> str:
        topic = f"test-consumer-{uuid.uuid4().hex[:10]}"
        ensure_topics(kafka, [topic], partitions=3)
        made.append(topic)
        return topic

    yield make
    delete_topics(kafka, made)


def _produce(
    kafka: KafkaSettings, topic: str, values: Sequence[bytes], partitions: int = 3
) -> None:
    producer = build_producer(kafka)
    for i, value in enumerate(values):
        producer.send(topic, value=value, partition=i % partitions)
    producer.flush(30)
    producer.close()


def _abort_one(kafka: KafkaSettings, topic: str, partition: int) -> None:
    """An aborted transaction at the end of ``partition``: records that never show."""
    producer = build_producer(kafka, transactional_id=f"test-{uuid.uuid4().hex[:8]}")
    producer.init_transactions()
    producer.begin_transaction()
    producer.send(topic, value=b"aborted", partition=partition)
    producer.flush(30)
    producer.abort_transaction()
    producer.close()


def test_every_partition_is_read_to_its_end_in_partition_order(
    kafka: KafkaSettings, new_topic: Callable[[], str]
) -> None:
    topic = new_topic()
    values = [f"v{i}".encode() for i in range(30)]
    _produce(kafka, topic, values, partitions=2)
    # partition 2 holds an aborted transaction only: no poll ever returns a record of
    # it, yet its end offset is past them
    _abort_one(kafka, topic, partition=2)
    started = time.monotonic()
    records = read_to_end(kafka, topic, timeout_s=30)
    elapsed = time.monotonic() - started
    assert sorted(r.value for r in records) == sorted(values)
    assert [(r.partition, r.offset) for r in records] == sorted(
        (r.partition, r.offset) for r in records
    )
    assert {r.partition for r in records} == {0, 1}
    assert elapsed < 15, f"the read waited {elapsed:.1f} s for the aborted partition"
    assert len(read_topic(kafka, topic)) == len(values)  # the harness reads the same


def test_an_empty_topic_reads_as_nothing(
    kafka: KafkaSettings, new_topic: Callable[[], str]
) -> None:
    assert read_to_end(kafka, new_topic(), timeout_s=30) == []


def test_a_missing_topic_is_an_error_at_once_or_after_waiting(kafka: KafkaSettings) -> None:
    topic = f"test-missing-{uuid.uuid4().hex[:10]}"
    with pytest.raises(TopicNotFoundError, match=f"{topic}: no such topic"):
        read_to_end(kafka, topic, timeout_s=30)
    started = time.monotonic()
    with pytest.raises(TopicNotFoundError):
        read_to_end(kafka, topic, timeout_s=1.5, wait_for_topic=True)
    assert time.monotonic() - started >= 1.5
    assert read_topic(kafka, topic, timeout_s=1) == []


def test_a_read_not_done_in_time_is_a_clear_error(
    kafka: KafkaSettings, new_topic: Callable[[], str]
) -> None:
    topic = new_topic()
    _produce(kafka, topic, [b"x"] * 6)
    with pytest.raises(ReadTimeoutError, match=f"{topic}: .*within 0.001 s") as raised:
        read_to_end(kafka, topic, timeout_s=0.001)
    assert len(raised.value.records) < 6


class _Recorder:
    """A batch that keeps what it is given and commits on flush, as the archiver does."""

    def __init__(self, consumer: KafkaConsumer, fail_on_add: bool = False) -> None:
        self.consumer = consumer
        self.fail_on_add = fail_on_add
        self.buffer: list[bytes] = []
        self.flushed: list[list[bytes]] = []

    @property
    def size(self) -> int:
        return len(self.buffer)

    @property
    def pending(self) -> bool:
        return bool(self.buffer)

    @property
    def all_flushed(self) -> list[bytes]:
        return [value for flushed in self.flushed for value in flushed]

    def add(self, records: Sequence[ConsumerRecord]) -> None:
        if records and self.fail_on_add:
            raise RuntimeError("add failed")
        self.buffer += [r.value for r in records]

    def flush(self) -> None:
        self.consumer.commit()
        self.flushed.append(self.buffer)
        self.buffer = []


def _loop(
    kafka: KafkaSettings, topic: str, policy: FlushPolicy, *, fail_on_add: bool = False
) -> tuple[_Recorder, threading.Event, threading.Thread, list[BaseException], str]:
    group = f"test-loop-{uuid.uuid4().hex[:8]}"
    consumer = build_subscriber(kafka, "test-loop", [topic], group_id=group)
    batch = _Recorder(consumer, fail_on_add)
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            consume_and_flush(consumer, batch, policy, stop)
        except BaseException as exc:  # surfaced by the test
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return batch, stop, thread, errors, group


@pytest.mark.timeout(120)
def test_the_loop_flushes_by_size_then_once_more_when_stopped(
    kafka: KafkaSettings, new_topic: Callable[[], str]
) -> None:
    topic = new_topic()
    _produce(kafka, topic, [f"a{i}".encode() for i in range(25)])
    batch, stop, thread, errors, group = _loop(kafka, topic, FlushPolicy(10, 3600.0))
    assert wait_until(lambda: len(batch.all_flushed) + len(batch.buffer) == 25, 60)
    time.sleep(1)  # nothing more comes, and nothing is flushed by age
    flushed = len(batch.all_flushed)
    assert all(len(f) >= 10 for f in batch.flushed), batch.flushed
    assert len(batch.buffer) < 10
    assert committed_offsets(kafka.servers, group, topic) == flushed

    stop.set()
    thread.join(timeout=30)
    assert not errors
    assert sorted(batch.all_flushed) == sorted(f"a{i}".encode() for i in range(25))
    assert not batch.buffer
    assert committed_offsets(kafka.servers, group, topic) == 25
    with pytest.raises(IllegalStateError):  # closed
        batch.consumer.poll()


@pytest.mark.timeout(120)
def test_the_loop_flushes_a_small_batch_once_it_is_old_enough(
    kafka: KafkaSettings, new_topic: Callable[[], str]
) -> None:
    topic = new_topic()
    batch, stop, thread, errors, group = _loop(kafka, topic, FlushPolicy(1000, 0.5))
    try:
        _produce(kafka, topic, [b"b0", b"b1", b"b2"])
        assert wait_until(lambda: len(batch.all_flushed) == 3, 60), batch.buffer
        assert wait_until(lambda: committed_offsets(kafka.servers, group, topic) == 3, 10)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not errors
    assert sorted(batch.all_flushed) == [b"b0", b"b1", b"b2"]


@pytest.mark.timeout(60)
def test_an_error_ends_the_loop_without_a_last_flush(
    kafka: KafkaSettings, new_topic: Callable[[], str]
) -> None:
    topic = new_topic()
    _produce(kafka, topic, [b"x"])
    batch, _, thread, errors, group = _loop(kafka, topic, FlushPolicy(10, 0.0), fail_on_add=True)
    thread.join(timeout=30)
    assert [str(e) for e in errors] == ["add failed"]
    assert batch.flushed == []
    assert committed_offsets(kafka.servers, group, topic) == 0
    with pytest.raises(IllegalStateError):
        batch.consumer.poll()


class _Rebalances(ConsumerRebalanceListener):  # type: ignore[misc]
    """Counts the assignments a member is given."""

    def __init__(self) -> None:
        self.assigned: list[set[TopicPartition]] = []

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.assigned.append(set(assigned))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("instance", [None, "static"])
def test_a_subscriber_on_a_new_topic_joins_its_group_once(
    kafka: KafkaSettings, new_topic: Callable[[], str], instance: str | None
) -> None:
    """A second join right after the first is a rebalance kafka-python can lose."""
    topic = new_topic()
    _produce(kafka, topic, [b"x"] * 30)
    group = f"test-join-{uuid.uuid4().hex[:8]}"
    rebalances = _Rebalances()
    consumer = build_subscriber(
        kafka,
        "test-join",
        [topic],
        group_id=group,
        group_instance_id=instance and group,
        listener=rebalances,
    )
    try:
        got = 0
        deadline = time.monotonic() + 5  # a second join came within 0.1 s of the first
        while time.monotonic() < deadline:
            got += sum(len(r) for r in consumer.poll(timeout_ms=100).values())
    finally:
        consumer.close(autocommit=False)
    assert got == 30
    assert rebalances.assigned == [{TopicPartition(topic, p) for p in range(3)}]
