"""A backfill's bookkeeping in Redis: its marker hash, the state it finds, clearing.

The marker (``{prefix}:features:backfill``) holds the history's fingerprint, the
moment, the source, how many entities are written (on one Redis atomically with each
chunk, :mod:`~fraudstream.features.backfill_writer`; on a cluster once a chunk is
applied, :mod:`~fraudstream.features.backfill_cluster_writer`) and the run's status.
Everything here works on one Redis and on a Redis Cluster (the marker is one key; a
scan covers every master). The live
script notes its writes in it (``live_ms``) once it exists, so a backfill never writes
over live state unforced.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

import pandas as pd

from fraudstream.features.errors import redis_errors
from fraudstream.features.redis_store import delete_prefix, scan_keys
from fraudstream.redis_client import AnyRedis

__all__ = [
    "Existing",
    "Marker",
    "backfill_errors",
    "clear_features",
    "existing_state",
    "iso",
    "marker_key",
]


def marker_key(prefix: str) -> str:
    """The backfill's marker hash (the live script notes its writes there too)."""
    return f"{prefix}:features:backfill"


def backfill_errors() -> AbstractContextManager[None]:
    """Redis errors as the feature store's: unavailable (retry later) or failed."""
    return redis_errors("backfill failed in Redis")


def iso(ms: int) -> str:
    """Milliseconds since the epoch as UTC ISO text."""
    return pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()


@dataclass(frozen=True)
class Marker:
    """What the marker hash says about the last backfill of a store."""

    fingerprint: str
    status: str  # "clearing", "writing" or "done"
    done: int  # entities written
    total: int
    until_ms: int
    source: str
    live_ms: int | None  # the last live write after it, if any

    @classmethod
    def read(cls, client: AnyRedis, prefix: str) -> Marker | None:
        """The marker of the store under ``prefix``; None when it was never backfilled."""
        raw = client.hgetall(marker_key(prefix))
        if not raw:
            return None
        fields = {
            (k.decode() if isinstance(k, bytes) else str(k)): (
                v.decode() if isinstance(v, bytes) else str(v)
            )
            for k, v in raw.items()
        }
        live = fields.get("live_ms")
        return cls(
            fingerprint=fields.get("fingerprint", ""),
            status=fields.get("status", ""),
            done=int(fields.get("done", 0)),
            total=int(fields.get("total", 0)),
            until_ms=int(fields.get("until_ms", 0)),
            source=fields.get("source", ""),
            live_ms=int(live) if live else None,
        )

    def describe(self) -> str:
        """One line: until when, from what, how far it got."""
        state = "complete" if self.status == "done" else f"{self.done:,}/{self.total:,} entities"
        return f"until {iso(self.until_ms)} from {self.source or 'unknown'}, {state}"

    @staticmethod
    def begin(
        client: AnyRedis,
        prefix: str,
        *,
        fingerprint: str,
        status: str,
        total: int,
        until_ms: int,
        source: str,
    ) -> None:
        """Start a run: a fresh marker (a previous one, and its live note, replaced)."""
        key = marker_key(prefix)
        pipe = client.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(
            key,
            mapping={
                "fingerprint": fingerprint,
                "status": status,
                "done": 0,
                "total": total,
                "until_ms": until_ms,
                "source": source,
            },
        )
        pipe.execute()

    @staticmethod
    def set_status(client: AnyRedis, prefix: str, status: str) -> None:
        """Move the run on: ``writing`` once cleared, ``done`` once every chunk is in."""
        client.hset(marker_key(prefix), "status", status)


@dataclass(frozen=True)
class Existing:
    """Feature state found in a store: how many entities, the newest event time."""

    entities: int
    newest_ms: int | None


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def existing_state(client: AnyRedis, prefix: str) -> Existing:
    """Scan the store's card and merchant hashes (on every master of a cluster) for
    their newest event times."""
    newest: int | None = None
    entities = 0
    batch: list[bytes] = []

    def flush() -> None:
        nonlocal newest, entities
        pipe = client.pipeline(transaction=False)
        for key in batch:
            pipe.hget(key, "_max")
        for value in pipe.execute():
            entities += 1
            if value is not None:
                t = int(float(value))
                newest = t if newest is None else max(newest, t)
        batch.clear()

    pattern = f"{_glob_escape(prefix)}:[cm]:*:h"
    for key in scan_keys(client, pattern):
        batch.append(key)
        if len(batch) >= 2_000:
            flush()
    if batch:
        flush()
    return Existing(entities=entities, newest_ms=newest)


def clear_features(client: AnyRedis, prefix: str) -> int:
    """Remove every card and merchant key under ``prefix`` (not snapshots, not the
    learner's state); return how many."""
    return delete_prefix(client, f"{prefix}:c") + delete_prefix(client, f"{prefix}:m")
