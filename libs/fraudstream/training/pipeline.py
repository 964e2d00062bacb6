"""The retraining pipeline as four steps, for Airflow tasks and ``fraudstream train``.

Each step takes the settings and small JSON-able arguments and returns a small
JSON-able dict (an XCom value). Steps are idempotent per cutoff: the same cutoff
reads the same archive window and writes the same training-set path, overwritten.

1. :func:`extract` builds the training set of a cutoff from the archive.
2. :func:`validate` checks it (raises DataValidationError with the report).
3. :func:`train` cross-validates, trains and logs an MLflow run.
4. :func:`register` registers the run's model and aliases it ``challenger``.

Every expected failure is a :class:`~fraudstream.errors.FraudstreamError` the CLI
turns into one line and an exit code: a cutoff that is no date (``ConfigError``, 78),
an archive or training set that cannot be read or written (``DataFileError``, 65), an
empty window, a set without fraud or any failed check (``DataValidationError``, 65),
MLflow down (``TrackingError``, 69; checked before training, not after it).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import structlog

from fraudstream.config import Settings
from fraudstream.datasets.arrow import arrow_table
from fraudstream.errors import ConfigError, DataFileError, DataValidationError
from fraudstream.lake.store import read_parquet_file
from fraudstream.training.dataset import LABEL, Window, build_training_set
from fraudstream.training.evaluate import REGISTERED_FAMILY, archived_features, best_family

log = structlog.get_logger(__name__)

#: Key of the training set's metadata in its Parquet schema.
_META_KEY = b"fraudstream.training"


def parse_cutoff(cutoff: str | datetime) -> pd.Timestamp:
    """A cutoff as a UTC timestamp (naive text or datetimes are UTC).

    >>> parse_cutoff("2024-06-01").isoformat()
    '2024-06-01T00:00:00+00:00'
    >>> parse_cutoff("soon")
    Traceback (most recent call last):
    ...
    fraudstream.errors.ConfigError: cutoff 'soon' is not an ISO date or time
    """
    try:
        stamp = pd.Timestamp(cutoff)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"cutoff {cutoff!r} is not an ISO date or time") from exc
    if pd.isna(stamp):  # "" and "NaT" parse as "not a time"
        raise ConfigError(f"cutoff {cutoff!r} is not an ISO date or time")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def training_set_path(out_dir: str, cutoff: pd.Timestamp) -> str:
    """Where the training set of ``cutoff`` goes: the same path for the same cutoff.

    >>> training_set_path("runs/", parse_cutoff("2024-06-01T12:00"))
    'runs/training-20240601T120000Z.parquet'
    """
    return f"{out_dir.rstrip('/')}/training-{cutoff:%Y%m%dT%H%M%SZ}.parquet"


def extract(settings: Settings, cutoff: str, out_dir: str) -> dict[str, Any]:
    """Write the training set of ``cutoff`` to ``out_dir``; return where and what.

    Returns ``{"path", "rows", "frauds", "start", "end", "cutoff"}``.
    """
    training = settings.training
    stamp = parse_cutoff(cutoff)
    window = Window.of(stamp, training.window, training.label_delay)
    try:
        frame = build_training_set(settings.archive.path, window)
    except (OSError, pa.ArrowException) as exc:
        raise DataFileError(settings.archive.path, f"archive not readable: {exc}") from exc
    path = training_set_path(out_dir, stamp)
    meta = {
        "cutoff": stamp.isoformat(),
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
    }
    table = arrow_table(frame)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), _META_KEY: json.dumps(meta)}
    )
    try:
        fs, target = fsspec.core.url_to_fs(path)
        fs.makedirs(str(target).rsplit("/", 1)[0], exist_ok=True)
        temporary = f"{target}.tmp"
        with fs.open(temporary, "wb") as handle:
            pq.write_table(table, handle)
        fs.mv(temporary, str(target))
    except OSError as exc:
        raise DataFileError(path, f"training set not written: {exc}") from exc
    frauds = int(frame[LABEL].sum()) if LABEL in frame.columns else 0
    log.info("training set extracted", path=path, rows=len(frame), frauds=frauds, **meta)
    return {"path": path, "rows": len(frame), "frauds": frauds, **meta}


def load_training_set(path: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """A training set written by :func:`extract`, and its metadata (cutoff, start, end)."""
    try:
        fs, target = fsspec.core.url_to_fs(path)
        if not fs.exists(target):
            raise DataFileError(path, "no such training set (run extract first)")
        table = read_parquet_file(fs, target)
    except (OSError, pa.ArrowException) as exc:
        raise DataFileError(path, f"training set not readable: {exc}") from exc
    raw = (table.schema.metadata or {}).get(_META_KEY, b"{}")
    return table.to_pandas(), json.loads(raw)


def validate(settings: Settings, path: str) -> dict[str, Any]:
    """Validate the training set at ``path``; return the report or raise
    :class:`~fraudstream.errors.DataValidationError` (its ``report`` says what failed)."""
    from fraudstream.training.validation import Rules, validate_training_set

    frame, meta = load_training_set(path)
    training = settings.training
    rules = Rules(
        min_fraud_rate=training.min_fraud_rate,
        max_fraud_rate=training.max_fraud_rate,
        max_null_rate=training.max_null_rate,
        cutoff=parse_cutoff(meta["cutoff"]) if "cutoff" in meta else None,
    )
    report = validate_training_set(frame, rules)
    log.info("training set valid", path=path, rows=report["rows"], frauds=report["frauds"])
    return report


def train(settings: Settings, path: str) -> dict[str, Any]:
    """Train on the (validated) set at ``path`` and log an MLflow run.

    Returns ``{"run_id", "metrics", "params", "features", "rows", "frauds", "seconds",
    "best_family", "notes"}`` where ``metrics`` maps ``<model>_<measure>`` to the cross-validated
    mean and ``best_family`` is the family with the best mean average precision. The
    model trained and logged is XGBoost whichever family wins (docs/training.md says
    why); when another one wins, a warning says so and the run's tag
    ``fraudstream.best_family`` records it.
    """
    from fraudstream.training.tracking import log_training, require_server
    from fraudstream.training.trainer import TrainOptions, train_models
    from fraudstream.training.validation import Rules, validate_training_set

    frame, meta = load_training_set(path)
    training = settings.training
    # the same checks again: train must never run on a set that fails them
    report = validate_training_set(
        frame, Rules(training.min_fraud_rate, training.max_fraud_rate, training.max_null_rate)
    )
    if report["frauds"] == 0:  # passes a TRAIN_MIN_FRAUD_RATE of 0, yet teaches nothing
        failed = {"name": "frauds", "ok": False, "detail": "no fraud in the set to learn from"}
        raise DataValidationError({**report, "ok": False, "checks": [*report["checks"], failed]})
    # minutes of training are lost if MLflow turns out to be down only at the end
    require_server(settings.mlflow.tracking_uri)
    result = train_models(frame, TrainOptions.of(settings))
    sample = archived_features(frame.head(5))
    params = {
        **meta,
        "training_set": path,
        "folds": training.folds,
        # the gap the folds kept: shorter than the label delay on a short window
        "gap": str(result.gap if result.gap is not None else pd.Timedelta(training.label_delay)),
        "search_trials": training.search_trials,
        "threshold": settings.scorer.threshold,
        "seed": training.seed,
    }
    run_id = log_training(
        settings.mlflow.tracking_uri,
        settings.mlflow.experiment_name,
        result,
        sample,
        params=params,
        validation=report,
    )
    metrics = {
        f"{model}_{name}": round(value, 6)
        for model, measures in result.models.items()
        for name, value in measures.items()
    }
    best = best_family(result.models)
    if best != REGISTERED_FAMILY:
        log.warning(
            f"{best} beat {REGISTERED_FAMILY} in cross-validation; {REGISTERED_FAMILY} is "
            "registered anyway (the scorer loads only it: one frozen flavour with SHAP "
            "reasons, and only it is tuned)",
            best_family=best,
            best_average_precision=round(result.models[best]["average_precision"], 6),
            registered_average_precision=round(
                result.models[REGISTERED_FAMILY]["average_precision"], 6
            ),
            run_id=run_id,
        )
    log.info("challenger trained", run_id=run_id, seconds=round(result.seconds, 1))
    return {
        "run_id": run_id,
        "metrics": metrics,
        "params": result.best.params,
        "features": result.features,
        "rows": result.rows,
        "frauds": result.frauds,
        "seconds": round(result.seconds, 2),
        "best_family": best,
        "notes": result.notes,
    }


def register(settings: Settings, run_id: str) -> dict[str, str]:
    """Register the run's model and alias it ``MLFLOW_CHALLENGER_ALIAS``.

    Returns ``{"name", "version", "alias"}``.
    """
    from fraudstream.training.tracking import register_run, require_server

    mlflow_settings = settings.mlflow
    require_server(mlflow_settings.tracking_uri)
    registered = register_run(
        mlflow_settings.tracking_uri,
        run_id,
        model_name=mlflow_settings.registered_model_name,
        alias=mlflow_settings.challenger_alias,
    )
    log.info("challenger registered", **registered)
    return registered


def run_all(settings: Settings, cutoff: str, out_dir: str) -> dict[str, Any]:
    """extract -> validate -> train -> register; every step's result, by step.

    MLflow is asked first: without it no step's work could be kept.
    """
    from fraudstream.training.tracking import require_server

    require_server(settings.mlflow.tracking_uri)
    extracted = extract(settings, cutoff, out_dir)
    report = validate(settings, extracted["path"])
    trained = train(settings, extracted["path"])
    registered = register(settings, trained["run_id"])
    return {"extract": extracted, "validate": report, "train": trained, "register": registered}
