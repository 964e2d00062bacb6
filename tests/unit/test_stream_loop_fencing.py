"""The loop on a fenced producer or a lost membership, with stand-in clients (no broker).

kafka-python 3.0.12 raises ``ProducerFencedError`` only from the request that met the
fence; every later call on that producer raises a plain ``KafkaError`` that names the
fence. A replica stalled past its session meets the fence that way when it resumes,
or finds itself out of the group with a batch polled before the stall.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError, ProducerFencedError
from kafka.structs import ConsumerGroupMetadata, TopicPartition
from prometheus_client import CollectorRegistry, generate_latest

from fraudstream.config import KafkaSettings
from fraudstream.harness.scorer import metric_values
from fraudstream.observability.health import Health
from fraudstream.streaming.loop import (
    Emit,
    FencedError,
    LoopConfig,
    LoopMetrics,
    StepResult,
    StreamLoop,
)
from fraudstream.testing.steps import consumer_records

#: What kafka-python 3.0.12 raises after a fence (seen with a replica paused past
#: its transaction timeout).
AFTER_FENCE = (
    "Cannot execute transactional method because we are in an error state: "
    "[Error 90] ProducerFencedError"
)


class FencedProducer:
    """A transactional producer whose epoch was bumped by the broker."""

    def __init__(self, first: KafkaError) -> None:
        self._next = first

    def begin_transaction(self) -> None:
        error, self._next = self._next, KafkaError(AFTER_FENCE)
        raise error

    def abort_transaction(self) -> None:
        raise KafkaError(AFTER_FENCE)

    def close(self, timeout: float | None = None) -> None:
        pass


#: A member of group ``g``, as kafka-python reports it.
MEMBER = ConsumerGroupMetadata("g", 3, "member-1")


class OneBatchConsumer:
    """Hands out the same batch at every poll."""

    def __init__(self) -> None:
        self.records = consumer_records([b"{}", b"{}"], topic="in")
        self.membership = [MEMBER]

    def group_metadata(self) -> ConsumerGroupMetadata:
        """The membership now: the next of ``membership``, the last one for ever."""
        return self.membership.pop(0) if len(self.membership) > 1 else self.membership[0]

    def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[ConsumerRecord]]:
        return {TopicPartition("in", 0): list(self.records)}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        pass

    def highwater(self, tp: TopicPartition) -> int:
        return len(self.records)

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition("in", 0)}

    def close(self, autocommit: bool = False) -> None:
        pass


def noop_step(records: Sequence[ConsumerRecord], emit: Emit | None = None) -> StepResult:
    return StepResult()


def fenced_loop(first: KafkaError) -> tuple[StreamLoop, CollectorRegistry, list[Any]]:
    registry = CollectorRegistry()
    loop = StreamLoop(
        KafkaSettings(),
        LoopConfig(group_id="g", topics=("in",), transactional_id="t", backoff_initial_s=0.001),
        noop_step,
        health=Health(["kafka"]),
        metrics=LoopMetrics(registry, "test"),
    )
    producers: list[Any] = []

    def producer() -> FencedProducer:
        producers.append(FencedProducer(first))
        return producers[-1]

    loop._producer = producer  # type: ignore[method-assign]
    loop._consumer = OneBatchConsumer  # type: ignore[method-assign,assignment]
    return loop, registry, producers


@pytest.mark.parametrize(
    "first",
    [ProducerFencedError(), KafkaError(AFTER_FENCE)],
    ids=["fence-itself", "fence-after-the-fact"],
)
def test_a_fenced_producer_starts_over_once_then_gives_way(first: KafkaError) -> None:
    loop, registry, producers = fenced_loop(first)
    done = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            loop.run(threading.Event())
        except BaseException as exc:
            errors.append(exc)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    # before, the producer's fatal state was retried as a Kafka outage for ever
    assert done.wait(10), "the loop kept retrying a fenced producer"
    assert [type(e) for e in errors] == [FencedError]
    assert len(producers) == 2  # started over once with new clients, then fenced again
    retries = metric_values(generate_latest(registry).decode(), "stream_batch_retries_total")
    assert {dict(labels)["cause"]: n for labels, n in retries.items()} == {"fenced": 1.0}


class RecordingProducer:
    """A transactional producer that does what it is asked and remembers it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def begin_transaction(self) -> None:
        self.calls.append("begin")

    def send_offsets_to_transaction(self, offsets: Any, group: ConsumerGroupMetadata) -> None:
        self.calls.append(f"offsets generation {group.generation_id}")

    def flush(self) -> None:
        pass

    def commit_transaction(self) -> None:
        self.calls.append("commit")

    def abort_transaction(self) -> None:
        self.calls.append("abort")

    def close(self, timeout: float | None = None) -> None:
        pass


@pytest.mark.parametrize(
    "after_poll",
    [
        ConsumerGroupMetadata("g", -1, ""),  # out of the group, not joined again
        ConsumerGroupMetadata("g", 4, "member-2"),  # joined again as a new member
    ],
    ids=["out-of-the-group", "joined-again"],
)
def test_a_member_resumed_out_of_its_generation_aborts_the_batch(
    after_poll: ConsumerGroupMetadata,
) -> None:
    """The batch was polled by generation 3; by the time its offsets go into the
    transaction the member is no longer that one: nothing is committed."""
    loop, registry, _ = fenced_loop(ProducerFencedError())
    producer, consumer = RecordingProducer(), OneBatchConsumer()
    consumer.membership = [MEMBER, after_poll]
    polled = consumer.poll()

    then = loop._process(consumer, producer, polled, threading.Event())

    assert producer.calls == ["begin", "abort"]  # no offsets sent, nothing committed
    assert then.name == "NEW_CONSUMER"
    retries = metric_values(generate_latest(registry).decode(), "stream_batch_retries_total")
    assert {dict(labels)["cause"]: n for labels, n in retries.items()} == {"rejoin": 1.0}


def test_the_offsets_carry_the_generation_that_polled_the_batch() -> None:
    loop, _, _ = fenced_loop(ProducerFencedError())
    producer, consumer = RecordingProducer(), OneBatchConsumer()

    loop._process(consumer, producer, consumer.poll(), threading.Event())

    assert producer.calls == ["begin", "offsets generation 3", "commit"]
