"""The scorer's step: decode, features, score, decide, and the records to produce.

It runs inside :class:`~fraudstream.streaming.loop.StreamLoop`, which commits what it
returns in one Kafka transaction. The feature store calls of a batch's sub-batches go
out together (:meth:`~fraudstream.features.store.FeatureStore.process_parts`): Redis
works on the next sub-batches while this thread scores the previous one. The model
holder checks for a new snapshot at most once a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, TypeVar

import numpy as np
import redis
import structlog
from kafka.consumer.fetcher import ConsumerRecord

from fraudstream.errors import SchemaError
from fraudstream.features.errors import FeatureStoreUnavailableError
from fraudstream.features.store import FeatureAnswers, FeatureBatch, FeatureStore
from fraudstream.models import ScoringModel
from fraudstream.monitoring.drift import DriftMonitor
from fraudstream.observability.health import Health
from fraudstream.schemas import (
    Alert,
    DeadLetter,
    ScoredTransaction,
    Transaction,
    alert_id_for,
    b64,
    decode_transaction,
    encoder,
)
from fraudstream.scoring.core import ScoringCore, check_feature_names
from fraudstream.scoring.decide import Decider
from fraudstream.scoring.holder import ModelHolder
from fraudstream.scoring.markers import AlertMarkerStore
from fraudstream.scoring.metrics import STEP_PHASES, ScorerMetrics
from fraudstream.streaming.loop import Emit, OutRecord, StepResult

log = structlog.get_logger(__name__)

#: Transactions per feature store call: small enough that Redis and Python overlap.
SUB_BATCH: Final = 125
#: The first call of a batch is smaller: the scorer waits for it with nothing to do.
FIRST_SUB_BATCH: Final = 32

#: Bytes of a bad record kept in its dead letter (base64 adds a third; Kafka's default
#: record limit is 1 MB).
MAX_DLQ_VALUE_BYTES: Final = 512 * 1024

T = TypeVar("T")


@dataclass
class _Counts:
    """What a batch adds to the metrics, applied only once it committed."""

    scored: int = 0
    alerts: int = 0
    suppressed: int = 0
    duplicates: int = 0
    late: int = 0
    shadow_scored: int = 0
    dead_letters: list[str] = field(default_factory=list)
    scores: list[np.ndarray] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    #: Seconds in each of the step's phases (STEP_PHASES), summed over the batch.
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEP_PHASES, 0.0))

    def time(self, phase: str, since: float) -> float:
        """Add the time from ``since`` (``perf_counter``) to now to ``phase``; return now."""
        now = time.perf_counter()
        self.seconds[phase] += now - since
        return now


@dataclass(frozen=True)
class ScorerTopics:
    """Where the scorer writes."""

    alerts: str
    scored: str
    dlq: str


class Scorer:
    """The scorer's :class:`~fraudstream.streaming.loop.Step`."""

    def __init__(
        self,
        *,
        topics: ScorerTopics,
        store: FeatureStore,
        models: ModelHolder,
        decider: Decider,
        markers: AlertMarkerStore,
        metrics: ScorerMetrics,
        health: Health,
        drift: DriftMonitor | None = None,
    ) -> None:
        self._drift = drift
        self._topics = topics
        self._core = ScoringCore(store, models, decider)
        self._models = models
        self._markers = markers
        self._metrics = metrics
        self._health = health
        metrics.threshold.set(decider.threshold)

    def __call__(self, records: Sequence[ConsumerRecord], emit: Emit | None = None) -> StepResult:
        scored_at = datetime.now(UTC)
        outputs: list[OutRecord] = []
        emit = emit or outputs.append
        counts = _Counts()
        since = time.perf_counter()
        valid: list[tuple[ConsumerRecord, Transaction]] = []
        for record in records:
            try:
                if record.value is None:
                    raise SchemaError("empty record (no value)", "empty")
                valid.append((record, check_feature_names(decode_transaction(record.value))))
            except SchemaError as exc:
                emit(self._dead_letter(record, exc, scored_at))
                counts.dead_letters.append(exc.reason)
        counts.time("decode", since)
        alerted: list[str] = []
        if valid:
            model = self._model()
            parts = _sub_batches(valid)
            tx_parts = [[tx for _, tx in part] for part in parts]
            answers = self._core.features_parts(tx_parts)
            try:
                for part, txs in zip(parts, tx_parts, strict=True):
                    since = time.perf_counter()
                    features, already = self._features(txs, answers)
                    counts.time("features", since)
                    alerted += self._score(
                        part, txs, features, already, model, scored_at, emit, counts
                    )
            finally:
                answers.close()  # a failed batch leaves no answers unread
            self._health.up("redis")
        counts.alerts = len(alerted)
        counts.timestamps = [r.timestamp for r, _ in valid]
        for phase, seconds in counts.seconds.items():
            self._metrics.step_phases[phase].observe(seconds)
        return StepResult(outputs=outputs, after_commit=lambda: self._committed(alerted, counts))

    def _model(self) -> ScoringModel:
        """The champion for this batch (the holder checks for a new snapshot when due)."""
        model = self._guarded(self._models.refresh)
        metrics = self._metrics
        metrics.model.info({"version": model.version})
        shadow = self._models.shadow
        metrics.shadow_model.info({"version": "" if shadow is None else shadow.version})
        metrics.snapshot_failures.set(self._models.load_failures)
        metrics.registry_failures.set(self._models.registry_failures)
        return model

    def _guarded(self, call: Callable[[], T]) -> T:
        """Run a Redis call; report Redis down and raise the typed error when it fails."""
        try:
            return call()
        except (FeatureStoreUnavailableError, redis.RedisError) as exc:
            self._health.down("redis", str(exc))
            if isinstance(exc, FeatureStoreUnavailableError):
                raise
            raise FeatureStoreUnavailableError(f"Redis failed: {exc}") from exc

    def _features(
        self,
        txs: list[Transaction],
        answers: FeatureAnswers,
    ) -> tuple[FeatureBatch, set[str]]:
        """The sub-batch's features (the next answer), and which duplicates alerted."""
        started = time.perf_counter()
        features = self._guarded(lambda: next(answers))
        self._metrics.redis_seconds.observe(time.perf_counter() - started)
        duplicates = [
            t.transaction_id for t, dup in zip(txs, features.duplicate, strict=True) if dup
        ]
        already = self._guarded(lambda: self._markers.alerted(duplicates)) if duplicates else set()
        return features, already

    def _score(
        self,
        part: list[tuple[ConsumerRecord, Transaction]],
        txs: list[Transaction],
        features: FeatureBatch,
        already: set[str],
        model: ScoringModel,
        scored_at: datetime,
        emit: Emit,
        counts: _Counts,
    ) -> list[str]:
        since = time.perf_counter()
        scored = self._guarded(lambda: self._core.score(txs, features, model))
        since = counts.time("model", since)
        model, threshold = scored.model, scored.threshold
        shadow_version = None if scored.shadow_model is None else scored.shadow_model.version
        shadows: list[float | None] = (
            [None] * len(txs) if scored.shadow_scores is None else scored.shadow_scores.tolist()
        )
        if self._drift is not None:
            self._drift.observe(scored.inputs, scored.scores)
        alerted: list[str] = []
        for index, ((record, tx), row, score, alert, shadow) in enumerate(
            zip(
                part,
                scored.rows,
                scored.scores.tolist(),
                scored.alerts.tolist(),
                shadows,
                strict=True,
            )
        ):
            key = (tx.card_id or tx.transaction_id).encode()
            emit(
                OutRecord(
                    self._topics.scored,
                    encoder.encode(
                        ScoredTransaction(
                            transaction_id=tx.transaction_id,
                            card_id=tx.card_id,
                            merchant_id=tx.merchant_id,
                            event_time=tx.event_time,
                            amount=tx.amount,
                            features=row,
                            score=score,
                            threshold=threshold,
                            alert=alert,
                            model_version=model.version,
                            scored_at=scored_at,
                            partition=record.partition,
                            offset=record.offset,
                            source_timestamp_ms=record.timestamp,
                            shadow_score=shadow,
                            shadow_model_version=shadow_version,
                        )
                    ),
                    key,
                )
            )
            if not alert:
                continue
            if tx.transaction_id in already:
                counts.suppressed += 1
                continue
            alerted.append(tx.transaction_id)
            emit(
                OutRecord(
                    self._topics.alerts,
                    encoder.encode(
                        Alert(
                            alert_id=alert_id_for(tx.transaction_id),
                            transaction_id=tx.transaction_id,
                            card_id=tx.card_id,
                            merchant_id=tx.merchant_id,
                            amount=tx.amount,
                            score=score,
                            threshold=threshold,
                            model_version=model.version,
                            reasons=scored.reasons(index),
                            event_time=tx.event_time,
                            scored_at=scored_at,
                        )
                    ),
                    key,
                )
            )
        counts.time("records", since)
        counts.scored += len(txs)
        counts.duplicates += int(features.duplicate.sum())
        counts.late += int(features.late.sum())
        counts.scores.append(scored.scores)
        if scored.shadow_scores is not None:
            counts.shadow_scored += len(txs)
        return alerted

    def _dead_letter(self, record: ConsumerRecord, exc: SchemaError, now: datetime) -> OutRecord:
        value: bytes | None = record.value
        letter = DeadLetter(
            reason=exc.reason,
            detail=str(exc)[:500],
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
            source_timestamp_ms=record.timestamp,
            key_base64=b64(record.key),
            value_base64=b64(value[:MAX_DLQ_VALUE_BYTES] if value is not None else None),
            failed_at=now,
            value_size=None if value is None else len(value),
            value_truncated=value is not None and len(value) > MAX_DLQ_VALUE_BYTES,
        )
        return OutRecord(self._topics.dlq, encoder.encode(letter), record.key)

    def _committed(self, alerted: list[str], counts: _Counts) -> None:
        """After the commit: remember the alerts, count what is now visible."""
        try:
            self._markers.mark(alerted)
        except redis.RedisError as exc:  # the alerts are out; only dedupe of a repeat suffers
            log.warning("alert markers not written", error=str(exc), alerts=len(alerted))
        metrics = self._metrics
        metrics.scored.inc(counts.scored)
        metrics.alerts.inc(counts.alerts)
        metrics.suppressed_alerts.inc(counts.suppressed)
        metrics.duplicates.inc(counts.duplicates)
        metrics.late.inc(counts.late)
        metrics.shadow_scored.inc(counts.shadow_scored)
        for reason in counts.dead_letters:
            metrics.dead_letter(reason)
        if counts.scores:
            metrics.scores.observe_many(np.concatenate(counts.scores))
        if counts.timestamps:
            now_ms = time.time() * 1000
            latency = (now_ms - np.array(counts.timestamps, dtype=np.float64)) / 1000
            metrics.end_to_end.observe_many(np.maximum(latency, 0.0))


def _sub_batches(valid: list[T]) -> list[list[T]]:
    """The batch in feature store calls: :data:`FIRST_SUB_BATCH`, then :data:`SUB_BATCH`.

    >>> [len(part) for part in _sub_batches(list(range(300)))]
    [32, 125, 125, 18]
    >>> [len(part) for part in _sub_batches(list(range(20)))]
    [20]
    """
    parts = [valid[:FIRST_SUB_BATCH]]
    rest = valid[FIRST_SUB_BATCH:]
    parts += [rest[i : i + SUB_BATCH] for i in range(0, len(rest), SUB_BATCH)]
    return parts
