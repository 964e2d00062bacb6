"""The learner's prequential gauges: the names, labels and values rules and dashboards read."""

from __future__ import annotations

import dataclasses

from prometheus_client import CollectorRegistry

from fraudstream.learning.learner import Quality, quality
from fraudstream.learning.metrics import MEASURES, LearnerMetrics, publish_quality

SERVED = [(0.9, True, "c1", 0), (0.2, False, "c2", 0), (0.7, False, "c3", 1), (0.6, True, "c1", 1)]
SHADOW = [(0.8, True, "c1", 0), (0.1, False, "c2", 0)]


def test_each_window_sets_its_own_gauge_one_measure_label_each() -> None:
    registry = CollectorRegistry()
    metrics = LearnerMetrics(registry)
    served = publish_quality(metrics.prequential, SERVED, 0.5)
    shadow = publish_quality(metrics.shadow_prequential, SHADOW, 0.5)
    assert served == quality(SERVED, 0.5)
    assert shadow == quality(SHADOW, 0.5)
    for name, measured in (("learner_prequential", served), ("learner_shadow_prequential", shadow)):
        for measure in MEASURES:
            value = registry.get_sample_value(name, {"measure": measure})
            assert value == float(getattr(measured, measure)), (name, measure)
    assert registry.get_sample_value("learner_prequential", {"measure": "labels"}) == 4.0
    assert registry.get_sample_value("learner_shadow_prequential", {"measure": "labels"}) == 2.0
    # every measure of Quality, among them those the rules and dashboards query
    assert set(MEASURES) == {field.name for field in dataclasses.fields(Quality)}
    assert {"average_precision", "roc_auc", "precision", "recall"} <= set(MEASURES)
