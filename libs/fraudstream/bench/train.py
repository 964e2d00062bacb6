"""``fraudstream bench train``: validate and train on six months of simulated data.

The data: ``days`` of the simulator (about 9,500 transactions a day), with the
features the scorer would have served (the offline reference path, as ``bench
learn``) and every label known. The reference path is pure Python and takes minutes
for six months, so its result is cached in ``.local/bench/`` per (days, seed); the
timed part is what the retrain DAG does with a training set: validate it and train
(the XGBoost search over ``TRAIN_FOLDS`` time-ordered folds, the two comparison
models, the final fit). MLflow logging is not timed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd

from fraudstream.config import Settings
from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.lake.offline import label_rows, scored_rows
from fraudstream.training.trainer import TrainingResult


@dataclass(frozen=True)
class TrainBench:
    """Figures of one run."""

    rows: int
    frauds: int
    prepare_seconds: float
    validate_seconds: float
    train_seconds: float
    result: TrainingResult

    @property
    def total_seconds(self) -> float:
        """Validate + train: the figure the goal is about."""
        return self.validate_seconds + self.train_seconds


def training_frame(days: int, seed: int, label_delay: timedelta, cache: Path) -> pd.DataFrame:
    """A training set of ``days`` simulated days (served features cached in ``cache``)."""
    from fraudstream.datasets.simulator import SimulatorConfig, simulate
    from fraudstream.features.served import served_features

    frame = simulate(SimulatorConfig(days=days, seed=seed))
    path = cache / f"train-features-{days}d-seed{seed}.parquet"
    if path.is_file():
        features = pd.read_parquet(path)
    else:
        features = served_features(frame, label_delay)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_parquet_atomic(features, path)
    rows = scored_rows(frame, features)
    labels = label_rows(frame, label_delay)
    rows["is_fraud"] = labels["is_fraud"].to_numpy()
    rows["labelled_at"] = labels["labelled_at"]
    return rows


def bench_train(settings: Settings, *, days: int, seed: int, cache: Path) -> TrainBench:
    """Prepare the data, then time validation and training."""
    from fraudstream.training.trainer import TrainOptions, train_models
    from fraudstream.training.validation import Rules, validate_training_set

    training = settings.training
    started = time.perf_counter()
    frame = training_frame(days, seed, training.label_delay, cache)
    prepared = time.perf_counter()
    validate_training_set(
        frame, Rules(training.min_fraud_rate, training.max_fraud_rate, training.max_null_rate)
    )
    validated = time.perf_counter()
    result = train_models(
        frame,
        TrainOptions(
            folds=training.folds,
            gap=pd.Timedelta(training.label_delay),
            trials=training.search_trials,
            threshold=settings.scorer.threshold,
            seed=training.seed,
        ),
    )
    trained = time.perf_counter()
    return TrainBench(
        rows=len(frame),
        frauds=int(frame["is_fraud"].sum()),
        prepare_seconds=prepared - started,
        validate_seconds=validated - prepared,
        train_seconds=trained - validated,
        result=result,
    )
