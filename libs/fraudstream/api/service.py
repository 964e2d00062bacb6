"""What the endpoints call: the scoring core over Redis, with the model kept fresh.

The model holder checks for a new snapshot at most once per
:data:`~fraudstream.models.snapshots.SNAPSHOT_CHECK_S` (one Redis GET), not on every
request.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import redis
import structlog

from fraudstream.config import Settings
from fraudstream.errors import ServiceUnavailableError
from fraudstream.features.definitions import FeatureConfig
from fraudstream.features.errors import FeatureStoreError
from fraudstream.features.redis_stores import redis_feature_store
from fraudstream.models import ScoringModel
from fraudstream.models.snapshots import SNAPSHOT_CHECK_S, SnapshotStore
from fraudstream.redis_client import build_any_redis
from fraudstream.schemas import Transaction
from fraudstream.scoring.core import ScoredBatch, ScoringCore
from fraudstream.scoring.decide import Decider
from fraudstream.scoring.holder import ModelHolder
from fraudstream.scoring.service import registry_watcher

log = structlog.get_logger(__name__)


class ModelUnavailableError(ServiceUnavailableError):
    """No model can score right now."""


class ScoringService:
    """Scores batches for the API: recording them or read-only."""

    def __init__(self, settings: Settings) -> None:
        features = settings.features
        self.client = build_any_redis(settings.redis)
        prefix = features.key_prefix
        #: Follows the registry's champion and challenger, as the streaming scorer does.
        self.watcher = registry_watcher(settings) if settings.scorer.follow_registry else None
        self._stop = threading.Event()
        self.models = ModelHolder(
            SnapshotStore(self.client, prefix), self.watcher, check_every_s=SNAPSHOT_CHECK_S
        )
        # The daily alert budget rations the scorer's alerts to analysts; an
        # authorisation decision is the threshold's alone (see docs/api.md).
        self.core = ScoringCore(
            redis_feature_store(self.client, FeatureConfig.from_settings(features), prefix=prefix),
            self.models,
            Decider(settings.scorer.threshold),
        )

    def model(self) -> ScoringModel:
        """The current model, checking for a new snapshot when one is due."""
        try:
            return self.models.refresh()
        except redis.RedisError as exc:  # keep the model we have; the store call says more
            log.warning("model snapshot check failed", error=str(exc))
            return self.models.model

    def score(self, txs: Sequence[Transaction], *, record: bool) -> ScoredBatch:
        """Features (one round trip), score and decision of a batch.

        Raises :class:`ServiceUnavailableError` when Redis or the model cannot answer.
        """
        model = self.model()
        try:
            features = self.core.features(txs, record=record)
        except FeatureStoreError as exc:
            raise ServiceUnavailableError(str(exc)) from exc
        except redis.RedisError as exc:
            raise ServiceUnavailableError(f"Redis failed: {exc}") from exc
        try:
            return self.core.score(txs, features, model)
        except Exception as exc:  # the model and its fallback both failed
            log.error("no model could score", version=model.version, error=repr(exc))
            raise ModelUnavailableError(f"no model can score: {exc!r}") from exc

    def ready(self) -> tuple[bool, dict[str, str]]:
        """Redis answers and a model is loaded; and what each check says."""
        checks: dict[str, str] = {}
        try:
            self.client.ping()
            checks["redis"] = "ok"
        except redis.RedisError as exc:
            checks["redis"] = str(exc) or type(exc).__name__
        model = self.models.model
        checks["model"] = "ok" if model is not None else "no model loaded"
        return all(v == "ok" for v in checks.values()), checks

    def start(self) -> None:
        """Start following the registry (MLflow is imported here, before serving)."""
        if self.watcher is not None:
            self.watcher.start(self._stop)

    def close(self) -> None:
        """Stop following the registry; release the Redis connections."""
        self._stop.set()
        self.client.close()
