"""The cached partitioner sends every key where kafka-python's default one does."""

from __future__ import annotations

import pytest
from kafka.partitioner.default import DefaultPartitioner

from fraudstream.kafka.producer import CachedKeyPartitioner


class _Cluster:
    """The three questions a partitioner asks of the cluster metadata."""

    def __init__(self, topic: str, partitions: int) -> None:
        self._topic = topic
        self._partitions = set(range(partitions))

    def topics(self) -> set[str]:
        return {self._topic}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return self._partitions

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self._partitions


@pytest.mark.parametrize("partitions", [1, 3, 6, 12])
def test_keys_land_where_the_default_partitioner_puts_them(partitions: int) -> None:
    cluster = _Cluster("t", partitions)
    keys = [f"card-{i}".encode() for i in range(2_000)] + [b"", "kártya-é".encode()]
    ours, theirs = CachedKeyPartitioner(), DefaultPartitioner()
    for _ in range(2):  # the second pass answers from the cache
        assert [ours.partition("t", k, k, None, None, cluster) for k in keys] == [
            theirs.partition("t", k, k, None, None, cluster) for k in keys
        ]


def test_records_without_a_key_go_to_some_partition() -> None:
    cluster = _Cluster("t", 6)
    chosen = {
        CachedKeyPartitioner().partition("t", None, None, b"v", b"v", cluster) for _ in range(200)
    }
    assert chosen <= set(range(6))
    assert len(chosen) > 1
