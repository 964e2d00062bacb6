"""Writing a backfill's window state into a Redis Cluster, chunk by chunk.

The chunks are those of one Redis (:func:`~fraudstream.features.backfill_writer.plan_chunks`),
but a cluster applies a MULTI/EXEC block only over keys of one slot, and the marker
hash (``<prefix>:features:backfill``) has a slot of its own. So a chunk's entities,
whose keys carry their id as a hash tag (``<prefix>:c:{<card>}:t``), are grouped by
slot, and each group goes out as one block: a DEL of the group's keys, then their
writes (:mod:`~fraudstream.features.backfill_encode`). A group is applied whole or not
at all, and applied twice leaves what applied once leaves. The blocks are pipelined on
one connection per master, every master at once, and a chunk is sent before the
previous one's answers are read.

Only once every block of a chunk is applied does :func:`advance_marker` record the
chunk in the marker. A failure or a kill in between leaves entities written past the
marker's count: a rerun resumes at the marker and writes them again, over
themselves, so the store ends as after one uninterrupted run. The marker is written
before the first chunk (:meth:`~fraudstream.features.backfill_marker.Marker.begin`),
so a rerun always finds it and resumes rather than refusing those entities as state
no backfill wrote.

A slot that moves while the backfill runs (resharding, failover) fails the run with
:class:`~fraudstream.features.errors.FeatureStoreUnavailableError`; run it again and
it resumes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.cluster import ClusterNode, RedisCluster
from redis.connection import Connection, ConnectionPool
from redis.crc import key_slot
from redis.exceptions import AskError, MovedError

from fraudstream.features.backfill_encode import ChunkEncoder, EntityWrite, command
from fraudstream.features.backfill_marker import marker_key
from fraudstream.features.backfill_state import WindowState
from fraudstream.features.backfill_writer import IN_FLIGHT, Chunk, Plan, read_exec
from fraudstream.features.errors import FeatureStoreUnavailableError
from fraudstream.features.redis_cluster_store import entity_tag

__all__ = ["advance_marker", "write_cluster_chunks"]


def advance_marker(client: RedisCluster, prefix: str, done: int, now_ms: int) -> None:
    """Record in the marker that the first ``done`` entities are written."""
    client.hset(marker_key(prefix), mapping={"done": done, "updated_ms": now_ms})


@dataclass
class _Sent:
    """A chunk whose blocks are sent: per master, the replies of each of its blocks."""

    chunk: Chunk
    replies: dict[str, list[int]] = field(default_factory=dict)


class _Links:
    """One connection per master, taken from the cluster client's pools."""

    def __init__(self, client: RedisCluster) -> None:
        self._client = client
        self._held: dict[str, tuple[ConnectionPool, Connection]] = {}

    def connection(self, node: ClusterNode) -> Connection:
        if node.name not in self._held:
            pool = self._client.get_redis_connection(node).connection_pool
            self._held[node.name] = (pool, pool.get_connection())
        return self._held[node.name][1]

    def named(self, name: str) -> Connection:
        return self._held[name][1]

    def release(self, *, unread: bool) -> None:
        """Give the connections back; with answers left unread, dropped first."""
        for pool, connection in self._held.values():
            if unread:
                connection.disconnect()  # type: ignore[no-untyped-call]
            pool.release(connection)
        self._held.clear()


def _send(client: RedisCluster, links: _Links, encoder: ChunkEncoder, chunk: Chunk) -> _Sent:
    """Send a chunk's blocks, one per slot, to the masters serving them."""
    by_slot: dict[int, list[EntityWrite]] = {}
    for write in encoder.entities(chunk.kind, chunk.entities):
        by_slot.setdefault(key_slot(write.keys[0]), []).append(write)
    data: dict[str, list[bytes]] = {}
    nodes: dict[str, ClusterNode] = {}
    sent = _Sent(chunk)
    for slot, writes in by_slot.items():
        node = client.nodes_manager.get_node_from_slot(slot)
        nodes[node.name] = node
        block = [
            command(b"MULTI"),
            command(b"DEL", *(key for w in writes for key in w.keys)),
            *(c for w in writes for c in w.commands),
            command(b"EXEC"),
        ]
        data.setdefault(node.name, []).append(b"".join(block))
        sent.replies.setdefault(node.name, []).append(len(block))
    for name, blocks in data.items():
        links.connection(nodes[name]).send_packed_command([b"".join(blocks)])  # type: ignore[no-untyped-call]
    return sent


def _applied(links: _Links, sent: _Sent) -> None:
    """Read every block's replies; raise if any of their commands failed."""
    for name, replies in sent.replies.items():
        connection = links.named(name)
        for count in replies:
            read_exec(connection, count)


def write_cluster_chunks(
    client: RedisCluster,
    prefix: str,
    state: WindowState,
    plan: Plan,
    *,
    resume_at: int,
    on_written: Callable[[int], None],
) -> None:
    """Write every chunk past the first ``resume_at`` entities; once all of a chunk's
    blocks are applied, advance the marker and call ``on_written`` with its entries."""
    seconds, micros = client.time()
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    encoder = ChunkEncoder(state, prefix, now_ms, name=entity_tag)
    links = _Links(client)
    pending: deque[_Sent] = deque()
    complete = False
    try:
        for chunk in plan.chunks:
            if chunk.done_after <= resume_at:
                continue
            pending.append(_send(client, links, encoder, chunk))
            if len(pending) >= IN_FLIGHT:
                _finish(client, prefix, links, pending.popleft(), now_ms, on_written)
        while pending:
            _finish(client, prefix, links, pending.popleft(), now_ms, on_written)
        complete = True
    except (MovedError, AskError) as exc:
        raise FeatureStoreUnavailableError(
            f"a slot of the Redis Cluster moved during the backfill ({exc}): run it again, "
            "it resumes"
        ) from exc
    finally:
        links.release(unread=not complete)


def _finish(
    client: RedisCluster,
    prefix: str,
    links: _Links,
    sent: _Sent,
    now_ms: int,
    on_written: Callable[[int], None],
) -> None:
    _applied(links, sent)
    advance_marker(client, prefix, sent.chunk.done_after, now_ms)
    on_written(sent.chunk.entries)
