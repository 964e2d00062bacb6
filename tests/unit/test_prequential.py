"""Prequential evaluation: the online model learns the simulated fraud patterns."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.features.served import served_features
from fraudstream.learning.models import DEFAULT_MODEL, MODEL_CHOICES
from fraudstream.learning.prequential import (
    prequential_scores,
    prequential_scores_at,
    run_prequential,
)


@pytest.mark.slow
def test_the_default_model_learns_beyond_the_cold_start() -> None:
    frame = simulate(SimulatorConfig(customers=800, terminals=1_600, days=30, seed=3))
    delay = timedelta(days=7)
    features = served_features(frame, delay)
    fraud_rate = frame["is_fraud"].mean()
    # scored from day 18: eleven days of labels learned (AP 0.60 against 0.53 cold)
    cold = run_prequential(frame, features, None, label_delay=delay, evaluate_from_day=18)
    learned = run_prequential(
        frame, features, MODEL_CHOICES[DEFAULT_MODEL], label_delay=delay, evaluate_from_day=18
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
    times = frame["event_time"]
    choice = MODEL_CHOICES[DEFAULT_MODEL]
    scores = prequential_scores(frame, features, choice, label_delay=delay)
    cut = times.iloc[0] + timedelta(days=8)
    flipped = frame.copy()
    later = (times >= cut).to_numpy()
    flipped.loc[later, "is_fraud"] = 1 - flipped.loc[later, "is_fraud"]
    changed = prequential_scores(flipped, features, choice, label_delay=delay)
    # labels of rows at or after the cut arrive 3 days later: no earlier row sees them
    known_by = (times <= cut + delay).to_numpy()
    assert (scores[known_by] == changed[known_by]).all()
    assert (scores[~known_by] != changed[~known_by]).any()


@pytest.mark.parametrize("hours", [1, 26])
def test_a_delay_of_hours_is_hours_not_whole_days(hours: int) -> None:
    frame = simulate(SimulatorConfig(customers=200, terminals=400, days=4, seed=5))
    delay = timedelta(hours=hours)
    features = served_features(frame, delay)
    choice = MODEL_CHOICES["logreg"]
    scores = prequential_scores(frame, features, choice, label_delay=delay)
    first = frame["event_time"].iloc[0]
    before = (frame["event_time"] <= first + delay).to_numpy()
    # nothing is known before the first label arrives: every such row scores the same
    assert len(set(scores[before].tolist())) == 1
    assert len(set(scores[~before].tolist())) > 1


def test_a_slower_snapshot_cadence_serves_older_models() -> None:
    frame = simulate(SimulatorConfig(customers=200, terminals=400, days=6, seed=4))
    delay = timedelta(days=1)
    features = served_features(frame, delay)
    choice = MODEL_CHOICES["logreg"]
    every = prequential_scores(frame, features, choice, label_delay=delay)
    rows = np.flatnonzero(frame["event_time"] >= frame["event_time"].iloc[0] + timedelta(days=3))
    sparse = prequential_scores(
        frame, features, choice, label_delay=delay, snapshot_every_labels=500, rows=rows
    )
    assert len(sparse) == len(rows)
    assert (sparse != every[rows]).any()
    huge = prequential_scores(
        frame, features, choice, label_delay=delay, snapshot_every_labels=10**9, rows=rows
    )
    assert len(set(huge.tolist())) == 1  # no snapshot was ever published: the untrained model


def test_undersampled_genuine_labels_are_the_same_in_every_process() -> None:
    choice = MODEL_CHOICES["stacked"]
    ids = [f"tx-{i}" for i in range(20_000)]
    genuine = np.zeros(len(ids), dtype=bool)
    kept = choice.learns_many(ids, genuine)
    assert kept.tolist() == [choice.learns(t, False) for t in ids]
    assert abs(kept.mean() - choice.genuine_rate) < 0.01
    assert choice.learns_many(ids, ~genuine).all()  # every fraud is learned


def test_several_cadences_in_one_pass_equal_one_pass_each() -> None:
    frame = simulate(SimulatorConfig(customers=200, terminals=400, days=6, seed=6))
    delay = timedelta(days=1)
    features = served_features(frame, delay)
    choice = MODEL_CHOICES["logreg"]
    rows = np.flatnonzero(frame["event_time"] >= frame["event_time"].iloc[0] + timedelta(days=2))
    together = prequential_scores_at(
        frame, features, choice, label_delay=delay, cadences=(300, 1, 50), rows=rows
    )
    for every, scores in zip((300, 1, 50), together, strict=True):
        alone = prequential_scores(
            frame, features, choice, label_delay=delay, snapshot_every_labels=every, rows=rows
        )
        assert np.array_equal(scores, alone)
    assert not np.array_equal(together[0], together[1])
    # each cadence its own rows
    fewer = rows[::3]
    apart = prequential_scores_at(
        frame, features, choice, label_delay=delay, cadences=(300, 1), rows=[rows, fewer]
    )
    assert np.array_equal(apart[0], together[0])
    assert np.array_equal(apart[1], together[1][::3])
