"""Writing a backfill's window state into Redis, chunk by chunk.

The state (:class:`~fraudstream.features.backfill_state.WindowState`) is cut into
chunks of whole entities, cards first then merchants, each in entity-id order
(:func:`plan_chunks`, for one Redis and a cluster alike). On one Redis
(:func:`write_chunks`) a chunk goes out as one MULTI/EXEC block of plain commands (DEL,
ZADD, HSET, PEXPIRE, encoded by :mod:`~fraudstream.features.backfill_encode`) ending
with the marker's progress: Redis applies a block whole or not at all. A cluster's
writer is :mod:`~fraudstream.features.backfill_cluster_writer`. Blocks are pipelined
on one connection (the next is sent before the previous answer is read), so this
process encodes a chunk while Redis applies the one before. Plain commands cost Redis
about half what the same writes cost from a Lua script.

An entity is written only if its keys would still exist at the backfill's moment:
live, they expire a key TTL after the entity's last write, so an entity whose newest
transaction is a TTL or more older than the moment is left out, and the others get the
TTL left to them (and ``_exp`` as if refreshed then).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import redis

from fraudstream.features.backfill_encode import ChunkEncoder, command
from fraudstream.features.backfill_marker import marker_key
from fraudstream.features.backfill_state import WindowState
from fraudstream.features.errors import FeatureStoreError

__all__ = [
    "CHUNK_ENTITIES",
    "CHUNK_ENTRIES",
    "IN_FLIGHT",
    "Chunk",
    "Plan",
    "plan_chunks",
    "read_exec",
    "write_chunks",
]

#: Entries (kept transactions, frauds) per chunk: a few tens of ms of Redis's time.
CHUNK_ENTRIES: Final = 20_000
#: Entities per chunk at most (many small entities cost per-key commands).
CHUNK_ENTITIES: Final = 2_000
#: Chunks sent before the first answer is read.
IN_FLIGHT: Final = 2


@dataclass(frozen=True)
class Chunk:
    """Whole entities of one kind (indices into its kept sets), written in one block."""

    kind: str  # "c" (cards) or "m" (merchants)
    entities: np.ndarray
    entries: int
    done_after: int  # entities written once this chunk is


@dataclass(frozen=True)
class Plan:
    """The chunks of a state, and what is left out because it would have expired."""

    chunks: list[Chunk]
    cards: int
    merchants: int
    frauds: int
    expired: int

    @property
    def entities(self) -> int:
        return self.cards + self.merchants

    @property
    def entries(self) -> int:
        return sum(c.entries for c in self.chunks)


def plan_chunks(state: WindowState, ttl_ms: int) -> Plan:
    """Cut the state into chunks; entities whose keys would have expired by the state's
    moment are left out."""
    chunks: list[Chunk] = []
    done = 0
    written: dict[str, int] = {}
    expired = frauds = 0
    for kind, sets in (("c", state.cards), ("m", state.merchants)):
        ages = state.until_ms - sets.latest_ms
        alive = np.flatnonzero(ages < ttl_ms)
        expired += len(sets) - len(alive)
        written[kind] = len(alive)
        sizes = sets.kept[alive]
        if kind == "m":
            fraud_counts = np.diff(state.store_frauds.offsets)[alive]
            frauds = int(fraud_counts.sum())
            sizes = sizes + fraud_counts
        cumulative = np.cumsum(sizes)
        start = 0
        while start < len(alive):
            base = cumulative[start - 1] if start else 0
            stop = int(np.searchsorted(cumulative, base + CHUNK_ENTRIES, side="right"))
            stop = max(start + 1, min(stop, start + CHUNK_ENTITIES))
            done += stop - start
            entries = int(cumulative[stop - 1] - base)
            chunks.append(Chunk(kind, alive[start:stop], entries, done))
            start = stop
    return Plan(
        chunks=chunks, cards=written["c"], merchants=written["m"], frauds=frauds, expired=expired
    )


@dataclass(frozen=True)
class _Batch:
    """One chunk as a MULTI/EXEC block: the bytes, and the replies it will get."""

    data: bytes
    replies: int
    entries: int


def _block(encoder: ChunkEncoder, marker: bytes, now_ms: int, chunk: Chunk) -> _Batch:
    """A chunk as one MULTI/EXEC block: a DEL of its entities' keys, their writes, and
    the marker's progress last; so a chunk written twice leaves what one write leaves."""
    writes = encoder.entities(chunk.kind, chunk.entities)
    keys = [key for w in writes for key in w.keys]
    done = command(
        b"HSET", marker, b"done", b"%d" % chunk.done_after, b"updated_ms", b"%d" % now_ms
    )
    block = [
        command(b"MULTI"),
        command(b"DEL", *keys),
        *(c for w in writes for c in w.commands),
        done,
        command(b"EXEC"),
    ]
    return _Batch(b"".join(block), len(block), chunk.entries)


def write_chunks(
    client: redis.Redis,
    prefix: str,
    state: WindowState,
    plan: Plan,
    *,
    resume_at: int,
    on_written: Callable[[int], None],
) -> None:
    """Write every chunk past the first ``resume_at`` entities; call ``on_written`` with
    each chunk's entries once Redis applied it.

    A failure drops the connection with whatever answers were unread: a block whose
    EXEC Redis never read is discarded whole, so the marker names exactly the chunks
    written and a rerun resumes after the last of them.
    """
    seconds, micros = client.time()
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    encoder = ChunkEncoder(state, prefix, now_ms)
    marker = marker_key(prefix).encode()
    pool = client.connection_pool
    connection = pool.get_connection()
    pending: deque[_Batch] = deque()
    complete = False
    try:
        for chunk in plan.chunks:
            if chunk.done_after <= resume_at:
                continue
            batch = _block(encoder, marker, now_ms, chunk)
            connection.send_packed_command([batch.data])  # type: ignore[no-untyped-call]
            pending.append(batch)
            if len(pending) >= IN_FLIGHT:
                on_written(_applied(connection, pending.popleft()))
        while pending:
            on_written(_applied(connection, pending.popleft()))
        complete = True
    finally:
        if not complete:  # answers may be left on the connection: it cannot be reused
            connection.disconnect()  # type: ignore[no-untyped-call]
        pool.release(connection)


def _applied(connection: redis.connection.AbstractConnection, batch: _Batch) -> int:
    """Read a block's replies; raise if any of its commands failed; return its entries."""
    read_exec(connection, batch.replies)
    return batch.entries


def read_exec(connection: redis.connection.AbstractConnection, replies: int) -> None:
    """Read the ``replies`` of one MULTI/EXEC block (EXEC's last); raise
    :class:`~fraudstream.features.errors.FeatureStoreError` if any of its commands
    failed."""
    for _ in range(replies - 1):
        connection.read_response()
    results = connection.read_response()  # EXEC: every command's reply, or errors
    failed = [r for r in results if isinstance(r, Exception)] if isinstance(results, list) else []
    if results is None or failed:
        raise FeatureStoreError(
            f"backfill chunk failed in Redis: {failed[0] if failed else 'aborted'}"
        )
