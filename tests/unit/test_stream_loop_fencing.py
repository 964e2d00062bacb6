"""The loop on a fenced producer, with stand-in clients (no broker).

kafka-python 3.0.12 raises ``ProducerFencedError`` only from the request that met the
fence; every later call on that producer raises a plain ``KafkaError`` that names the
fence. A replica stalled past its session meets the fence that way when it resumes.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError, ProducerFencedError
from kafka.structs import TopicPartition
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


class OneBatchConsumer:
    """Hands out the same batch at every poll."""

    def __init__(self) -> None:
        self.records = consumer_records([b"{}", b"{}"], topic="in")

    def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[ConsumerRecord]]:
        return {TopicPartition("in", 0): list(self.records)}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        pass

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
