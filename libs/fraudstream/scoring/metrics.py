"""The scorer's Prometheus metrics, bound once (a labelled child costs ~0.3 µs to use)."""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from fraudstream.observability.buckets import (
    END_TO_END_SECONDS,
    FEATURE_STORE_SECONDS,
    PHASE_SECONDS,
    SCORE,
)
from fraudstream.observability.histogram import BatchHistogram

#: The phases of the scorer's step (``scorer_step_phase_seconds``), summed over a
#: batch: decoding the records, waiting for the feature store's answers (and for the
#: alert markers of repeated transactions), the model (scores, decisions, reasons),
#: and encoding the results and handing them to the producer.
STEP_PHASES: Final = ("decode", "features", "model", "records")


class ScorerMetrics:
    """Counters, histograms and gauges of one scorer process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.scored = Counter(
            "scorer_transactions_scored", "Transactions scored", registry=registry
        )
        self.alerts = Counter("scorer_alerts", "Alerts raised", registry=registry)
        self.suppressed_alerts = Counter(
            "scorer_alerts_suppressed",
            "Alerts not raised again for a transaction already alerted",
            registry=registry,
        )
        self.duplicates = Counter(
            "scorer_duplicate_transactions",
            "Transactions the feature store had already recorded",
            registry=registry,
        )
        self.late = Counter(
            "scorer_late_transactions",
            "Transactions too late for the feature store to record",
            registry=registry,
        )
        self._dlq = Counter(
            "scorer_dead_letters",
            "Records sent to the DLQ, by reason",
            ["reason"],
            registry=registry,
        )
        self.end_to_end = BatchHistogram(
            "scorer_end_to_end_seconds",
            "From the record's Kafka timestamp to its results committed",
            END_TO_END_SECONDS,
            registry=registry,
        )
        self.redis_seconds = Histogram(
            "scorer_feature_store_seconds",
            "Time waited for one sub-batch's features (up to 125 transactions, pipelined)",
            buckets=FEATURE_STORE_SECONDS,
            registry=registry,
        )
        self.scores = BatchHistogram("scorer_score", "Scores given", SCORE, registry=registry)
        self.threshold = Gauge("scorer_threshold", "Current alert threshold", registry=registry)
        self.model = Info("scorer_model", "The model in use (the champion)", registry=registry)
        self.shadow_model = Info(
            "scorer_shadow_model",
            "The challenger scored in shadow (version empty when none)",
            registry=registry,
        )
        self.shadow_scored = Counter(
            "scorer_shadow_scored",
            "Transactions the challenger scored in shadow",
            registry=registry,
        )
        step_phases = Histogram(
            "scorer_step_phase_seconds",
            "Time in each phase of the scorer's step, per batch (see STEP_PHASES)",
            ["phase"],
            buckets=PHASE_SECONDS,
            registry=registry,
        )
        self.step_phases = {phase: step_phases.labels(phase) for phase in STEP_PHASES}
        self.registry_failures = Gauge(
            "scorer_registry_failures",
            "Registry polls or version loads that failed since start",
            registry=registry,
        )
        self.snapshot_failures = Gauge(
            "scorer_model_snapshot_failures",
            "Model snapshots that could not be loaded since start",
            registry=registry,
        )

    def dead_letter(self, reason: str) -> None:
        """Count one record sent to the DLQ."""
        self._dlq.labels(reason).inc()
