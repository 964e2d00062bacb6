"""Drift: how far recent model inputs and scores are from the training reference (PSI).

A reference holds, per column, quantile bin edges and the fraction of training rows in
each bin (JSON ``{name: {"edges": [...], "fractions": [...]}}``). ``edges`` are the
cut points between bins, so there is one more fraction than edges (a file with outer
edges as well, ``len(fractions) == len(edges) - 1`` as numpy's ``histogram`` writes
them, is read too: the training pipeline's ``drift_reference.json`` is such a file,
its score named ``__score__``). The population stability index of a recent window is
``sum((recent - reference) * ln(recent / reference))`` over the bins.

>>> import pandas as pd
>>> rng = np.random.default_rng(0)
>>> train = pd.DataFrame({"amount": rng.normal(50, 10, 5000)})
>>> reference = build_reference(train, bins=10)
>>> len(reference["amount"].fractions)
10
>>> same = psi(reference["amount"], rng.normal(50, 10, 5000))
>>> moved = psi(reference["amount"], rng.normal(65, 10, 5000))
>>> same < WATCH_PSI < ACT_PSI < moved
True
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
import redis
import structlog
from prometheus_client import CollectorRegistry, Gauge

from fraudstream.errors import ConfigError

if TYPE_CHECKING:
    from fraudstream.scoring.model import ModelInput

log = structlog.get_logger(__name__)

#: PSI at which to look closer, and at which to act (docs/monitoring.md#drift).
WATCH_PSI: Final = 0.1
ACT_PSI: Final = 0.25
#: Bins of a reference built here (deciles).
DEFAULT_BINS: Final = 10
#: Recent scored rows compared with the reference.
DEFAULT_WINDOW: Final = 5_000
#: Fewer recent rows than this give no PSI (too noisy).
MIN_ROWS: Final = 200
#: The column holding the model's score in a reference.
SCORE: Final = "score"
#: The score's name in the training pipeline's drift_reference.json.
TRAINING_SCORE_KEY: Final = "__score__"
#: Floor of a bin's fraction, so an empty bin does not make PSI infinite.
_EPSILON: Final = 1e-4
#: Seconds between two reads of the reference from Redis.
RELOAD_S: Final = 60.0


@dataclass(frozen=True)
class Bins:
    """One column's reference: cut points and the training fraction of each bin."""

    edges: tuple[float, ...]
    fractions: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.fractions) != len(self.edges) + 1:
            raise ConfigError(
                f"a drift reference needs one more fraction than edges, got "
                f"{len(self.edges)} edges and {len(self.fractions)} fractions"
            )
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ConfigError("drift reference edges must increase strictly")

    def counts(self, values: np.ndarray) -> np.ndarray:
        """How many of ``values`` fall in each bin (NaN values are not counted)."""
        values = values[~np.isnan(values)]
        slots = np.searchsorted(np.asarray(self.edges), values, side="right")
        return np.bincount(slots, minlength=len(self.fractions))


Reference = dict[str, Bins]


def psi_of_counts(bins: Bins, counts: np.ndarray) -> float | None:
    """PSI of binned recent counts against the reference; None without enough rows."""
    total = int(counts.sum())
    if total < MIN_ROWS:
        return None
    recent = np.maximum(counts / total, _EPSILON)
    expected = np.maximum(np.asarray(bins.fractions), _EPSILON)
    return float(np.sum((recent - expected) * np.log(recent / expected)))


def psi(bins: Bins, values: np.ndarray) -> float | None:
    """PSI of raw recent values against the reference."""
    return psi_of_counts(bins, bins.counts(np.asarray(values, dtype=np.float64)))


def build_reference(frame: pd.DataFrame, bins: int = DEFAULT_BINS) -> Reference:
    """Quantile bins of every numeric column of ``frame`` (a constant one gets one bin)."""
    reference: Reference = {}
    quantiles = np.linspace(0, 1, bins + 1)[1:-1]
    for name in frame.columns:
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
        values = values[~np.isnan(values)]
        if values.size == 0:
            continue
        edges = np.unique(np.quantile(values, quantiles))
        edges = edges[edges > values.min()]  # bins are [a, b): a cut at the minimum is empty
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        reference[str(name)] = Bins(
            tuple(float(e) for e in edges), tuple(float(c) for c in counts / values.size)
        )
    return reference


def reference_to_json(reference: Reference) -> str:
    """The JSON form: ``{name: {"edges": [...], "fractions": [...]}}``."""
    return json.dumps(
        {n: {"edges": list(b.edges), "fractions": list(b.fractions)} for n, b in reference.items()},
        sort_keys=True,
    )


def reference_from_json(text: str | bytes) -> Reference:
    """Parse the JSON form; ConfigError naming what is wrong."""
    try:
        raw: Any = json.loads(text)
        if not isinstance(raw, dict):
            raise TypeError("not an object")
        reference: Reference = {}
        for name, spec in raw.items():
            edges = [float(e) for e in spec["edges"]]
            fractions = [float(f) for f in spec["fractions"]]
            if not fractions:  # a column with no value in training: nothing to compare
                continue
            if len(fractions) == len(edges) - 1:  # numpy.histogram style: outer edges too
                edges = edges[1:-1]
            key = SCORE if name == TRAINING_SCORE_KEY else str(name)
            reference[key] = Bins(tuple(edges), tuple(fractions))
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"bad drift reference: {exc}") from exc
    return reference


def reference_key(prefix: str) -> str:
    """The Redis key of the drift reference under a feature key prefix."""
    return f"{prefix}:drift:reference"


def save_reference(client: redis.Redis, prefix: str, reference: Reference) -> None:
    """Store the reference where scorers read it."""
    client.set(reference_key(prefix), reference_to_json(reference))


def load_reference(client: redis.Redis, prefix: str) -> Reference | None:
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
        client: redis.Redis | None = None,
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


def reference_columns(frame: pd.DataFrame) -> list[str]:
    """Numeric columns of a frame worth a reference (not labels, offsets or thresholds)."""
    skip = {"is_fraud", "fraud_scenario", "partition", "offset", "source_timestamp_ms"}
    skip |= {"threshold", "shadow_score"}
    return [
        str(c)
        for c in frame.columns
        if c not in skip and pd.api.types.is_numeric_dtype(frame[c]) and frame[c].dtype != bool
    ]
