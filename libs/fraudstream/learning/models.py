"""The online models fraudstream can learn, by name (``LEARNER_MODEL``).

The default, ``hybrid``, was chosen under the handbook's protocol
(``fraudstream bench quality``, docs/learning.md): an additive logistic model that
learns every label, stacked with gradient-boosted trees refit on the learner's newest
labels, ranks frauds better than every per-label River model measured and than the
batch challenger trained on the same week. Among the per-label models
(``fraudstream bench learn``), a standardised logistic regression ranks best of the
fast ones; weighting frauds up made its ranking worse, River's mini-batch
``learn_many`` takes one gradient step per batch (far too few when labels arrive a
day at a time), the adaptive random forest ranked worse at about a hundred times the
cost, and a Hoeffding adaptive tree stayed at chance.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from river import forest, linear_model, preprocessing, tree

from fraudstream.models import online
from fraudstream.models.feedback import FEEDBACK_WEIGHT, FeedbackBlend


@dataclass(frozen=True)
class ModelChoice:
    """A named online model: how to build it, which labels it learns, how it weighs them.

    ``genuine_rate`` < 1 undersamples genuine labels: every fraud is learned, and a
    genuine label only when a hash of its transaction id falls below the rate, so
    every process (the learner, a restarted learner, the benches) keeps the same ones.

    >>> choice = ModelChoice("x", object, genuine_rate=0.5)
    >>> choice.learns("tx-1", True), choice.learns("tx-1", False), choice.learns("tx-2", False)
    (True, False, True)
    """

    name: str
    build: Callable[[], Any]
    fraud_weight: float = 1.0
    description: str = ""
    genuine_rate: float = 1.0

    def learns(self, transaction_id: str, is_fraud: bool) -> bool:
        """Whether the learner learns this label (every fraud; the sampled genuine ones)."""
        return (
            is_fraud
            or self.genuine_rate >= 1.0
            or zlib.crc32(transaction_id.encode()) < self.genuine_rate * _HASH_RANGE
        )

    def learns_many(self, transaction_ids: Sequence[str], is_fraud: np.ndarray) -> np.ndarray:
        """:meth:`learns` of each label, as a boolean array."""
        if self.genuine_rate >= 1.0:
            return np.ones(len(transaction_ids), dtype=bool)
        hashes = np.fromiter((zlib.crc32(t.encode()) for t in transaction_ids), np.uint64)
        return np.asarray(is_fraud, dtype=bool) | (hashes < self.genuine_rate * _HASH_RANGE)

    def learn(self, model: Any, x: Mapping[Any, Any], is_fraud: bool) -> None:
        """Learn one label (a fraud weighted by ``fraud_weight``)."""
        if self.fraud_weight == 1.0:
            model.learn_one(x, is_fraud)
        else:
            model.learn_one(x, is_fraud, w=self.fraud_weight if is_fraud else 1.0)

    def learn_all(
        self, model: Any, rows: Sequence[Mapping[Any, Any]], labels: Sequence[bool]
    ) -> None:
        """:meth:`learn` each label in turn, with the same result (through the model's
        ``learn_sequence`` when frauds are not weighted)."""
        if self.fraud_weight == 1.0:
            online.learn_in_order(model, rows, labels)
            return
        for x, is_fraud in zip(rows, labels, strict=True):
            self.learn(model, x, is_fraud)


#: CRC-32 values are uniform over [0, 2**32).
_HASH_RANGE: Final = 2**32


def _logistic() -> Any:
    return preprocessing.StandardScaler() | linear_model.LogisticRegression()


def _additive() -> Any:
    return (
        online.LogScale()
        | online.QuantileBins()
        | preprocessing.StandardScaler()
        | linear_model.LogisticRegression()
    )


def _stacked() -> Any:
    return online.StackedClassifier(
        [
            _additive(),
            tree.HoeffdingTreeClassifier(grace_period=50, split_criterion="hellinger"),
            tree.HoeffdingTreeClassifier(
                grace_period=200, max_depth=8, split_criterion="hellinger"
            ),
        ]
    )


def _hybrid() -> Any:
    return online.StackedClassifier([_additive(), online.RefitBooster()], log_odds=True)


def _forest() -> Any:
    return forest.ARFClassifier(n_models=10, seed=7)


def _tree() -> Any:
    return tree.HoeffdingAdaptiveTreeClassifier(seed=7)


MODEL_CHOICES: Final = {
    choice.name: choice
    for choice in (
        ModelChoice(
            "hybrid",
            _hybrid,
            1.0,
            "additive logistic model learning every label and gradient-boosted trees refit "
            "every 2,000 learned labels, stacked on their log-odds; 10% of genuine labels",
            genuine_rate=0.1,
        ),
        ModelChoice(
            "stacked",
            _stacked,
            1.0,
            "additive logistic model and two Hoeffding trees, stacked; 10% of genuine labels",
            genuine_rate=0.1,
        ),
        ModelChoice(
            "additive",
            _additive,
            1.0,
            "logistic regression over log-scaled, quantile-binned features; 10% of genuine labels",
            genuine_rate=0.1,
        ),
        ModelChoice("logreg", _logistic, 1.0, "standardised logistic regression"),
        ModelChoice("logreg-fraud-x3", _logistic, 3.0, "the same, frauds weighted 3x"),
        ModelChoice("logreg-fraud-x10", _logistic, 10.0, "the same, frauds weighted 10x"),
        ModelChoice("arf", _forest, 1.0, "adaptive random forest, 10 trees"),
        ModelChoice("hoeffding", _tree, 1.0, "Hoeffding adaptive tree"),
    )
}

#: The default, chosen by the measurement above.
DEFAULT_MODEL: Final = "hybrid"


def learner_model(
    choice: ModelChoice, feedback: str = "separate", weight: float = FEEDBACK_WEIGHT
) -> Any:
    """A new model for the learner: ``choice``'s, alone (``feedback`` ``same``: it learns
    investigators' labels too) or as the delayed-label half of a
    :class:`~fraudstream.models.feedback.FeedbackBlend` whose feedback half is another
    of ``choice``'s (``separate``).

    >>> type(learner_model(MODEL_CHOICES["logreg"], "separate")).__name__
    'FeedbackBlend'
    >>> type(learner_model(MODEL_CHOICES["logreg"], "same")).__name__
    'Pipeline'
    """
    if feedback == "same":
        return choice.build()
    if feedback != "separate":
        raise ValueError(f"feedback must be 'separate' or 'same', got {feedback!r}")
    return FeedbackBlend(choice.build(), choice.build(), weight=weight)
