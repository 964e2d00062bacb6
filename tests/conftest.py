"""Fixtures that reach the real services: Kafka, Redis, MLflow.

Each fixture takes the service's address from its standard variable
(``KAFKA_BOOTSTRAP_SERVERS``, ``REDIS_URL``, ``MLFLOW_TRACKING_URI``). ``make test``
starts the project's own local services (``infra/local/services.sh``) and sets them,
and CI runs the suite that way (``.ci/run`` runs ``make lint`` and ``make test``; the
GitHub workflow sets them for its service containers). Only where a variable is unset
and a Docker engine answers is a testcontainer started instead. Where neither, the
test fails with a message saying how to start the services: integration tests never
skip.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, NoReturn
from urllib.parse import urlparse

import pytest

# as fraudstream/__init__.py does, but before any test module imports xgboost itself:
# spinning OpenMP threads make XGBoost ~20x slower on a busy machine
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from fraudstream.config import Settings
from fraudstream.durations import format_duration
from fraudstream.harness.scorer import (
    ScorerProcess,
    create_topics,
    delete_keys,
    scorer_env,
    scorer_settings,
)
from fraudstream.processes import stop_process

HOW_TO_START = (
    "start the local services with `make services-up` and export the variables it prints, "
    "or run the suite with `make test`"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration is an integration test."""
    for item in items:
        if "integration" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.integration)


def _docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def _check_reachable(name: str, variable: str, host: str, port: int) -> None:
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as exc:
        pytest.fail(
            f"{name} at {host}:{port} (from {variable}) does not answer: {exc}; " + HOW_TO_START,
            pytrace=False,
        )


def _unavailable(name: str, variable: str) -> NoReturn:
    pytest.fail(
        f"{name} is needed: {variable} is unset and no Docker engine answers; " + HOW_TO_START,
        pytrace=False,
    )


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``host:port`` of a real Apache Kafka broker."""
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if servers:
        host, _, port = servers.split(",")[0].rpartition(":")
        _check_reachable("Kafka", "KAFKA_BOOTSTRAP_SERVERS", host, int(port))
        yield servers
        return
    if not _docker_available():
        _unavailable("Kafka", "KAFKA_BOOTSTRAP_SERVERS")
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer().with_kraft() as kafka:
        yield kafka.get_bootstrap_server()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a real Redis server."""
    url = os.environ.get("REDIS_URL")
    if url:
        parsed = urlparse(url)
        _check_reachable("Redis", "REDIS_URL", parsed.hostname or "127.0.0.1", parsed.port or 6379)
        yield url
        return
    if not _docker_available():
        _unavailable("Redis", "REDIS_URL")
    from testcontainers.redis import RedisContainer

    with RedisContainer("redis:7") as redis:
        yield f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0"


@pytest.fixture(scope="session")
def mlflow_uri() -> Iterator[str]:
    """URI of a real MLflow tracking server."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        parsed = urlparse(uri)
        _check_reachable(
            "MLflow", "MLFLOW_TRACKING_URI", parsed.hostname or "127.0.0.1", parsed.port or 5000
        )
        yield uri
        return
    if not _docker_available():
        _unavailable("MLflow", "MLFLOW_TRACKING_URI")
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    image = "ghcr.io/mlflow/mlflow:v3.17.2"
    command = "mlflow server --host 0.0.0.0 --port 5000 --workers 1"
    with DockerContainer(image).with_command(command).with_exposed_ports(5000) as mlflow:
        wait_for_logs(mlflow, "Uvicorn running|Listening at", timeout=120)
        yield f"http://{mlflow.get_container_host_ip()}:{mlflow.get_exposed_port(5000)}"


@pytest.fixture
def scorer_processes(tmp_path: Path) -> Iterator[Callable[[Settings], ScorerProcess]]:
    """Start ``fraudstream score`` subprocesses; any left running are killed at the end."""
    started: list[ScorerProcess] = []

    def start(settings: Settings) -> ScorerProcess:
        process = ScorerProcess(settings, tmp_path / f"scorer-{len(started) + 1}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()


def _learner_env(settings: Settings) -> dict[str, str]:
    """The environment that makes ``fraudstream learn`` use ``settings``."""
    learner = settings.learner
    return {
        **scorer_env(settings),
        "LEARNER_MODEL": learner.model,
        "LEARNER_SNAPSHOT_EVERY_LABELS": str(learner.snapshot_every_labels),
        "LEARNER_SNAPSHOT_EVERY": format_duration(learner.snapshot_every),
        "LEARNER_MAX_WAIT": format_duration(learner.max_wait),
        "LEARNER_MLFLOW_EVERY": str(learner.mlflow_every),
        "LEARNER_HTTP_HOST": learner.http_host,
        "LEARNER_HTTP_PORT": str(learner.http_port),
        "FEATURES_LABEL_DELAY": format_duration(settings.features.label_delay),
    }


@pytest.fixture
def learner_processes(tmp_path: Path) -> Iterator[Callable[[Settings], subprocess.Popen[bytes]]]:
    """Start ``fraudstream learn`` subprocesses with the given settings, each logging to
    a file of its own; any still running at the end are stopped (SIGTERM, then SIGKILL)."""
    started: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def start(settings: Settings) -> subprocess.Popen[bytes]:
        exe = shutil.which("fraudstream")
        assert exe is not None, "the fraudstream console script is not installed"
        log = (tmp_path / f"learner-{len(started) + 1}.log").open("ab")
        process = subprocess.Popen(
            [exe, "learn"], env=_learner_env(settings), stdout=log, stderr=subprocess.STDOUT
        )
        started.append((process, log))
        return process

    yield start
    for process, log in started:
        stop_process(process, 30.0)
        log.close()


@pytest.fixture
def make_settings(kafka_bootstrap: str, redis_url: str) -> Iterator[Callable[..., Settings]]:
    """Make ``scorer_settings(kafka_bootstrap, redis_url, name, **env)`` and create their
    topics; the Redis keys under their prefixes are deleted at the end."""
    made: list[Settings] = []

    def make(name: str, **env: str) -> Settings:
        settings = scorer_settings(kafka_bootstrap, redis_url, name, **env)
        create_topics(settings)
        made.append(settings)
        return settings

    yield make
    for settings in made:
        delete_keys(settings.redis, settings.features.key_prefix)


@pytest.fixture
def settings(request: pytest.FixtureRequest, make_settings: Callable[..., Settings]) -> Settings:
    """Unique topics, group, instance, key prefix and port, named after the test; the
    topics created. Modules that need other settings define their own ``settings``."""
    return make_settings(re.sub(r"[^a-z0-9]+", "-", request.node.name.removeprefix("test_"))[:24])
