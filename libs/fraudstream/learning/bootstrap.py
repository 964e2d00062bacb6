"""Warm start: learn a historical period before the stream starts.

``fraudstream learn --bootstrap DATASET --until DATE`` computes, for every transaction
of the dataset before ``DATE``, the features the scorer would have served (the
offline path, with fraud shares fed by the labels known a label delay later), learns
all their labels in event-time order, and publishes the result as the first snapshot.
Replay the stream from ``DATE`` on (``fraudstream replay --start DATE``) so no
transaction is learned twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from fraudstream.datasets import load_dataset
from fraudstream.errors import ConfigError, DataFileError
from fraudstream.features.served import model_inputs
from fraudstream.learning.join import LabelJoin
from fraudstream.learning.learner import LearnerState
from fraudstream.learning.models import ModelChoice


def bootstrap_state(
    path: Path, until: datetime, choice: ModelChoice, *, label_delay: timedelta, max_wait: timedelta
) -> LearnerState:
    """A learner state that has learned every labelled transaction before ``until``."""
    dataset = load_dataset(path)
    frame = dataset.frame[dataset.frame["event_time"] < pd.Timestamp(until)].reset_index(drop=True)
    if frame.empty:
        raise DataFileError(path, f"no transaction before {until.isoformat()}")
    features = model_inputs(frame, label_delay, dataset.feature_columns)
    state = LearnerState(
        model_name=choice.name,
        model=choice.build(),
        join=LabelJoin(max_wait_ms=int(max_wait.total_seconds() * 1000)),
    )
    labels = frame["is_fraud"].to_numpy(dtype=bool)
    kept = np.flatnonzero(choice.learns_many(frame["transaction_id"].astype(str).tolist(), labels))
    for x, is_fraud in zip(
        features.iloc[kept].to_dict("records"), labels[kept].tolist(), strict=True
    ):
        choice.learn(state.model, x, is_fraud)
    state.labels_learned = len(labels)
    return state


def refuse_overwrite(existing: LearnerState | None) -> None:
    """A bootstrap starts a model from scratch: never over a learner's saved state."""
    if existing is not None:
        raise ConfigError(
            f"a learner state ({existing.version}) already exists under this "
            "FEATURES_KEY_PREFIX; bootstrap only starts a new one"
        )
