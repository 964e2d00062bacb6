"""The measures a trained model is judged by, on one test set.

They reuse :mod:`fraudstream.evaluation.measures`, so batch models and the online
learner are measured the same way: in cross-validation (:func:`measure`), and on an
archived, labelled window (:func:`measure_frame`: champion against challenger, or one
model on a held-out period).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from fraudstream.evaluation.measures import (
    average_precision,
    card_precision_at_k,
    precision_recall_at,
    roc_auc,
)
from fraudstream.training.dataset import LABEL, feature_columns, feature_names

#: Cards a fraud team investigates per day (Card Precision@k).
CARDS_PER_DAY = 100

#: The family the pipeline registers: the one frozen flavour the scorer loads, with
#: SHAP reasons, and the only one tuned (docs/training.md says why).
REGISTERED_FAMILY: Final = "xgboost"

#: The measures, in report order.
MEASURES = (
    "average_precision",
    "roc_auc",
    "card_precision_at_100",
    "recall_at_threshold",
    "precision_at_threshold",
)


def measure(
    y: np.ndarray,
    scores: np.ndarray,
    *,
    event_time: pd.Series,
    card_id: pd.Series,
    threshold: float,
) -> dict[str, float]:
    """Every measure of ``MEASURES`` for ``scores`` against the truth ``y``.

    >>> y = np.array([0, 1, 0, 1])
    >>> s = np.array([0.1, 0.9, 0.6, 0.4])
    >>> t = pd.Series(pd.to_datetime(["2024-04-01"] * 4, utc=True))
    >>> m = measure(y, s, event_time=t, card_id=pd.Series(list("abcd")), threshold=0.5)
    >>> m["average_precision"], m["recall_at_threshold"]
    (0.8333333333333333, 0.5)
    >>> no_cards = pd.Series([None, "", None, None])  # no card: undefined, not 1.0
    >>> measure(y, s, event_time=t, card_id=no_cards, threshold=0.5)["card_precision_at_100"]
    nan
    """
    precision, recall = precision_recall_at(y, scores, threshold)
    cards = pd.DataFrame(
        {
            "day": pd.to_datetime(event_time, utc=True).dt.floor("D").to_numpy(),
            # a missing card id is no card (Card Precision@k is undefined without any)
            "card_id": card_id.replace("", None).to_numpy(dtype=object),
            "score": scores,
            "is_fraud": np.asarray(y, dtype=int),
        }
    )
    return {
        "average_precision": average_precision(y, scores),
        "roc_auc": roc_auc(y, scores),
        "card_precision_at_100": card_precision_at_k(cards, CARDS_PER_DAY),
        "recall_at_threshold": recall,
        "precision_at_threshold": precision,
    }


def mean_measures(per_fold: list[dict[str, float]]) -> dict[str, float]:
    """The mean of each measure over folds.

    >>> mean_measures([{"roc_auc": 0.8}, {"roc_auc": 0.6}])
    {'roc_auc': 0.7}
    """
    return {name: float(np.mean([fold[name] for fold in per_fold])) for name in per_fold[0]}


def measure_frame(frame: pd.DataFrame, scores: np.ndarray, *, threshold: float) -> dict[str, float]:
    """Every measure of ``MEASURES`` for ``scores`` of the labelled rows of ``frame``
    (a training set's columns: ``is_fraud``, ``event_time``, ``card_id``)."""
    return measure(
        frame[LABEL].to_numpy(dtype=bool),
        scores,
        event_time=frame["event_time"],
        card_id=frame["card_id"],
        threshold=threshold,
    )


def archived_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The served feature columns of an archived frame, named as models know them.

    >>> archived_features(pd.DataFrame({"score": [0.1], "features.amount": [9.5]}))
       amount
    0     9.5
    """
    columns = feature_columns(frame)
    return frame[columns].set_axis(feature_names(columns), axis=1)


def best_family(models: dict[str, dict[str, float]], by: str = "average_precision") -> str:
    """The model family with the highest cross-validated ``by`` (the first on a tie).

    >>> best_family(
    ...     {"xgboost": {"average_precision": 0.71}, "random_forest": {"average_precision": 0.74}}
    ... )
    'random_forest'
    """
    return max(models, key=lambda name: models[name][by])
