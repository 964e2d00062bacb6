"""What a consumer group looks like from outside: its members, who holds which
partition of a topic, and how far it committed. For tests and benches that move
scorer replicas in and out of a group and wait for the group to settle.

>>> view = GroupView("Stable", (Member("m-1", None, (0, 1, 2)), Member("m-2", "b", (3, 4, 5))))
>>> view.covers(6), view.covers(7), view.size
(True, False, 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kafka.admin import KafkaAdminClient

from fraudstream.config import KafkaSettings
from fraudstream.kafka.security import kafka_client_kwargs


@dataclass(frozen=True)
class Member:
    """One member of the group and the partitions of the topic it holds."""

    member_id: str
    #: Its static id (``group_instance_id``), None for a dynamic member.
    instance_id: str | None
    partitions: tuple[int, ...]


@dataclass(frozen=True)
class GroupView:
    """The group's state (``Stable``, ``PreparingRebalance``, ``Empty``...) and members."""

    state: str
    members: tuple[Member, ...]

    @property
    def size(self) -> int:
        """How many members the group has."""
        return len(self.members)

    def covers(self, partitions: int) -> bool:
        """Whether the group is stable and each of partitions 0..N-1 has exactly one
        holder."""
        held = sorted(p for m in self.members for p in m.partitions)
        return self.state == "Stable" and held == list(range(partitions))


class GroupInspector:
    """Looks at one consumer group on behalf of a test (close it when done)."""

    def __init__(self, kafka: KafkaSettings, group_id: str, topic: str) -> None:
        self.group_id = group_id
        self.topic = topic
        self._admin = KafkaAdminClient(**kafka_client_kwargs(kafka, "group-inspector"))

    def view(self) -> GroupView:
        """The group as the coordinator describes it now."""
        described: dict[str, Any] = self._admin.describe_groups([self.group_id])[self.group_id]
        members = tuple(
            Member(
                member_id=str(m["member_id"]),
                instance_id=m.get("group_instance_id"),
                partitions=tuple(
                    sorted(
                        p
                        for a in (m.get("member_assignment") or {}).get("assigned_partitions", [])
                        if a["topic"] == self.topic
                        for p in a["partitions"]
                    )
                ),
            )
            for m in described.get("members", [])
        )
        return GroupView(str(described.get("group_state", "")), members)

    def committed(self) -> dict[int, int]:
        """The group's committed offset of each partition of the topic (those with one)."""
        offsets = self._admin.list_group_offsets({self.group_id: None}).get(self.group_id, {})
        return {
            tp.partition: meta.offset
            for tp, meta in offsets.items()
            if tp.topic == self.topic and meta.offset >= 0
        }

    def close(self) -> None:
        """Close the admin client."""
        self._admin.close()

    def __enter__(self) -> GroupInspector:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
