"""An XGBoost booster as a :class:`~fraudstream.models.ScoringModel`.

The booster was trained on the features in a fixed order (the model version's
``fraudstream.features`` tag). Scoring builds the matrix in that order from the
frame's columns; a column the frame lacks is missing (NaN), which XGBoost handles
natively; extra columns are ignored. Reasons are the features with the largest
positive SHAP contributions (``pred_contribs``), largest first.

>>> import numpy as np, pandas as pd, xgboost as xgb
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=(400, 2))
>>> y = (x[:, 0] > 1).astype(int)
>>> booster = xgb.train(
...     {"max_depth": 2, "objective": "binary:logistic", "nthread": 1},
...     xgb.DMatrix(x, label=y, feature_names=["amount", "noise"]),
...     20,
... )
>>> model = XGBoostModel(booster, ["amount", "noise"], "xgboost-1")
>>> low, high = model.score(pd.DataFrame({"amount": [0.0, 3.0], "noise": [0.0, 0.0]}))
>>> bool(low < 0.2 < 0.8 < high)
True
>>> model.reasons({"amount": 3.0, "noise": 0.0}, k=1)
['amount']
>>> float(model.score(pd.DataFrame({"noise": [0.0]}))[0]) >= 0  # amount missing: NaN
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xgboost as xgb

from fraudstream.models import TOP_REASONS, Features, ModelInput


class XGBoostModel:
    """A booster, its feature order and its version."""

    def __init__(self, booster: xgb.Booster, feature_names: Sequence[str], version: str) -> None:
        if not feature_names:
            raise ValueError("an XGBoost model needs its feature names")
        self.booster = booster
        self.feature_names = list(feature_names)
        self._version = version

    @property
    def version(self) -> str:
        return self._version

    def _matrix(self, frame: Features) -> np.ndarray:
        if isinstance(frame, ModelInput):
            return frame.matrix(self.feature_names).astype(np.float32)
        ordered = frame.reindex(columns=self.feature_names)
        return ordered.to_numpy(dtype=np.float32, na_value=np.nan)

    def score(self, frame: Features) -> np.ndarray:
        if len(frame) == 0:
            return np.zeros(0)
        scores = self.booster.inplace_predict(self._matrix(frame), validate_features=False)
        return np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)

    def reasons(self, row: dict[str, float], k: int = TOP_REASONS) -> list[str]:
        values = np.array(
            [[row.get(name, np.nan) for name in self.feature_names]], dtype=np.float32
        )
        matrix = xgb.DMatrix(values, feature_names=self.feature_names, missing=np.nan)
        contributions = self.booster.predict(matrix, pred_contribs=True)[0][:-1]  # last: bias
        ranked = sorted(
            ((float(c), name) for c, name in zip(contributions, self.feature_names, strict=True)),
            reverse=True,
        )
        return [name for c, name in ranked[:k] if c > 0]
