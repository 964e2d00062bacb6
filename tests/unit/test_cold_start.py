"""The cold-start model ranks card payments by its priors and defers where there is no card."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.evaluation.measures import roc_auc
from fraudstream.features.served import model_inputs
from fraudstream.models import ColdStartModel


def test_without_cards_it_is_neutral_not_worse_than_chance() -> None:
    # ULB-like: no card, no merchant, the signal in the dataset's own column, and
    # frauds of small amounts (a prior on large amounts would rank them last)
    rng = np.random.default_rng(0)
    n = 2_000
    fraud = rng.random(n) < 0.05
    frame = pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "event_time": pd.date_range("2024-01-01", periods=n, freq="min", tz="UTC"),
            "card_id": None,
            "merchant_id": None,
            "amount": np.where(fraud, rng.uniform(1, 5, n), rng.uniform(20, 900, n)),
            "is_fraud": fraud.astype(int),
            "V1": np.where(fraud, -3.0, 0.0) + rng.normal(0, 1, n),
        }
    )
    scores = ColdStartModel().score(model_inputs(frame, timedelta(days=1), ("V1",)))
    assert roc_auc(fraud, scores) == 0.5
    assert np.unique(scores).tolist() == [ColdStartModel().neutral]
    assert ColdStartModel().reasons({"amount": 900.0, "card_tx_count_30d": 0.0}) == []


def test_with_cards_it_ranks_frauds_above_chance() -> None:
    frame = simulate(SimulatorConfig(customers=300, terminals=600, days=20, seed=2))
    features = model_inputs(frame, timedelta(days=7), ())
    scores = ColdStartModel().score(features)
    assert roc_auc(frame["is_fraud"].to_numpy(bool), scores) > 0.7
    assert len(np.unique(scores)) > 100
