"""A thin, typed view of the MLflow registry for one registered model.

Every MLflow failure becomes :class:`RegistryUnavailableError` (MLflow down, refused
request) or ``None`` (an alias or version that does not exist), so callers handle two
cases instead of MLflow's exception zoo.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from fraudstream.errors import ServiceUnavailableError

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

#: Model-version tag naming how to load a version (``xgboost`` or ``river``).
FLAVOR_TAG: Final = "fraudstream.flavor"
#: Model-version tag with the JSON list of feature columns, in the model's order.
FEATURES_TAG: Final = "fraudstream.features"
#: Registered-model tag with the JSON list of earlier champions, oldest first.
HISTORY_TAG: Final = "fraudstream.champion_history"


class RegistryUnavailableError(ServiceUnavailableError):
    """The MLflow registry could not be reached or refused the request."""


@dataclass(frozen=True)
class Candidate:
    """A registered model version as the scorer and the promotion logic see it."""

    name: str
    version: str
    flavor: str
    run_id: str | None
    features: list[str]
    tags: dict[str, str]

    @property
    def label(self) -> str:
        """How alerts and scored records name this model, e.g. ``xgboost-v3``."""
        return f"{self.flavor}-v{self.version}"


class Registry:
    """Aliases, tags and versions of one registered model."""

    def __init__(self, tracking_uri: str, name: str) -> None:
        from mlflow.tracking import MlflowClient  # heavy: only where a registry is used

        self.name = name
        self.tracking_uri = tracking_uri
        self._client: MlflowClient = MlflowClient(
            tracking_uri=tracking_uri, registry_uri=tracking_uri
        )

    def by_alias(self, alias: str) -> Candidate | None:
        """The version an alias points at, or None when the alias (or model) is unset."""
        found = self._call(self._client.get_model_version_by_alias, self.name, alias)
        return None if found is None else _candidate(found)

    def version(self, version: str) -> Candidate | None:
        """One version, or None when it does not exist."""
        found = self._call(self._client.get_model_version, self.name, version)
        return None if found is None else _candidate(found)

    def set_alias(self, alias: str, version: str) -> None:
        """Point ``alias`` at ``version``."""
        self._call(self._client.set_registered_model_alias, self.name, alias, version)

    def tag_version(self, version: str, tags: dict[str, str]) -> None:
        """Add or overwrite tags on one version."""
        for key, value in tags.items():
            self._call(self._client.set_model_version_tag, self.name, version, key, value)

    def history(self) -> list[str]:
        """Earlier champions, oldest first (what rollback walks back through)."""
        model = self._call(self._client.get_registered_model, self.name)
        if model is None:
            return []
        raw = model.tags.get(HISTORY_TAG)
        return [str(v) for v in json.loads(raw)] if raw else []

    def set_history(self, versions: list[str]) -> None:
        """Replace the champion history."""
        self._call(
            self._client.set_registered_model_tag, self.name, HISTORY_TAG, json.dumps(versions)
        )

    def run_params(self, run_id: str) -> dict[str, str]:
        """The parameters of the run a version came from ({} when the run is gone)."""
        run = self._call(self._client.get_run, run_id)
        return {} if run is None else dict(run.data.params)

    def _call(self, method: Any, *args: Any) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return method(*args)
        except MlflowException as exc:
            if exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}:
                return None
            if exc.error_code == "INVALID_PARAMETER_VALUE" and "alias" in str(exc).lower():
                return None
            raise RegistryUnavailableError(
                f"MLflow registry at {self.tracking_uri} refused {method.__name__}: {exc}"
            ) from exc
        except OSError as exc:
            raise RegistryUnavailableError(
                f"MLflow registry at {self.tracking_uri} is unavailable: {exc}"
            ) from exc


def _candidate(found: ModelVersion) -> Candidate:
    tags = dict(found.tags or {})
    raw_features = tags.get(FEATURES_TAG)
    return Candidate(
        name=str(found.name),
        version=str(found.version),
        flavor=tags.get(FLAVOR_TAG, "unknown"),
        run_id=found.run_id,
        features=[str(f) for f in json.loads(raw_features)] if raw_features else [],
        tags=tags,
    )
