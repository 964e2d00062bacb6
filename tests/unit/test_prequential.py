"""Prequential evaluation: the online model learns the simulated fraud patterns."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.features.served import served_features
from fraudstream.learning.models import DEFAULT_MODEL, MODEL_CHOICES
from fraudstream.learning.prequential import prequential_scores, run_prequential


@pytest.mark.slow
def test_the_default_model_learns_beyond_the_cold_start() -> None:
    frame = simulate(SimulatorConfig(customers=1_500, terminals=3_000, days=40, seed=3))
    delay = timedelta(days=7)
    features = served_features(frame, delay)
    fraud_rate = frame["is_fraud"].mean()
    cold = run_prequential(frame, features, None, label_delay=delay, evaluate_from_day=20)
    learned = run_prequential(
        frame, features, MODEL_CHOICES[DEFAULT_MODEL], label_delay=delay, evaluate_from_day=20
    )
    print(
        f"fraud rate {fraud_rate:.4f}; cold-start AP {cold.average_precision:.3f}; "
        f"{DEFAULT_MODEL} AP {learned.average_precision:.3f}"
    )
    assert learned.average_precision > 10 * fraud_rate
    assert learned.average_precision > cold.average_precision
    assert 0.5 < learned.roc_auc <= 1.0


def test_features_served_use_only_labels_known_by_then() -> None:
    frame = simulate(SimulatorConfig(customers=300, terminals=600, days=10, seed=1))
    late = served_features(frame, timedelta(days=30))  # no label known within 10 days
    soon = served_features(frame, timedelta(days=1))
    assert (late["merchant_fraud_share_7d"] == 0).all()
    assert (soon["merchant_fraud_share_7d"] > 0).any()


def test_prequential_scores_never_use_a_label_not_yet_known() -> None:
    frame = simulate(SimulatorConfig(customers=200, terminals=400, days=12, seed=2))
    delay = timedelta(days=3)
    features = served_features(frame, delay)
    day = (frame["event_time"] - frame["event_time"].iloc[0]).dt.days.to_numpy()
    choice = MODEL_CHOICES[DEFAULT_MODEL]
    scores = prequential_scores(frame, features, choice, label_delay=delay)
    flipped = frame.copy()
    flipped.loc[day >= 8, "is_fraud"] = 1 - flipped.loc[day >= 8, "is_fraud"]
    changed = prequential_scores(flipped, features, choice, label_delay=delay)
    # labels of day 8 are learned at the end of day 11: days 0-11 cannot see them
    assert (scores == changed).all()
    flipped.loc[day >= 5, "is_fraud"] = 1 - flipped.loc[day >= 5, "is_fraud"]
    earlier = prequential_scores(flipped, features, choice, label_delay=delay)
    assert (earlier[day <= 8] == scores[day <= 8]).all()  # day 5 is learned after day 8
    assert (earlier[day > 8] != scores[day > 8]).any()
