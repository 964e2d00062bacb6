"""The learner's Prometheus metrics."""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Info

from fraudstream.learning.join import JoinStats
from fraudstream.learning.learner import Quality, quality

#: The ``source`` labels of ``learner_labels_by_source``.
LABEL_SOURCES: Final = ("delayed", "investigator")

#: The ``outcome`` labels of ``learner_feedback_outcomes``.
FEEDBACK_OUTCOMES: Final = ("confirmed", "overruled")

#: The ``measure`` labels of ``learner_prequential`` and ``learner_shadow_prequential``.
MEASURES: Final = (
    "average_precision",
    "roc_auc",
    "precision",
    "recall",
    "card_precision_at_100",
    "labels",
)


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
        self.labels_by_source = Counter(
            "learner_labels_by_source",
            "Labels joined and learned, by source (delayed, investigator)",
            ["source"],
            registry=registry,
        )
        self.feedback_outcomes = Counter(
            "learner_feedback_outcomes",
            "Delayed labels of transactions an investigator had labelled: "
            "confirmed (they agree) or overruled",
            ["outcome"],
            registry=registry,
        )
        for source in LABEL_SOURCES:
            self.labels_by_source.labels(source)
        for outcome in FEEDBACK_OUTCOMES:
            self.feedback_outcomes.labels(outcome)
        self.join_dropped = Gauge(
            "learner_join_dropped",
            "Records dropped unjoined after LEARNER_MAX_WAIT, repeated labels, and "
            "investigators' labels that came after the delayed label",
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
        self.prequential = _prequential_gauge("learner_prequential", "the served scores", registry)
        self.shadow_prequential = _prequential_gauge(
            "learner_shadow_prequential", "the shadow challenger's scores", registry
        )

    def join(self, stats: JoinStats) -> None:
        """Publish what the join dropped."""
        self.join_dropped.labels("served_expired").set(stats.expired_served)
        self.join_dropped.labels("label_expired").set(stats.expired_labels)
        self.join_dropped.labels("label_repeated").set(stats.duplicate_labels)
        self.join_dropped.labels("feedback_late").set(stats.late_feedback)

    def count(self, counter: Counter, before: dict[str, int], after: dict[str, int]) -> None:
        """Add to ``counter``, one label value each, what ``after`` counts beyond ``before``.

        >>> metrics = LearnerMetrics(CollectorRegistry())
        >>> metrics.count(metrics.labels_by_source, {"delayed": 2}, {"delayed": 5})
        >>> metrics.labels_by_source.labels("delayed")._value.get()
        3.0
        """
        for name, total in after.items():
            if total > before.get(name, 0):
                counter.labels(name).inc(total - before.get(name, 0))


def _prequential_gauge(name: str, scores: str, registry: CollectorRegistry) -> Gauge:
    return Gauge(
        name,
        f"Prequential quality of {scores} over the latest labels",
        ["measure"],
        registry=registry,
    )


def publish_quality(
    gauge: Gauge, window: Collection[tuple[float, bool, str | None, int]], threshold: float
) -> Quality:
    """Measure a prequential window (see :func:`~fraudstream.learning.learner.quality`),
    set ``gauge`` to its measures, one ``measure`` label each, and return them.

    >>> registry = CollectorRegistry()
    >>> gauge = _prequential_gauge("demo_prequential", "demo scores", registry)
    >>> publish_quality(gauge, [(0.9, True, "c1", 0), (0.1, False, "c2", 0)], 0.5).labels
    2
    >>> registry.get_sample_value("demo_prequential", {"measure": "recall"})
    1.0
    """
    measured = quality(window, threshold)
    for name in MEASURES:
        gauge.labels(name).set(float(getattr(measured, name)))
    return measured
