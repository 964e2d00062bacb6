"""The batch models: XGBoost (the challenger) and two comparison models.

- **XGBoost**: gradient-boosted trees, ``hist`` method, 2 threads; its
  hyperparameters come from a small random search (:func:`search_space`).
- **Logistic regression** (scikit-learn): missing values imputed with the median,
  standardised, L2-regularised.
- **Random forest** (scikit-learn): 30 trees, each on a bootstrap sample of at most
  30,000 rows, depth at most 10.

Each takes a float matrix, labels and optional row weights, and returns something that
gives fraud probabilities for a matrix.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Final, Protocol

import numpy as np
import xgboost as xgb

#: Threads XGBoost and scikit-learn may use.
THREADS: Final = 2

#: Every combination the XGBoost search draws from.
XGB_GRID: Final[dict[str, tuple[Any, ...]]] = {
    "max_depth": (3, 4, 6, 8),
    "eta": (0.05, 0.1, 0.2),
    "num_boost_round": (100, 200),
    "min_child_weight": (1, 5),
    "subsample": (0.8, 1.0),
    "colsample_bytree": (0.8, 1.0),
}
#: Always tried first: shallow trees, which rank the simulator's frauds best on a week
#: of data (docs/training.md).
XGB_DEFAULT: Final[dict[str, Any]] = {
    "max_depth": 3,
    "eta": 0.1,
    "num_boost_round": 200,
    "min_child_weight": 1,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
}


class Classifier(Protocol):
    """A fitted model: fraud probability per row of a float matrix."""

    def predict(self, x: np.ndarray) -> np.ndarray: ...


def search_space(trials: int, seed: int) -> list[dict[str, Any]]:
    """``trials`` distinct XGBoost settings: the default, then random draws from the grid.

    >>> space = search_space(3, seed=7)
    >>> len(space), space[0] == XGB_DEFAULT, len({tuple(sorted(p.items())) for p in space})
    (3, True, 3)
    """
    rng = random.Random(seed)
    names = list(XGB_GRID)
    combos = [dict(zip(names, values, strict=True)) for values in _product(XGB_GRID)]
    others = [c for c in combos if c != XGB_DEFAULT]
    rng.shuffle(others)
    return [dict(XGB_DEFAULT), *others[: max(0, trials - 1)]]


def _product(grid: dict[str, tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    result: list[tuple[Any, ...]] = [()]
    for values in grid.values():
        result = [(*prefix, v) for prefix in result for v in values]
    return result


def xgb_params(params: dict[str, Any], seed: int) -> dict[str, Any]:
    """Booster parameters for ``xgb.train`` (without the number of rounds)."""
    booster = {k: v for k, v in params.items() if k != "num_boost_round"}
    booster.update(
        objective="binary:logistic",
        tree_method="hist",
        nthread=THREADS,
        eval_metric="aucpr",
        seed=seed,
    )
    return booster


class XGBoostClassifier:
    """A trained booster as a :class:`Classifier`."""

    def __init__(self, booster: xgb.Booster) -> None:
        self.booster = booster

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.inplace_predict(x), dtype=np.float64)


def fit_xgboost(
    x: np.ndarray,
    y: np.ndarray,
    params: dict[str, Any],
    *,
    weights: np.ndarray | None = None,
    feature_names: list[str] | None = None,
    seed: int = 0,
) -> XGBoostClassifier:
    """Train a booster with ``params`` (one entry of :func:`search_space`)."""
    matrix = xgb.QuantileDMatrix(
        x, label=y, weight=weights, feature_names=feature_names, nthread=THREADS
    )
    booster = xgb.train(
        xgb_params(params, seed), matrix, num_boost_round=int(params["num_boost_round"])
    )
    return XGBoostClassifier(booster)


class SklearnClassifier:
    """A fitted scikit-learn estimator as a :class:`Classifier`."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(x)[:, 1], dtype=np.float64)


def fit_logistic_regression(
    x: np.ndarray, y: np.ndarray, *, weights: np.ndarray | None = None, seed: int = 0
) -> SklearnClassifier:
    """Median imputation, standardisation, L2 logistic regression."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(
        SimpleImputer(strategy="median"),
        StandardScaler(),
        LogisticRegression(max_iter=300, random_state=seed),
    )
    model.fit(x, y, logisticregression__sample_weight=weights)
    return SklearnClassifier(model)


def fit_random_forest(
    x: np.ndarray, y: np.ndarray, *, weights: np.ndarray | None = None, seed: int = 0
) -> SklearnClassifier:
    """30 trees of depth <= 10, each on a bootstrap sample of <= 30,000 rows."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    forest = RandomForestClassifier(
        n_estimators=30,
        max_depth=10,
        min_samples_leaf=5,
        max_samples=min(30_000, len(y)),
        n_jobs=THREADS,
        random_state=seed,
    )
    model = make_pipeline(SimpleImputer(strategy="median"), forest)
    model.fit(x, y, randomforestclassifier__sample_weight=weights)
    return SklearnClassifier(model)


#: The comparison models, by the name their metrics are logged under.
COMPARISON_MODELS: Final[dict[str, Callable[..., SklearnClassifier]]] = {
    "logistic_regression": fit_logistic_regression,
    "random_forest": fit_random_forest,
}
