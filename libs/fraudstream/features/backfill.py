"""Backfill: fill a feature store from history, so that at a moment it holds exactly
what the live stream would have left there.

A new deployment starts on an empty store, so for weeks its 7- and 30-day windows
would be wrong. :func:`backfill` computes, from a
:class:`~fraudstream.features.history.History` (transactions before the moment, fraud
reports known by it), every card's and merchant's final state in bulk
(:mod:`~fraudstream.features.backfill_compute`) and writes it: into Redis in chunks
(:mod:`~fraudstream.features.backfill_writer`), or into an in-memory store at once.
The contract tests (``tests/contract/test_backfill.py``) check that streaming on
from a backfilled store gives the same features as streaming from the start.

For Redis, one instance or a Redis Cluster, the run is **resumable** and
**idempotent**: a marker hash records the history's fingerprint and how many entities
are written (on one Redis atomically with each chunk; on a cluster once every write
of a chunk is applied, each write replacing its entities' keys whole,
:mod:`~fraudstream.features.backfill_cluster_writer`), so a rerun after a kill resumes
there and a rerun after success writes nothing. It
**refuses** to write over state it did not write: live writes after a backfill (the
live script notes them in the marker), another backfill's state, any entity with an
event time at or after the moment, or any feature state a backfill did not write;
``force`` replaces the feature state (cards and merchants only: not model snapshots
nor the learner's state).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from fraudstream.features.backfill_cluster_writer import write_cluster_chunks
from fraudstream.features.backfill_compute import window_state
from fraudstream.features.backfill_marker import (
    Marker,
    backfill_errors,
    clear_features,
    existing_state,
    iso,
)
from fraudstream.features.backfill_state import WindowState
from fraudstream.features.backfill_writer import Plan, plan_chunks, write_chunks
from fraudstream.features.errors import BackfillRefusedError
from fraudstream.features.history import History
from fraudstream.features.memory_store import MemoryFeatureStore
from fraudstream.features.redis_cluster_store import RedisClusterFeatureStore, cluster_errors
from fraudstream.features.redis_store import RedisFeatureStore
from fraudstream.features.redis_stores import AnyRedisFeatureStore
from fraudstream.features.store import FeatureStore

__all__ = ["BackfillResult", "Progress", "backfill", "backfill_memory", "backfill_redis"]

#: Called with (entries written so far, entries in all) as a backfill writes.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BackfillResult:
    """What a backfill did."""

    transactions: int  # history rows read
    cards: int  # cards written
    merchants: int  # merchants written
    entries: int  # kept transactions and frauds written, in all (this run and before)
    frauds: int  # frauds held by the merchants written
    expired: int  # entities left out: their keys would have expired by the moment
    replayed: int  # entities computed delivery by delivery, not in bulk
    resumed_at: int  # entities an interrupted run had written already
    already_done: bool  # the same backfill was complete: nothing written
    seconds: float

    @property
    def rate(self) -> float:
        """History rows per second, end to end."""
        return self.transactions / self.seconds if self.seconds > 0 else 0.0


def backfill(
    store: FeatureStore,
    history: History,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> BackfillResult:
    """Fill ``store`` (Redis, a Redis Cluster or in-memory) from ``history``; see the
    module's docstring."""
    if isinstance(store, RedisFeatureStore | RedisClusterFeatureStore):
        return backfill_redis(store, history, force=force, progress=progress)
    if isinstance(store, MemoryFeatureStore):
        return backfill_memory(store, history, force=force)
    raise TypeError(f"cannot backfill a {type(store).__name__}")


def backfill_memory(
    store: MemoryFeatureStore, history: History, *, force: bool = False
) -> BackfillResult:
    """Load the state of ``history`` into an in-memory store (at once: no expiry, no
    marker). Refused when the store holds state already, unless ``force``."""
    started = time.perf_counter()
    if store.holds_state and not force:
        raise BackfillRefusedError("the in-memory feature store already holds state")
    state = window_state(history, store.config)
    store.load(state.feature_state())
    entries = int(state.cards.offsets[-1] + state.merchants.offsets[-1])
    frauds = len(state.reference_frauds.ids)
    return BackfillResult(
        transactions=state.transactions,
        cards=len(state.cards),
        merchants=len(state.merchants),
        entries=entries + frauds,
        frauds=frauds,
        expired=0,
        replayed=state.replayed,
        resumed_at=0,
        already_done=False,
        seconds=time.perf_counter() - started,
    )


@dataclass(frozen=True)
class _Decision:
    already_done: bool = False
    fresh: bool = True  # start a new marker (else carry on with the one there)
    resume_at: int = 0  # entities written already
    clear: bool = False  # remove the feature state first


