"""Log a training result to MLflow and register its model.

One run per training, in ``MLFLOW_EXPERIMENT_NAME``:

- params: the window, the row counts, the winning XGBoost setting (``xgb_*``), the
  folds, trials and seed;
- metrics: ``<model>_<measure>`` for ``xgboost``, ``logistic_regression`` and
  ``random_forest`` (means over the time-ordered folds), and ``trial_<i>_average_precision``;
- artifacts: ``plots/pr_curve.png``, ``plots/feature_importance.png``,
  ``plots/calibration.png``, ``drift_reference.json``, ``search.json``,
  ``validation.json``;
- tags: ``kind=batch``, ``fraudstream.best_family`` (the family with the best
  cross-validated average precision), ``fraudstream.registered_family`` (``xgboost``,
  the one the scorer loads) and ``fraudstream.model_uri`` (the logged model);
- the XGBoost model, logged with ``mlflow.xgboost.log_model`` as ``model``, with its
  signature (the feature columns, by name) and a 5-row input example, so
  ``mlflow.pyfunc.load_model`` scores a frame of those columns.

The logged booster carries no feature names of its own: MLflow's pyfunc wrapper builds
an ``xgb.DMatrix`` from the frame, and XGBoost 3.1 does not recognise a pandas 3
DataFrame (it reads it as a bare array, names lost), so a named booster refused every
frame, the input example included ("data did not contain feature names"). The names
and their order live in the signature, which MLflow enforces (columns reordered by
name, a missing one refused), in ``features.json`` and in the version's
``fraudstream.features`` tag, which the scorer's loader uses.

:func:`register_run` registers that model in ``MLFLOW_REGISTERED_MODEL_NAME``, tags
the version (``fraudstream.flavor``, ``fraudstream.features``, the metrics and
``fraudstream.best_family``) and points the alias ``MLFLOW_CHALLENGER_ALIAS`` at it.
:func:`require_server` checks the tracking server answers before work that needs it
(MLflow's client retries a dead server for minutes).
"""

from __future__ import annotations

import json
import tempfile
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from fraudstream.errors import ServiceUnavailableError
from fraudstream.registry.client import FEATURES_TAG, FLAVOR_TAG
from fraudstream.training.evaluate import REGISTERED_FAMILY, best_family
from fraudstream.training.plots import calibration_plot, importance_plot, pr_curve_plot
from fraudstream.training.trainer import TrainingResult

if TYPE_CHECKING:
    import xgboost as xgb

#: Model version tags.
METRIC_TAG_PREFIX: Final = "fraudstream.metric."
#: Run and version tag: the family with the best cross-validated average precision.
BEST_FAMILY_TAG: Final = "fraudstream.best_family"
#: Run tag: the family whose model the run logs (and registration registers).
REGISTERED_FAMILY_TAG: Final = "fraudstream.registered_family"
#: Run tag: the URI of the logged model (``models:/m-...``), what registration registers.
MODEL_URI_TAG: Final = "fraudstream.model_uri"


class TrackingError(ServiceUnavailableError):
    """MLflow did not take the run or the registration."""


def _mlflow_errors() -> tuple[type[BaseException], ...]:
    from mlflow.exceptions import MlflowException

    return (MlflowException, OSError)


#: How to get a tracking server, appended to the error saying none answers.
START_HINT: Final = (
    "start the local services with `make services-up`, or set MLFLOW_TRACKING_URI to a "
    "local store such as sqlite:///mlflow.db"
)


def require_server(tracking_uri: str, timeout_s: float = 5.0) -> None:
    """Raise :class:`TrackingError` unless the MLflow server at ``tracking_uri`` answers
    its ``/health`` within ``timeout_s`` (other URIs, such as a local folder, pass).

    >>> try:
    ...     require_server("http://127.0.0.1:1", timeout_s=1)
    ... except TrackingError as exc:
    ...     print(exc.exit_code, *str(exc).split("; "), sep="\\n")  # doctest: +ELLIPSIS
    69
    MLflow at http://127.0.0.1:1 does not answer: ...
    start the local services with `make services-up`, or set MLFLOW_TRACKING_URI to a ...
    >>> require_server("sqlite:///mlflow.db")  # nothing to ask
    """
    parsed = urlparse(tracking_uri)
    if parsed.scheme not in {"http", "https"}:
        return
    url = tracking_uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (http(s) only)
            response.read(64)
    except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
        reason = getattr(exc, "reason", exc)
        raise TrackingError(
            f"MLflow at {tracking_uri} does not answer: {reason}; {START_HINT}"
        ) from exc


