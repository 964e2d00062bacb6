"""An online River classifier as a scoring model."""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from fraudstream.models.base import TOP_REASONS, Features, ModelInput

#: What separates a feature's name from the suffix of a column derived from it.
DERIVED: Final = "#"


class RiverModel:
    """An online River classifier (usually a pipeline), with a version.

    Scoring uses River's mini-batch API when the model has one. Reasons come from the
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
        if isinstance(frame, ModelInput):
            frame = frame.frame
        if frame.empty:
            return np.zeros(0)
        if hasattr(self.model, "predict_proba_many"):
            probabilities = self.model.predict_proba_many(frame.fillna(0.0))
            column = True if True in probabilities.columns else probabilities.columns[-1]
            clipped: np.ndarray = np.clip(probabilities[column].to_numpy(dtype=float), 0.0, 1.0)
            return clipped
        rows = frame.to_dict("records")
        return np.array([self.model.predict_proba_one(r).get(True, 0.0) for r in rows])

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