def _decide(store: AnyRedisFeatureStore, fingerprint: str, until_ms: int, force: bool) -> _Decision:
    """Start, resume, skip or refuse, from what the store holds."""
    client, prefix = store.client, store.prefix
    where = f"the feature store under prefix {prefix!r}"
    marker = Marker.read(client, prefix)
    if marker is not None and marker.live_ms is not None:
        if not force:
            raise BackfillRefusedError(
                f"{where} took live writes (the last at {iso(marker.live_ms)}) after a "
                f"backfill ({marker.describe()}); --force replaces its state"
            )
        return _Decision(clear=True)
    if marker is not None and marker.fingerprint == fingerprint:
        if marker.status == "done":
            return _Decision(already_done=True)
        if marker.status == "clearing":
            return _Decision(fresh=False, clear=True)
        return _Decision(fresh=False, resume_at=marker.done)
    if force:
        return _Decision(clear=True)
    if marker is not None:
        raise BackfillRefusedError(
            f"{where} holds another backfill ({marker.describe()}); --force replaces it"
        )
    existing = existing_state(client, prefix)
    if existing.newest_ms is not None and existing.newest_ms >= until_ms:
        raise BackfillRefusedError(
            f"{where} holds newer live state: event time {iso(existing.newest_ms)} is not "
            f"before --until {iso(until_ms)}; --force replaces it"
        )
    if existing.entities:
        newest = iso(existing.newest_ms) if existing.newest_ms is not None else "unknown"
        raise BackfillRefusedError(
            f"{where} already holds {existing.entities:,} cards and merchants (newest event "
            f"time {newest}) that no backfill wrote; --force replaces them"
        )
    return _Decision()


def _errors(store: AnyRedisFeatureStore) -> AbstractContextManager[None]:
    """The store's errors as the feature store's: unavailable (retry later) or failed."""
    if isinstance(store, RedisClusterFeatureStore):
        return cluster_errors("backfill failed in the Redis Cluster")
    return backfill_errors()


def _write(
    store: AnyRedisFeatureStore,
    state: WindowState,
    plan: Plan,
    *,
    resume_at: int,
    on_written: Callable[[int], None],
) -> None:
    """Write the chunks past ``resume_at`` with the writer of the store's kind."""
    if isinstance(store, RedisClusterFeatureStore):
        write_cluster_chunks(
            store.client, store.prefix, state, plan, resume_at=resume_at, on_written=on_written
        )
    else:
        write_chunks(
            store.client, store.prefix, state, plan, resume_at=resume_at, on_written=on_written
        )


def backfill_redis(
    store: AnyRedisFeatureStore,
    history: History,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> BackfillResult:
    """Write the state of ``history`` into the Redis (or Redis Cluster) store,
    resumably; see the module's docstring for when it refuses, resumes or does
    nothing."""
    started = time.perf_counter()
    config, client, prefix = store.config, store.client, store.prefix
    fingerprint = history.fingerprint(config)
    with _errors(store):
        decision = _decide(store, fingerprint, history.until_ms, force)
    if decision.already_done:
        return BackfillResult(
            transactions=len(history),
            cards=0,
            merchants=0,
            entries=0,
            frauds=0,
            expired=0,
            replayed=0,
            resumed_at=0,
            already_done=True,
            seconds=time.perf_counter() - started,
        )
    state = window_state(history, config)
    plan = plan_chunks(state, config.key_ttl_ms)
    written = sum(c.entries for c in plan.chunks if c.done_after <= decision.resume_at)

    def on_written(entries: int) -> None:
        nonlocal written
        written += entries
        if progress is not None:
            progress(written, plan.entries)

    if progress is not None:
        progress(written, plan.entries)
    with _errors(store):
        if decision.fresh:
            Marker.begin(
                client,
                prefix,
                fingerprint=fingerprint,
                status="clearing" if decision.clear else "writing",
                total=plan.entities,
                until_ms=history.until_ms,
                source=history.source,
            )
        if decision.clear:
            clear_features(client, prefix)
            Marker.set_status(client, prefix, "writing")
        _write(store, state, plan, resume_at=decision.resume_at, on_written=on_written)
        marker = Marker.read(client, prefix)
        if marker is not None and marker.live_ms is not None:
            raise BackfillRefusedError(
                f"live writes reached the feature store under prefix {prefix!r} during the "
                f"backfill (the last at {iso(marker.live_ms)}): its state mixes both; stop "
                "the scorers and rerun with --force"
            )
        Marker.set_status(client, prefix, "done")
    return BackfillResult(
        transactions=state.transactions,
        cards=plan.cards,
        merchants=plan.merchants,
        entries=plan.entries,
        frauds=plan.frauds,
        expired=plan.expired,
        replayed=state.replayed,
        resumed_at=decision.resume_at,
        already_done=False,
        seconds=time.perf_counter() - started,
    )
