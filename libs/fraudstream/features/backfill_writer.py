"""Writing a backfill's window state into Redis, chunk by chunk.

The state (:class:`~fraudstream.features.backfill_state.WindowState`) is cut into
chunks of whole entities, cards first then merchants, each in entity-id order. A chunk
goes out as one MULTI/EXEC block of plain commands (DEL, ZADD, HSET, PEXPIRE), encoded
here straight into the Redis protocol, ending with the marker's progress: Redis applies
a block whole or not at all. Blocks are pipelined on one connection (the next is sent
before the previous answer is read), so this process encodes a chunk while Redis
applies the one before. Plain commands cost Redis about half what the same writes cost
from a Lua script.

An entity is written only if its keys would still exist at the backfill's moment:
live, they expire a key TTL after the entity's last write, so an entity whose newest
transaction is a TTL or more older than the moment is left out, and the others get the
TTL left to them (and ``_exp`` as if refreshed then).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import redis

from fraudstream.features.backfill_marker import marker_key
from fraudstream.features.backfill_state import KeptSets, WindowState
from fraudstream.features.errors import FeatureStoreError

__all__ = ["CHUNK_ENTITIES", "CHUNK_ENTRIES", "Chunk", "Plan", "plan_chunks", "write_chunks"]

#: Entries (kept transactions, frauds) per chunk: a few tens of ms of Redis's time.
CHUNK_ENTRIES: Final = 20_000
#: Entities per chunk at most (many small entities cost per-key commands).
CHUNK_ENTITIES: Final = 2_000
#: Chunks sent before the first answer is read.
_IN_FLIGHT: Final = 2


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


def _members(offsets: np.ndarray, entities: np.ndarray) -> np.ndarray:
    """Indices of the members of ``entities`` (ascending), in order."""
    lo, hi = offsets[entities], offsets[entities + 1]
    lengths = hi - lo
    shift = np.repeat(lo - (np.cumsum(lengths) - lengths), lengths)
    return shift + np.arange(int(lengths.sum()), dtype=np.int64)


def _arg(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def _command(*args: bytes) -> bytes:
    """One command in the Redis protocol (RESP)."""
    return b"*%d\r\n" % len(args) + b"".join(_arg(a) for a in args)


def _command_with(head: Sequence[bytes], encoded: bytes, count: int) -> bytes:
    """A command whose arguments are ``head`` then ``count`` already encoded ones."""
    return b"*%d\r\n" % (len(head) + count) + b"".join(_arg(a) for a in head) + encoded


def _encoded(values: np.ndarray) -> list[bytes]:
    """Ids as UTF-8, whole numbers as plain decimal text (as Redis stores the live
    script's numbers)."""
    return [str(v).encode() for v in values.tolist()]


def _pairs(scores: list[bytes], members: list[bytes]) -> list[bytes]:
    """Per member, its encoded ``score member`` pair (ZADD arguments)."""
    return [
        b"$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(t), t, len(i), i)
        for t, i in zip(scores, members, strict=True)
    ]


@dataclass(frozen=True)
class _Batch:
    """One chunk as a MULTI/EXEC block: the bytes, and the replies it will get."""

    data: bytes
    replies: int
    entries: int


class _Writer:
    """Turns chunks into MULTI/EXEC blocks of plain commands.

    A block is applied whole or not at all, with the marker's progress as its last
    command; a block starts by deleting its entities' keys, so a chunk written twice
    leaves what one write leaves.
    """

    def __init__(self, state: WindowState, prefix: str, now_ms: int) -> None:
        self._state = state
        self._prefix = prefix.encode()
        self._marker = marker_key(prefix).encode()
        self._now = now_ms
        self._ttl = state.config.key_ttl_ms
        self._totals = state.cards.running_totals()

    def batch(self, chunk: Chunk) -> _Batch:
        commands = self._cards(chunk) if chunk.kind == "c" else self._merchants(chunk)
        done = _command(
            b"HSET", self._marker, b"done", b"%d" % chunk.done_after, b"updated_ms",
            b"%d" % self._now,
        )  # fmt: skip
        block = [_command(b"MULTI"), *commands, done, _command(b"EXEC")]
        return _Batch(b"".join(block), len(block), chunk.entries)

    def _key(self, kind: bytes, entity: bytes, suffix: bytes) -> bytes:
        return b"%b:%b:%b:%b" % (self._prefix, kind, entity, suffix)

    def _expiry(self, latest: int) -> tuple[bytes, bytes]:
        """(TTL left, ``_exp``) of an entity whose newest transaction is at ``latest``."""
        age = self._state.until_ms - latest
        return b"%d" % (self._ttl - age), b"%d" % (self._now - age)

    def _cards(self, chunk: Chunk) -> list[bytes]:
        cards, e = self._state.cards, chunk.entities
        m = _members(cards.offsets, e)
        ids = _encoded(cards.member_ids[m])
        pairs = _pairs(_encoded(cards.member_ms[m]), ids)
        fields = [
            b"$%d\r\nc:%b\r\n$%d\r\n%b\r\n$%d\r\ns:%b\r\n$%d\r\n%b\r\n"
            % (len(i) + 2, i, len(c), c, len(i) + 2, i, len(s), s)
            for i, c, s in zip(
                ids, _encoded(self._totals[0][m]), _encoded(self._totals[1][m]), strict=True
            )
        ]
        kept = cards.kept[e]
        removed = (cards.recorded - cards.kept)[e].tolist()
        removed_cents = (cards.recorded_cents - cards.kept_cents())[e].tolist()
        ends = np.cumsum(kept).tolist()
        keys: list[bytes] = []
        commands: list[bytes] = []
        for n, entity in enumerate(_encoded(cards.entities[e])):
            zkey, hkey = self._key(b"c", entity, b"t"), self._key(b"c", entity, b"h")
            keys += (zkey, hkey)
            i = int(e[n])
            lo, hi = ends[n] - int(kept[n]), ends[n]
            ttl, exp = self._expiry(int(cards.latest_ms[i]))
            scalars = [
                b"_c", b"%d" % cards.recorded[i], b"_s", b"%d" % cards.recorded_cents[i],
                b"_max", b"%d" % cards.latest_ms[i], b"_min", _oldest(cards, i),
                b"_n", b"%d" % kept[n], b"_exp", exp,
            ]  # fmt: skip
            if removed[n] > 0:
                scalars += (b"_bc", b"%d" % removed[n], b"_bs", b"%d" % removed_cents[n])
            commands.append(_command_with((b"ZADD", zkey), b"".join(pairs[lo:hi]), 2 * (hi - lo)))
            encoded = b"".join(fields[lo:hi]) + b"".join(_arg(a) for a in scalars)
            commands.append(_command_with((b"HSET", hkey), encoded, 4 * (hi - lo) + len(scalars)))
            commands += (_command(b"PEXPIRE", zkey, ttl), _command(b"PEXPIRE", hkey, ttl))
        return [_command(b"DEL", *keys), *commands]

    def _merchants(self, chunk: Chunk) -> list[bytes]:
        merchants, frauds, e = self._state.merchants, self._state.store_frauds, chunk.entities
        m = _members(merchants.offsets, e)
        pairs = _pairs(_encoded(merchants.member_ms[m]), _encoded(merchants.member_ids[m]))
        f = _members(frauds.offsets, e)
        fraud_pairs = _pairs(_encoded(frauds.ms[f]), _encoded(frauds.ids[f]))
        kept = merchants.kept[e]
        ends = np.cumsum(kept).tolist()
        fraud_counts = np.diff(frauds.offsets)[e]
        fraud_ends = np.cumsum(fraud_counts).tolist()
        keys: list[bytes] = []
        commands: list[bytes] = []
        for n, entity in enumerate(_encoded(merchants.entities[e])):
            tkey, hkey, fkey = (self._key(b"m", entity, s) for s in (b"t", b"h", b"f"))
            keys += (tkey, hkey, fkey)
            i = int(e[n])
            lo, hi = ends[n] - int(kept[n]), ends[n]
            ttl, exp = self._expiry(int(merchants.latest_ms[i]))
            fields = [
                b"_max", b"%d" % merchants.latest_ms[i], b"_n", b"%d" % kept[n],
                b"_min", _oldest(merchants, i), b"_exp", exp,
            ]  # fmt: skip
            if frauds.flagged[i]:
                fields += (b"_f", b"1")
            commands += (
                _command_with((b"ZADD", tkey), b"".join(pairs[lo:hi]), 2 * (hi - lo)),
                _command(b"HSET", hkey, *fields),
                _command(b"PEXPIRE", tkey, ttl),
                _command(b"PEXPIRE", hkey, ttl),
            )
            flo, fhi = fraud_ends[n] - int(fraud_counts[n]), fraud_ends[n]
            if fhi > flo:
                commands += (
                    _command_with((b"ZADD", fkey), b"".join(fraud_pairs[flo:fhi]), 2 * (fhi - flo)),
                    _command(b"PEXPIRE", fkey, ttl),
                )
        return [_command(b"DEL", *keys), *commands]


def _oldest(sets: KeptSets, i: int) -> bytes:
    """``_min``: the event time of entity ``i``'s oldest kept transaction."""
    return b"%d" % sets.member_ms[sets.offsets[i]]


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
    writer = _Writer(state, prefix, int(seconds) * 1000 + int(micros) // 1000)
    pool = client.connection_pool
    connection = pool.get_connection()
    pending: deque[_Batch] = deque()
    try:
        for chunk in plan.chunks:
            if chunk.done_after <= resume_at:
                continue
            batch = writer.batch(chunk)
            connection.send_packed_command([batch.data])  # type: ignore[no-untyped-call]
            pending.append(batch)
            if len(pending) >= _IN_FLIGHT:
                on_written(_applied(connection, pending.popleft()))
        while pending:
            on_written(_applied(connection, pending.popleft()))
    finally:
        if pending:  # answers left on the connection: it cannot be reused
            connection.disconnect()  # type: ignore[no-untyped-call]
        pool.release(connection)


def _applied(connection: redis.connection.AbstractConnection, batch: _Batch) -> int:
    """Read a block's replies; raise if any of its commands failed; return its entries."""
    for _ in range(batch.replies - 1):
        connection.read_response()
    results = connection.read_response()  # EXEC: every command's reply, or errors
    failed = [r for r in results if isinstance(r, Exception)] if isinstance(results, list) else []
    if results is None or failed:
        raise FeatureStoreError(
            f"backfill chunk failed in Redis: {failed[0] if failed else 'aborted'}"
        )
    return batch.entries
