"""Models the scorer can use: the cold-start heuristic and online River pipelines.

Every model scores a batch of feature rows (the online features, ``amount`` and the
dataset's own columns; a :class:`ModelInput` or a DataFrame) into probabilities in
[0, 1] and names, for each row, the features that pushed its score up most (the
alert's ``reasons``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final, Protocol, TypeAlias

import numpy as np
import pandas as pd

#: Reasons given per alert.
TOP_REASONS: Final = 3


@dataclass(frozen=True)
class ModelInput:
    """Feature rows as a float matrix: ``values[i, j]`` is row i's ``names[j]``.

    What the scoring core builds for each batch: for the one-transaction batches of the
    API a matrix costs a fraction of a DataFrame. NaN marks a dataset feature a row
    lacks. :attr:`frame` is the same rows as a DataFrame, for models that need one.

    >>> x = ModelInput(("amount", "hour"), np.array([[12.5, 3.0]]))
    >>> x.column("hour").tolist(), x.column("noise")
    ([3.0], None)
    >>> x.matrix(["hour", "noise"]).tolist()
    [[3.0, nan]]
    """

    names: tuple[str, ...]
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.values)

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {name: j for j, name in enumerate(self.names)}

    def column(self, name: str) -> np.ndarray | None:
        """The column ``name`` (float64), or None when there is none."""
        j = self._positions.get(name)
        return None if j is None else self.values[:, j]

    def matrix(self, names: Sequence[str]) -> np.ndarray:
        """The columns ``names`` in that order; NaN for a name it lacks."""
        missing = len(self.names)
        padded = np.column_stack([self.values, np.full(len(self.values), np.nan)])
        return padded[:, [self._positions.get(name, missing) for name in names]]

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame (float64 columns named :attr:`names`)."""
        return pd.DataFrame(self.values, columns=list(self.names))


#: What a model scores: feature rows, as a matrix or a DataFrame.
Features: TypeAlias = ModelInput | pd.DataFrame


def column(rows: Features, name: str) -> np.ndarray | None:
    """Column ``name`` of ``rows`` as float64, or None when it has none."""
    if isinstance(rows, ModelInput):
        return rows.column(name)
    if name not in rows.columns:
        return None
    values: np.ndarray = rows[name].to_numpy(dtype=np.float64)
    return values


class ScoringModel(Protocol):
    """What the scorer needs of a model."""

    @property
    def version(self) -> str:
        """Identifies the model in alerts and scored records."""
        ...

    def score(self, frame: Features) -> np.ndarray:
        """Fraud probability of each row (a feature vector per row), in [0, 1]."""
        ...

    def reasons(self, row: dict[str, float], k: int = TOP_REASONS) -> list[str]:
        """The ``k`` features that pushed this row's score up most."""
        ...


class ColdStartModel:
    """A fixed, interpretable logistic score for before any model has been learned.

    It knows what every fraud team knows on day one: large amounts, amounts far above
    the card's usual, and merchants with recent fraud are suspicious. Weights were set
    by hand (see docs/scoring.md) so that a normal purchase scores near 0.02, an
    amount of 250 at three times the card's mean near 0.7.

    >>> model = ColdStartModel()
    >>> frame = pd.DataFrame({"amount": [40.0, 900.0], "card_amount_over_mean_30d": [1.0, 8.0]})
    >>> low, high = model.score(frame)
    >>> bool(low < 0.05 < 0.9 < high)
    True
    >>> model.reasons({"amount": 900.0, "card_amount_over_mean_30d": 8.0})
    ['amount', 'card_amount_over_mean_30d']
    """

    version = "cold-start-1"
    intercept: Final = -13.0
    #: feature -> (weight, typical value): a feature pushes a score up when it
    #: exceeds its typical value.
    terms: Final = {
        "amount": (2.2, 3.9),  # on log1p(amount): a typical 50
        "card_amount_over_mean_30d": (0.5, 1.0),
        "merchant_fraud_share_7d": (8.0, 0.0),
    }

    def _contributions(self, row: dict[str, float]) -> dict[str, float]:
        values = {
            "amount": math.log1p(max(row.get("amount", 0.0), 0.0)),
            "card_amount_over_mean_30d": min(
                max(row.get("card_amount_over_mean_30d", 1.0), 0.0), 20.0
            ),
            "merchant_fraud_share_7d": row.get("merchant_fraud_share_7d", 0.0),
        }
        return {name: w * values[name] for name, (w, _) in self.terms.items()}

    def score(self, frame: Features) -> np.ndarray:
        n = len(frame)

        def values(name: str, default: float) -> np.ndarray:
            found = column(frame, name)
            return np.full(n, default) if found is None else found

        amount = np.log1p(np.maximum(values("amount", 0.0), 0.0))
        over = np.clip(values("card_amount_over_mean_30d", 1.0), 0.0, 20.0)
        share = values("merchant_fraud_share_7d", 0.0)
        w = {name: weight for name, (weight, _) in self.terms.items()}
        z = (
            self.intercept
            + w["amount"] * amount
            + w["card_amount_over_mean_30d"] * over
            + w["merchant_fraud_share_7d"] * share
        )
        probabilities: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return probabilities

    def reasons(self, row: dict[str, float], k: int = TOP_REASONS) -> list[str]:
        contributions = self._contributions(row)
        above = {
            name: c - w * typical
            for (name, c), (w, typical) in zip(
                contributions.items(), self.terms.values(), strict=True
            )
        }
        ranked = sorted((v, n) for n, v in above.items() if v > 0)
        return [name for _, name in reversed(ranked)][:k]


class RiverModel:
    """An online River classifier (usually a pipeline), with a version.

    Scoring uses River's mini-batch API when the model has one. Reasons come from the
    linear model at the end of the pipeline when there is one (weight times the
    transformed value), else from the features furthest above the transformed mean.
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
        transformed, linear = _split_pipeline(self.model, row)
        weights: dict[str, float] = getattr(linear, "weights", {}) if linear is not None else {}
        if weights:
            contributions = {n: weights.get(n, 0.0) * v for n, v in transformed.items()}
        else:
            contributions = dict(transformed)
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
