"""Drift monitoring: the reference in Redis, and PSI gauges over recent scored rows.

The reference format and PSI are :mod:`fraudstream.evaluation.drift`'s; this module
stores the reference where scorers read it and keeps the live gauges.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Final

import numpy as np
import redis
import structlog
from prometheus_client import CollectorRegistry, Gauge

from fraudstream.errors import ConfigError
from fraudstream.evaluation.drift import (
    SCORE,
    Reference,
    psi_of_counts,
    reference_from_json,
    reference_to_json,
)
from fraudstream.redis_client import AnyRedis

if TYPE_CHECKING:
    from fraudstream.models import ModelInput

log = structlog.get_logger(__name__)

#: Recent scored rows compared with the reference.
DEFAULT_WINDOW: Final = 5_000
#: Seconds between two reads of the reference from Redis.
RELOAD_S: Final = 60.0


def reference_key(prefix: str) -> str:
    """The Redis key of the drift reference under a feature key prefix."""
    return f"{prefix}:drift:reference"


def save_reference(client: AnyRedis, prefix: str, reference: Reference) -> None:
    """Store the reference where scorers read it."""
    client.set(reference_key(prefix), reference_to_json(reference))


def load_reference(client: AnyRedis, prefix: str) -> Reference | None:
    """The stored reference, or None if none is set."""
    raw = client.get(reference_key(prefix))
    return None if raw is None else reference_from_json(raw)


class DriftMonitor:
    """PSI of the latest ``window`` scored rows per referenced column, as gauges.

    ``fraudstream_drift_psi{feature=...}`` (the score is ``feature="score"``); a column
    gets its gauge once the window holds ``MIN_ROWS`` rows. Batches are kept as bin
    counts, and the window's totals are updated as batches come and go, so a batch
    costs one ``searchsorted`` per column whatever the window holds.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        reference: Reference | None = None,
        *,
        window: int = DEFAULT_WINDOW,
        client: AnyRedis | None = None,
        prefix: str = "",
    ) -> None:
        self._gauge = Gauge(
            "fraudstream_drift_psi",
            "Population stability index of recent rows against the training reference",
            ["feature"],
            registry=registry,
        )
        self._window = window
        self._client = client
        self._prefix = prefix
        self._reference: Reference = {}
        #: The window's bin counts per column: the sum of ``_batches``' counts, kept
        #: as batches come and go so that a batch costs the same whatever the window.
        self._totals: dict[str, np.ndarray] = {}
        self._batches: deque[tuple[int, dict[str, np.ndarray]]] = deque()
        self._rows = 0
        self._loaded_at = -RELOAD_S
        if reference is not None:
            self.set_reference(reference)

    def set_reference(self, reference: Reference) -> None:
        """Compare with ``reference`` from now on (the window starts again)."""
        for name in set(self._reference) - set(reference):
            self._gauge.remove(name)
        self._reference = dict(reference)
        self._totals = {
            name: np.zeros(len(bins.fractions), dtype=np.int64) for name, bins in reference.items()
        }
        self._batches.clear()
        self._rows = 0

    def observe(self, inputs: ModelInput, scores: np.ndarray) -> None:
        """Add a batch of model inputs and their scores; update the gauges."""
        self._maybe_reload()
        if not self._reference or len(inputs) == 0:
            return
        counts: dict[str, np.ndarray] = {}
        for name, bins in self._reference.items():
            values = np.asarray(scores, dtype=np.float64) if name == SCORE else inputs.column(name)
            if values is not None:
                counts[name] = bins.counts(values)
                self._totals[name] += counts[name]
        self._batches.append((len(inputs), counts))
        self._rows += len(inputs)
        while len(self._batches) > 1 and self._rows - self._batches[0][0] >= self._window:
            rows, gone = self._batches.popleft()
            self._rows -= rows
            for name, dropped in gone.items():
                self._totals[name] -= dropped
        self._publish()

    def _publish(self) -> None:
        for name, bins in self._reference.items():
            value = psi_of_counts(bins, self._totals[name])
            if value is not None:
                self._gauge.labels(name).set(value)

    def _maybe_reload(self) -> None:
        """Read the reference from Redis now and then; keep the last one on failure."""
        if self._client is None or time.monotonic() - self._loaded_at < RELOAD_S:
            return
        self._loaded_at = time.monotonic()
        try:
            reference = load_reference(self._client, self._prefix)
        except (redis.RedisError, ConfigError) as exc:
            log.warning("drift reference not read; keeping the last one", error=str(exc))
            return
        if reference is not None and reference != self._reference:
            self.set_reference(reference)
            log.info("drift reference loaded", columns=len(reference))
