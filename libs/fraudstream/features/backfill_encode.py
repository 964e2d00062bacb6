"""A backfill's writes as Redis commands, entity by entity, already encoded.

:class:`ChunkEncoder` turns whole entities of a
:class:`~fraudstream.features.backfill_state.WindowState` into plain commands (ZADD,
HSET, PEXPIRE) encoded straight into the Redis protocol (RESP), with the keys each
entity owns; the writers put a DEL of those keys in front, so a write replaces
whatever the keys held. On one Redis an entity's keys are ``<prefix>:c:<card>:t``;
on a Redis Cluster the id is a hash tag (``<prefix>:c:{<card>}:t``, see
:func:`~fraudstream.features.redis_cluster_store.entity_tag`).

An entity gets the TTL left to it at the state's moment: live, its keys expire a key
TTL after its last write (and ``_exp`` is set as if refreshed then).

>>> command(b"DEL", b"k")
b'*2\\r\\n$3\\r\\nDEL\\r\\n$1\\r\\nk\\r\\n'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from fraudstream.features.backfill_state import KeptSets, WindowState

__all__ = ["ChunkEncoder", "EntityWrite", "command", "command_with"]


@dataclass(frozen=True)
class EntityWrite:
    """One entity's keys and the encoded commands that fill them (no DEL)."""

    keys: list[bytes]
    commands: list[bytes]


def _members(offsets: np.ndarray, entities: np.ndarray) -> np.ndarray:
    """Indices of the members of ``entities`` (ascending), in order."""
    lo, hi = offsets[entities], offsets[entities + 1]
    lengths = hi - lo
    shift = np.repeat(lo - (np.cumsum(lengths) - lengths), lengths)
    return shift + np.arange(int(lengths.sum()), dtype=np.int64)


def _arg(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def command(*args: bytes) -> bytes:
    """One command in the Redis protocol (RESP)."""
    return b"*%d\r\n" % len(args) + b"".join(_arg(a) for a in args)


def command_with(head: Sequence[bytes], encoded: bytes, count: int) -> bytes:
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


def _oldest(sets: KeptSets, i: int) -> bytes:
    """``_min``: the event time of entity ``i``'s oldest kept transaction."""
    return b"%d" % sets.member_ms[sets.offsets[i]]


class ChunkEncoder:
    """Turns whole entities of one kind into their encoded writes.

    ``name`` gives the part of an entity's keys that names it (its id on one Redis,
    the id as a hash tag on a cluster).
    """

    def __init__(
        self,
        state: WindowState,
        prefix: str,
        now_ms: int,
        *,
        name: Callable[[str], str] | None = None,
    ) -> None:
        self._state = state
        self._prefix = prefix.encode()
        self._now = now_ms
        self._ttl = state.config.key_ttl_ms
        self._totals = state.cards.running_totals()
        self._name = name

    def entities(self, kind: str, entities: np.ndarray) -> list[EntityWrite]:
        """The writes of ``entities`` (indices into the cards' kept sets for ``kind``
        "c", the merchants' for "m"), in order."""
        return self._cards(entities) if kind == "c" else self._merchants(entities)

    def _names(self, ids: np.ndarray) -> list[bytes]:
        if self._name is None:
            return _encoded(ids)
        name = self._name
        return [name(str(v)).encode() for v in ids.tolist()]

    def _key(self, kind: bytes, entity: bytes, suffix: bytes) -> bytes:
        return b"%b:%b:%b:%b" % (self._prefix, kind, entity, suffix)

    def _expiry(self, latest: int) -> tuple[bytes, bytes]:
        """(TTL left, ``_exp``) of an entity whose newest transaction is at ``latest``."""
        age = self._state.until_ms - latest
        return b"%d" % (self._ttl - age), b"%d" % (self._now - age)

    def _cards(self, e: np.ndarray) -> list[EntityWrite]:
        cards = self._state.cards
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
        writes: list[EntityWrite] = []
        for n, entity in enumerate(self._names(cards.entities[e])):
            zkey, hkey = self._key(b"c", entity, b"t"), self._key(b"c", entity, b"h")
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
            encoded = b"".join(fields[lo:hi]) + b"".join(_arg(a) for a in scalars)
            commands = [
                command_with((b"ZADD", zkey), b"".join(pairs[lo:hi]), 2 * (hi - lo)),
                command_with((b"HSET", hkey), encoded, 4 * (hi - lo) + len(scalars)),
                command(b"PEXPIRE", zkey, ttl),
                command(b"PEXPIRE", hkey, ttl),
            ]
            writes.append(EntityWrite([zkey, hkey], commands))
        return writes

    def _merchants(self, e: np.ndarray) -> list[EntityWrite]:
        merchants, frauds = self._state.merchants, self._state.store_frauds
        m = _members(merchants.offsets, e)
        pairs = _pairs(_encoded(merchants.member_ms[m]), _encoded(merchants.member_ids[m]))
        f = _members(frauds.offsets, e)
        fraud_pairs = _pairs(_encoded(frauds.ms[f]), _encoded(frauds.ids[f]))
        kept = merchants.kept[e]
        ends = np.cumsum(kept).tolist()
        fraud_counts = np.diff(frauds.offsets)[e]
        fraud_ends = np.cumsum(fraud_counts).tolist()
        writes: list[EntityWrite] = []
        for n, entity in enumerate(self._names(merchants.entities[e])):
            tkey, hkey, fkey = (self._key(b"m", entity, s) for s in (b"t", b"h", b"f"))
            i = int(e[n])
            lo, hi = ends[n] - int(kept[n]), ends[n]
            ttl, exp = self._expiry(int(merchants.latest_ms[i]))
            fields = [
                b"_max", b"%d" % merchants.latest_ms[i], b"_n", b"%d" % kept[n],
                b"_min", _oldest(merchants, i), b"_exp", exp,
            ]  # fmt: skip
            if frauds.flagged[i]:
                fields += (b"_f", b"1")
            commands = [
                command_with((b"ZADD", tkey), b"".join(pairs[lo:hi]), 2 * (hi - lo)),
                command(b"HSET", hkey, *fields),
                command(b"PEXPIRE", tkey, ttl),
                command(b"PEXPIRE", hkey, ttl),
            ]
            flo, fhi = fraud_ends[n] - int(fraud_counts[n]), fraud_ends[n]
            if fhi > flo:
                commands += (
                    command_with((b"ZADD", fkey), b"".join(fraud_pairs[flo:fhi]), 2 * (fhi - flo)),
                    command(b"PEXPIRE", fkey, ttl),
                )
            writes.append(EntityWrite([tkey, hkey, fkey], commands))
        return writes
