"""An online River classifier as a scoring model."""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from fraudstream.models.base import TOP_REASONS, Features, ModelInput

#: What separates a feature's name from the suffix of a column derived from it.
DERIVED: Final = "#"

#: Batches smaller than this are scored row by row: River's mini-batch path builds
#: DataFrames at every step, which costs milliseconds for one row (the API's case).
ROW_BY_ROW: Final = 8


class RiverModel:
    """An online River classifier (usually a pipeline), with a version.

    Scoring uses River's mini-batch API when the model has one, for batches of
    :data:`ROW_BY_ROW` rows or more. Reasons come from the
    linear model at the end of the pipeline when there is one (weight times the
    transformed value, summed over the columns a transform derived from one feature,
    ``amount#3`` counting as ``amount``), else from the features furthest above the
    transformed mean. A model that combines others names the one that explains its
    scores (``reasoning_member``).
    """

    def __init__(self, model: Any, version: str) -> None:
        self.model = model
        self._version = version

    @property
    def version(self) -> str:
        return self._version

    def score(self, frame: Features) -> np.ndarray:
        if len(frame) == 0:
            return np.zeros(0)
        if len(frame) < ROW_BY_ROW or not hasattr(self.model, "predict_proba_many"):
            one = [self.model.predict_proba_one(r).get(True, 0.0) for r in _rows(frame)]
            scores: np.ndarray = np.clip(np.array(one, dtype=float), 0.0, 1.0)
            return scores
        if isinstance(frame, ModelInput):
            frame = frame.frame
        probabilities = self.model.predict_proba_many(frame.fillna(0.0))
        column = True if True in probabilities.columns else probabilities.columns[-1]
        clipped: np.ndarray = np.clip(probabilities[column].to_numpy(dtype=float), 0.0, 1.0)
        return clipped

    def reasons(self, row: dict[str, float], k: int = TOP_REASONS) -> list[str]:
        model = getattr(self.model, "reasoning_member", self.model)
        transformed, linear = _split_pipeline(model, row)
        weights: dict[str, float] = getattr(linear, "weights", {}) if linear is not None else {}
        contributions: dict[str, float] = {}
        for name, value in transformed.items():
            feature = name.split(DERIVED, 1)[0]
            part = weights.get(name, 0.0) * value if weights else value
            contributions[feature] = contributions.get(feature, 0.0) + part
        ranked = sorted(((v, n) for n, v in contributions.items() if v > 0), reverse=True)
        return [name for _, name in ranked[:k]]


def _rows(frame: Features) -> list[dict[str, float]]:
    """The rows as dicts, a missing value as 0 (as the mini-batch path fills it)."""
    if isinstance(frame, ModelInput):
        values = np.nan_to_num(frame.values, nan=0.0)
        return [dict(zip(frame.names, row.tolist(), strict=True)) for row in values]
    return [
        {str(name): float(value) for name, value in row.items()}
        for row in frame.fillna(0.0).to_dict("records")
    ]


def _split_pipeline(model: Any, row: dict[str, float]) -> tuple[dict[str, float], Any]:
    """The row as the last step of the pipeline sees it, and that step."""
    steps = list(getattr(model, "steps", {}).values())
    if not steps:
        return row, model
    x: dict[str, float] = dict(row)
    for step in steps[:-1]:
        if hasattr(step, "transform_one"):
            x = step.transform_one(x)
    return x, steps[-1]
