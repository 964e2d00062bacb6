"""Settings: standard variable names, .env files, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudstream.config import Settings, describe_settings, render_env_example
from fraudstream.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_standard_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "a:1,b:2")
    monkeypatch.setenv("REDIS_URL", "redis://r:6380/1")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://m:5001")
    settings = Settings.load()
    assert settings.kafka.servers == ["a:1", "b:2"]
    assert settings.redis.url == "redis://r:6380/1"
    assert settings.mlflow.tracking_uri == "http://m:5001"


def test_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_PARTITIONS", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("KAFKA_PARTITIONS=12\n")
    assert Settings.load().kafka.partitions == 12


def test_invalid_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_PARTITIONS", "zero")
    with pytest.raises(ConfigError, match="KAFKA_PARTITIONS"):
        Settings.load()


def test_load_overrides_do_not_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert Settings.load(REDIS_URL="redis://x:1/0").redis.url == "redis://x:1/0"
    assert Settings.load().redis.url == "redis://127.0.0.1:6379/0"


def test_env_example_documents_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    assert text == render_env_example(), "run `make env-example` to regenerate .env.example"
    documented = {
        line.removeprefix("# ").split("=", 1)[0] for line in text.splitlines() if "=" in line
    }
    assert {row["env"] for row in describe_settings()} <= documented
