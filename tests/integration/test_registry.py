"""Promotion and rollback against a real MLflow registry, events on a real Kafka topic."""

from __future__ import annotations

import time
import uuid

import msgspec
import pytest
from mlflow.tracking import MlflowClient

from fraudstream.config import Settings
from fraudstream.harness.kafka import read_topic, unique_topics
from fraudstream.promotion.aliases import PromotionError, promote, rollback
from fraudstream.registry.client import FLAVOR_TAG, Registry
from fraudstream.schemas import ModelEvent


@pytest.fixture
def settings(kafka_bootstrap: str, mlflow_uri: str) -> Settings:
    base = Settings.load(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        MLFLOW_TRACKING_URI=mlflow_uri,
        MLFLOW_REGISTERED_MODEL_NAME=f"test-registry-{uuid.uuid4().hex[:8]}",
    )
    return unique_topics(base, "registry")


def _register(settings: Settings, count: int) -> list[str]:
    """``count`` versions of the test's registered model (the artifact is irrelevant here)."""
    client = MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
    name = settings.mlflow.registered_model_name
    client.create_registered_model(name)
    experiment = client.create_experiment(f"{name}-{time.time_ns()}")
    versions = []
    for _ in range(count):
        run = client.create_run(experiment)
        version = client.create_model_version(
            name,
            f"runs:/{run.info.run_id}/model",
            run_id=run.info.run_id,
            tags={FLAVOR_TAG: "xgboost"},
        )
        versions.append(str(version.version))
    return versions


def _events(settings: Settings) -> list[ModelEvent]:
    records = read_topic(settings.kafka.servers, settings.kafka.model_events_topic)
    return [msgspec.json.decode(r.value, type=ModelEvent) for r in records]


def test_promote_moves_the_alias_records_why_and_rollback_restores(settings: Settings) -> None:
    first, second = _register(settings, 2)
    registry = Registry(settings.mlflow.tracking_uri, settings.mlflow.registered_model_name)

    promote(settings, registry, first, "bootstrap", {"average_precision": 0.5})
    promote(settings, registry, second, "beats the champion", {"average_precision": 0.6})
    champion = registry.by_alias("champion")
    assert champion is not None
    assert champion.version == second
    assert champion.tags["fraudstream.promotion_reason"] == "beats the champion"
    assert champion.tags["fraudstream.promotion.average_precision"] == "0.600000"
    assert registry.history() == [first]

    promote(settings, registry, second, "again")  # already champion: nothing moves
    assert registry.history() == [first]

    rollback(settings, registry, "incident 42")
    champion = registry.by_alias("champion")
    assert champion is not None
    assert champion.version == first
    assert registry.history() == []
    with pytest.raises(PromotionError, match="no earlier champion"):
        rollback(settings, registry)

    events = _events(settings)
    print([(e.event, e.version, e.previous_version) for e in events])
    assert [(e.event, e.version, e.previous_version) for e in events] == [
        ("promoted", first, None),
        ("promoted", second, first),
        ("rolled_back", first, second),
    ]


def test_promoting_a_missing_version_is_refused(settings: Settings) -> None:
    _register(settings, 1)
    registry = Registry(settings.mlflow.tracking_uri, settings.mlflow.registered_model_name)
    with pytest.raises(PromotionError, match="no version 7"):
        promote(settings, registry, "7", "typo")
    assert registry.by_alias("champion") is None
