"""Fixtures that reach the real services: Kafka, Redis, MLflow.

Each fixture takes the service's address from its standard variable
(``KAFKA_BOOTSTRAP_SERVERS``, ``REDIS_URL``, ``MLFLOW_TRACKING_URI``) when it is set:
``make test`` starts the project's own local services (``infra/local/services.sh``)
and sets all three, and CI runs the suite that way (``.ci/run`` runs ``make lint`` and
``make test``). Where a variable is unset and a Docker engine answers, the fixture
starts the service in a container (testcontainers) for the session and exports its
address in that variable, so that everything the tests start sees it too: that is
how the GitHub workflow's integration job and a laptop with Docker run the suite.
Where neither, the test fails with a message saying how to start the services:
integration tests never skip. docs/development.md describes both paths.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal, NoReturn
from urllib.parse import urlparse

import pytest
from redis.cluster import RedisCluster

# as fraudstream/__init__.py does, but before any test module imports xgboost itself:
# spinning OpenMP threads make XGBoost ~20x slower on a busy machine
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from fraudstream.config import RedisSettings, Settings
from fraudstream.durations import format_duration
from fraudstream.harness.scorer import (
    ScorerProcess,
    create_topics,
    delete_keys,
    free_port,
    scorer_env,
    scorer_settings,
)
from fraudstream.processes import stop_process
from fraudstream.redis_client import build_redis_cluster, cluster_seeds

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

HOW_TO_START = (
    "start the local services with `make services-up` and export the variables it prints, "
    "run the suite with `make test`, or start a Docker engine (the fixtures then start "
    "the services in containers)"
)

# The images the fixtures start where no address is given: the Kafka of
# docker-compose.yml, a patch release of its Redis 7.4, the MLflow of the Dockerfile.
KAFKA_IMAGE = "apache/kafka:4.1.1"
REDIS_IMAGE = "redis:7.4.6"
MLFLOW_IMAGE = "ghcr.io/mlflow/mlflow:v3.17.2"
CONTAINER_START_TIMEOUT_S = 180


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration is an integration test."""
    for item in items:
        if "integration" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.integration)


@dataclass(frozen=True)
class Service:
    """A service the integration tests need, and the variable that gives its address."""

    name: str
    variable: str
    default_port: int

    def endpoint(self, address: str) -> tuple[str, int]:
        """The ``(host, port)`` to reach from ``address``, the variable's value: a URL,
        or a list of ``host:port`` (Kafka's bootstrap servers; the first is tried).

        >>> KAFKA.endpoint("broker-1:9092,broker-2:9092")
        ('broker-1', 9092)
        >>> REDIS.endpoint("redis://:secret@10.0.0.5/0")
        ('10.0.0.5', 6379)
        """
        if "://" in address:
            parsed = urlparse(address)
            return parsed.hostname or "127.0.0.1", parsed.port or self.default_port
        host, _, port = address.split(",", maxsplit=1)[0].strip().rpartition(":")
        return host or "127.0.0.1", int(port or self.default_port)


KAFKA = Service("Kafka", "KAFKA_BOOTSTRAP_SERVERS", 9092)
REDIS = Service("Redis", "REDIS_URL", 6379)
MLFLOW = Service("MLflow", "MLFLOW_TRACKING_URI", 5000)

Source = Literal["environment", "container", "unavailable"]


def service_source(
    service: Service, environ: Mapping[str, str], docker_available: Callable[[], bool]
) -> Source:
    """Where ``service`` comes from: the address in its variable, a container, or
    nowhere. Docker is asked only when the variable is unset (or empty).

    >>> service_source(REDIS, {"REDIS_URL": "redis://127.0.0.1:6379/0"}, lambda: True)
    'environment'
    >>> service_source(REDIS, {}, lambda: True)
    'container'
    >>> service_source(REDIS, {"REDIS_URL": ""}, lambda: False)
    'unavailable'
    """
    if environ.get(service.variable):
        return "environment"
    return "container" if docker_available() else "unavailable"


