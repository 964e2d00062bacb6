"""Consumers are built one way, with the security settings always applied (no broker).

The seam is the ``KafkaConsumer`` class as :mod:`fraudstream.kafka.consumer` sees it:
a stand-in records the keyword arguments and stops there.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaTimeoutError

from fraudstream.cli.report import report
from fraudstream.config import KafkaSettings, Settings
from fraudstream.errors import ConfigError, ServiceUnavailableError
from fraudstream.kafka import consumer as consumer_module
from fraudstream.kafka.consumer import build_consumer
from fraudstream.kafka.errors import ReadTimeoutError, TopicNotFoundError

SECRET = "sasl-pa55-0c1d"


class _BuiltError(Exception):
    """Raised by the stand-in once it has the arguments."""


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The keyword arguments of every consumer built; building one raises ``_BuiltError``."""
    calls: list[dict[str, Any]] = []

    def capture(**kwargs: Any) -> None:
        calls.append(kwargs)
        raise _BuiltError

    monkeypatch.setattr(consumer_module, "KafkaConsumer", capture)
    return calls


@pytest.fixture
def sasl_ssl_env(tmp_path: Path) -> dict[str, str]:
    """Variables of a SASL_SSL cluster, its CA file written."""
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    return {
        "KAFKA_BOOTSTRAP_SERVERS": "broker-1:9093,broker-2:9093",
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": "reporter",
        "KAFKA_SASL_PASSWORD": SECRET,
        "KAFKA_SSL_CAFILE": str(ca),
    }


def _security(env: dict[str, str]) -> dict[str, str]:
    """The keyword arguments ``env`` asks kafka-python for."""
    return {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "reporter",
        "sasl_plain_password": SECRET,
        "ssl_cafile": env["KAFKA_SSL_CAFILE"],
    }


def test_the_report_reads_kafka_with_the_configured_security(
    built: list[dict[str, Any]],
    sasl_ssl_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``fraudstream report`` without --archive: its consumer carries SASL and TLS."""
    for name, value in sasl_ssl_env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(_BuiltError):
        report(out=tmp_path / "report.html")
    assert len(built) == 1
    security = _security(sasl_ssl_env)
    assert {k: built[0].get(k) for k in security} == security
    assert built[0]["bootstrap_servers"] == ["broker-1:9093", "broker-2:9093"]
    assert built[0]["client_id"] == "fraudstream-report"
    assert built[0]["isolation_level"] == "read_committed"


def test_a_consumer_reads_committed_records_and_never_commits_on_its_own(
    built: list[dict[str, Any]],
) -> None:
    with pytest.raises(_BuiltError):
        build_consumer(KafkaSettings(bootstrap_servers="a:1", request_timeout_ms=7000), "learner")
    assert built == [
        {
            "bootstrap_servers": ["a:1"],
            "client_id": "fraudstream-learner",
            "security_protocol": "PLAINTEXT",
            "group_id": None,
            "enable_auto_commit": False,
            "isolation_level": "read_committed",
            "auto_offset_reset": "earliest",
            "request_timeout_ms": 7000,
        }
    ]


def test_overrides_and_the_group_win_over_the_defaults_not_the_security(
    built: list[dict[str, Any]], sasl_ssl_env: dict[str, str]
) -> None:
    settings = Settings.load(**sasl_ssl_env).kafka
    with pytest.raises(_BuiltError):
        build_consumer(settings, "lag", group_id="g", isolation_level="read_uncommitted")
    (kwargs,) = built
    assert (kwargs["group_id"], kwargs["isolation_level"]) == ("g", "read_uncommitted")
    security = _security(sasl_ssl_env)
    assert {k: kwargs.get(k) for k in security} == security


@pytest.mark.parametrize("name", ["bootstrap_servers", "security_protocol", "sasl_plain_password"])
def test_servers_and_security_cannot_be_overridden(built: list[dict[str, Any]], name: str) -> None:
    with pytest.raises(ValueError, match=f"{name} come from the Kafka settings"):
        build_consumer(KafkaSettings(), "x", **{name: "PLAINTEXT"})
    assert built == []


def test_contradictory_security_settings_build_nothing(built: list[dict[str, Any]]) -> None:
    settings = KafkaSettings(security_protocol="SASL_SSL")
    with pytest.raises(ConfigError, match="needs KAFKA_SASL_MECHANISM"):
        build_consumer(settings, "report")
    assert built == []


def test_an_unreachable_broker_is_service_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(**_: Any) -> None:
        raise KafkaTimeoutError("Unable to bootstrap")

    monkeypatch.setattr(consumer_module, "KafkaConsumer", unreachable)
    with pytest.raises(ServiceUnavailableError, match="Kafka at a:1 is unavailable"):
        build_consumer(KafkaSettings(bootstrap_servers="a:1"), "x")


def test_read_errors_keep_their_fields_across_processes() -> None:
    record = ConsumerRecord("t", 0, 0, 5, 0, 0, None, b"v", [], None, -1, 1, -1)
    timeout = pickle.loads(pickle.dumps(ReadTimeoutError("t: not read", [record])))
    assert (str(timeout), timeout.records) == ("t: not read", [record])
    missing = pickle.loads(pickle.dumps(TopicNotFoundError("t")))
    assert (str(missing), missing.topic, missing.exit_code) == (
        "t: no such topic on the broker",
        "t",
        66,
    )
