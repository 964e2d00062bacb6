"""Model snapshots in Redis: the learner publishes, scorers pick them up.

``{prefix}:model:current`` holds the current version; ``{prefix}:model:v:<version>``
the pickled :class:`~fraudstream.scoring.model.RiverModel`. Redis is trusted: only
the learner writes these keys (pickle runs code when loaded, so do not point a scorer
at a Redis others can write to).
"""

from __future__ import annotations

import pickle
import threading
import time
from typing import TYPE_CHECKING, Final

import redis
import structlog

from fraudstream.errors import FraudstreamError
from fraudstream.scoring.model import ColdStartModel, RiverModel, ScoringModel

if TYPE_CHECKING:
    from fraudstream.registry.watcher import RegistryWatcher

log = structlog.get_logger(__name__)

#: Old versions kept for rollback and for scorers still loading them.
KEEP_VERSIONS: Final = 5

#: Seconds between two reads of the current snapshot version by a service (a Redis
#: GET each): a new snapshot is in use within a second, at a GET a second.
SNAPSHOT_CHECK_S: Final = 1.0


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
    """The models a scorer uses now: a champion, and maybe a challenger in shadow.

    The champion is the registry's ``champion`` when that is a frozen model (XGBoost),
    else the online model: the learner's newest snapshot, or the cold-start model before
    the first one. The challenger comes from the registry's ``challenger`` alias. A
    snapshot or version that fails to load or to score is dropped and the last good
    model kept.
    """

    def __init__(
        self,
        snapshots: SnapshotStore | None,
        watcher: RegistryWatcher | None = None,
        *,
        check_every_s: float = 0.0,
    ) -> None:
        self._snapshots = snapshots
        self._watcher = watcher
        #: :meth:`refresh` reads the snapshot version at most this often (0: every call).
        self._check_every_s = check_every_s
        self._next_check = 0.0
        self._check_lock = threading.Lock()
        self.online: ScoringModel = ColdStartModel()
        self._previous: ScoringModel = self.online
        self.model: ScoringModel = self.online
        self._failed: str | None = None
        self._rejected: set[str] = set()
        #: Snapshots or registered versions that failed to load or score since start.
        self.load_failures = 0

    @property
    def registry_failures(self) -> int:
        """Registry polls or version loads that failed (0 without a registry)."""
        return 0 if self._watcher is None else self._watcher.failures

    @property
    def shadow(self) -> ScoringModel | None:
        """The challenger scored in shadow, or None."""
        if self._watcher is None:
            return None
        challenger = self._watcher.served.challenger
        if challenger is None or challenger.version in self._rejected:
            return None
        return challenger

    def reject(self, model: ScoringModel, error: Exception) -> ScoringModel:
        """Drop a model that failed while scoring; go back to the last good one."""
        self.load_failures += 1
        if model is self.online:
            self._failed = model.version
            self.online = self._previous
        else:  # a registered champion or challenger: never used again by this process
            self._rejected.add(model.version)
        self.model = self._champion()
        log.error(
            "model failed while scoring, falling back",
            version=model.version,
            kept=self.model.version,
            error=repr(error),
        )
        return self.model

    def refresh(self) -> ScoringModel:
        """The champion for this batch: the registry's, or the newest online snapshot.

        Costs one Redis GET for the online version when the last one is at least
        ``check_every_s`` old, else nothing; the registry is followed by the watcher's
        own thread, so this never waits for MLflow.
        """
        now = time.monotonic()
        # one check at a time (the API calls from several threads); the others go on
        # with the model they have
        if now >= self._next_check and self._check_lock.acquire(blocking=False):
            try:
                self._refresh_online()
                self._next_check = now + self._check_every_s
            finally:
                self._check_lock.release()
        self.model = self._champion()
        return self.model

    def _champion(self) -> ScoringModel:
        if self._watcher is not None:
            champion = self._watcher.served.champion
            if champion is not None and champion.version not in self._rejected:
                return champion
        return self.online

    def _refresh_online(self) -> None:
        if self._snapshots is None:
            return
        version = self._snapshots.current_version()
        if version is None or version in (self.online.version, self._failed):
            return
        try:
            loaded = self._snapshots.load(version)
        except SnapshotError as exc:
            self._failed = version
            self.load_failures += 1
            log.error(
                "model snapshot not loaded, keeping the last good model",
                version=version,
                kept=self.online.version,
                error=str(exc),
            )
        else:
            self._previous, self.online = self.online, loaded
            log.info("model swapped", version=version)
