"""Log learner snapshots to MLflow: a run with the prequential measures and the model.

MLflow is for people to look at; the scorers never depend on it. When it cannot be
reached the learner logs a warning and goes on (:class:`TrackingUnavailableError`).
"""

from __future__ import annotations

import pickle
import tempfile
from dataclasses import asdict
from pathlib import Path

from fraudstream.errors import ServiceUnavailableError
from fraudstream.learning.learner import LearnerState, Quality
from fraudstream.models.online import serving_copy


class TrackingUnavailableError(ServiceUnavailableError):
    """MLflow did not take the run."""


def log_snapshot(tracking_uri: str, experiment: str, state: LearnerState, quality: Quality) -> str:
    """One MLflow run for a published snapshot; return its run id."""
    import mlflow  # heavy: only when a snapshot is logged
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment)
        run = client.create_run(experiment_id, run_name=state.version, tags={"kind": "online"})
        run_id = run.info.run_id
        client.log_param(run_id, "model", state.model_name)
        client.log_param(run_id, "version", state.version)
        metrics = {f"prequential_{k}": float(v) for k, v in asdict(quality).items()}
        metrics["labels_learned"] = float(state.labels_learned)
        for key, value in metrics.items():
            client.log_metric(run_id, key, value)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.pkl"
            # what scorers load: without the data only learning needs
            served = serving_copy(state.model)
            path.write_bytes(pickle.dumps(served, protocol=pickle.HIGHEST_PROTOCOL))
            client.log_artifact(run_id, str(path))
        client.set_terminated(run_id)
    except (MlflowException, OSError, mlflow.exceptions.RestException) as exc:
        raise TrackingUnavailableError(
            f"MLflow at {tracking_uri} did not take the run: {exc}"
        ) from exc
    return str(run_id)
