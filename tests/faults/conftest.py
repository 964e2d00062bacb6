"""Fixtures of the fault tests: unique scorer settings and scorer processes to kill."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from fraudstream.config import Settings
from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.testing.scorer import create_topics, delete_keys, scorer_settings


@pytest.fixture
def settings(
    request: pytest.FixtureRequest, kafka_bootstrap: str, redis_url: str
) -> Iterator[Settings]:
    """Unique topics, group, instance, key prefix and port; the topics created."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.removeprefix("test_"))[:24]
    created = scorer_settings(kafka_bootstrap, redis_url, name)
    create_topics(created)
    yield created
    delete_keys(redis_url, created.features.key_prefix)


@pytest.fixture(scope="session")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated month (~116,000 transactions, ~2% fraud) as canonical Parquet."""
    path = tmp_path_factory.mktemp("faults") / "simulated.parquet"
    write_parquet_atomic(simulate(SimulatorConfig(customers=2_000, terminals=4_000, days=30)), path)
    return path
