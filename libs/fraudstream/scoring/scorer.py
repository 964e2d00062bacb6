"""The scorer's step: decode, features, score, decide, and the records to produce.

It runs inside :class:`~fraudstream.streaming.loop.StreamLoop`, which commits what it
returns in one Kafka transaction. One feature store round trip per batch; the model
is checked for a new snapshot once per batch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
import structlog
from kafka.consumer.fetcher import ConsumerRecord

from fraudstream.errors import SchemaError
from fraudstream.features.redis_store import FeatureStoreUnavailableError
from fraudstream.features.store import FeatureRequest, FeatureStore
from fraudstream.observability.health import Health
from fraudstream.schemas import Transaction, decode_transaction
from fraudstream.scoring.decide import Decider
from fraudstream.scoring.metrics import ScorerMetrics
from fraudstream.scoring.records import (
    Alert,
    DeadLetter,
    ScoredTransaction,
    alert_id_for,
    b64,
    encoder,
)
from fraudstream.scoring.snapshots import ModelHolder
from fraudstream.streaming.loop import OutRecord, StepResult

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ScorerTopics:
    """Where the scorer writes."""

    alerts: str
    scored: str
    dlq: str


class AlertMarkers:
    """Remembers which transactions were alerted, once their alert committed.

    A transaction delivered again (the same id) must not alert again; one retried
    after an aborted transaction must. Markers are written after the commit, so only
    a committed alert suppresses another.
    """

    def __init__(self, client: redis.Redis, prefix: str, ttl_ms: int) -> None:
        self._client = client
        self._prefix = f"{prefix}:alerted:"
        self._ttl_ms = ttl_ms

    def alerted(self, transaction_ids: Sequence[str]) -> set[str]:
        """Which of these already have a committed alert."""
        if not transaction_ids:
            return set()
        found = self._client.mget([self._prefix + t for t in transaction_ids])
        return {t for t, v in zip(transaction_ids, found, strict=True) if v is not None}

    def mark(self, transaction_ids: Sequence[str]) -> None:
        """Remember these alerts (after their transaction committed)."""
        if not transaction_ids:
            return
        pipe = self._client.pipeline(transaction=False)
        for t in transaction_ids:
            pipe.set(self._prefix + t, 1, px=self._ttl_ms)
        pipe.execute()


class Scorer:
    """The scorer's :class:`~fraudstream.streaming.loop.Step`."""

    def __init__(
        self,
        *,
        topics: ScorerTopics,
        store: FeatureStore,
        models: ModelHolder,
        decider: Decider,
        markers: AlertMarkers,
        metrics: ScorerMetrics,
        health: Health,
    ) -> None:
        self._topics = topics
        self._store = store
        self._models = models
        self._decider = decider
        self._markers = markers
        self._metrics = metrics
        self._health = health
        metrics.threshold.set(decider.threshold)

    def __call__(self, records: Sequence[ConsumerRecord]) -> StepResult:
        scored_at = datetime.now(UTC)
        outputs: list[OutRecord] = []
        valid: list[tuple[ConsumerRecord, Transaction]] = []
        for record in records:
            try:
                if record.value is None:
                    raise SchemaError("empty record (no value)", "empty")
                valid.append((record, decode_transaction(record.value)))
            except SchemaError as exc:
                outputs.append(self._dead_letter(record, exc, scored_at))
        alerted: list[str] = []
        if valid:
            alerted = self._score(valid, scored_at, outputs)
        timestamps = [r.timestamp for r in records]
        return StepResult(
            outputs=outputs, after_commit=lambda: self._committed(alerted, timestamps)
        )

    def _score(
        self,
        valid: list[tuple[ConsumerRecord, Transaction]],
        scored_at: datetime,
        outputs: list[OutRecord],
    ) -> list[str]:
        metrics = self._metrics
        txs = [tx for _, tx in valid]
        started = time.perf_counter()
        try:
            features = self._store.process([FeatureRequest.of(tx) for tx in txs])
            model = self._models.refresh()
            duplicates = [
                tx.transaction_id for tx, dup in zip(txs, features.duplicate, strict=True) if dup
            ]
            already = self._markers.alerted(duplicates)
        except (FeatureStoreUnavailableError, redis.RedisError) as exc:
            self._health.down("redis", str(exc))
            if isinstance(exc, FeatureStoreUnavailableError):
                raise
            raise FeatureStoreUnavailableError(f"Redis failed: {exc}") from exc
        metrics.redis_seconds.observe(time.perf_counter() - started)
        self._health.up("redis")
        metrics.model.info({"version": model.version})
        metrics.snapshot_failures.set(self._models.load_failures)

        rows = [
            {**online, "amount": tx.amount, **tx.features}
            for online, tx in zip(features.as_dicts(), txs, strict=True)
        ]
        scores = model.score(rows)
        decisions = self._decider.decide(scores, [tx.event_time.date().isoformat() for tx in txs])
        threshold = self._decider.threshold
        alerted: list[str] = []
        for (record, tx), row, score, alert in zip(
            valid, rows, scores.tolist(), decisions.tolist(), strict=True
        ):
            key = (tx.card_id or tx.transaction_id).encode()
            outputs.append(
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
                        )
                    ),
                    key,
                )
            )
            if not alert:
                continue
            if tx.transaction_id in already:
                metrics.suppressed_alerts.inc()
                continue
            alerted.append(tx.transaction_id)
            outputs.append(
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
                            reasons=model.reasons(row),
                            event_time=tx.event_time,
                            scored_at=scored_at,
                        )
                    ),
                    key,
                )
            )
        metrics.scored.inc(len(txs))
        metrics.alerts.inc(len(alerted))
        metrics.duplicates.inc(len(duplicates))
        metrics.late.inc(int(features.late.sum()))
        for score in scores.tolist():
            metrics.scores.observe(score)
        return alerted

    def _dead_letter(self, record: ConsumerRecord, exc: SchemaError, now: datetime) -> OutRecord:
        self._metrics.dead_letter(exc.reason)
        letter = DeadLetter(
            reason=exc.reason,
            detail=str(exc)[:500],
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
            source_timestamp_ms=record.timestamp,
            key_base64=b64(record.key),
            value_base64=b64(record.value),
            failed_at=now,
        )
        return OutRecord(self._topics.dlq, encoder.encode(letter), record.key)

    def _committed(self, alerted: list[str], timestamps: list[int]) -> None:
        try:
            self._markers.mark(alerted)
        except redis.RedisError as exc:  # the alerts are out; only dedupe of a repeat suffers
            log.warning("alert markers not written", error=str(exc), alerts=len(alerted))
        now_ms = time.time() * 1000
        observe = self._metrics.end_to_end.observe
        for ts in timestamps:
            observe(max(now_ms - ts, 0.0) / 1000)
