"""A list source and a list sink for a service's :class:`~fraudstream.streaming.loop.Step`.

The loop (:class:`~fraudstream.streaming.loop.StreamLoop`) polls Kafka, calls the step
with the batch and an ``emit`` for its results, commits, then runs the step's
``after_commit``. :func:`run_step` does the same with records made by hand
(:func:`consumer_record`, :func:`consumer_records`) and a :class:`ListSink`: no broker,
and the step cannot tell.

>>> from fraudstream.streaming.loop import OutRecord, StepResult
>>> def upper(records, emit=None):
...     assert emit is not None
...     for r in records:
...         emit(OutRecord("out", r.value.upper(), r.key))
...     return StepResult()
>>> sink = run_step(upper, consumer_records([b"a", b"b"], first_offset=7))
>>> [r.value for r in sink.on("out")]
[b'A', b'B']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import msgspec
from kafka.consumer.fetcher import ConsumerRecord

from fraudstream.kafka.records import consumer_record as kafka_record
from fraudstream.streaming.loop import OutRecord, Step
from fraudstream.testing.samples import SAMPLE_TIME

T = TypeVar("T")

#: The input topic of records made here, unless one is given.
SOURCE_TOPIC = "transactions"
#: Their Kafka timestamp, unless one is given (:data:`~.samples.SAMPLE_TIME`, in ms).
SOURCE_TIMESTAMP_MS = int(SAMPLE_TIME.timestamp() * 1000)


def consumer_record(
    value: bytes | None,
    *,
    key: bytes | None = None,
    topic: str = SOURCE_TOPIC,
    partition: int = 0,
    offset: int = 0,
    timestamp_ms: int = SOURCE_TIMESTAMP_MS,
) -> ConsumerRecord:
    """A record as kafka-python's consumer hands it over.

    >>> consumer_record(b"{}", offset=3).offset
    3
    """
    return kafka_record(
        topic, value, key=key, partition=partition, offset=offset, timestamp_ms=timestamp_ms
    )


def consumer_records(
    values: Iterable[bytes | None],
    *,
    key: bytes | None = None,
    topic: str = SOURCE_TOPIC,
    partition: int = 0,
    first_offset: int = 0,
    timestamp_ms: int = SOURCE_TIMESTAMP_MS,
) -> list[ConsumerRecord]:
    """One partition's records at consecutive offsets from ``first_offset``, 1 ms apart."""
    return [
        consumer_record(
            value,
            key=key,
            topic=topic,
            partition=partition,
            offset=first_offset + i,
            timestamp_ms=timestamp_ms + i,
        )
        for i, value in enumerate(values)
    ]


@dataclass
class ListSink:
    """Collects the records a step emits, in order."""

    records: list[OutRecord] = field(default_factory=list)

    def __call__(self, record: OutRecord) -> None:
        self.records.append(record)

    def on(self, topic: str) -> list[OutRecord]:
        """The records for ``topic``."""
        return [r for r in self.records if r.topic == topic]

    def values(self, topic: str, kind: type[T]) -> list[T]:
        """The JSON values for ``topic``, decoded as ``kind`` (a msgspec struct)."""
        return [msgspec.json.decode(r.value, type=kind) for r in self.on(topic)]


def run_step(step: Step, records: Sequence[ConsumerRecord], *, commit: bool = True) -> ListSink:
    """Run ``step`` on one batch as the loop would; what it produced.

    With ``commit`` the batch commits, so the step's ``after_commit`` runs; without, it
    stands for a batch that failed before its commit: the sink still shows what the
    step emitted (Kafka would discard it) and ``after_commit`` is never run.
    """
    sink = ListSink()
    result = step(records, sink)
    sink.records.extend(result.outputs)  # a step may also return what it collected
    if commit and result.after_commit is not None:
        result.after_commit()
    return sink
