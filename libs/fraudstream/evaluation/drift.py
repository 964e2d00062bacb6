"""Drift references and the population stability index (PSI), in one format.

A reference holds, per column, quantile cut points and the fraction of training rows in
each bin (JSON ``{name: {"edges": [...], "fractions": [...]}}``, the model's score under
``"score"``). ``edges`` are the cut points between bins, so there is one more fraction
than edges; missing values are not counted. Training writes it
(``drift_reference.json`` in every MLflow run), ``fraudstream drift`` builds it from
served rows, and the scorers' drift monitor reads it: all through this module. The PSI
of a recent window is ``sum((recent - reference) * ln(recent / reference))`` over the
bins.

>>> rng = np.random.default_rng(0)
>>> train = pd.DataFrame({"amount": rng.normal(50, 10, 5000)})
>>> reference = build_reference(train, bins=10)
>>> len(reference["amount"].fractions)
10
>>> same = psi(reference["amount"], rng.normal(50, 10, 5000))
>>> moved = psi(reference["amount"], rng.normal(65, 10, 5000))
>>> same < WATCH_PSI < ACT_PSI < moved
True
>>> reference_from_json(reference_to_json(reference)) == reference
True
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from fraudstream.errors import ConfigError

#: PSI at which to look closer, and at which to act (docs/monitoring.md#drift).
WATCH_PSI: Final = 0.1
ACT_PSI: Final = 0.25
#: Bins of a reference built here (deciles).
DEFAULT_BINS: Final = 10
#: Fewer recent rows than this give no PSI (too noisy).
MIN_ROWS: Final = 200
#: The column holding the model's score in a reference.
SCORE: Final = "score"
#: Floor of a bin's fraction, so an empty bin does not make PSI infinite.
_EPSILON: Final = 1e-4


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
    return json.dumps(reference_as_dict(reference), sort_keys=True)


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
            reference[str(name)] = Bins(tuple(edges), tuple(fractions))
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"bad drift reference: {exc}") from exc
    return reference


def reference_as_dict(reference: Reference) -> dict[str, dict[str, list[float]]]:
    """The JSON-able form of ``reference`` (what :func:`reference_to_json` writes)."""
    return {
        n: {"edges": list(b.edges), "fractions": list(b.fractions)} for n, b in reference.items()
    }


def reference_columns(frame: pd.DataFrame) -> list[str]:
    """Numeric columns of a frame worth a reference (not labels, offsets or thresholds)."""
    skip = {"is_fraud", "fraud_scenario", "partition", "offset", "source_timestamp_ms"}
    skip |= {"threshold", "shadow_score"}
    return [
        str(c)
        for c in frame.columns
        if c not in skip and pd.api.types.is_numeric_dtype(frame[c]) and frame[c].dtype != bool
    ]
