"""``fraudstream evaluate``: registered models measured on held-out archived periods, with
the real MLflow (a challenger trained from the archive, a River champion registered)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from fraudstream.config import Settings
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.evaluation.measures import average_precision
from fraudstream.features.served import served_features
from fraudstream.lake.offline import write_archive_from_frame
from fraudstream.lake.store import read_labels, read_scored
from fraudstream.promotion.holdout import EvaluationError, evaluate_model
from fraudstream.registry.client import FLAVOR_TAG, RegistryUnavailableError
from fraudstream.training.evaluate import MEASURES
from fraudstream.training.pipeline import run_all

DELAY = timedelta(days=7)
#: The challenger's cutoff: it learns the transactions of 04-03 .. 04-17 (14 days ending
#: a label delay before it), so a period is unseen from 04-24 on.
CUTOFF = "2024-04-24"
HELD_OUT = ("2024-04-24", "2024-05-04")


@dataclass(frozen=True)
class Trained:
    settings: Settings
    version: str


@pytest.fixture(scope="module")
def trained(mlflow_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """40 simulated days (04-01 .. 05-10) archived, and a challenger trained on them."""
    root = tmp_path_factory.mktemp("evaluate")
    frame = simulate(SimulatorConfig(customers=300, terminals=600, days=40, seed=11))
    write_archive_from_frame(
        str(root / "archive"), frame, served_features(frame, DELAY), label_delay=DELAY
    )
    run = uuid.uuid4().hex[:8]
    settings = Settings.load(
        MLFLOW_TRACKING_URI=mlflow_uri,
        MLFLOW_EXPERIMENT_NAME=f"test-evaluate-{run}",
        MLFLOW_REGISTERED_MODEL_NAME=f"test-evaluate-{run}",
        ARCHIVE_PATH=str(root / "archive"),
        TRAIN_WINDOW="14d",
        TRAIN_LABEL_DELAY="7d",
        TRAIN_FOLDS="2",
        TRAIN_SEARCH_TRIALS="1",
    )
    version = run_all(settings, CUTOFF, str(root / "training"))["register"]["version"]
    return Trained(settings, version)


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("fraudstream")
    assert exe
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": settings.mlflow.tracking_uri,
        "MLFLOW_REGISTERED_MODEL_NAME": settings.mlflow.registered_model_name,
        "ARCHIVE_PATH": settings.archive.path,
        "TRAIN_LABEL_DELAY": "7d",
    }
    return subprocess.run(
        [exe, "evaluate", *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


@pytest.mark.timeout(300)
def test_the_challenger_is_measured_on_a_held_out_period(trained: Trained) -> None:
    settings = trained.settings
    result = evaluate_model(settings, "challenger", *HELD_OUT)
    print({k: v for k, v in result.items() if k != "measures"}, result["measures"])
    assert result["version"] == trained.version
    assert result["scores"] == "registered model"
    assert result["trained_on"] == {
        "start": "2024-04-03T00:00:00+00:00",
        "end": "2024-04-17T00:00:00+00:00",
    }
    assert result["warnings"] == []
    held_out = read_scored(settings.archive.path, *HELD_OUT)
    assert result["rows"] == len(held_out)  # every transaction is labelled by now
    assert result["frauds"] > 0
    assert set(result["measures"]) == set(MEASURES)
    assert result["measures"]["roc_auc"] > 0.6
    assert 0 < result["measures"]["average_precision"] <= 1

    by_number = evaluate_model(settings, trained.version, *HELD_OUT)
    assert by_number["measures"] == result["measures"]

    done = _cli(settings, "--model", "challenger", "--from", HELD_OUT[0], "--to", HELD_OUT[1])
    assert done.returncode == 0, done.stderr
    assert f"xgboost-v{trained.version}" in done.stdout
    assert "card precision at 100" in done.stdout
    as_json = _cli(
        settings, "--model", trained.version, "--from", HELD_OUT[0], "--to", HELD_OUT[1], "--json"
    )
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["measures"] == pytest.approx(result["measures"])


@pytest.mark.timeout(300)
def test_a_period_on_or_near_the_training_data_is_refused_or_warned(trained: Trained) -> None:
    settings = trained.settings
    with pytest.raises(EvaluationError, match="overlaps: refused"):
        evaluate_model(settings, "challenger", "2024-04-10", "2024-04-30")
    refused = _cli(settings, "--model", "challenger", "--from", "2024-04-10", "--to", "2024-04-30")
    assert refused.returncode == 65
    assert "overlaps: refused, its measures would be in-sample" in refused.stderr
    assert "Traceback" not in refused.stderr

    near = evaluate_model(settings, "challenger", "2024-04-20", "2024-05-04")
    (warning,) = near["warnings"]
    assert "within a label delay" in warning
    assert near["rows"] > 0


@pytest.mark.timeout(300)
def test_no_data_or_no_model_is_a_clear_error(trained: Trained) -> None:
    settings = trained.settings
    with pytest.raises(EvaluationError, match="no labelled transaction between"):
        evaluate_model(settings, "challenger", "2024-06-01", "2024-06-08")
    with pytest.raises(EvaluationError, match=f"has no version {int(trained.version) + 50}"):
        evaluate_model(settings, str(int(trained.version) + 50), *HELD_OUT)
    missing = _cli(settings, "--model", "champion", "--from", HELD_OUT[0], "--to", HELD_OUT[1])
    assert missing.returncode == 65
    assert missing.stderr.count("\n") == 1
    assert "has the alias 'champion'" in missing.stderr

    # a version whose model is not there: no traceback either
    client = MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
    experiment = client.get_experiment_by_name(settings.mlflow.experiment_name)
    assert experiment is not None
    run = client.create_run(experiment.experiment_id)
    empty = client.create_model_version(
        settings.mlflow.registered_model_name,
        f"runs:/{run.info.run_id}/model",
        run_id=run.info.run_id,
        tags={FLAVOR_TAG: "xgboost"},
    )
    with pytest.raises(RegistryUnavailableError, match=f"version {empty.version} not loaded"):
        evaluate_model(settings, str(empty.version), *HELD_OUT)


@pytest.mark.timeout(300)
def test_a_river_champion_is_judged_by_the_scores_it_served(trained: Trained) -> None:
    settings = trained.settings
    name = settings.mlflow.registered_model_name
    client = MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
    experiment = client.get_experiment_by_name(settings.mlflow.experiment_name)
    assert experiment is not None
    run = client.create_run(experiment.experiment_id)
    river = client.create_model_version(
        name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id, tags={FLAVOR_TAG: "river"}
    )
    with pytest.raises(EvaluationError, match="River model that is not the champion"):
        evaluate_model(settings, str(river.version), *HELD_OUT)
    client.set_registered_model_alias(name, "champion", str(river.version))

    result = evaluate_model(settings, "champion", *HELD_OUT)
    assert result["scores"] == "served"
    assert "trained_on" not in result
    served = read_scored(settings.archive.path, *HELD_OUT)
    assert result["served_by"] == {"cold-start-1": len(served)}
    labels = read_labels(settings.archive.path, HELD_OUT[0], "2024-06-01")
    joined = served.merge(labels[["transaction_id", "is_fraud"]], on="transaction_id")
    expected = average_precision(
        joined["is_fraud"].to_numpy(dtype=bool), joined["score"].to_numpy()
    )
    assert result["measures"]["average_precision"] == pytest.approx(expected)
    assert result["frauds"] == int(np.sum(joined["is_fraud"]))
    assert len(pd.unique(joined["transaction_id"])) == result["rows"]
