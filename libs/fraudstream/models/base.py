"""What every model is: the feature rows it scores and the protocol the scorer needs.

Every model scores a batch of feature rows (the online features, ``amount`` and the
dataset's own columns; a :class:`ModelInput` or a DataFrame) into probabilities in
[0, 1] and names, for each row, the features that pushed its score up most (the
alert's ``reasons``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Final, Protocol, TypeAlias

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
