"""The container health probe, against the real observability server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from fraudstream.observability.health import Health
from fraudstream.observability.http import ObservabilityServer
from fraudstream.observability.probe import healthy, main


@pytest.fixture
def served() -> Iterator[tuple[Health, str]]:
    health = Health(["kafka"])
    server = ObservabilityServer(CollectorRegistry(), health, "127.0.0.1", 0)
    try:
        yield health, f"http://127.0.0.1:{server.port}/healthz"
    finally:
        server.close()


def test_ready_only_when_healthz_says_so(served: tuple[Health, str]) -> None:
    health, url = served
    assert not healthy(url)  # 503: not checked yet
    assert main([url]) == 1
    health.up("kafka")
    assert healthy(url)
    assert main([url]) == 0


def test_url_from_the_environment(
    served: tuple[Health, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    health, url = served
    health.up("kafka")
    monkeypatch.setenv("HEALTHCHECK_URL", url)
    assert main([]) == 0


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ftp://127.0.0.1/healthz"]) == 2
    assert main(["a", "b"]) == 2
    assert "not an http(s) URL" in capsys.readouterr().err
