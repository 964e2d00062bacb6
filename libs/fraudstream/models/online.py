"""The parts of the online models the learner builds: feature transforms and the stack.

River pipelines made of these are pickled into snapshots, so everything here is plain
data and module-level classes.

- :class:`LogScale`: ``log1p`` of amounts, counts and durations (heavy-tailed, and a
  linear model should see ratios, not differences);
- :class:`QuantileBins`: each feature one-hot encoded on quantile cut points fitted on
  the first examples learned, so a linear model can give every range of a feature its
  own weight (a generalised additive model);
- :class:`StackedClassifier`: base classifiers whose probabilities a logistic
  regression combines, learned online together (the additive logistic model ranks
  most frauds; Hoeffding trees find the sharp thresholds it cannot).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any, Final, TypeAlias, cast

import numpy as np
import pandas as pd
from river import base, linear_model

#: A row as River passes it.
Row: TypeAlias = dict[Hashable, Any]

#: Feature name parts of heavy-tailed features :class:`LogScale` takes the log of.
HEAVY_TAILED: Final = ("amount", "count", "seconds")


def _heavy_tailed(name: Hashable) -> bool:
    text = str(name)
    return any(part in text for part in HEAVY_TAILED) and "over_mean" not in text


class LogScale(base.Transformer):
    """``log1p`` of the heavy-tailed features (negative values count as 0).

    >>> LogScale().transform_one({"amount": math.e - 1, "is_night": 1.0})
    {'amount': 1.0, 'is_night': 1.0}
    """

    def transform_one(self, x: Row) -> Row:
        return {
            name: math.log1p(max(value, 0.0)) if _heavy_tailed(name) else value
            for name, value in x.items()
        }

    def transform_many(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803 - River's name
        heavy = [name for name in X.columns if _heavy_tailed(name)]
        out = X.copy()
        out[heavy] = np.log1p(np.maximum(X[heavy].to_numpy(dtype=np.float64), 0.0))
        return out


class QuantileBins(base.Transformer):
    """Keeps every feature and adds its bin as one-hot columns ``name#i`` (0 or 1).

    Cut points are the ``quantiles`` of the first ``fit_after`` examples learned, then
    fixed, so a bin means the same range for the rest of the model's life. Before
    that, features pass through unchanged. Every bin column is written, zeros too:
    a scaler downstream must see the zeros to learn a bin's mean and spread.

    >>> bins = QuantileBins(quantiles=(0.5,), fit_after=4)
    >>> for v in (1.0, 2.0, 3.0, 4.0):
    ...     bins.learn_one({"amount": v})
    >>> bins.transform_one({"amount": 3.5})
    {'amount': 3.5, 'amount#0': 0.0, 'amount#1': 1.0}
    """

    def __init__(
        self, quantiles: Sequence[float] = tuple(np.linspace(0.1, 0.9, 9)), fit_after: int = 20_000
    ) -> None:
        self.quantiles = tuple(quantiles)
        self.fit_after = fit_after
        self._seen: list[Row] = []
        self.cuts: dict[Hashable, np.ndarray] | None = None

    def learn_one(self, x: Row) -> None:
        if self.cuts is not None:
            return
        self._seen.append(dict(x))
        if len(self._seen) >= self.fit_after:
            frame = pd.DataFrame(self._seen)
            self.cuts = {
                name: np.unique(np.nanquantile(frame[name].to_numpy(float), self.quantiles))
                for name in frame.columns
            }
            self._seen = []

    def transform_one(self, x: Row) -> Row:
        out = dict(x)
        if self.cuts is None:
            return out
        for name, value in x.items():
            cuts = self.cuts.get(name)
            if cuts is None:
                continue
            chosen = int(np.searchsorted(cuts, value, side="right"))
            for i in range(len(cuts) + 1):
                out[f"{name}#{i}"] = 1.0 if i == chosen else 0.0
        return out

    def transform_many(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803 - River's name
        if self.cuts is None:
            return X
        columns: dict[str, Any] = {str(name): X[name].to_numpy() for name in X.columns}
        for name in X.columns:
            cuts = self.cuts.get(name)
            if cuts is None:
                continue
            chosen = np.searchsorted(cuts, X[name].to_numpy(dtype=np.float64), side="right")
            for i in range(len(cuts) + 1):
                columns[f"{name}#{i}"] = (chosen == i).astype(np.float64)
        return pd.DataFrame(columns, index=X.index)


class StackedClassifier(base.Classifier):
    """Base classifiers combined by a logistic regression over their probabilities.

    Each label first scores the example with every member (the combiner learns from
    predictions made before the members saw the label, as in River's stacking), then
    teaches the members, then the combiner. Scores of a batch use the members'
    mini-batch API where they have one. Reasons come from the first member, which
    must be a pipeline ending in a linear model.
    """

    def __init__(self, members: Sequence[base.Classifier]) -> None:
        self.members = list(members)
        self.combiner = linear_model.LogisticRegression()

    def _member_probabilities(self, x: Row) -> Row:
        return {
            f"member_{i}": member.predict_proba_one(x).get(True, 0.0)
            for i, member in enumerate(self.members)
        }

    def learn_one(self, x: Row, y: bool | str | int, **kwargs: Any) -> None:
        stacked = self._member_probabilities(x)
        for member in self.members:
            member.learn_one(x, y)
        self.combiner.learn_one(stacked, y)

    def predict_proba_one(self, x: Row, **kwargs: Any) -> dict[bool | str | int, float]:
        probabilities = self.combiner.predict_proba_one(self._member_probabilities(x))  # type: ignore[no-untyped-call]
        return cast(dict[bool | str | int, float], probabilities)

    def predict_proba_many(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803 - River's name
        stacked = {}
        for i, member in enumerate(self.members):
            if hasattr(member, "predict_proba_many"):
                probabilities = member.predict_proba_many(X)
                column = True if True in probabilities.columns else probabilities.columns[-1]
                stacked[f"member_{i}"] = probabilities[column].to_numpy(dtype=np.float64)
            else:
                stacked[f"member_{i}"] = np.array(
                    [member.predict_proba_one(x).get(True, 0.0) for x in X.to_dict("records")]
                )
        combined = self.combiner.predict_proba_many(pd.DataFrame(stacked, index=X.index))
        return cast(pd.DataFrame, combined)

    @property
    def reasoning_member(self) -> Any:
        """The member whose weights explain a score (the additive logistic model)."""
        return self.members[0]
