"""The steps of the retraining DAGs, one function per Airflow task.

Each step runs in a fresh process of the project's environment
(``@task.external_python``), so it builds its settings from the environment itself,
takes and returns only JSON-able dicts (they travel pickled and are kept as XComs), and
does its heavy imports inside. Every step is idempotent for a given cutoff: the
training set of a cutoff always lands at the same path, registering the same MLflow
run again reuses its version, and promoting the champion again changes nothing.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from fraudstream.config import Settings
from fraudstream.errors import FraudstreamError
from fraudstream.logs import configure_logging

if TYPE_CHECKING:
    from fraudstream.registry.client import Registry

Result = dict[str, Any]

#: Model-version tags recording the champion-or-challenger decision.
DECISION_TAG: Final = "fraudstream.decision"
DECISION_REASON_TAG: Final = "fraudstream.decision_reason"
CUTOFF_TAG: Final = "fraudstream.cutoff"


class MissingMetricsError(FraudstreamError):
    """A training run lacks measures the promotion is judged by."""

    exit_code = 65


class PromotionOutcomeError(FraudstreamError):
    """The champion alias does not point where the promotion decision says."""


def load_settings() -> Settings:
    """The settings of this task's process, with logging configured from them."""
    settings = Settings.load()
    configure_logging(settings.log_level, json=settings.log_json)
    return settings


def training_folder(settings: Settings) -> str:
    """Where training sets go; each cutoff has its own file there (the same on re-runs).

    >>> training_folder(Settings.load(FRAUDSTREAM_DATA_DIR="/srv/data"))
    '/srv/data/training'
    """
    return str(settings.data.dir / "training")


def registry_of(settings: Settings) -> Registry:
    """The registered model that holds champion and challenger."""
    from fraudstream.registry.client import Registry

    return Registry(settings.mlflow.tracking_uri, settings.mlflow.registered_model_name)


def load_history(dataset: str | None, *, days: int, until: str | None) -> Result:
    """Archive a historical dataset (or ``days`` of simulated data) as if it had been served.

    Rewriting the same rows adds none (the archive's partitions are idempotent). The
    cutoff is ``until``, or the end of the history.
    """
    from fraudstream.lake.offline import write_archive_from_dataset
    from fraudstream.training.pipeline import parse_cutoff

    settings = load_settings()
    summary = write_archive_from_dataset(
        settings.archive.path,
        None if dataset is None else Path(dataset),
        days=days,
        seed=settings.training.seed,
        label_delay=settings.training.label_delay,
    )
    cutoff = parse_cutoff(until or summary.end).isoformat()
    return {"cutoff": cutoff, "archive": settings.archive.path, **asdict(summary)}


def extract(cutoff: str) -> Result:
    """The training set of ``cutoff``: features as served, labels known at the cutoff."""
    from fraudstream.training import pipeline

    settings = load_settings()
    extracted: Result = pipeline.extract(settings, cutoff, training_folder(settings))
    return extracted


def extract_challenger(cutoff: str) -> Result:
    """The training set of the run whose cutoff is ``cutoff``, for a challenger.

    Its cutoff is where the evaluation window of ``cutoff`` starts
    (``TRAIN_EVAL_WINDOW`` + ``TRAIN_LABEL_DELAY`` earlier), so its transactions end a
    label delay before that window and the challenger is later compared on transactions
    whose labels it cannot have known. The result's ``cutoff`` is the run's;
    ``training_cutoff`` is the set's.
    """
    from fraudstream.promotion.compare import training_cutoff
    from fraudstream.training.pipeline import parse_cutoff

    settings = load_settings()
    run_cutoff = parse_cutoff(cutoff).isoformat()
    extracted = extract(training_cutoff(settings, run_cutoff))
    return {**extracted, "training_cutoff": extracted["cutoff"], "cutoff": run_cutoff}


def validate(extracted: Result) -> Result:
    """The checks of the training set; a failed check raises and so fails the task."""
    from fraudstream.training import pipeline

    settings = load_settings()
    report = pipeline.validate(settings, extracted["path"])
    return {**extracted, "validation": report}


def train(validated: Result) -> Result:
    """Train on the validated set: the MLflow run id and the cross-validated measures."""
    from fraudstream.training import pipeline

    settings = load_settings()
    trained = pipeline.train(settings, validated["path"])
    return {"cutoff": validated["cutoff"], "path": validated["path"], **trained}


