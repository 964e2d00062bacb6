"""The DAG steps of fraudstream.orchestration.tasks against a real MLflow registry:
re-runs are idempotent, the decision is recorded, bad states fail with a clear error."""

from __future__ import annotations

import time
import uuid

import pytest
from mlflow.tracking import MlflowClient

from fraudstream.orchestration import tasks
from fraudstream.registry.client import FLAVOR_TAG

CUTOFF = "2024-04-29T00:00:00+00:00"


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch, mlflow_uri: str) -> str:
    """A fresh registered model; the tasks read its name from the environment."""
    name = f"test-tasks-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    monkeypatch.setenv("MLFLOW_REGISTERED_MODEL_NAME", name)
    return name


def _run_with_version(client: MlflowClient, name: str, metrics: dict[str, float]) -> str:
    """An MLflow run with ``metrics`` and a registered version made from it."""
    experiment = client.create_experiment(f"{name}-{time.time_ns()}")
    run_id = client.create_run(experiment).info.run_id
    for key, value in metrics.items():
        client.log_metric(run_id, key, value)
    if not client.search_registered_models(f"name='{name}'"):
        client.create_registered_model(name)
    client.create_model_version(
        name, f"runs:/{run_id}/model", run_id=run_id, tags={FLAVOR_TAG: "xgboost"}
    )
    return run_id


def test_register_again_reuses_the_version(model: str, mlflow_uri: str) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    run_id = _run_with_version(client, model, {})
    first = tasks.register({"run_id": run_id, "cutoff": CUTOFF})
    again = tasks.register({"run_id": run_id, "cutoff": CUTOFF})
    assert first["version"] == again["version"] == "1"
    assert len(client.search_model_versions(f"name='{model}'")) == 1
    assert client.get_model_version_by_alias(model, "challenger").version == "1"
    assert client.get_model_version(model, "1").tags[tasks.CUTOFF_TAG] == CUTOFF


def test_promote_records_the_decision_and_checks_the_alias(model: str, mlflow_uri: str) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    _run_with_version(client, model, {})
    _run_with_version(client, model, {})
    client.set_registered_model_alias(model, "champion", "1")

    kept = tasks.promote(
        {"promote": False, "reason": "no gain", "challenger": "2", "cutoff": CUTOFF}
    )
    assert kept["outcome"] == "kept"
    assert kept["champion"] == "1"
    tags = client.get_model_version(model, "2").tags
    assert tags[tasks.DECISION_TAG] == "kept"
    assert tags[tasks.DECISION_REASON_TAG] == "no gain"

    # the decision says version 2 won, but champion still points at 1
    with pytest.raises(tasks.PromotionOutcomeError, match="2 won but champion is version 1"):
        tasks.promote({"promote": True, "reason": "won", "challenger": "2", "cutoff": CUTOFF})


def test_evaluate_refuses_a_run_without_the_measures(model: str, mlflow_uri: str) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    run_id = _run_with_version(client, model, {"xgboost_average_precision": 0.5})
    with pytest.raises(tasks.MissingMetricsError, match="xgboost_roc_auc"):
        tasks.evaluate({"run_id": run_id, "cutoff": CUTOFF})
