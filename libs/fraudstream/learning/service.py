"""``fraudstream learn`` as a process: read, join, learn, snapshot, until stopped.

The learner is the single writer of the model. It reads every partition of
``labels`` and ``transactions.scored`` itself (no consumer group): where to start is
part of its saved state, so a restart resumes exactly from the last snapshot.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from prometheus_client import CollectorRegistry

from fraudstream.config import LearnerSettings, Settings
from fraudstream.errors import ConfigError
from fraudstream.features.definitions import FeatureConfig
from fraudstream.features.redis_stores import redis_feature_store
from fraudstream.kafka.admin import ensure_topics, wait_for_partitions
from fraudstream.kafka.consumer import FlushPolicy, build_consumer, consume_and_flush
from fraudstream.learning.bootstrap import bootstrap_state, refuse_overwrite
from fraudstream.learning.join import LabelJoin
from fraudstream.learning.learner import Learner, LearnerState, StateStore, served_model
from fraudstream.learning.metrics import LearnerMetrics, publish_quality
from fraudstream.learning.models import MODEL_CHOICES, ModelChoice, learner_model
from fraudstream.learning.tracking import TrackingUnavailableError, log_snapshot
from fraudstream.models.snapshots import SnapshotStore
from fraudstream.observability.health import Health
from fraudstream.observability.http import ObservabilityServer
from fraudstream.redis_client import connect_any_redis
from fraudstream.signals import stop_on_signals

log = structlog.get_logger(__name__)


def run_learner(
    settings: Settings,
    stop: threading.Event | None = None,
    *,
    bootstrap: tuple[Path, datetime] | None = None,
) -> LearnerState:
    """Learn until SIGTERM/SIGINT (or ``stop``); publish a last snapshot; return the state.

    ``bootstrap`` (dataset, until) first learns that history and publishes it.
    """
    stop = stop or threading.Event()
    # MLflow retries a dead server for minutes by default; the learner must not stall
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    kafka, learner_settings, prefix = settings.kafka, settings.learner, settings.features.key_prefix
    choice = MODEL_CHOICES.get(learner_settings.model)
    if choice is None:
        raise ConfigError(
            f"LEARNER_MODEL={learner_settings.model!r} is not one of {sorted(MODEL_CHOICES)}"
        )
    client = connect_any_redis(settings.redis)
    states = StateStore(client, prefix)
    snapshots = SnapshotStore(client, prefix)
    state = _initial_state(settings, choice, states, snapshots, bootstrap)
    store = redis_feature_store(
        client, FeatureConfig.from_settings(settings.features), prefix=prefix
    )
    learner = Learner(
        state, choice, labels_topic=kafka.labels_topic, scored_topic=kafka.scored_topic, store=store
    )
    registry = CollectorRegistry()
    metrics = LearnerMetrics(registry)
    metrics.model.info({"name": choice.name})
    health = Health(["kafka", "redis"])
    server = ObservabilityServer(
        registry, health, learner_settings.http_host, learner_settings.http_port
    )
    topics = [kafka.labels_topic, kafka.scored_topic]
    ensure_topics(kafka, topics)
    consumer = _consumer(settings, topics, state.offsets)
    health.up("kafka")
    health.up("redis")
    log.info("learner started", version=state.version, metrics_port=server.port)
    batch = _LearnedBatch(learner, snapshots, states, metrics, settings)
    policy = FlushPolicy(
        learner_settings.snapshot_every_labels, learner_settings.snapshot_every.total_seconds()
    )
    try:
        with stop_on_signals(stop):
            consume_and_flush(consumer, batch, policy, stop)
    finally:
        server.close()
        client.close()
        log.info("learner stopped", version=state.version)
    return state


@dataclass
class _LearnedBatch:
    """The learner's :class:`~fraudstream.kafka.consumer.Batch`: records are learned
    from as they come; a flush publishes a snapshot (its offsets are in the state)."""

    learner: Learner
    snapshots: SnapshotStore
    states: StateStore
    metrics: LearnerMetrics
    settings: Settings
    learned: int = 0
    published: int = 0

    @property
    def size(self) -> int:
        """Labels learned since the last snapshot."""
        return self.learned

    @property
    def pending(self) -> bool:
        """Whether a label was learned since the last snapshot."""
        return self.learned > 0

    def add(self, records: Sequence[ConsumerRecord]) -> None:
        """Join and learn from a poll's records."""
        metrics = self.metrics
        for record in records:
            metrics.records.labels(record.topic).inc()
        learner = self.learner
        sources, outcomes = dict(learner.by_source), dict(learner.feedback_outcomes)
        learned, frauds = learner.process(records) if records else (0, 0)
        metrics.labels_learned.inc(learned)
        metrics.fraud_labels.inc(frauds)
        metrics.count(metrics.labels_by_source, sources, learner.by_source)
        metrics.count(metrics.feedback_outcomes, outcomes, learner.feedback_outcomes)
        self.learned += learned

    def flush(self) -> None:
        """Publish the state; log it to MLflow every ``LEARNER_MLFLOW_EVERY`` snapshots."""
        settings, metrics = self.settings, self.metrics
        version = self.learner.publish(self.snapshots, self.states)
        state = self.learner.state
        metrics.snapshots.inc()
        metrics.waiting.set(len(state.join.served) + len(state.join.labels))
        metrics.join(state.join.stats)
        threshold = settings.scorer.threshold
        measured = publish_quality(metrics.prequential, state.window, threshold)
        if state.shadow_window:
            publish_quality(metrics.shadow_prequential, state.shadow_window, threshold)
        log.info("model published", version=version, labels=state.labels_learned)
        every = settings.learner.mlflow_every
        if every and self.published % every == 0:
            try:
                log_snapshot(
                    settings.mlflow.tracking_uri,
                    settings.mlflow.online_experiment_name,
                    state,
                    measured,
                )
            except TrackingUnavailableError as exc:
                metrics.tracking_failures.inc()
                log.warning("snapshot not logged to MLflow", error=str(exc))
        self.published += 1
        self.learned = 0


