"""Follow the registry's aliases from a background thread, so scoring never waits.

A :class:`RegistryWatcher` polls the ``champion`` and ``challenger`` aliases every
``MLFLOW_ALIAS_POLL_INTERVAL``, loads a version when an alias moves, and exposes the
loaded models as plain attributes the scorer reads once per batch. MLflow down or a
version that fails to load: logged and counted, and the last good models stay.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from fraudstream.errors import FraudstreamError
from fraudstream.models import ScoringModel
from fraudstream.registry.client import Candidate, Registry

log = structlog.get_logger(__name__)

#: Builds a scoring model from a registered version; ``None`` means "serve the online
#: River model" (a River champion is the learner's live model, not a frozen copy).
Loader = Callable[[Candidate], ScoringModel | None]


@dataclass(frozen=True)
class Served:
    """What the aliases resolve to at one moment (swapped as a whole, never torn)."""

    champion: ScoringModel | None = None
    champion_version: str | None = None
    challenger: ScoringModel | None = None
    challenger_version: str | None = None


class RegistryWatcher:
    """Champion and challenger models loaded from the registry, kept current."""

    def __init__(
        self,
        registry: Registry,
        loader: Loader,
        *,
        champion_alias: str = "champion",
        challenger_alias: str = "challenger",
        interval_s: float = 30.0,
    ) -> None:
        self._registry = registry
        self._loader = loader
        self._champion_alias = champion_alias
        self._challenger_alias = challenger_alias
        self._interval_s = interval_s
        self.served = Served()
        #: Polls or loads that failed since start.
        self.failures = 0
        self._failed: set[str] = set()

    def poll_once(self) -> Served:
        """Resolve both aliases and load what moved; return what is served now."""
        served = self.served
        try:
            champion = self._registry.by_alias(self._champion_alias)
            challenger = self._registry.by_alias(self._challenger_alias)
        except FraudstreamError as exc:
            self.failures += 1
            log.warning("registry not reachable, keeping the models", error=str(exc))
            return served
        champ_model, champ_version = self._resolve(
            champion, served.champion, served.champion_version
        )
        chall_model, chall_version = self._resolve(
            challenger, served.challenger, served.challenger_version
        )
        if chall_version is not None and chall_version == champ_version:
            chall_model, chall_version = None, None  # a promoted challenger is not its own shadow
        self.served = Served(champ_model, champ_version, chall_model, chall_version)
        return self.served

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set (the body of the watcher thread)."""
        while not stop.is_set():
            self.poll_once()
            stop.wait(self._interval_s)

    def start(self, stop: threading.Event) -> threading.Thread:
        """Poll in a daemon thread, the first time at once. Scoring never waits for it:
        until the first poll answers (MLflow may be slow or down), the online model
        serves. MLflow itself is imported here, before the thread starts."""
        self._registry.prepare()
        thread = threading.Thread(
            target=self.run, args=(stop,), name="registry-watcher", daemon=True
        )
        thread.start()
        return thread

    def _resolve(
        self, found: Candidate | None, model: ScoringModel | None, version: str | None
    ) -> tuple[ScoringModel | None, str | None]:
        if found is None:
            return None, None
        if found.version == version or found.version in self._failed:
            return model, version
        try:
            loaded = self._loader(found)
        except Exception as exc:  # any load failure keeps the last good model
            self.failures += 1
            self._failed.add(found.version)
            log.error(
                "registered model not loaded, keeping the last good one",
                version=found.version,
                flavor=found.flavor,
                error=repr(exc),
            )
            return model, version
        log.info("registered model loaded", version=found.version, flavor=found.flavor)
        return loaded, found.version
