"""The parts of the online models the learner builds: feature transforms and the stack.

River pipelines made of these are pickled into snapshots, so everything here is plain
data and module-level classes.

- :class:`LogScale`: ``log1p`` of amounts, counts and durations (heavy-tailed, and a
  linear model should see ratios, not differences);
- :class:`QuantileBins`: each feature one-hot encoded on quantile cut points fitted on
  the first examples learned, so a linear model can give every range of a feature its
  own weight (a generalised additive model);
- :class:`RefitBooster`: gradient-boosted trees (XGBoost) refit on the newest
  labels it learned every ``refit_every`` labels, from a bounded buffer; between two
  refits it serves the last fit;
- :class:`StackedClassifier`: base classifiers whose probabilities (or log-odds) a
  logistic regression combines, learned online together (the additive logistic
  model ranks most frauds and learns every label; the trees find the sharp
  thresholds and the interactions it cannot).

A model that holds data only its learning needs (the booster's buffer) gives a copy
without it from ``for_serving()``: that copy is what scorers load.

:func:`learn_in_order` learns a run of labels as ``learn_one`` would, one after the
other, with the same result; the stack does it faster, since between two refits the
booster scores the rows it will be asked about in one call instead of one call each
(a single-row XGBoost prediction costs ~250 µs, almost all of it the call itself).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Final, TypeAlias, cast

import numpy as np
import pandas as pd
import xgboost as xgb
from river import base, linear_model

#: A row as River passes it.
Row: TypeAlias = dict[Hashable, Any]

#: Rows a :class:`RefitBooster` scores ahead in one call while a stack learns a run.
_AHEAD: Final = 2_048

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


#: Probabilities are clipped to this distance from 0 and 1 before taking log-odds.
_EPSILON: Final = 1e-6

#: Booster settings of :class:`RefitBooster` (shallow trees rank these frauds best).
BOOSTER_PARAMS: Final[dict[str, Any]] = {
    "objective": "binary:logistic",
    "tree_method": "hist",
    "max_depth": 3,
    "eta": 0.1,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "nthread": 1,
}


class RefitBooster(base.Classifier):
    """XGBoost refit every ``refit_every`` learned labels on the newest ``max_rows``.

    Every label learned is added to a ring buffer of at most ``max_rows`` rows (the
    oldest go first); every ``refit_every`` labels, and first as soon as the buffer
    holds ``first_fit`` rows of both classes, a booster of ``rounds`` trees is trained
    on the whole buffer and replaces the last one. Before the first fit it scores 0.
    Feature names are fixed by the first row learned; a feature missing from a row is
    NaN, which XGBoost routes as missing.

    >>> booster = RefitBooster(refit_every=10, first_fit=10, rounds=20)
    >>> for i in range(40):  # no fit while every label is genuine; then one per 10 labels
    ...     booster.learn_one({"amount": float(i)}, i >= 20)
    >>> booster.fits, booster.predict_proba_one({"amount": 35.0})[True] > 0.5
    (2, True)
    >>> booster.for_serving().rows is None
    True
    """

    def __init__(
        self,
        refit_every: int = 2_000,
        max_rows: int = 100_000,
        rounds: int = 200,
        first_fit: int = 200,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.refit_every = refit_every
        self.max_rows = max_rows
        self.rounds = rounds
        self.first_fit = first_fit
        self.params = dict(BOOSTER_PARAMS if params is None else params)
        self.names: list[Hashable] | None = None
        self.rows: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        #: rows written so far (the ring's next slot is ``written % max_rows``).
        self.written = 0
        self.since_fit = 0
        self.fits = 0
        self.booster: xgb.Booster | None = None

    def learn_one(self, x: Row, y: bool | str | int, **kwargs: Any) -> None:
        if self.names is None:
            self.names = list(x)
            self.rows = np.full((self.max_rows, len(self.names)), np.nan, dtype=np.float32)
            self.labels = np.zeros(self.max_rows, dtype=np.float32)
        rows, labels = self._buffer()
        slot = self.written % self.max_rows
        rows[slot] = [x.get(name, math.nan) for name in self.names]
        labels[slot] = float(bool(y))
        self.written += 1
        self.since_fit += 1
        due = self.since_fit >= self.refit_every or (
            self.booster is None and self.written >= self.first_fit
        )
        if due:
            self._fit()

    def _buffer(self) -> tuple[np.ndarray, np.ndarray]:
        if self.rows is None or self.labels is None:
            raise TypeError("a serving copy of RefitBooster cannot learn")
        return self.rows, self.labels

    def _fit(self) -> None:
        rows, labels = self._buffer()
        held = min(self.written, self.max_rows)
        if labels[:held].min() == labels[:held].max():  # one class only: nothing to rank
            return
        matrix = xgb.DMatrix(rows[:held], label=labels[:held], missing=math.nan)
        self.booster = xgb.train(self.params, matrix, num_boost_round=self.rounds)
        self.since_fit = 0
        self.fits += 1

    def _matrix(self, rows: list[list[float]] | np.ndarray) -> np.ndarray:
        return np.asarray(rows, dtype=np.float32)

    def predict_proba_one(self, x: Row, **kwargs: Any) -> dict[bool | str | int, float]:
        if self.booster is None or self.names is None:
            return {False: 1.0, True: 0.0}
        row = self._matrix([[x.get(name, math.nan) for name in self.names]])
        p = float(self.booster.inplace_predict(row, missing=math.nan)[0])
        return {False: 1.0 - p, True: p}

    def fraud_probabilities(self, rows: Sequence[Row]) -> list[float]:
        """``predict_proba_one(x)[True]`` of each row, from one call (the same values:
        each row goes through the trees alone either way)."""
        if self.booster is None or self.names is None or not rows:
            return [0.0] * len(rows)
        matrix = self._matrix([[x.get(name, math.nan) for name in self.names] for x in rows])
        return [float(p) for p in self.booster.inplace_predict(matrix, missing=math.nan)]

    def predict_proba_many(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803 - River's name
        if self.booster is None or self.names is None:
            p = np.zeros(len(X))
        else:
            columns = X.reindex(columns=self.names).to_numpy(dtype=np.float32)
            p = np.asarray(self.booster.inplace_predict(columns, missing=math.nan), np.float64)
        return pd.DataFrame({False: 1.0 - p, True: p}, index=X.index)

    def for_serving(self) -> RefitBooster:
        """A copy without the buffer (scores the same; cannot learn)."""
        served = copy.copy(self)
        served.rows = None
        served.labels = None
        return served


class StackedClassifier(base.Classifier):
    """Base classifiers combined by a logistic regression over their outputs.

    The combiner sees each member's probability, or its log-odds with ``log_odds``
    (a boosted model's scores spread over orders of magnitude near 0, which log-odds
    keep apart). Each label first scores the example with every member (the combiner
    learns from predictions made before the members saw the label, as in River's
    stacking), then teaches the members, then the combiner. Scores of a batch use the
    members' mini-batch API where they have one. Reasons come from the first member,
    which must be a pipeline ending in a linear model.
    """

    def __init__(self, members: Sequence[base.Classifier], *, log_odds: bool = False) -> None:
        self.members = list(members)
        self.log_odds = log_odds
        self.combiner = linear_model.LogisticRegression()

    def _inputs(self, probabilities: np.ndarray) -> np.ndarray:
        if not getattr(self, "log_odds", False):
            return probabilities
        clipped = np.clip(probabilities, _EPSILON, 1.0 - _EPSILON)
        log_odds: np.ndarray = np.log(clipped / (1.0 - clipped))
        return log_odds

    def _stacked(self, probabilities: Sequence[float]) -> Row:
        """The combiner's input from the members' fraud probabilities."""
        inputs = self._inputs(np.array(probabilities))
        return {f"member_{i}": float(v) for i, v in enumerate(inputs)}

    def _member_probabilities(self, x: Row) -> Row:
        return self._stacked([m.predict_proba_one(x).get(True, 0.0) for m in self.members])

    def learn_one(self, x: Row, y: bool | str | int, **kwargs: Any) -> None:
        self._learn_stacked(x, y, self._member_probabilities(x))

    def _learn_stacked(self, x: Row, y: bool | str | int, stacked: Row) -> None:
        """Teach the members, then the combiner what they said before learning ``x``."""
        for member in self.members:
            member.learn_one(x, y)
        self.combiner.learn_one(stacked, y)

    def learn_sequence(self, rows: Sequence[Row], ys: Sequence[bool]) -> None:
        """:meth:`learn_one` of each ``(row, y)`` in turn, with the same result: a
        :class:`RefitBooster` member scores the rows ahead in one call, again after
        each of its refits (its scores change only then)."""
        boosters = {i: m for i, m in enumerate(self.members) if isinstance(m, RefitBooster)}
        ahead: dict[int, tuple[int, xgb.Booster | None, list[float]]] = {}
        for k, (x, y) in enumerate(zip(rows, ys, strict=True)):
            probabilities = []
            for i, member in enumerate(self.members):
                if i not in boosters:
                    probabilities.append(member.predict_proba_one(x).get(True, 0.0))
                    continue
                start, fitted, scores = ahead.get(i, (0, None, []))
                if fitted is not boosters[i].booster or k - start >= len(scores):
                    start, fitted = k, boosters[i].booster
                    scores = boosters[i].fraud_probabilities(rows[k : k + _AHEAD])
                    ahead[i] = (start, fitted, scores)
                probabilities.append(scores[k - start])
            self._learn_stacked(x, y, self._stacked(probabilities))

    def predict_proba_one(self, x: Row, **kwargs: Any) -> dict[bool | str | int, float]:
        probabilities = self.combiner.predict_proba_one(self._member_probabilities(x))  # type: ignore[no-untyped-call]
        return cast(dict[bool | str | int, float], probabilities)

    def predict_proba_many(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803 - River's name
        stacked = {}
        for i, member in enumerate(self.members):
            if hasattr(member, "predict_proba_many"):
                probabilities = member.predict_proba_many(X)
                column = True if True in probabilities.columns else probabilities.columns[-1]
                values = probabilities[column].to_numpy(dtype=np.float64)
            else:
                values = np.array(
                    [member.predict_proba_one(x).get(True, 0.0) for x in X.to_dict("records")]
                )
            stacked[f"member_{i}"] = self._inputs(values)
        combined = self.combiner.predict_proba_many(pd.DataFrame(stacked, index=X.index))
        return cast(pd.DataFrame, combined)

    def for_serving(self) -> StackedClassifier:
        """A copy whose members are their serving copies (where they have one)."""
        served = copy.copy(self)
        served.members = [serving_copy(member) for member in self.members]
        return served

    @property
    def reasoning_member(self) -> Any:
        """The member whose weights explain a score (the additive logistic model)."""
        return self.members[0]


def serving_copy(model: Any) -> Any:
    """What scorers load of ``model``: its ``for_serving()`` copy, or the model itself."""
    for_serving = getattr(model, "for_serving", None)
    return model if for_serving is None else for_serving()


def learn_in_order(model: Any, rows: Sequence[Mapping[Any, Any]], ys: Sequence[bool]) -> None:
    """``model.learn_one(row, y)`` for each pair in turn, through the model's faster
    ``learn_sequence`` where it has one (the same result)."""
    if hasattr(model, "learn_sequence"):
        model.learn_sequence(rows, ys)
        return
    for x, y in zip(rows, ys, strict=True):
        model.learn_one(x, y)