def evaluate(trained: Result) -> Result:
    """The run's measures as MLflow holds them; raise when any the promotion needs is missing."""
    from fraudstream.registry.client import RegistryUnavailableError
    from fraudstream.training.evaluate import MEASURES

    settings = load_settings()
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        client = MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
        metrics = dict(client.get_run(trained["run_id"]).data.metrics)
    except (MlflowException, OSError) as exc:
        raise RegistryUnavailableError(
            f"MLflow at {settings.mlflow.tracking_uri} did not return run {trained['run_id']}: "
            f"{exc}"
        ) from exc
    wanted = [f"xgboost_{name}" for name in MEASURES]
    missing = [name for name in wanted if name not in metrics]
    if missing:
        raise MissingMetricsError(f"run {trained['run_id']} lacks {', '.join(missing)}")
    return {**trained, "metrics": {name: metrics[name] for name in wanted}}


def register(evaluated: Result) -> Result:
    """The run's model as a registry version aliased ``challenger``.

    A run registered before (a re-run of this task) keeps its version.
    """
    from fraudstream.training import pipeline

    settings = load_settings()
    registry = registry_of(settings)
    existing = _version_of_run(settings, evaluated["run_id"])
    if existing is None:
        registered = pipeline.register(settings, evaluated["run_id"])
    else:
        registry.set_alias(settings.mlflow.challenger_alias, existing)
        registered = {
            "name": registry.name,
            "version": existing,
            "alias": settings.mlflow.challenger_alias,
        }
    registry.tag_version(registered["version"], {CUTOFF_TAG: evaluated["cutoff"]})
    return {**registered, "cutoff": evaluated["cutoff"], "run_id": evaluated["run_id"]}


def _version_of_run(settings: Settings, run_id: str) -> str | None:
    """The version of the registered model made from ``run_id``, if there is one."""
    from fraudstream.registry.client import RegistryUnavailableError

    name = settings.mlflow.registered_model_name
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        client = MlflowClient(
            tracking_uri=settings.mlflow.tracking_uri, registry_uri=settings.mlflow.tracking_uri
        )
        found = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    except (MlflowException, OSError) as exc:
        raise RegistryUnavailableError(
            f"MLflow registry at {settings.mlflow.tracking_uri} did not search {name}: {exc}"
        ) from exc
    versions = sorted((int(v.version) for v in found), reverse=True)
    return str(versions[0]) if versions else None


def compare(registered: Result) -> Result:
    """Champion and challenger on the latest labelled window of the run's cutoff.

    Measuring, deciding and (when the challenger wins) moving ``champion`` are one
    library step (:func:`fraudstream.promotion.compare.compare_and_promote`), so a
    decision is never applied later than it was taken.
    """
    from fraudstream.promotion.compare import compare_and_promote

    settings = load_settings()
    decision = compare_and_promote(settings, registered["cutoff"])
    return {**decision, "cutoff": registered["cutoff"], "challenger": registered["version"]}


def promote(decision: Result) -> Result:
    """Record the outcome on the challenger's version and check the champion agrees.

    Tags ``fraudstream.decision`` (``promoted`` or ``kept``), its reason and the
    cutoff, so the registry shows why each challenger was or was not promoted. Raises
    :class:`PromotionOutcomeError` when ``champion`` does not point where the decision
    says (someone moved it meanwhile).
    """
    settings = load_settings()
    registry = registry_of(settings)
    version = str(decision["challenger"])
    won = bool(decision["promote"])
    champion = registry.by_alias(settings.mlflow.champion_alias)
    if won and (champion is None or champion.version != version):
        where = "unset" if champion is None else f"version {champion.version}"
        raise PromotionOutcomeError(f"version {version} won but champion is {where}")
    outcome = "promoted" if won else "kept"
    metrics = decision.get("metrics") or {}
    registry.tag_version(
        version,
        {
            DECISION_TAG: outcome,
            DECISION_REASON_TAG: str(decision["reason"]),
            CUTOFF_TAG: str(decision["cutoff"]),
            **{f"fraudstream.decision.{k}": f"{float(v):.6f}" for k, v in metrics.items()},
        },
    )
    return {
        **decision,
        "outcome": outcome,
        "champion": None if champion is None else champion.version,
    }


def bootstrap(trained: Result) -> Result:
    """Register the first model and make it ``champion``, unless a champion exists.

    With a champion already in place, the new version stays a challenger and the result
    says which version is champion: bootstrapping twice never replaces a champion.
    """
    from fraudstream.promotion.aliases import promote as promote_version

    settings = load_settings()
    registry = registry_of(settings)
    evaluated = evaluate(trained)
    registered = register(evaluated)
    current = registry.by_alias(settings.mlflow.champion_alias)
    if current is None:
        reason = "bootstrap: the first champion, trained on history"
        promote_version(settings, registry, registered["version"], reason, evaluated["metrics"])
    else:
        reason = f"bootstrap: version {current.version} is champion already, kept"
    return promote(
        {
            "promote": current is None,
            "reason": reason,
            "challenger": registered["version"],
            "cutoff": registered["cutoff"],
        }
    )
