"""The online models fraudstream can learn, by name (``LEARNER_MODEL`` later).

Measured on the simulated data with a 7-day label delay (``fraudstream bench learn``,
docs/benchmarks.md): a standardised logistic regression learning one transaction at
a time ranks frauds best of the fast candidates; weighting frauds up (the usual
answer to class imbalance) made its ranking worse here, and River's mini-batch
``learn_many`` takes one gradient step per batch, far too few when labels arrive a
day at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from river import forest, linear_model, preprocessing, tree


@dataclass(frozen=True)
class ModelChoice:
    """A named online model: how to build it and how to weight a fraud label."""

    name: str
    build: Callable[[], Any]
    fraud_weight: float = 1.0
    description: str = ""


def _logistic() -> Any:
    return preprocessing.StandardScaler() | linear_model.LogisticRegression()


def _forest() -> Any:
    return forest.ARFClassifier(n_models=10, seed=7)


def _tree() -> Any:
    return tree.HoeffdingAdaptiveTreeClassifier(seed=7)


MODEL_CHOICES: Final = {
    choice.name: choice
    for choice in (
        ModelChoice("logreg", _logistic, 1.0, "standardised logistic regression"),
        ModelChoice("logreg-fraud-x3", _logistic, 3.0, "the same, frauds weighted 3x"),
        ModelChoice("logreg-fraud-x10", _logistic, 10.0, "the same, frauds weighted 10x"),
        ModelChoice("arf", _forest, 1.0, "adaptive random forest, 10 trees"),
        ModelChoice("hoeffding", _tree, 1.0, "Hoeffding adaptive tree"),
    )
}

#: The default, chosen by the measurement above.
DEFAULT_MODEL: Final = "logreg"
