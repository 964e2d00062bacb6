"""The Redis feature store: one Lua script call per batch.

``features.lua`` records the batch (or, read-only, records nothing) and returns
integer window aggregates for every transaction (see docs/features.md for the layout
and semantics); the arithmetic that turns them into features is shared with the
in-memory store
(:func:`~fraudstream.features.store.assemble`). Redis failures surface as
:class:`~fraudstream.features.errors.FeatureStoreUnavailableError`, never as an empty
feature dict.

:meth:`RedisFeatureStore.process_parts` sends the calls for several parts of a batch
at once on one connection and hands back each part's answer as it is read: Redis works
through the later parts while the caller uses the earlier answers (a pipeline, still
one script call per part, run in order).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from importlib import resources
from typing import Any, Final, Generic, TypeVar

import msgspec
import numpy as np
import redis
from redis.cluster import RedisCluster
from redis.commands.core import Script

from fraudstream.config import RedisSettings
from fraudstream.features.definitions import (
    CARD_WINDOWS,
    MERCHANT_WINDOWS,
    RECENT_FRAUD_WINDOW,
    FeatureConfig,
)
from fraudstream.features.errors import redis_errors
from fraudstream.features.store import (
    FeatureAnswers,
    FeatureBatch,
    FeatureRequest,
    FraudReport,
    assemble,
)
from fraudstream.redis_client import AnyRedis, build_redis

_SCRIPTS: Final = resources.files("fraudstream.features")
_msgpack: Final = msgspec.msgpack.Encoder()


def script_text(name: str) -> str:
    """The text of one of the store's Lua scripts (``features.lua``, ``report_frauds.lua``)."""
    return _SCRIPTS.joinpath(name).read_text()


def settings_args(config: FeatureConfig, prefix: str) -> list[int | str]:
    """The first arguments of every ``features.lua`` call: the settings and the prefix
    (the layout is at the top of the script)."""
    return [
        config.card_horizon_ms,
        config.merchant_horizon_ms,
        config.lateness_ms,
        config.max_events_per_entity,
        config.key_ttl_ms,
        config.label_delay_ms,
        *(ms for _, ms in CARD_WINDOWS),
        *(ms for _, ms in MERCHANT_WINDOWS),
        RECENT_FRAUD_WINDOW[1],
        prefix,
    ]


ClientT = TypeVar("ClientT", redis.Redis, RedisCluster)


class RedisStoreBase(Generic[ClientT]):
    """What both Redis feature stores hold: the client, the key prefix, the feature
    settings and their script arguments, and a count of capped transactions."""

    def __init__(self, client: ClientT, config: FeatureConfig, prefix: str) -> None:
        self._client: ClientT = client
        self._config = config
        self._prefix = prefix
        self._settings_args = settings_args(config, prefix)
        #: Transactions dropped by the per-entity cap since this store was created.
        self.capped_events = 0

    @property
    def client(self) -> ClientT:
        """The client it writes with."""
        return self._client

    @property
    def prefix(self) -> str:
        """The prefix of its keys."""
        return self._prefix

    @property
    def config(self) -> FeatureConfig:
        """The settings that shape its features."""
        return self._config


