"""Prequential ("test, then train") evaluation with delayed labels, offline.

Transactions are taken a day at a time, in event-time order: the model scores the
day, then learns the labels that became known by the end of it (those of
transactions at least ``label_delay`` older), one by one. The scores are exactly what
a scorer running that model would have given, so the measures over them are the
online quality of the model. Features come from the offline path
(:func:`fraudstream.features.reference.compute_features`), fed with the fraud
labels the system would have known, so terminal-risk features are what was served.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from fraudstream.evaluation.measures import average_precision, card_precision_at_k, roc_auc
from fraudstream.learning.models import ModelChoice
from fraudstream.models import ColdStartModel, RiverModel


@dataclass(frozen=True)
class PrequentialResult:
    """Quality of one model over the evaluated days."""

    name: str
    average_precision: float
    mean_daily_average_precision: float
    roc_auc: float
    card_precision_at_100: float


def prequential_scores(
    frame: pd.DataFrame,
    features: pd.DataFrame,
    choice: ModelChoice | None,
    *,
    label_delay: timedelta,
) -> np.ndarray:
    """The score every row got: each day is scored by the model as it stands, then the
    labels known by the end of the day (rows at least ``label_delay`` older) are learned.

    ``choice`` None is the cold-start model (it never learns).
    """
    day = _days(frame)
    y = frame["is_fraud"].astype(bool).to_numpy()
    scores = np.zeros(len(frame))
    model = choice.build() if choice is not None else None
    delay_days = label_delay.days
    learned = 0
    for d in range(int(day.max()) + 1):
        rows = np.flatnonzero(day == d)
        today = features.iloc[rows]
        if model is None:
            scores[rows] = ColdStartModel().score(today)
        else:
            scores[rows] = RiverModel(model, choice.name if choice else "").score(today)
        known = int(np.searchsorted(day, d - delay_days, side="right"))
        if model is not None and choice is not None and known > learned:
            for x, label in zip(
                features.iloc[learned:known].to_dict("records"),
                y[learned:known].tolist(),
                strict=True,
            ):
                model.learn_one(x, label, w=choice.fraud_weight if label else 1.0)
            learned = known
    return scores


def run_prequential(
    frame: pd.DataFrame,
    features: pd.DataFrame,
    choice: ModelChoice | None,
    *,
    label_delay: timedelta,
    evaluate_from_day: int,
) -> PrequentialResult:
    """Score day by day, learn delayed labels, and measure days >= ``evaluate_from_day``.

    ``choice`` None is the cold-start model (it never learns).
    """
    day = _days(frame)
    y = frame["is_fraud"].astype(bool).to_numpy()
    scores = prequential_scores(frame, features, choice, label_delay=label_delay)
    mask = day >= evaluate_from_day
    daily = [
        average_precision(y[day == d], scores[day == d])
        for d in range(evaluate_from_day, int(day.max()) + 1)
    ]
    cards = pd.DataFrame(
        {
            "day": day[mask],
            "card_id": frame["card_id"].to_numpy()[mask],
            "score": scores[mask],
            "is_fraud": y[mask].astype(int),
        }
    )
    return PrequentialResult(
        name=choice.name if choice is not None else "cold-start",
        average_precision=average_precision(y[mask], scores[mask]),
        mean_daily_average_precision=float(np.mean(daily)) if daily else 0.0,
        roc_auc=roc_auc(y[mask], scores[mask]),
        card_precision_at_100=card_precision_at_k(cards, 100),
    )


def _days(frame: pd.DataFrame) -> np.ndarray:
    """Whole days since the first row's event time, per row."""
    return np.asarray((frame["event_time"] - frame["event_time"].iloc[0]).dt.days.to_numpy())
