"""The feature store on a Redis Cluster: the same script, one call per slot.

A cluster runs a script only on keys of one slot, so an entity's keys carry its id as
a hash tag (``<prefix>:c:{<card>}:t``, see :func:`entity_tag` and docs/features.md)
and a batch is cut in two: each transaction's card work, grouped by the slot of the
card's keys, and its merchant work, grouped by the merchant's slot. Each group is one
``features.lua`` call listing the keys it touches as KEYS (which is also how the
client routes it); the calls go out pipelined, one round trip per master, and the
client follows MOVED, ASK and failovers. A group keeps its transactions in batch
order, so every entity sees its transactions in the order one Redis would.

The answers are merged per transaction: card columns from the card call, merchant
columns from the merchant call, flags ORed, capped counts summed. A card's features
never depend on its merchant's nor the other way round, which is why the split
answers exactly what :class:`~fraudstream.features.redis_store.RedisFeatureStore`
answers (the contract suite runs against both).

The backfill marker (``<prefix>:features:backfill``) hashes to a slot of its own: the
per-entity calls leave it alone and a recorded batch notes its live write there with
one more call in the same pipeline.

>>> entity_tag("card-7")
'{card-7}'
>>> entity_tag("odd{id}%")
'{odd%7Bid%7D%25}'
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
import numpy as np
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ClusterDownError, NoScriptError, RedisClusterException, TryAgainError

from fraudstream.config import RedisSettings
from fraudstream.errors import ConfigError
from fraudstream.features.backfill_marker import marker_key
from fraudstream.features.definitions import CARD_WINDOWS, FeatureConfig
from fraudstream.features.errors import FeatureStoreError, FeatureStoreUnavailableError
from fraudstream.features.redis_store import RedisStoreBase, script_text
from fraudstream.features.store import (
    RAW_COLUMNS,
    FeatureAnswers,
    FeatureBatch,
    FeatureRequest,
    FraudReport,
    assemble,
)
from fraudstream.redis_client import build_redis_cluster

_msgpack: Final = msgspec.msgpack.Encoder()

#: Where the merchant columns start in a row of RAW_COLUMNS (flags, gap, card columns).
_MERCHANT_FROM: Final = 2 + 2 * len(CARD_WINDOWS)
_WIDTH: Final = len(RAW_COLUMNS)

#: Notes a live write in the backfill marker, when there is one (features.lua does it
#: itself on one Redis).
_TOUCH_MARKER: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  redis.call('HSET', KEYS[1], 'live_ms', now)
end
return 0
"""


def entity_tag(entity_id: str) -> str:
    """The id as the cluster store names an entity's keys with: in braces, so that the
    entity's keys share one slot. ``%``, ``{`` and ``}`` are percent-escaped: a brace
    in the id would end the hash tag early, and the escape keeps ids apart."""
    escaped = entity_id.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")
    return "{" + escaped + "}"


@dataclass(frozen=True)
class _Script:
    """A Lua script and its SHA-1, sent by hash (loaded on every master when missing)."""

    text: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.text.encode()).hexdigest())  # noqa: S324


@dataclass
class _Group:
    """One script call: the keys of the entities of one slot, and their transactions."""

    keys: list[str] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # positions in the batch
    requests: list[FeatureRequest] = field(default_factory=list)


_CARD_SUFFIXES: Final = (":t", ":h")
_MERCHANT_SUFFIXES: Final = (":t", ":h", ":f")


