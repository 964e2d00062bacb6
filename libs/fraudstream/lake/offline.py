"""Fill an archive from a dataset, without a live stream (tests, the DAG in CI, demos).

The rows are what the scorer would have written: the features it would have served
(the offline path of docs/features.md, fraud shares fed by labels known a label
delay later), scored by the cold-start model, and one label per transaction known
``label_delay`` after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from fraudstream.lake.store import FEATURE_PREFIX, LABELS, SCORED, write_rows
from fraudstream.models import ColdStartModel, ScoringModel
from fraudstream.schemas import SCHEMA_VERSION


@dataclass(frozen=True)
class ArchiveSummary:
    """What :func:`write_archive_from_frame` wrote."""

    scored: int
    labels: int
    frauds: int
    start: str
    end: str


def scored_rows(
    frame: pd.DataFrame,
    features: pd.DataFrame,
    *,
    model: ScoringModel | None = None,
    threshold: float = 0.5,
) -> pd.DataFrame:
    """``transactions.scored`` rows for a canonical ``frame`` and its served ``features``
    (same row order), scored by ``model`` (default: the cold-start model)."""
    model = model or ColdStartModel()
    scores = np.asarray(model.score(features), dtype=np.float64)
    times = frame["event_time"].reset_index(drop=True)
    rows = pd.DataFrame(
        {
            "schema_version": SCHEMA_VERSION,
            "transaction_id": frame["transaction_id"].astype(str).to_numpy(),
            "card_id": frame["card_id"].to_numpy(),
            "merchant_id": frame["merchant_id"].to_numpy(),
            "event_time": times,
            "amount": frame["amount"].to_numpy(dtype=np.float64),
        }
    )
    flat = features.reset_index(drop=True).add_prefix(FEATURE_PREFIX).astype("float64")
    rows = pd.concat([rows, flat], axis=1)
    rows["score"] = scores
    rows["threshold"] = threshold
    rows["alert"] = scores >= threshold
    rows["model_version"] = model.version
    rows["scored_at"] = times
    rows["partition"] = 0
    rows["offset"] = np.arange(len(rows), dtype=np.int64)
    rows["source_timestamp_ms"] = (times.astype("int64") // 1_000_000).to_numpy()
    return rows


def label_rows(frame: pd.DataFrame, label_delay: timedelta) -> pd.DataFrame:
    """``labels`` rows: each transaction's truth, known ``label_delay`` after it."""
    return pd.DataFrame(
        {
            "schema_version": SCHEMA_VERSION,
            "transaction_id": frame["transaction_id"].astype(str).to_numpy(),
            "is_fraud": frame["is_fraud"].astype(bool).to_numpy(),
            "labelled_at": (frame["event_time"] + label_delay).reset_index(drop=True),
            "card_id": frame["card_id"].to_numpy(),
        }
    )


def write_archive_from_frame(
    root: str,
    frame: pd.DataFrame,
    features: pd.DataFrame,
    *,
    label_delay: timedelta,
    threshold: float = 0.5,
) -> ArchiveSummary:
    """Archive a canonical ``frame`` (sorted by event time, with ``is_fraud``) and its
    served ``features`` as the scorer and the replay would have; idempotent."""
    scored = write_rows(root, SCORED, scored_rows(frame, features, threshold=threshold))
    labels = write_rows(root, LABELS, label_rows(frame, label_delay))
    return ArchiveSummary(
        scored=scored,
        labels=labels,
        frauds=int(frame["is_fraud"].sum()),
        start=frame["event_time"].min().isoformat(),
        end=frame["event_time"].max().isoformat(),
    )


def write_archive_from_dataset(
    root: str,
    dataset: Path | None,
    *,
    days: int,
    seed: int,
    label_delay: timedelta,
    label_arrival: timedelta | None = None,
) -> ArchiveSummary:
    """Archive a dataset file, or ``days`` of simulated data when ``dataset`` is None.

    The served features count the labels known ``label_delay`` after their
    transactions; the archived labels arrive ``label_arrival`` after them (default:
    ``label_delay``, the same delay).
    """
    from fraudstream.datasets import load_dataset
    from fraudstream.datasets.simulator import SimulatorConfig, simulate
    from fraudstream.features.served import model_inputs

    if dataset is None:
        frame = simulate(SimulatorConfig(days=days, seed=seed))
        own: tuple[str, ...] = ()
    else:
        loaded = load_dataset(dataset)
        frame, own = loaded.frame, loaded.feature_columns
    features = model_inputs(frame, label_delay, own)
    arrival = label_delay if label_arrival is None else label_arrival
    return write_archive_from_frame(root, frame, features, label_delay=arrival)
