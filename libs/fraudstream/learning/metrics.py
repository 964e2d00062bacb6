"""The learner's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Info

from fraudstream.learning.join import JoinStats
from fraudstream.learning.learner import Quality


class LearnerMetrics:
    """Counters of the join and gauges of the prequential quality."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.records = Counter(
            "learner_records_consumed", "Records read, by topic", ["topic"], registry=registry
        )
        self.labels_learned = Counter(
            "learner_labels_learned",
            "Labels joined with served features and learned",
            registry=registry,
        )
        self.fraud_labels = Counter(
            "learner_fraud_labels_learned", "Fraud labels learned", registry=registry
        )
        self.join_dropped = Gauge(
            "learner_join_dropped",
            "Records dropped unjoined after LEARNER_MAX_WAIT, and repeated labels",
            ["kind"],
            registry=registry,
        )
        self.waiting = Gauge(
            "learner_join_waiting",
            "Served records and labels waiting for each other",
            registry=registry,
        )
        self.snapshots = Counter(
            "learner_snapshots_published", "Model snapshots published", registry=registry
        )
        self.model = Info("learner_model", "The model being learned", registry=registry)
        self.tracking_failures = Counter(
            "learner_tracking_failures", "Snapshots MLflow did not take", registry=registry
        )
        self._quality = Gauge(
            "learner_prequential",
            "Prequential quality of the served scores over the latest labels",
            ["measure"],
            registry=registry,
        )
        self._shadow_quality = Gauge(
            "learner_shadow_prequential",
            "Prequential quality of the shadow challenger's scores over the latest labels",
            ["measure"],
            registry=registry,
        )

    def join(self, stats: JoinStats) -> None:
        """Publish what the join dropped."""
        self.join_dropped.labels("served_expired").set(stats.expired_served)
        self.join_dropped.labels("label_expired").set(stats.expired_labels)
        self.join_dropped.labels("label_repeated").set(stats.duplicate_labels)

    def quality(self, q: Quality, *, shadow: bool = False) -> None:
        """Publish the prequential measures (of the shadow challenger with ``shadow``)."""
        gauge = self._shadow_quality if shadow else self._quality
        for name in (
            "average_precision",
            "roc_auc",
            "precision",
            "recall",
            "card_precision_at_100",
            "labels",
        ):
            gauge.labels(name).set(float(getattr(q, name)))