def _initial_state(
    settings: Settings,
    choice: ModelChoice,
    states: StateStore,
    snapshots: SnapshotStore,
    bootstrap: tuple[Path, datetime] | None,
) -> LearnerState:
    """The saved state, a bootstrapped one (published at once), or a fresh one."""
    learner_settings = settings.learner
    state = states.load()
    if bootstrap is not None:
        refuse_overwrite(state)
        state = bootstrap_state(
            bootstrap[0],
            bootstrap[1],
            choice,
            label_delay=settings.features.label_delay,
            max_wait=learner_settings.max_wait,
            model=_new_model(choice, learner_settings),
        )
        states.save(state)
        snapshots.publish(served_model(state))
        log.info("bootstrapped", version=state.version, until=bootstrap[1].isoformat())
    if state is None:
        state = LearnerState(
            model_name=choice.name,
            model=_new_model(choice, learner_settings),
            join=LabelJoin(max_wait_ms=int(learner_settings.max_wait.total_seconds() * 1000)),
        )
    return state


def _new_model(choice: ModelChoice, learner_settings: LearnerSettings) -> Any:
    """A new model for ``choice``, taking feedback as ``LEARNER_FEEDBACK`` says."""
    return learner_model(choice, learner_settings.feedback, learner_settings.feedback_weight)


def _consumer(
    settings: Settings, topics: list[str], offsets: dict[tuple[str, int], int]
) -> KafkaConsumer:
    """Every partition of ``topics``, each at its saved offset (or the beginning)."""
    consumer = build_consumer(settings.kafka, "learner", fetch_max_wait_ms=50)
    partitions = [
        TopicPartition(topic, p)
        for topic in topics
        for p in sorted(wait_for_partitions(consumer, topic, timeout_s=30))
    ]
    consumer.assign(partitions)
    for tp in partitions:
        saved = offsets.get((tp.topic, tp.partition))
        if saved is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, saved)
    return consumer
