"""Which path the service fixtures of tests/conftest.py take: the address in the
variable, a container, or a failure that says how to start the services."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

CONFTEST = Path(__file__).parents[1] / "conftest.py"


@pytest.fixture
def conftest(request: pytest.FixtureRequest) -> ModuleType:
    """tests/conftest.py as pytest loaded it."""
    for plugin in request.config.pluginmanager.get_plugins():
        if isinstance(plugin, ModuleType) and Path(plugin.__file__ or "") == CONFTEST:
            return plugin
    raise AssertionError(f"{CONFTEST} is not loaded")


@pytest.fixture
def listener() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield int(server.getsockname()[1])


def _no_docker_asked() -> bool:
    raise AssertionError("Docker must not be asked when the variable is set")


def _no_container() -> Iterator[str]:
    raise AssertionError("no container must be started")
    yield ""  # pragma: no cover - a generator, as the fixtures' container functions


def test_the_address_in_the_variable_is_used_without_asking_docker(
    conftest: ModuleType, listener: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"redis://127.0.0.1:{listener}/0"
    monkeypatch.setenv("REDIS_URL", url)
    monkeypatch.setattr(conftest, "_docker_available", _no_docker_asked)
    assert next(conftest._service(conftest.REDIS, _no_container)) == url


def test_an_address_where_nothing_answers_fails_naming_the_variable(
    conftest: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{port}")
    monkeypatch.setattr(conftest, "_docker_available", _no_docker_asked)
    with pytest.raises(pytest.fail.Exception, match=r"from KAFKA_BOOTSTRAP_SERVERS\) does not"):
        next(conftest._service(conftest.KAFKA, _no_container))


@pytest.mark.parametrize("unset", [True, False], ids=["unset", "empty"])
def test_without_an_address_a_container_is_started_and_its_address_exported(
    conftest: ModuleType, monkeypatch: pytest.MonkeyPatch, unset: bool
) -> None:
    if unset:
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", "")
    monkeypatch.setattr(conftest, "_docker_available", lambda: True)
    events: list[str] = []

    def container() -> Iterator[str]:
        events.append("started")
        yield "http://localhost:49153"
        events.append("stopped")

    fixture = conftest._service(conftest.MLFLOW, container)
    assert next(fixture) == "http://localhost:49153"
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://localhost:49153"
    assert events == ["started"]
    assert next(fixture, None) is None  # the session's end
    assert events == ["started", "stopped"]
    assert os.environ.get("MLFLOW_TRACKING_URI") == (None if unset else "")


def test_without_an_address_or_docker_the_test_fails_saying_how_to_start_them(
    conftest: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(conftest, "_docker_available", lambda: False)
    with pytest.raises(pytest.fail.Exception, match="REDIS_URL is unset") as failed:
        next(conftest._service(conftest.REDIS, _no_container))
    assert "make test" in str(failed.value)
    assert "Docker" in str(failed.value)


def test_the_container_images_are_pinned_to_a_release(conftest: ModuleType) -> None:
    for image in (conftest.KAFKA_IMAGE, conftest.REDIS_IMAGE, conftest.MLFLOW_IMAGE):
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", image), image