class RedisClusterFeatureStore(RedisStoreBase[RedisCluster]):
    """Features kept in a Redis Cluster, shared by every scorer replica."""

    def __init__(
        self,
        client: RedisCluster,
        config: FeatureConfig = FeatureConfig(),
        *,
        prefix: str = "fs",
    ) -> None:
        if "{" in prefix or "}" in prefix:
            raise ConfigError(
                f"the feature key prefix {prefix!r} has a brace: on a Redis Cluster the "
                "braces are the entities' hash tags"
            )
        super().__init__(client, config, prefix)
        self._features = _Script(script_text("features.lua"))
        self._report = _Script(script_text("report_frauds.lua"))
        self._touch = _Script(_TOUCH_MARKER)

    @classmethod
    def connect(
        cls, settings: RedisSettings, config: FeatureConfig = FeatureConfig(), *, prefix: str = "fs"
    ) -> RedisClusterFeatureStore:
        """A store over a new client for ``settings.cluster_nodes``."""
        return cls(build_redis_cluster(settings), config, prefix=prefix)

    def process(self, requests: Sequence[FeatureRequest]) -> FeatureBatch:
        """Record the batch and read its features (one pipelined round per master)."""
        return self._features_of(requests, record=True)

    def read(self, requests: Sequence[FeatureRequest]) -> FeatureBatch:
        """Each transaction's features as recording it alone would give; nothing written."""
        return self._features_of(requests, record=False)

    def process_parts(self, parts: Sequence[Sequence[FeatureRequest]]) -> FeatureAnswers:
        """:meth:`process` each part in turn (a part's calls already span the masters)."""
        for part in parts:
            yield self.process(part)

    def report_frauds(self, reports: Sequence[FraudReport]) -> None:
        """Add the frauds to their merchants' fraud sets: one call per merchant slot."""
        groups: dict[int, tuple[list[str], list[int | str]]] = {}
        for r in reports:
            keys = self._keys("m", r.merchant_id, _MERCHANT_SUFFIXES)
            slot = key_slot(keys[0].encode())
            if slot not in groups:
                groups[slot] = ([], [self._config.merchant_horizon_ms, self._config.key_ttl_ms])
            group_keys, args = groups[slot]
            group_keys += keys
            args += (r.event_ms, r.transaction_id)
        self._run([(self._report, keys, args) for keys, args in groups.values()])

    def ping(self) -> bool:
        """True when the cluster answers (for readiness checks)."""
        try:
            return bool(self._client.ping())
        except (redis.RedisError, RedisClusterException):
            return False

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()

    def _keys(self, kind: str, entity_id: str, suffixes: tuple[str, ...]) -> list[str]:
        base = f"{self._prefix}:{kind}:{entity_tag(entity_id)}"
        return [base + suffix for suffix in suffixes]

    def _groups(self, requests: Sequence[FeatureRequest], kind: str) -> list[_Group]:
        """The card (``kind`` "c") or merchant ("m") work of a batch, by slot, each
        group's transactions in batch order; a missing or empty id has no work."""
        suffixes = _CARD_SUFFIXES if kind == "c" else _MERCHANT_SUFFIXES
        by_slot: dict[int, _Group] = {}
        seen: dict[str, tuple[_Group, str]] = {}
        for row, r in enumerate(requests):
            entity = r.card_id if kind == "c" else r.merchant_id
            if not entity:
                continue
            found = seen.get(entity)
            if found is None:
                keys = self._keys(kind, entity, suffixes)
                group = by_slot.setdefault(key_slot(keys[0].encode()), _Group())
                group.keys += keys
                found = seen[entity] = (group, entity_tag(entity))
            group, tagged = found
            group.rows.append(row)
            if kind == "c":
                group.requests.append(FeatureRequest(r.transaction_id, r.event_ms, r.cents, tagged))
            else:
                group.requests.append(
                    FeatureRequest(r.transaction_id, r.event_ms, r.cents, None, tagged)
                )
        return list(by_slot.values())

    def _features_of(self, requests: Sequence[FeatureRequest], *, record: bool) -> FeatureBatch:
        n = len(requests)
        if not n:
            return assemble(requests, np.zeros((0, 0), dtype=np.int64))
        card_groups = self._groups(requests, "c")
        merchant_groups = self._groups(requests, "m")
        mode = "1" if record else "0"
        calls: list[tuple[_Script, list[str], list[Any]]] = [
            (
                self._features,
                group.keys,
                [*self._settings_args, mode, _msgpack.encode(group.requests), "0"],
            )
            for group in (*card_groups, *merchant_groups)
        ]
        if record:
            calls.append((self._touch, [marker_key(self._prefix)], []))
        answers = self._run(calls)

        raw = np.zeros((n, _WIDTH), dtype=np.float64)
        flags = np.zeros(n, dtype=np.int64)
        for index, group in enumerate((*card_groups, *merchant_groups)):
            values = np.frombuffer(answers[index], dtype="<f8")
            self.capped_events += int(values[-1])
            part = values[:-1].reshape(len(group.rows), _WIDTH)
            rows = np.asarray(group.rows, dtype=np.intp)
            if index < len(card_groups):
                raw[rows, 1:_MERCHANT_FROM] = part[:, 1:_MERCHANT_FROM]
            else:
                raw[rows, _MERCHANT_FROM:] = part[:, _MERCHANT_FROM:]
            flags[rows] |= part[:, 0].astype(np.int64)
        raw[:, 0] = flags
        return assemble(requests, raw)

    def _run(self, calls: Sequence[tuple[_Script, list[str], list[Any]]]) -> list[Any]:
        """Each call as ``EVALSHA``, pipelined: one pipeline per master, each call sent to
        the master the client's slot map names; a call answered MOVED or ASK (a slot
        that moved) is sent again by the client, on its own, where the answer points.
        Calls a master answered ``NOSCRIPT`` (a new or
        restarted master, a flushed cache) did not run: the script is loaded on every
        master and those calls are sent again."""
        if not calls:
            return []
        with cluster_errors("feature store script failed"):
            answers = self._pipelined(calls)
            missing = [i for i, answer in enumerate(answers) if isinstance(answer, NoScriptError)]
            if missing:
                for script in {calls[i][0] for i in missing}:
                    self._client.script_load(script.text)
                for i, answer in zip(
                    missing, self._pipelined([calls[i] for i in missing]), strict=True
                ):
                    answers[i] = answer
            for answer in answers:
                if isinstance(answer, Exception):
                    raise answer
        return answers

    def _pipelined(self, calls: Sequence[tuple[_Script, list[str], list[Any]]]) -> list[Any]:
        with self._client.pipeline() as pipe:  # type: ignore[no-untyped-call]
            for script, keys, args in calls:
                # the node named here: left to find it, the client asks the server for
                # each EVALSHA's keys (COMMAND GETKEYS), a round trip per call
                node = self._client.get_node_from_key(keys[0])  # type: ignore[no-untyped-call]
                pipe.execute_command(
                    "EVALSHA", script.sha, len(keys), *keys, *args, target_nodes=node
                )
            answers: list[Any] = pipe.execute(raise_on_error=False)
        return answers


@contextmanager
def cluster_errors(failed: str) -> Iterator[None]:
    """Cluster errors as the store's: a cluster that cannot serve a slot now (down,
    resharding, unreachable) is unavailable (retry later); anything else is ``failed``
    with the cluster's message."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError, ClusterDownError, TryAgainError) as exc:
        raise FeatureStoreUnavailableError(f"the Redis Cluster is unavailable: {exc}") from exc
    except RedisClusterException as exc:
        raise FeatureStoreUnavailableError(f"the Redis Cluster is unavailable: {exc}") from exc
    except redis.RedisError as exc:
        raise FeatureStoreError(f"{failed}: {exc}") from exc