class RedisFeatureStore(RedisStoreBase[redis.Redis]):
    """Features kept in Redis, shared by every scorer replica."""

    def __init__(
        self,
        client: redis.Redis,
        config: FeatureConfig = FeatureConfig(),
        *,
        prefix: str = "fs",
    ) -> None:
        super().__init__(client, config, prefix)
        self._features_lua = script_text("features.lua")
        self._process: Script = client.register_script(self._features_lua)
        self._report: Script = client.register_script(script_text("report_frauds.lua"))

    @classmethod
    def connect(
        cls, settings: RedisSettings, config: FeatureConfig = FeatureConfig(), *, prefix: str = "fs"
    ) -> RedisFeatureStore:
        """A store over a new client for ``settings.url``."""
        return cls(build_redis(settings), config, prefix=prefix)

    def _merchant_keys(self, merchant: str) -> tuple[str, str, str]:
        base = f"{self._prefix}:m:{merchant}"
        return f"{base}:t", f"{base}:h", f"{base}:f"

    def process(self, requests: Sequence[FeatureRequest]) -> FeatureBatch:
        """Record the batch and read its features in one round trip."""
        return self._features(requests, record=True)

    def read(self, requests: Sequence[FeatureRequest]) -> FeatureBatch:
        """Each transaction's features as recording it alone would give; nothing written."""
        return self._features(requests, record=False)

    def process_parts(self, parts: Sequence[Sequence[FeatureRequest]]) -> FeatureAnswers:
        """Record the parts in order, yielding each part's features once Redis answered.

        Every part's script call is sent before the first answer is read, on a
        connection of its own: Redis runs them one after another without waiting for
        this process, which meanwhile works on the answers already read. The calls are
        ``EVAL`` with the script's text rather than ``EVALSHA``: Redis hashes it and
        runs its cached compiled script, and a Redis that lost its script cache (a
        restart, ``SCRIPT FLUSH``) cannot fail a pipeline half-way with ``NOSCRIPT``.

        A failure, or the caller stopping early, drops the connection with whatever
        answers were still unread. The parts Redis ran stay recorded (a retried batch
        finds them as duplicates, as after a failed :meth:`process`); a part Redis had
        not read yet when the connection dropped may not run at all.
        """
        pool = self._client.connection_pool
        connection = None
        unread = 0
        try:
            with _store_errors():
                connection = pool.get_connection()
                for part in parts:
                    args = self._args(part, record=True)
                    connection.send_command("EVAL", self._features_lua, 0, *args)  # type: ignore[no-untyped-call]
                    unread += 1
                for part in parts:
                    raw = connection.read_response()
                    unread -= 1
                    yield self._assembled(part, raw)
        finally:
            if connection is not None:
                if unread:  # answers left on the connection: it cannot be reused
                    connection.disconnect()  # type: ignore[no-untyped-call]
                pool.release(connection)

    def _features(self, requests: Sequence[FeatureRequest], *, record: bool) -> FeatureBatch:
        if not requests:
            return assemble(requests, np.zeros((0, 0), dtype=np.int64))
        raw = self._call(self._process, [], self._args(requests, record=record))
        return self._assembled(requests, raw)

    def _args(self, requests: Sequence[FeatureRequest], *, record: bool) -> list[int | str | bytes]:
        """The script's arguments for a batch (the layout is at the top of features.lua):
        the settings, the mode, then the whole batch as one MessagePack argument."""
        return [*self._settings_args, "1" if record else "0", _msgpack.encode(requests)]

    def _assembled(self, requests: Sequence[FeatureRequest], raw: bytes) -> FeatureBatch:
        """Features from the script's answer (packed doubles); its last value counts
        the transactions the cap dropped."""
        values = np.frombuffer(raw, dtype="<f8")
        self.capped_events += int(values[-1])
        return assemble(requests, values[:-1])

    def report_frauds(self, reports: Sequence[FraudReport]) -> None:
        """Add the frauds to their merchants' fraud sets (one round trip)."""
        if not reports:
            return
        keys: list[str] = []
        args: list[int | str] = [self._config.merchant_horizon_ms, self._config.key_ttl_ms]
        for r in reports:
            keys += self._merchant_keys(r.merchant_id)
            args += (r.event_ms, r.transaction_id)
        self._call(self._report, keys, args)

    def _call(self, script: Script, keys: list[str], args: Sequence[int | str | bytes]) -> Any:
        with _store_errors():
            return script(keys=keys, args=args)

    def ping(self) -> bool:
        """True when Redis answers (for readiness checks)."""
        try:
            return bool(self._client.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()


def _store_errors() -> AbstractContextManager[None]:
    """Redis errors as the store's: unavailable (retry later) or a failed script."""
    return redis_errors("feature store script failed")


def delete_prefix(client: AnyRedis, prefix: str) -> int:
    """Remove every key under ``prefix:`` (a store's whole state); return how many.

    On a Redis Cluster every master is scanned; the cluster client splits the removal
    by slot itself.
    """
    removed = 0
    batch: list[bytes] = []
    for key in scan_keys(client, f"{prefix}:*"):
        batch.append(key)
        if len(batch) >= 5_000:
            removed += int(client.unlink(*batch))
            batch.clear()
    if batch:
        removed += int(client.unlink(*batch))
    return removed


def scan_keys(client: AnyRedis, pattern: str) -> Iterator[bytes]:
    """The keys matching ``pattern``, on one Redis or on every master of a cluster."""
    if isinstance(client, RedisCluster):
        for node in client.get_primaries():  # type: ignore[no-untyped-call]
            yield from client.scan_iter(match=pattern, count=10_000, target_nodes=node)
    else:
        yield from client.scan_iter(match=pattern, count=10_000)
