"""Model snapshots in Redis: the learner publishes, scorers pick them up.

``{prefix}:model:current`` holds the current version; ``{prefix}:model:v:<version>``
the pickled :class:`~fraudstream.scoring.model.RiverModel`. Redis is trusted: only
the learner writes these keys (pickle runs code when loaded, so do not point a scorer
at a Redis others can write to).
"""

from __future__ import annotations

import pickle
from typing import Final

import redis
import structlog

from fraudstream.errors import FraudstreamError
from fraudstream.scoring.model import ColdStartModel, RiverModel, ScoringModel

log = structlog.get_logger(__name__)

#: Old versions kept for rollback and for scorers still loading them.
KEEP_VERSIONS: Final = 5


class SnapshotError(FraudstreamError):
    """A snapshot could not be published or loaded."""


class SnapshotStore:
    """Versioned model snapshots under a key prefix."""

    def __init__(self, client: redis.Redis, prefix: str = "fs") -> None:
        self._client = client
        self._current = f"{prefix}:model:current"
        self._versions = f"{prefix}:model:versions"
        self._prefix = f"{prefix}:model:v:"

    def publish(self, model: RiverModel) -> None:
        """Store ``model`` under its version and make it current."""
        data = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        pipe = self._client.pipeline(transaction=True)
        pipe.set(self._prefix + model.version, data)
        pipe.rpush(self._versions, model.version)
        pipe.set(self._current, model.version)
        pipe.execute()
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


class ModelHolder:
    """The model a scorer uses now; swaps to a new snapshot, keeps the last good one."""

    def __init__(self, snapshots: SnapshotStore | None) -> None:
        self._snapshots = snapshots
        self.model: ScoringModel = ColdStartModel()
        self._previous: ScoringModel = self.model
        self._failed: str | None = None
        #: Snapshots that failed to load since start.
        self.load_failures = 0

    def reject(self, model: ScoringModel, error: Exception) -> ScoringModel:
        """Drop a model that failed while scoring; go back to the last good one."""
        self._failed = model.version
        self.load_failures += 1
        self.model = self._previous
        log.error(
            "model failed while scoring, falling back",
            version=model.version,
            kept=self.model.version,
            error=repr(error),
        )
        return self.model

    def refresh(self) -> ScoringModel:
        """Check the current version (one Redis GET) and swap if it is new and loads."""
        if self._snapshots is None:
            return self.model
        version = self._snapshots.current_version()
        if version is None or version in (self.model.version, self._failed):
            return self.model
        try:
            loaded = self._snapshots.load(version)
        except SnapshotError as exc:
            self._failed = version
            self.load_failures += 1
            log.error(
                "model snapshot not loaded, keeping the last good model",
                version=version,
                kept=self.model.version,
                error=str(exc),
            )
        else:
            self._previous, self.model = self.model, loaded
            log.info("model swapped", version=version)
        return self.model
