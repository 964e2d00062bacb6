"""Security settings: Kafka SASL/TLS arguments, Redis AUTH/TLS clients, secrets hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudstream.config import KafkaSettings, RedisSettings, Settings
from fraudstream.errors import ConfigError
from fraudstream.kafka.security import kafka_client_kwargs, kafka_security_kwargs
from fraudstream.redis_client import build_redis, redact_url

SECRET = "pa55-w0rd-never-logged"


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    assert kafka_security_kwargs(KafkaSettings()) == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_passes_every_setting(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = KafkaSettings(
        bootstrap_servers="127.0.0.1:9092",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="scorer",
        sasl_password=SECRET,
        ssl_cafile=ca,
    )
    assert kafka_client_kwargs(settings, "scorer") == {
        "bootstrap_servers": ["127.0.0.1:9092"],
        "client_id": "fraudstream-scorer",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "scorer",
        "sasl_plain_password": SECRET,
        "ssl_cafile": str(ca),
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "needs KAFKA_SASL_MECHANISM"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN"},
            "needs KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD",
        ),
        ({"KAFKA_SASL_PASSWORD": SECRET}, "KAFKA_SASL_PASSWORD set but"),
        ({"KAFKA_SSL_CAFILE": "/etc/hosts"}, "KAFKA_SSL_CAFILE set but"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/no/such/ca.pem"},
            "is not a file",
        ),
    ],
)
def test_contradictory_kafka_settings_are_config_errors(env: dict[str, str], message: str) -> None:
    settings = Settings.load(**env).kafka
    with pytest.raises(ConfigError, match=message) as raised:
        kafka_security_kwargs(settings)
    assert SECRET not in str(raised.value)


def test_redis_password_from_the_settings_wins_over_the_url() -> None:
    client = build_redis(RedisSettings(url="redis://:in-url@127.0.0.1:1/0", password=SECRET))
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["password"] == SECRET
    assert kwargs["socket_timeout"] == 2.0


def test_redis_tls_settings_need_rediss(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    with pytest.raises(ConfigError, match="needs a rediss://"):
        build_redis(RedisSettings(url="redis://127.0.0.1:1/0", ssl_ca_certs=ca))
    client = build_redis(RedisSettings(url="rediss://127.0.0.1:1/0", ssl_ca_certs=ca))
    assert client.connection_pool.connection_kwargs["ssl_ca_certs"] == str(ca)
    with pytest.raises(ConfigError, match="must start with redis"):
        build_redis(RedisSettings(url="http://127.0.0.1:1/0"))


def test_secrets_never_show_in_reprs_or_dumps() -> None:
    settings = Settings.load(KAFKA_SASL_PASSWORD=SECRET, REDIS_PASSWORD=SECRET, API_KEY=SECRET)
    assert settings.redis.password is not None
    assert settings.redis.password.get_secret_value() == SECRET
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert SECRET not in text
    assert SECRET not in redact_url(f"redis://user:{SECRET}@host:1/0")
