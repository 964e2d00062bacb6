"""Who gets into the console: the key as X-API-Key or as the basic-auth password, a
name to record, nobody without it; no key, no console (unless --insecure-local)."""

from __future__ import annotations

import base64
import warnings

import pytest
from starlette.exceptions import StarletteDeprecationWarning
from typer.testing import CliRunner

from fraudstream.config import Settings
from fraudstream.console.app import create_console
from fraudstream.errors import ConfigError

with warnings.catch_warnings():  # starlette would rather its test client used httpx2
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

KEY = "s3cret"


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def client() -> TestClient:
    # Redis is never reached: every request here is answered before it would be
    settings = Settings.load(CONSOLE_KEY=KEY, REDIS_URL="redis://127.0.0.1:1/0")
    return TestClient(create_console(settings, ingest=False))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "wrong"},
        _basic("ann", "wrong"),
        _basic("", KEY),  # a name is needed
        {"Authorization": "Bearer " + KEY},
    ],
)
def test_requests_without_the_key_are_refused(client: TestClient, headers: dict[str, str]) -> None:
    for method, path in (("GET", "/"), ("GET", "/rows"), ("GET", "/alerts/alert:tx-1")):
        answer = client.request(method, path, headers=headers)
        assert answer.status_code == 401, (path, headers)
        assert answer.headers["www-authenticate"].startswith('Basic realm="fraudstream console"')
    post = client.post("/alerts/alert:tx-1/verdict", data={"verdict": "fraud"}, headers=headers)
    assert post.status_code == 401


def test_health_and_metrics_need_no_key(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/metrics").status_code == 200


def test_a_verdict_needs_the_token_of_its_page(client: TestClient) -> None:
    answer = client.post(
        "/alerts/alert:tx-1/verdict",
        data={"verdict": "fraud", "token": "forged"},
        headers=_basic("ann", KEY),
    )
    assert answer.status_code == 403
    assert "token" in answer.json()["detail"]
    unknown = client.post(
        "/alerts/alert:tx-1/verdict", data={"verdict": "maybe"}, headers={"X-API-Key": KEY}
    )
    assert unknown.status_code == 422


def test_the_console_refuses_to_start_without_a_key() -> None:
    with pytest.raises(ConfigError, match="CONSOLE_KEY is not set"):
        create_console(Settings.load(), ingest=False)


def test_insecure_local_serves_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from fraudstream.cli import app

    monkeypatch.setenv("CONSOLE_HOST", "0.0.0.0")
    result = CliRunner().invoke(app, ["console", "--insecure-local"])
    assert isinstance(result.exception, ConfigError)
    assert "127.0.0.1 only" in str(result.exception)
