"""A Prometheus histogram that takes a whole batch of observations at once.

``prometheus_client.Histogram.observe`` costs about a microsecond; a scorer observing
two values per transaction spent a tenth of its own time there. This one counts a
batch with numpy and exposes the same ``_bucket``/``_sum``/``_count`` series.

>>> from prometheus_client import CollectorRegistry, generate_latest
>>> registry = CollectorRegistry()
>>> h = BatchHistogram("demo_seconds", "Demo.", (0.1, 1.0), registry=registry)
>>> h.observe_many(np.array([0.05, 0.5, 2.0]))
>>> print(generate_latest(registry).decode().splitlines()[2])
demo_seconds_bucket{le="0.1"} 1.0
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import numpy as np
from prometheus_client import CollectorRegistry
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector


class BatchHistogram(Collector):
    """Cumulative buckets fed by arrays of observations."""

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        *,
        registry: CollectorRegistry,
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._bounds = np.array(sorted(buckets), dtype=np.float64)
        self._counts = np.zeros(len(self._bounds) + 1, dtype=np.int64)  # last: +Inf
        self._sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe_many(self, values: np.ndarray) -> None:
        """Count every value of ``values``."""
        if values.size == 0:
            return
        slots = np.searchsorted(self._bounds, values, side="left")
        counts = np.bincount(slots, minlength=len(self._counts))
        with self._lock:
            self._counts += counts
            self._sum += float(values.sum())

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            cumulative = np.cumsum(self._counts).tolist()
            total = self._sum
        buckets = [
            (repr(float(b)), float(c)) for b, c in zip(self._bounds, cumulative, strict=False)
        ]
        buckets.append(("+Inf", float(cumulative[-1])))
        family = HistogramMetricFamily(self._name, self._documentation)
        family.add_metric([], buckets, total)
        yield family
