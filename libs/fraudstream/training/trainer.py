"""Train and cross-validate the batch models on a validated training set.

1. Folds: :func:`~fraudstream.training.folds.plan_folds` (train, a label-delay gap,
   test; oldest first). A set too short for the folds and the whole gap (the
   handbook's 7 days with a 7-day delay) keeps a shorter gap; the result's ``notes``
   and the log say so. Every fold's training part needs a fraud and a genuine row.
2. Each fold's training part keeps every fraud and at most ``CV_MAX_ROWS`` rows in
   all: genuine rows are sampled and weighted up by the inverse of the sampling rate,
   so probabilities stay calibrated. Test parts are never sampled.
3. XGBoost: every setting of the search is trained on each fold and measured on its
   test part; the best mean average precision wins.
4. Logistic regression and random forest are measured on the same folds.
5. The final XGBoost model is trained with the winning setting on the whole set,
   sampled the same way down to ``FINAL_MAX_ROWS`` rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd
import structlog
import xgboost as xgb

from fraudstream.config import Settings
from fraudstream.evaluation.drift import SCORE, build_reference, reference_as_dict
from fraudstream.training.dataset import LABEL, feature_columns, feature_names
from fraudstream.training.evaluate import mean_measures, measure
from fraudstream.training.folds import FoldError, plan_folds
from fraudstream.training.models import (
    COMPARISON_MODELS,
    Classifier,
    fit_xgboost,
    search_space,
)

log = structlog.get_logger(__name__)

#: Most rows a fold's training part keeps (all frauds, sampled genuine rows).
CV_MAX_ROWS: Final = 200_000
#: Most rows the final fit keeps, the same way.
FINAL_MAX_ROWS: Final = 600_000


@dataclass(frozen=True)
class TrainOptions:
    """How to train (from ``TRAIN_*`` and ``SCORER_THRESHOLD``)."""

    folds: int
    gap: pd.Timedelta
    trials: int
    threshold: float
    seed: int
    cv_max_rows: int = CV_MAX_ROWS
    final_max_rows: int = FINAL_MAX_ROWS

    @classmethod
    def of(cls, settings: Settings) -> TrainOptions:
        """The options ``fraudstream train`` and the retrain DAG use.

        >>> options = TrainOptions.of(Settings.load())
        >>> options.folds >= 2, options.gap >= pd.Timedelta(0)
        (True, True)
        """
        training = settings.training
        return cls(
            folds=training.folds,
            gap=pd.Timedelta(training.label_delay),
            trials=training.search_trials,
            threshold=settings.scorer.threshold,
            seed=training.seed,
        )


@dataclass
class Trial:
    """One XGBoost setting and its cross-validated measures."""

    params: dict[str, Any]
    measures: dict[str, float]
    per_fold: list[dict[str, float]]


@dataclass
class TrainingResult:
    """What training produced: the final booster and the evidence."""

    booster: xgb.Booster
    features: list[str]
    best: Trial
    trials: list[Trial]
    #: model name -> mean measures over the folds (``xgboost`` is the best trial).
    models: dict[str, dict[str, float]]
    #: the last fold's test truth and each model's scores on it (for the plots).
    last_fold: dict[str, np.ndarray] = field(default_factory=dict)
    #: per-feature and score quantile bins of the training set (drift monitoring).
    drift_reference: dict[str, Any] = field(default_factory=dict)
    rows: int = 0
    frauds: int = 0
    seconds: float = 0.0
    #: the gap the folds kept (shorter than ``TrainOptions.gap`` on a short set).
    gap: pd.Timedelta | None = None
    #: what differs from the options asked for, in words (such as a shrunk gap).
    notes: list[str] = field(default_factory=list)


def matrix(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The feature columns as a float32 matrix (missing values NaN)."""
    return frame[columns].to_numpy(dtype=np.float32, na_value=np.nan)