def log_training(
    tracking_uri: str,
    experiment: str,
    result: TrainingResult,
    sample: pd.DataFrame,
    *,
    params: dict[str, Any],
    validation: dict[str, Any] | None = None,
) -> str:
    """One MLflow run for ``result``; return its run id.

    ``sample`` holds a few rows of the model's input (feature names as columns) for
    the signature and input example.
    """
    import mlflow
    import mlflow.xgboost
    from mlflow.models import infer_signature

    try:
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_experiment(experiment)
        tags = {
            "kind": "batch",
            BEST_FAMILY_TAG: best_family(result.models),
            REGISTERED_FAMILY_TAG: REGISTERED_FAMILY,
        }
        with mlflow.start_run(run_name="challenger", tags=tags) as run:
            best = {f"xgb_{k}": v for k, v in result.best.params.items()}
            mlflow.log_params({**params, **best, "rows": result.rows, "frauds": result.frauds})
            metrics = {
                f"{model}_{name}": value
                for model, measures in result.models.items()
                for name, value in measures.items()
            }
            for i, trial in enumerate(result.trials):
                metrics[f"trial_{i}_average_precision"] = trial.measures["average_precision"]
            metrics["training_seconds"] = result.seconds
            mlflow.log_metrics(metrics)
            with tempfile.TemporaryDirectory() as tmp:
                _log_artifacts(Path(tmp), result, validation)
            example = _input_example(sample)
            scores = result.booster.inplace_predict(example.to_numpy(dtype=np.float32))
            logged = mlflow.xgboost.log_model(
                unnamed(result.booster),
                name="model",
                signature=infer_signature(example, np.asarray(scores, dtype=np.float64)),
                input_example=example,
                model_format="ubj",
            )
            # MLflow 3 keeps the model apart from the run's artifacts: register it by this
            # URI, not runs:/<id>/model (which works, but warns it has no artifacts there)
            mlflow.set_tag(MODEL_URI_TAG, logged.model_uri)
            return str(run.info.run_id)
    except _mlflow_errors() as exc:
        raise TrackingError(f"MLflow at {tracking_uri} did not take the run: {exc}") from exc


def _input_example(sample: pd.DataFrame) -> pd.DataFrame:
    """The first rows of ``sample`` as floats, for MLflow's signature and input example.

    The column labels are an object index: MLflow compares them to a ``range`` when it
    stores the example, which pandas deprecates for its string index (and not for an
    object one).

    >>> _input_example(pd.DataFrame({"amount": [1, 2]})).columns.dtype
    dtype('O')
    """
    example = sample.head(5).astype("float64")
    return example.set_axis(pd.Index(list(example.columns), dtype=object), axis=1)


def unnamed(booster: xgb.Booster) -> xgb.Booster:
    """A copy of ``booster`` without feature names or types (see the module's notes)."""
    copy = booster.copy()
    copy.feature_names = None
    copy.feature_types = None
    return copy


def _log_artifacts(tmp: Path, result: TrainingResult, validation: dict[str, Any] | None) -> None:
    import mlflow

    plots = tmp / "plots"
    plots.mkdir()
    last = result.last_fold
    scores = {k: v for k, v in last.items() if k != "y"}
    pr_curve_plot(last["y"], scores, plots / "pr_curve.png")
    gain = result.booster.get_score(importance_type="gain")
    importance_plot(
        {name: _number(gain.get(name, 0.0)) for name in result.features},
        plots / "feature_importance.png",
    )
    calibration_plot(last["y"], last["xgboost"], plots / "calibration.png")
    mlflow.log_artifacts(str(plots), artifact_path="plots")
    features = tmp / "features.json"
    features.write_text(json.dumps(result.features))
    mlflow.log_artifact(str(features))
    reference = tmp / "drift_reference.json"
    reference.write_text(json.dumps(result.drift_reference, indent=1))
    mlflow.log_artifact(str(reference))
    search = tmp / "search.json"
    search.write_text(
        json.dumps(
            [
                {"params": t.params, "measures": t.measures, "per_fold": t.per_fold}
                for t in result.trials
            ],
            indent=1,
        )
    )
    mlflow.log_artifact(str(search))
    if validation is not None:
        path = tmp / "validation.json"
        path.write_text(json.dumps(validation, indent=1))
        mlflow.log_artifact(str(path))


def register_run(
    tracking_uri: str,
    run_id: str,
    *,
    model_name: str,
    alias: str,
) -> dict[str, str]:
    """Register the run's ``model`` in ``model_name``, tag the version, move ``alias``
    to it; return ``{"name", "version", "alias"}``."""
    import mlflow
    from mlflow.tracking import MlflowClient

    try:
        mlflow.set_tracking_uri(tracking_uri)
        client = MlflowClient(tracking_uri=tracking_uri)
        run = client.get_run(run_id)
        features = _features_of(client, run_id)
        source = run.data.tags.get(MODEL_URI_TAG, f"runs:/{run_id}/model")
        version = mlflow.register_model(source, model_name)
        number = str(version.version)
        tags = {
            FLAVOR_TAG: REGISTERED_FAMILY,
            FEATURES_TAG: json.dumps(features),
            "fraudstream.run_id": run_id,
        }
        if BEST_FAMILY_TAG in run.data.tags:
            tags[BEST_FAMILY_TAG] = run.data.tags[BEST_FAMILY_TAG]
        for key, metric in run.data.metrics.items():
            if key.startswith("xgboost_"):
                tags[METRIC_TAG_PREFIX + key.removeprefix("xgboost_")] = repr(float(metric))
        for key, text in tags.items():
            client.set_model_version_tag(model_name, number, key, text)
        client.set_registered_model_alias(model_name, alias, number)
    except _mlflow_errors() as exc:
        raise TrackingError(
            f"MLflow at {tracking_uri} did not register run {run_id}: {exc}"
        ) from exc
    return {"name": model_name, "version": number, "alias": alias}


def _features_of(client: Any, run_id: str) -> list[str]:
    """The feature order the run's model expects (its ``features.json`` artifact)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = client.download_artifacts(run_id, "features.json", tmp)
        names = json.loads(Path(path).read_text())
    if not isinstance(names, list):
        raise TrackingError(f"run {run_id}: features.json is not a list")
    return [str(n) for n in names]


def _number(value: float | list[float]) -> float:
    """A gain value (XGBoost types it as a float or a list of floats)."""
    return float(sum(value)) if isinstance(value, list) else float(value)