def _docker_available() -> bool:
    """A Docker engine answers, the way testcontainers reaches it (``DOCKER_HOST`` or
    the default socket)."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=10)
    except DockerException:
        return False
    try:
        return bool(client.ping())
    except (DockerException, OSError):
        return False
    finally:
        client.close()


def _check_reachable(service: Service, address: str) -> None:
    host, port = service.endpoint(address)
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as exc:
        pytest.fail(
            f"{service.name} at {host}:{port} (from {service.variable}) does not answer: "
            f"{exc}; " + HOW_TO_START,
            pytrace=False,
        )


def _unavailable(service: Service) -> NoReturn:
    pytest.fail(
        f"{service.name} is needed: {service.variable} is unset and no Docker engine "
        "answers; " + HOW_TO_START,
        pytrace=False,
    )


@contextmanager
def _exported(variable: str, value: str) -> Iterator[str]:
    """``os.environ[variable] = value`` inside the block, for the processes the tests
    start and the settings they load."""
    previous = os.environ.get(variable)
    os.environ[variable] = value
    try:
        yield value
    finally:
        if previous is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = previous


@contextmanager
def _started(container: DockerContainer) -> Iterator[DockerContainer]:
    """The container started (and waited for), removed at the end."""
    try:
        container.start()
        yield container
    finally:
        container.stop()


def _service(service: Service, container: Callable[[], Iterator[str]]) -> Iterator[str]:
    """The body of a service fixture: the variable's address, else ``container()``'s
    (exported in the variable meanwhile), else a failure."""
    source = service_source(service, os.environ, _docker_available)
    if source == "environment":
        address = os.environ[service.variable]
        _check_reachable(service, address)
        yield address
    elif source == "container":
        for address in container():
            with _exported(service.variable, address):
                yield address
    else:
        _unavailable(service)


def _kafka_container() -> Iterator[str]:
    """Apache Kafka (KRaft, one node) in a container.

    Clients reach the PLAINTEXT listener on a host port chosen here, so that the
    broker can advertise it from the start; the broker reaches itself (transaction
    markers, say) on the BROKER listener inside the container.
    """
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    port = free_port()
    container = DockerContainer(KAFKA_IMAGE)
    host = container.get_docker_client().host()
    container.with_bind_ports(9092, port).with_envs(
        KAFKA_NODE_ID="1",
        KAFKA_PROCESS_ROLES="broker,controller",
        KAFKA_LISTENERS="PLAINTEXT://:9092,BROKER://:9093,CONTROLLER://:9094",
        KAFKA_ADVERTISED_LISTENERS=f"PLAINTEXT://{host}:{port},BROKER://localhost:9093",
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=(
            "PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT"
        ),
        KAFKA_INTER_BROKER_LISTENER_NAME="BROKER",
        KAFKA_CONTROLLER_LISTENER_NAMES="CONTROLLER",
        KAFKA_CONTROLLER_QUORUM_VOTERS="1@localhost:9094",
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR="1",
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR="1",
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR="1",
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS="0",
    ).waiting_for(
        LogMessageWaitStrategy("Kafka Server started").with_startup_timeout(
            CONTAINER_START_TIMEOUT_S
        )
    )
    with _started(container):
        yield f"{host}:{port}"


def _redis_container() -> Iterator[str]:
    """Redis in a container (testcontainers waits until it answers PING)."""
    from testcontainers.community.redis import RedisContainer

    with _started(RedisContainer(REDIS_IMAGE)) as redis:
        host, port = redis.get_container_host_ip(), redis.get_exposed_port(6379)
        yield f"redis://{host}:{port}/0"


def _mlflow_container() -> Iterator[str]:
    """An MLflow tracking server in a container, as infra/local/mlflow.sh starts one:
    SQLite backend, artifacts served by the server itself."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import HttpWaitStrategy

    container = DockerContainer(MLFLOW_IMAGE)
    host = container.get_docker_client().host()
    container.with_exposed_ports(5000).with_command(
        [
            "mlflow",
            "server",
            "--host=0.0.0.0",
            "--port=5000",
            "--workers=1",
            "--backend-store-uri=sqlite:////tmp/mlflow.db",
            "--serve-artifacts",
            "--artifacts-destination=/tmp/mlartifacts",
            # the clients' Host header: the Docker host with the mapped port
            f"--allowed-hosts={host}:*",
        ]
    ).waiting_for(HttpWaitStrategy(5000, "/health").with_startup_timeout(CONTAINER_START_TIMEOUT_S))
    with _started(container) as mlflow:
        yield f"http://{mlflow.get_container_host_ip()}:{mlflow.get_exposed_port(5000)}"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``host:port`` of a real Apache Kafka broker."""
    yield from _service(KAFKA, _kafka_container)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a real Redis server."""
    yield from _service(REDIS, _redis_container)


@pytest.fixture(scope="session")
def mlflow_uri() -> Iterator[str]:
    """URI of a real MLflow tracking server."""
    yield from _service(MLFLOW, _mlflow_container)