def _sample(
    positions: np.ndarray, y: np.ndarray, max_rows: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """All frauds and enough genuine rows to make ``max_rows``; weights restore the rate."""
    if len(positions) <= max_rows:
        return positions, None
    fraud = positions[y[positions]]
    genuine = positions[~y[positions]]
    keep = max(1, max_rows - len(fraud))
    if keep >= len(genuine):
        return positions, None
    chosen = np.sort(rng.choice(genuine, size=keep, replace=False))
    sampled = np.sort(np.concatenate([fraud, chosen]))
    weights = np.where(y[sampled], 1.0, len(genuine) / keep)
    return sampled, weights


def train_models(frame: pd.DataFrame, options: TrainOptions) -> TrainingResult:
    """Cross-validate the search and the comparison models; fit the final booster."""
    started = time.perf_counter()
    columns = feature_columns(frame)
    names = feature_names(columns)
    x = matrix(frame, columns)
    y = frame[LABEL].to_numpy(dtype=bool)
    plan = plan_folds(frame["event_time"], options.folds, options.gap)
    if plan.note:
        log.warning(
            "fold gap shrunk", note=plan.note, asked=str(plan.asked_gap), kept=str(plan.gap)
        )
    folds = plan.folds
    _require_both_classes(folds, y)
    rng = np.random.default_rng(options.seed)
    samples = [_sample(train, y, options.cv_max_rows, rng) for train, _ in folds]

    def cross_validate(fit: Any) -> tuple[list[dict[str, float]], np.ndarray]:
        per_fold, last = [], np.zeros(0)
        for (train, weights), (_, test) in zip(samples, folds, strict=True):
            model: Classifier = fit(x[train], y[train], weights)
            scores = model.predict(x[test])
            per_fold.append(
                measure(
                    y[test],
                    scores,
                    event_time=frame["event_time"].iloc[test],
                    card_id=frame["card_id"].iloc[test],
                    threshold=options.threshold,
                )
            )
            last = scores
        return per_fold, last

    trials: list[Trial] = []
    last_scores: dict[str, np.ndarray] = {}
    for params in search_space(options.trials, options.seed):
        per_fold, last = cross_validate(
            lambda a, b, w, p=params: fit_xgboost(a, b, p, weights=w, seed=options.seed)
        )
        trial = Trial(params=params, measures=mean_measures(per_fold), per_fold=per_fold)
        log.info(
            "search trial", params=params, average_precision=trial.measures["average_precision"]
        )
        if not trials or trial.measures["average_precision"] > max(
            t.measures["average_precision"] for t in trials
        ):
            last_scores["xgboost"] = last
        trials.append(trial)
    best = max(trials, key=lambda t: t.measures["average_precision"])
    models = {"xgboost": best.measures}
    for name, fit_model in COMPARISON_MODELS.items():
        per_fold, last = cross_validate(
            lambda a, b, w, f=fit_model: f(a, b, weights=w, seed=options.seed)
        )
        models[name] = mean_measures(per_fold)
        last_scores[name] = last
        log.info("comparison model", model=name, **models[name])
    everything = np.arange(len(y))
    rows, weights = _sample(everything, y, options.final_max_rows, rng)
    final = fit_xgboost(
        x[rows], y[rows], best.params, weights=weights, feature_names=names, seed=options.seed
    )
    last_fold = {"y": y[folds[-1][1]], **last_scores}
    return TrainingResult(
        booster=final.booster,
        features=names,
        best=best,
        trials=trials,
        models=models,
        last_fold=last_fold,
        drift_reference=_drift_reference(x, names, final.predict(x)),
        rows=len(frame),
        frauds=int(y.sum()),
        seconds=time.perf_counter() - started,
        gap=plan.gap,
        notes=[plan.note] if plan.note else [],
    )


def _require_both_classes(folds: list[tuple[np.ndarray, np.ndarray]], y: np.ndarray) -> None:
    """FoldError unless every fold's training part has a fraud and a genuine row."""
    for k, (train, _) in enumerate(folds):
        frauds = int(y[train].sum())
        if frauds == 0 or frauds == len(train):
            kind = "fraud" if frauds == 0 else "genuine row"
            raise FoldError(
                f"fold {k} trains on {len(train):,} rows without a {kind}: "
                "widen TRAIN_WINDOW or lower TRAIN_FOLDS"
            )


def _drift_reference(x: np.ndarray, names: list[str], scores: np.ndarray) -> dict[str, Any]:
    """The drift reference of the training rows and the final model's scores, JSON-able."""
    frame = pd.DataFrame(x, columns=names).assign(**{SCORE: scores})
    return reference_as_dict(build_reference(frame))
