"""The archiver against a real Kafka; train and register against the real MLflow."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mlflow.pyfunc
import mlflow.xgboost
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from fraudstream.archive.service import run_archiver
from fraudstream.config import Settings
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.features.served import served_features
from fraudstream.harness.kafka import unique_topics
from fraudstream.harness.scorer import committed_offsets, free_port, http_get, wait_until
from fraudstream.kafka.admin import ensure_topics
from fraudstream.kafka.producer import build_producer
from fraudstream.lake.offline import write_archive_from_frame
from fraudstream.lake.store import read_labels, read_scored
from fraudstream.models.xgb import XGBoostModel
from fraudstream.schemas import Label, ScoredTransaction, encode, encoder
from fraudstream.training import pipeline
from fraudstream.training.pipeline import run_all
from fraudstream.training.tracking import FEATURES_TAG, FLAVOR_TAG


def _scored(i: int, day: int) -> ScoredTransaction:
    event = datetime(2024, 4, 1 + day, 10, 0, i % 60, tzinfo=UTC)
    return ScoredTransaction(
        transaction_id=f"tx-{i}",
        card_id=f"c{i % 7}",
        merchant_id=None,
        event_time=event,
        amount=float(i),
        features={"amount": float(i), "card_tx_count_1h": 1.0},
        score=0.1,
        threshold=0.5,
        alert=False,
        model_version="cold-start-1",
        scored_at=event,
        partition=0,
        offset=i,
        source_timestamp_ms=0,
    )


@pytest.fixture
def archive_settings(kafka_bootstrap: str, tmp_path: Path) -> Settings:
    run = uuid.uuid4().hex[:10]
    base = Settings.load(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        ARCHIVE_PATH=str(tmp_path / "archive"),
        ARCHIVE_GROUP_ID=f"test-archive-{run}",
        ARCHIVE_FLUSH_EVERY="1s",
        ARCHIVE_HTTP_PORT=str(free_port()),
    )
    settings = unique_topics(base, "archive")
    ensure_topics(settings.kafka, [settings.kafka.scored_topic, settings.kafka.labels_topic])
    return settings


def _produce(settings: Settings, values: list[tuple[str, bytes]]) -> None:
    producer = build_producer(settings.kafka)
    for topic, value in values:
        producer.send(topic, value=value, key=b"k")
    producer.flush(30)
    producer.close()


def _run(settings: Settings) -> tuple[threading.Thread, threading.Event, list[BaseException]]:
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            run_archiver(settings, stop)
        except BaseException as exc:  # surfaced by the test
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, stop, errors


def _committed(settings: Settings) -> int:
    kafka, group = settings.kafka, settings.archive.group_id
    return sum(
        committed_offsets(kafka.servers, group, topic)
        for topic in (kafka.scored_topic, kafka.labels_topic)
    )


@pytest.mark.timeout(180)
def test_archive_from_kafka_is_complete_idempotent_and_committed(
    archive_settings: Settings,
) -> None:
    settings = archive_settings
    kafka, root = settings.kafka, settings.archive.path
    records = [_scored(i, day=i % 3) for i in range(60)]
    labels = [
        Label(
            transaction_id=r.transaction_id,
            is_fraud=i % 10 == 0,
            labelled_at=r.event_time + timedelta(days=7),
            card_id=r.card_id,
        )
        for i, r in enumerate(records)
    ]
    values = [(kafka.scored_topic, encoder.encode(r)) for r in records]
    values.append((kafka.scored_topic, encoder.encode(records[5])))  # a repeat
    values.append((kafka.scored_topic, b"{broken"))  # unreadable: counted, skipped
    values += [(kafka.labels_topic, encode(label)) for label in labels]
    _produce(settings, values)

    thread, stop, errors = _run(settings)
    assert wait_until(
        lambda: _committed(settings) == len(values), 60, check=lambda: _raise(errors)
    ), "offsets were not committed after the write"
    stop.set()
    thread.join(timeout=30)
    assert not errors

    scored = read_scored(root, "2024-04-01", "2024-04-04")
    assert sorted(scored["transaction_id"]) == sorted(r.transaction_id for r in records)
    assert scored["features.card_tx_count_1h"].eq(1.0).all()
    assert {"score", "model_version", "scored_at", "partition", "offset"} <= set(scored.columns)
    assert len(read_labels(root, "2024-04-01", "2024-04-20")) == len(labels)
    dates = sorted(p.name for p in (Path(root) / "scored").iterdir())
    assert dates == ["date=2024-04-01", "date=2024-04-02", "date=2024-04-03"]

    # a new group reads everything again: the archive does not change
    again = settings.model_copy(
        update={
            "archive": settings.archive.model_copy(update={"group_id": "again-" + uuid.uuid4().hex})
        }
    )
    thread, stop, errors = _run(again)
    assert wait_until(lambda: _committed(again) == len(values), 60, check=lambda: _raise(errors))
    stop.set()
    thread.join(timeout=30)
    assert len(read_scored(root, "2024-04-01", "2024-04-04")) == len(records)
    assert len(read_labels(root, "2024-04-01", "2024-04-20")) == len(labels)


def _raise(errors: list[BaseException]) -> None:
    if errors:
        raise errors[0]


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, pd.DataFrame]:
    """30 simulated days archived as the scorer would have, and their served features."""
    root = str(tmp_path_factory.mktemp("archive"))
    frame = simulate(SimulatorConfig(customers=300, terminals=600, days=30, seed=5))
    delay = timedelta(days=7)
    features = served_features(frame, delay)
    write_archive_from_frame(root, frame, features, label_delay=delay)
    return root, features


@pytest.fixture
def train_settings(
    mlflow_uri: str, small_archive: tuple[str, pd.DataFrame], tmp_path: Path
) -> Settings:
    run = uuid.uuid4().hex[:8]
    return Settings.load(
        MLFLOW_TRACKING_URI=mlflow_uri,
        MLFLOW_EXPERIMENT_NAME=f"test-train-{run}",
        MLFLOW_REGISTERED_MODEL_NAME=f"test-train-{run}",
        ARCHIVE_PATH=small_archive[0],
        TRAIN_WINDOW="20d",
        TRAIN_LABEL_DELAY="7d",
        TRAIN_SEARCH_TRIALS="2",
        FRAUDSTREAM_DATA_DIR=str(tmp_path / "data"),
    )


@pytest.mark.timeout(280)
def test_train_registers_a_challenger_that_loads_into_the_adapter(
    train_settings: Settings, small_archive: tuple[str, pd.DataFrame], tmp_path: Path
) -> None:
    settings, features = train_settings, small_archive[1]
    result = run_all(settings, "2024-05-01", str(tmp_path / "training"))
    extracted, trained, registered = result["extract"], result["train"], result["register"]
    assert extracted["end"] == "2024-04-24T00:00:00+00:00"  # cutoff minus the label delay
    assert extracted["rows"] > 1000
    assert result["validate"]["ok"]
    assert trained["metrics"]["xgboost_average_precision"] > 0.3
    assert registered["alias"] == "challenger"

    name = settings.mlflow.registered_model_name
    client = MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
    version = client.get_model_version_by_alias(name, "challenger")
    assert version.version == registered["version"]
    assert version.tags[FLAVOR_TAG] == "xgboost"
    feature_order = json.loads(version.tags[FEATURES_TAG])
    assert feature_order == trained["features"]
    assert float(version.tags["fraudstream.metric.average_precision"]) > 0.3

    mlflow.set_tracking_uri(settings.mlflow.tracking_uri)
    booster = mlflow.xgboost.load_model(f"models:/{name}@challenger")
    model = XGBoostModel(booster, feature_order, f"{name}-{version.version}")
    scores = model.score(features.head(200))
    assert scores.shape == (200,)
    assert ((scores >= 0) & (scores <= 1)).all()

    artifacts = {a.path for a in client.list_artifacts(trained["run_id"])}
    assert {"drift_reference.json", "plots", "features.json"} <= artifacts
    plots = {a.path for a in client.list_artifacts(trained["run_id"], "plots")}
    assert plots == {"plots/pr_curve.png", "plots/feature_importance.png", "plots/calibration.png"}
    run = client.get_run(trained["run_id"])
    assert "random_forest_average_precision" in run.data.metrics
    assert "logistic_regression_card_precision_at_100" in run.data.metrics

    # the same cutoff again: the same training set path, overwritten
    assert run_all(settings, "2024-05-01", str(tmp_path / "training"))["extract"] == extracted


@pytest.mark.timeout(280)
def test_train_command_prints_a_summary(train_settings: Settings, tmp_path: Path) -> None:
    settings = train_settings
    exe = shutil.which("fraudstream")
    assert exe
    env = {
        "PATH": str(Path(exe).parent) + ":/usr/bin:/bin",
        "MLFLOW_TRACKING_URI": settings.mlflow.tracking_uri,
        "MLFLOW_EXPERIMENT_NAME": settings.mlflow.experiment_name,
        "MLFLOW_REGISTERED_MODEL_NAME": settings.mlflow.registered_model_name,
        "ARCHIVE_PATH": settings.archive.path,
        "TRAIN_WINDOW": "20d",
        "TRAIN_LABEL_DELAY": "7d",
        "TRAIN_SEARCH_TRIALS": "1",
        "FRAUDSTREAM_DATA_DIR": str(tmp_path / "data"),
        "HOME": str(tmp_path),
    }

    def train(cutoff: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [exe, "train", "--cutoff", cutoff],
            capture_output=True,
            text=True,
            timeout=240,
            env=env,
            check=False,
            cwd=tmp_path,
        )

    done = train("2024-05-01")
    assert done.returncode == 0, done.stderr
    assert "random_forest" in done.stdout
    assert "@challenger" in done.stdout
    assert (tmp_path / "data" / "training" / "training-20240501T000000Z.parquet").is_file()

    bad = train("2023-01-01")  # nothing archived then
    assert bad.returncode == 65
    assert "rows: no labelled transaction in the window" in bad.stderr


@pytest.mark.timeout(180)
def test_storage_down_pauses_the_archive_and_commits_nothing_until_it_returns(
    archive_settings: Settings, tmp_path: Path
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the archive folder should be")  # writes fail: OSError
    settings = archive_settings.model_copy(
        update={
            "archive": archive_settings.archive.model_copy(
                update={"path": str(blocked / "archive")}
            )
        }
    )
    records = [_scored(i, day=0) for i in range(5)]
    _produce(settings, [(settings.kafka.scored_topic, encoder.encode(r)) for r in records])
    thread, stop, errors = _run(settings)
    url = f"http://127.0.0.1:{settings.archive.http_port}/healthz"
    try:
        assert wait_until(lambda: "storage" in http_get(url)[1] and http_get(url)[0] == 503, 60)
        assert _committed(settings) == 0
        blocked.unlink()  # storage is back
        assert wait_until(lambda: _committed(settings) == len(records), 90)
        assert http_get(url)[0] == 200
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not errors
    assert len(read_scored(settings.archive.path, "2024-04-01", "2024-04-02")) == len(records)


class _Records(logging.Handler):
    """Keeps the records of a logger tree (MLflow's loggers do not propagate to root)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.timeout(280)
def test_the_logged_model_scores_its_own_input_example_with_pyfunc(
    train_settings: Settings, tmp_path: Path
) -> None:
    settings = train_settings.model_copy(
        update={"training": train_settings.training.model_copy(update={"search_trials": 1})}
    )
    extracted = pipeline.extract(settings, "2024-05-01", str(tmp_path / "training"))
    mlflow_warnings = _Records()
    logging.getLogger("mlflow").addHandler(mlflow_warnings)
    try:
        trained = pipeline.train(settings, extracted["path"])
        pipeline.register(settings, trained["run_id"])
    finally:
        logging.getLogger("mlflow").removeHandler(mlflow_warnings)
    # neither "Failed to validate serving input example" nor any other MLflow warning
    assert [r.getMessage() for r in mlflow_warnings.records] == []

    mlflow.set_tracking_uri(settings.mlflow.tracking_uri)
    model = mlflow.pyfunc.load_model(f"runs:/{trained['run_id']}/model")
    example = model.input_example
    assert isinstance(example, pd.DataFrame)
    assert list(example.columns) == trained["features"]
    scores = np.asarray(model.predict(example))
    assert scores.shape == (len(example),) == (5,)
    assert ((scores >= 0) & (scores <= 1)).all()
    # the signature orders the columns by name: a shuffled frame scores the same
    shuffled = np.asarray(model.predict(example[example.columns[::-1]]))
    np.testing.assert_allclose(shuffled, scores)

    tags = (
        MlflowClient(tracking_uri=settings.mlflow.tracking_uri).get_run(trained["run_id"]).data.tags
    )
    assert tags["fraudstream.best_family"] == trained["best_family"]
    assert tags["fraudstream.registered_family"] == "xgboost"
