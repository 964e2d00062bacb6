"""Records made in memory as kafka-python's consumer hands them over: for a step or a
learner fed without a broker (the benches, the test doubles).

>>> record = consumer_record("labels", b"{}", offset=3)
>>> (record.topic, record.partition, record.offset, record.serialized_value_size)
('labels', 0, 3, 2)
"""

from __future__ import annotations

from kafka.consumer.fetcher import ConsumerRecord


def consumer_record(
    topic: str,
    value: bytes | None,
    *,
    key: bytes | None = None,
    partition: int = 0,
    offset: int = 0,
    timestamp_ms: int = 0,
) -> ConsumerRecord:
    """A record of ``topic`` at ``partition`` and ``offset`` (a create-time timestamp,
    no headers)."""
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        leader_epoch=-1,
        offset=offset,
        timestamp=timestamp_ms,
        timestamp_type=0,
        key=key,
        value=value,
        headers=[],
        checksum=None,
        serialized_key_size=-1 if key is None else len(key),
        serialized_value_size=-1 if value is None else len(value),
        serialized_header_size=-1,
    )
