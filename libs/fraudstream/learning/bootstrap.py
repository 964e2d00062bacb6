"""Warm start: learn a historical period before the stream starts.

``fraudstream learn --bootstrap DATASET --until DATE`` computes, for every transaction
of the dataset before ``DATE``, the features the scorer would have served (the
offline path, with fraud shares fed by the labels known a label delay later), learns
in event-time order the labels known by ``DATE`` (those of transactions at least the
label delay ``D`` older), and publishes the result as the first snapshot. The
transactions of the last ``D`` wait in the label join with their features, as if they
had been served: their labels arrive with the stream, and the learner then learns
them and reports their frauds to the feature store's merchant windows, as a learner
that had run through the history would. They were not served, so they have no score
(NaN) and stay out of the prequential window. Replay the stream from ``DATE`` on
(``fraudstream replay --start DATE``) so no transaction is learned twice.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from fraudstream.datasets import load_dataset
from fraudstream.errors import ConfigError, DataFileError
from fraudstream.features.served import model_inputs
from fraudstream.learning.join import LabelJoin, Served
from fraudstream.learning.learner import LearnerState
from fraudstream.learning.models import ModelChoice

_EPOCH = pd.Timestamp(0, tz="UTC")


def bootstrap_state(
    path: Path,
    until: datetime,
    choice: ModelChoice,
    *,
    label_delay: timedelta,
    max_wait: timedelta,
    model: Any = None,
) -> LearnerState:
    """A learner state that has learned the labels known by ``until`` (see the module),
    into ``model`` (default: a new one of ``choice``'s). The history has only delayed
    labels."""
    dataset = load_dataset(path)
    frame = dataset.frame[dataset.frame["event_time"] < pd.Timestamp(until)].reset_index(drop=True)
    if frame.empty:
        raise DataFileError(path, f"no transaction before {until.isoformat()}")
    features = model_inputs(frame, label_delay, dataset.feature_columns)
    state = LearnerState(
        model_name=choice.name,
        model=choice.build() if model is None else model,
        join=LabelJoin(max_wait_ms=int(max_wait.total_seconds() * 1000)),
    )
    known = (frame["event_time"] + label_delay <= pd.Timestamp(until)).to_numpy()
    labels = frame["is_fraud"].to_numpy(dtype=bool)
    ids = frame["transaction_id"].astype(str).tolist()
    learns = choice.learns_many([ids[i] for i in np.flatnonzero(known)], labels[known])
    kept = np.flatnonzero(known)[learns]
    choice.learn_all(state.model, features.iloc[kept].to_dict("records"), labels[kept].tolist())
    state.labels_learned = int(known.sum())
    _wait_for_labels(state, frame[~known], features[~known])
    state.watermark_ms = (pd.Timestamp(until) - _EPOCH) // pd.Timedelta(milliseconds=1)
    return state


def _wait_for_labels(state: LearnerState, frame: pd.DataFrame, features: pd.DataFrame) -> None:
    """Put the transactions whose labels come after the bootstrap into the join."""
    event_ms = ((frame["event_time"] - _EPOCH) // pd.Timedelta(milliseconds=1)).tolist()
    for tx, at, card, merchant, x in zip(
        frame["transaction_id"].astype(str).tolist(),
        event_ms,
        frame["card_id"].tolist(),
        frame["merchant_id"].tolist(),
        cast(list[dict[str, float]], features.to_dict("records")),
        strict=True,
    ):
        state.join.add_served(Served(tx, at, x, math.nan, _id(card), _id(merchant)))


def _id(value: object) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def refuse_overwrite(existing: LearnerState | None) -> None:
    """A bootstrap starts a model from scratch: never over a learner's saved state."""
    if existing is not None:
        raise ConfigError(
            f"a learner state ({existing.version}) already exists under this "
            "FEATURES_KEY_PREFIX; bootstrap only starts a new one"
        )
