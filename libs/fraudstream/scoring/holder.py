"""The models a scorer serves now: the champion, and maybe a challenger in shadow."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Protocol

import numpy as np
import structlog

from fraudstream.models.base import Features, ScoringModel
from fraudstream.models.cold_start import ColdStartModel
from fraudstream.models.snapshots import SnapshotError

if TYPE_CHECKING:
    from fraudstream.registry.watcher import Served

log = structlog.get_logger(__name__)


class Snapshots(Protocol):
    """Where the online model's snapshots come from (Redis: ``SnapshotStore``)."""

    def current_version(self) -> str | None:
        """The version to use, or None before the first snapshot."""
        ...

    def load(self, version: str) -> ScoringModel:
        """The model of ``version``; raise ``SnapshotError`` when it cannot be used."""
        ...


class ServedModels(Protocol):
    """What the registry serves (a ``RegistryWatcher``, which keeps it current)."""

    #: The registry's champion and challenger now.
    served: Served
    #: Registry polls or version loads that failed.
    failures: int


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
        snapshots: Snapshots | None,
        watcher: ServedModels | None = None,
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

    def score(self, model: ScoringModel, inputs: Features) -> np.ndarray | None:
        """``model``'s scores, or None when it fails: then it is dropped (:meth:`reject`)."""
        try:
            return model.score(inputs)
        except Exception as exc:  # a model that loads but cannot score must not stop scoring
            self.reject(model, exc)
            return None

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
