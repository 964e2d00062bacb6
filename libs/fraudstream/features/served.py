"""The model inputs a scorer serves, computed offline from a whole canonical frame.

What training, the archive's backfill from a dataset, drift references, the learner's
bootstrap and the offline benches all need: the online features exactly as the scorer
serves them (the reference implementation of the windows, fed with the fraud labels
the system would have known), ``amount``, and the dataset's own feature columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pandas as pd

from fraudstream.features.definitions import FeatureConfig
from fraudstream.features.reference import compute_features


def served_features(frame: pd.DataFrame, label_delay: timedelta) -> pd.DataFrame:
    """Model inputs of every row of a canonical frame (sorted by event time): the online
    features as the scorer serves them, fraud labels known ``label_delay`` later, and
    ``amount``."""
    frauds = frame[frame["is_fraud"] == 1]
    known = np.searchsorted(
        frame["event_time"].to_numpy(), (frauds["event_time"] + label_delay).to_numpy()
    )
    labels = pd.DataFrame(
        {
            "transaction_id": frauds["transaction_id"].to_numpy(),
            "merchant_id": frauds["merchant_id"].to_numpy(),
            "event_time": frauds["event_time"].to_numpy(),
            "known_before": known,
        }
    )
    config = FeatureConfig(label_delay_ms=int(label_delay.total_seconds() * 1000))
    columns = ["transaction_id", "event_time", "card_id", "merchant_id", "amount"]
    features = compute_features(frame[columns], labels, config)
    features = features.drop(columns=["duplicate", "late"])
    features["amount"] = frame["amount"].to_numpy()
    return features


def model_inputs(
    frame: pd.DataFrame, label_delay: timedelta, own_columns: Sequence[str] = ()
) -> pd.DataFrame:
    """:func:`served_features` plus the dataset's own feature columns ``own_columns``
    (a ULB file's ``V1``..``V28``): every column a model is given."""
    features = served_features(frame, label_delay)
    for column in own_columns:
        features[column] = frame[column].to_numpy()
    return features
