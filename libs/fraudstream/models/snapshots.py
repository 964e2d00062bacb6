"""Model snapshots in Redis: the learner publishes, scorers pick them up.

``{prefix}:model:current`` holds the current version; ``{prefix}:model:v:<version>``
the pickled :class:`~fraudstream.models.river.RiverModel`. A version is stored
before ``current`` names it, so a reader never follows ``current`` to a missing
snapshot; each write is one key, so the store works on one Redis and on a Redis
Cluster alike (the keys may live on different nodes). Redis is trusted: only
the learner writes these keys (pickle runs code when loaded, so do not point a scorer
at a Redis others can write to).
"""

from __future__ import annotations

import pickle
from typing import Final

from fraudstream.errors import FraudstreamError
from fraudstream.models.river import RiverModel
from fraudstream.redis_client import AnyRedis

#: Old versions kept for rollback and for scorers still loading them.
KEEP_VERSIONS: Final = 5

#: Seconds between two reads of the current snapshot version by a service (a Redis
#: GET each): a new snapshot is in use within a second, at a GET a second.
SNAPSHOT_CHECK_S: Final = 1.0


class SnapshotError(FraudstreamError):
    """A snapshot could not be published or loaded."""


class SnapshotStore:
    """Versioned model snapshots under a key prefix."""

    def __init__(self, client: AnyRedis, prefix: str = "fs") -> None:
        self._client = client
        self._current = f"{prefix}:model:current"
        self._versions = f"{prefix}:model:versions"
        self._prefix = f"{prefix}:model:v:"

    def publish(self, model: RiverModel) -> None:
        """Store ``model`` under its version and make it current."""
        data = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        pipe = self._client.pipeline(transaction=False)
        pipe.set(self._prefix + model.version, data)
        pipe.rpush(self._versions, model.version)
        pipe.execute()
        self._client.set(self._current, model.version)  # only once the version is stored
        for old in self._client.lrange(self._versions, 0, -KEEP_VERSIONS - 1):
            self._client.delete(self._prefix + _text(old))
        self._client.ltrim(self._versions, -KEEP_VERSIONS, -1)

    def current_version(self) -> str | None:
        """The version scorers should use, or None before the first snapshot."""
        value = self._client.get(self._current)
        return None if value is None else _text(value)

    def load(self, version: str) -> RiverModel:
        """Unpickle a version; raise :class:`SnapshotError` when it cannot be used."""
        data = self._client.get(self._prefix + version)
        if data is None:
            raise SnapshotError(f"model snapshot {version} is not in Redis")
        try:
            model = pickle.loads(data if isinstance(data, bytes) else data.encode())  # noqa: S301
        except Exception as exc:  # a corrupt pickle raises anything
            raise SnapshotError(f"model snapshot {version} is unreadable: {exc!r}") from exc
        if not isinstance(model, RiverModel):
            raise SnapshotError(f"model snapshot {version} holds a {type(model).__name__}")
        return model


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
