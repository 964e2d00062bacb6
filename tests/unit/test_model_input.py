"""The scoring core's model input: a float matrix that scores exactly as its DataFrame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from fraudstream.features.definitions import FEATURE_NAMES
from fraudstream.features.memory_store import MemoryFeatureStore
from fraudstream.features.store import FeatureRequest
from fraudstream.models import ColdStartModel, ModelInput, ScoringModel
from fraudstream.models.xgb import XGBoostModel
from fraudstream.schemas import Transaction
from fraudstream.scoring.core import ScoringCore, model_input
from fraudstream.scoring.decide import Decider
from fraudstream.scoring.holder import ModelHolder
from fraudstream.testing.samples import sample_transaction

OWN = [{}, {"V2": 1.5, "V1": -0.3}, {"V1": 2.0}, {"V3": 1.0, "V2": 0.1}]


def _batch(n: int, own: list[dict[str, float]]) -> tuple[list[Transaction], ModelInput]:
    rng = np.random.default_rng(n)
    txs = [
        sample_transaction(amount=float(rng.gamma(1.5, 40.0)), features=own[i % len(own)])
        for i in range(n)
    ]
    features = MemoryFeatureStore().process([FeatureRequest.of(tx) for tx in txs])
    return txs, model_input(features, txs)


def _as_dataframe(inputs: ModelInput, txs: list[Transaction]) -> pd.DataFrame:
    """The frame the core built with pandas before the matrix: online features,
    amount, then a DataFrame of the dataset features (union, NaN where missing)."""
    online = len(inputs.names) - len({k for tx in txs for k in tx.features})
    frame = pd.DataFrame(inputs.values[:, :online], columns=list(inputs.names[:online]))
    if any(tx.features for tx in txs):
        frame = pd.concat([frame, pd.DataFrame([tx.features for tx in txs])], axis=1)
    return frame


def _xgboost() -> XGBoostModel:
    names = ["amount", "V1", "card_count_1h", "V2", "absent"]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, len(names)))
    booster = xgb.train(
        {"max_depth": 3, "objective": "binary:logistic", "nthread": 1},
        xgb.DMatrix(x, label=(x[:, 0] + x[:, 1] > 0.5).astype(int), feature_names=names),
        10,
    )
    return XGBoostModel(booster, names, "xgb-test")


@pytest.mark.parametrize(
    "own", [OWN[:1], OWN, OWN[1:2], OWN[2:]], ids=["none", "mixed", "same", "some"]
)
@pytest.mark.parametrize("model", [ColdStartModel(), _xgboost()], ids=["cold", "xgboost"])
def test_the_matrix_scores_exactly_as_the_dataframe(
    own: list[dict[str, float]], model: ScoringModel
) -> None:
    for n in (1, 7):
        txs, inputs = _batch(n, own)
        expected = _as_dataframe(inputs, txs)
        pd.testing.assert_frame_equal(inputs.frame, expected)
        assert np.array_equal(model.score(inputs), model.score(expected))


def test_rows_leave_out_the_dataset_features_a_transaction_lacks() -> None:
    txs = [sample_transaction(features=own) for own in OWN]
    core = ScoringCore(MemoryFeatureStore(), ModelHolder(None), Decider(0.5))
    rows = core.run(txs).rows
    assert [sorted(k for k in row if k.startswith("V")) for row in rows] == [
        [],
        ["V1", "V2"],
        ["V1"],
        ["V2", "V3"],
    ]
    assert all(
        len(row) == len(FEATURE_NAMES) + 1 + len(own) for row, own in zip(rows, OWN, strict=True)
    )