CLUSTER_HOW_TO_START = (
    "start the local services with `make services-up` and export the variables it prints "
    "(or source <state>/env.sh), or run the suite with `make test`"
)


@pytest.fixture(scope="session")
def cluster_settings() -> RedisSettings:
    """Settings naming the test Redis Cluster (``REDIS_CLUSTER_TEST_NODES``, no
    fraudstream setting: ``REDIS_CLUSTER_NODES`` would put every process of the suite in
    cluster mode); a test fails (never skips) without it. No container stands in."""
    nodes = os.environ.get("REDIS_CLUSTER_TEST_NODES", "").strip()
    if not nodes:
        pytest.fail(f"REDIS_CLUSTER_TEST_NODES is unset; {CLUSTER_HOW_TO_START}", pytrace=False)
    for host, port in cluster_seeds(nodes):
        try:
            socket.create_connection((host, port), timeout=3).close()
        except OSError as exc:
            pytest.fail(
                f"REDIS_CLUSTER_TEST_NODES: {host}:{port} does not answer: {exc}; "
                f"{CLUSTER_HOW_TO_START}",
                pytrace=False,
            )
    return RedisSettings(cluster_nodes=nodes)


@pytest.fixture
def cluster(cluster_settings: RedisSettings) -> Iterator[RedisCluster]:
    """A client of the test cluster."""
    client = build_redis_cluster(cluster_settings)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _services_of_integration_tests(request: pytest.FixtureRequest) -> None:
    """An integration test has all three services, also the ones it reaches only
    through the settings it loads or the processes it starts: with containers, their
    addresses are exported before it runs."""
    if request.node.get_closest_marker("integration") is not None:
        for fixture in ("kafka_bootstrap", "redis_url", "mlflow_uri"):
            request.getfixturevalue(fixture)


def coverage_by_package(files: Mapping[str, Mapping[str, int]]) -> dict[str, tuple[int, int]]:
    """``(statements run, statements)`` per package of fraudstream, from the per-file
    summaries of ``coverage json``; the modules at the package's top form one group.

    >>> coverage_by_package(
    ...     {
    ...         "libs/fraudstream/scoring/core.py": {"covered_lines": 8, "num_statements": 10},
    ...         "libs/fraudstream/scoring/io/kafka.py": {"covered_lines": 1, "num_statements": 2},
    ...         "libs/fraudstream/config.py": {"covered_lines": 5, "num_statements": 5},
    ...     }
    ... )
    {'fraudstream (top-level modules)': (5, 5), 'fraudstream.scoring': (9, 12)}
    """
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for path, summary in files.items():
        parts = Path(path).parts
        inner = parts[len(parts) - parts[::-1].index("fraudstream") :]
        group = f"fraudstream.{inner[0]}" if len(inner) > 1 else "fraudstream (top-level modules)"
        totals[group][0] += summary["covered_lines"]
        totals[group][1] += summary["num_statements"]
    return {group: (run, statements) for group, (run, statements) in sorted(totals.items())}


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """With ``--cov`` (``make test``): the coverage of each package of fraudstream, from
    the data pytest-cov has just combined (the tests' and their subprocesses')."""
    if not config.getoption("cov_source", None) or config.getoption("no_cov", False):
        return
    import coverage
    from coverage.exceptions import CoverageException

    cov = coverage.Coverage()
    report = Path(cov.config.data_file).with_name("coverage.json")
    try:
        cov.load()
        total = cov.json_report(outfile=str(report))
    except CoverageException as exc:
        terminalreporter.write_line(f"no coverage summary: {exc}")
        return
    files = {
        path: data["summary"] for path, data in json.loads(report.read_text())["files"].items()
    }
    packages = coverage_by_package(files)
    terminalreporter.write_sep("-", "coverage of libs/fraudstream by package")
    for group, (run, statements) in packages.items():
        percent = 100.0 * run / statements if statements else 100.0
        terminalreporter.write_line(f"{group:34} {percent:5.1f}%  {run:>6} of {statements:>6}")
    run = sum(run for run, _ in packages.values())
    statements = sum(statements for _, statements in packages.values())
    terminalreporter.write_line(f"{'total':34} {total:5.1f}%  {run:>6} of {statements:>6}")
    terminalreporter.write_line(
        "statements run; the floor is fail_under in pyproject.toml, and "
        "`make coverage-html` shows the lines"
    )


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
