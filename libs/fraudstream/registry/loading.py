"""Turn a registered version into something the scorer can score with."""

from __future__ import annotations

from fraudstream.models import ScoringModel
from fraudstream.registry.client import Candidate, RegistryUnavailableError


class UnknownFlavorError(RegistryUnavailableError):
    """A registered version whose ``fraudstream.flavor`` tag this build cannot load."""


def load_candidate(candidate: Candidate, tracking_uri: str) -> ScoringModel | None:
    """The scoring model of ``candidate``; ``None`` for a River version (the online model).

    XGBoost versions are downloaded from MLflow (~1 s in a fresh process) and wrapped
    in :class:`~fraudstream.models.xgb.XGBoostModel` with the feature order of their
    ``fraudstream.features`` tag. A download or load that fails (MLflow down, artifacts
    missing) raises :class:`RegistryUnavailableError`.
    """
    if candidate.flavor == "river":
        return None
    if candidate.flavor != "xgboost":
        raise UnknownFlavorError(
            f"{candidate.name} version {candidate.version} has flavor {candidate.flavor!r}; "
            "this build loads 'xgboost' and 'river'"
        )
    import mlflow.artifacts
    import mlflow.xgboost
    import xgboost as xgb
    from mlflow.exceptions import MlflowException

    from fraudstream.models.xgb import XGBoostModel

    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{candidate.name}/{candidate.version}",
            tracking_uri=tracking_uri,
        )
        loaded = mlflow.xgboost.load_model(local)
    except (MlflowException, OSError) as exc:
        raise RegistryUnavailableError(
            f"{candidate.name} version {candidate.version} not loaded from {tracking_uri}: {exc}"
        ) from exc
    booster = loaded if isinstance(loaded, xgb.Booster) else loaded.get_booster()
    features = candidate.features or list(booster.feature_names or [])
    return XGBoostModel(booster, features, candidate.label)
