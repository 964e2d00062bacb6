"""Both DAGs run end to end with ``airflow dags test`` against the real MLflow and Kafka.

A small simulated history becomes the first champion (``bootstrap_champion``); the daily
retraining then trains, registers and judges a challenger (``retrain_challenger``). The
outcome is read back from the MLflow registry, as a user would see it in its UI.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest
from mlflow.tracking import MlflowClient

from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.harness.kafka import read_topic
from fraudstream.schemas import ModelEvent

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]

#: The simulated history: 2024-04-01 .. 2024-04-28, about 800 transactions a day.
DAYS = 28
RETRAIN_DATE = "2024-04-29"
MEASURES = ("average_precision", "roc_auc", "card_precision_at_100", "recall_at_threshold")


@pytest.fixture(scope="module")
def run_env(
    tmp_path_factory: pytest.TempPathFactory, mlflow_uri: str, kafka_bootstrap: str
) -> dict[str, str]:
    """Settings for the tasks, unique to this test: model, experiment, topic, folders."""
    root = tmp_path_factory.mktemp("dag-runs")
    run = uuid.uuid4().hex[:8]
    return {
        "MLFLOW_TRACKING_URI": mlflow_uri,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "MLFLOW_REGISTERED_MODEL_NAME": f"dagtest-{run}",
        "MLFLOW_EXPERIMENT_NAME": f"dagtest-{run}",
        "KAFKA_MODEL_EVENTS_TOPIC": f"dagtest-{run}-model-events",
        "ARCHIVE_PATH": str(root / "archive"),
        "FRAUDSTREAM_DATA_DIR": str(root / "data"),
        "TRAIN_WINDOW": "21d",
        "TRAIN_LABEL_DELAY": "2d",
        "TRAIN_EVAL_WINDOW": "5d",
        "TRAIN_FOLDS": "2",
        "TRAIN_SEARCH_TRIALS": "1",
        # a failing task must fail the run now, not after `dags test` sits out a retry
        "FRAUDSTREAM_TASK_RETRIES": "0",
    }


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The historical dataset the first champion learns from."""
    frame = simulate(SimulatorConfig(customers=400, terminals=800, days=DAYS, seed=5))
    path = tmp_path_factory.mktemp("history") / "history.parquet"
    write_parquet_atomic(frame, path)
    return path


def _dags_test(airflow: Any, env: dict[str, str], tasks: list[str], *args: str) -> None:
    """``airflow dags test ARGS``: it must succeed with every one of ``tasks`` run."""
    result = airflow.run("dags", "test", *args, timeout=900, **env)
    assert result.returncode == 0, result.stdout[-6000:]
    assert "state=success" in result.stdout, result.stdout[-6000:]
    for task_id in tasks:  # a run before the DAG's start date succeeds running nothing
        assert f"end task task_id={task_id} " in result.stdout, (task_id, result.stdout[-6000:])


def test_bootstrap_then_retrain(airflow: Any, run_env: dict[str, str], history: Path) -> None:
    name = run_env["MLFLOW_REGISTERED_MODEL_NAME"]
    client = MlflowClient(tracking_uri=run_env["MLFLOW_TRACKING_URI"])

    conf = json.dumps({"dataset": str(history), "until": "2024-04-22"})
    boot = ["load_history", "extract", "validate", "train", "crown"]
    _dags_test(airflow, run_env, boot, "bootstrap_champion", "--conf", conf)
    first = client.get_model_version_by_alias(name, "champion")
    assert first.run_id

    retrain = ["extract", "validate", "train", "evaluate", "register", "compare", "promote"]
    _dags_test(airflow, run_env, retrain, "retrain_challenger", RETRAIN_DATE)

    challenger = client.get_model_version_by_alias(name, "challenger")
    assert int(challenger.version) > int(first.version)
    metrics = client.get_run(challenger.run_id).data.metrics
    for measure in MEASURES:
        assert any(measure in key for key in metrics), (measure, sorted(metrics))

    # the decision is on the challenger, whichever way it went
    tags = client.get_model_version(name, challenger.version).tags
    decision = tags["fraudstream.decision"]
    assert decision in {"promoted", "kept"}
    assert tags["fraudstream.decision_reason"]
    assert tags["fraudstream.cutoff"].startswith(RETRAIN_DATE)
    champion = client.get_model_version_by_alias(name, "champion")
    if decision == "promoted":
        assert champion.version == challenger.version
        topic = run_env["KAFKA_MODEL_EVENTS_TOPIC"]
        records = read_topic(run_env["KAFKA_BOOTSTRAP_SERVERS"], topic)
        events = [msgspec.json.decode(r.value, type=ModelEvent) for r in records]
        assert [e.version for e in events if e.event == "promoted"][-1] == challenger.version
    else:
        assert champion.version == first.version
