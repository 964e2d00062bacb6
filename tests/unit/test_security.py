"""Security settings: Kafka SASL/TLS arguments, Redis AUTH/TLS clients, secrets hidden,
and refused logins or untrusted certificates reported as the setting to fix."""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading
from pathlib import Path
from typing import cast

import pytest
import redis
from kafka.errors import KafkaTimeoutError, SaslAuthenticationFailedError
from pydantic import SecretStr

from fraudstream.config import KafkaSettings, RedisSettings, Settings
from fraudstream.errors import ConfigError, ServiceUnavailableError
from fraudstream.harness.embedded import free_port
from fraudstream.kafka.errors import (
    building_client,
    check_login,
    unavailable,
    watching_connections,
)
from fraudstream.kafka.security import kafka_client_kwargs, kafka_security_kwargs
from fraudstream.redis_client import build_redis, check_redis, redact_url

SECRET = "pa55-w0rd-never-logged"


def _sasl(ssl_cafile: Path | None = None) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers="127.0.0.1:9094",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="scorer",
        sasl_password=SECRET,
        ssl_cafile=ssl_cafile,
    )


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    assert kafka_security_kwargs(KafkaSettings()) == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_passes_every_setting(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    assert kafka_client_kwargs(_sasl(ssl_cafile=ca), "scorer") == {
        "bootstrap_servers": ["127.0.0.1:9094"],
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


def test_connection_errors_kafka_python_logs_are_collected() -> None:
    refused_login = SaslAuthenticationFailedError("invalid credentials")
    with watching_connections() as failures:
        logging.getLogger("kafka.net.connection").error("%s: lost: %s", "conn", refused_login)
        logging.getLogger("kafka.net.manager").info("%s", OSError("not kept: INFO"))
    logging.getLogger("kafka.net.connection").error("%s", OSError("after the block"))
    assert failures.errors == [refused_login]


def test_a_refused_sasl_login_is_a_config_error_naming_the_password() -> None:
    error = unavailable(
        _sasl(),
        KafkaTimeoutError("Unable to bootstrap"),
        [OSError("socket disconnected"), SaslAuthenticationFailedError("invalid credentials")],
    )
    assert isinstance(error, ConfigError)
    assert "KAFKA_SASL_USERNAME=scorer" in str(error)
    assert "check KAFKA_SASL_PASSWORD" in str(error)
    assert SECRET not in str(error)


def test_an_untrusted_broker_certificate_is_a_config_error_naming_the_ca(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    verify = ssl.SSLCertVerificationError(1, "certificate verify failed")
    verify.verify_message = "unable to get local issuer certificate"
    try:
        raise OSError("Handshake failed") from verify
    except OSError as wrapped:
        error = unavailable(
            _sasl(ssl_cafile=ca), KafkaTimeoutError("Unable to bootstrap"), [wrapped]
        )
    assert isinstance(error, ConfigError)
    assert str(error) == (
        "Kafka at 127.0.0.1:9094: the server's certificate is not trusted "
        f"(unable to get local issuer certificate): check KAFKA_SSL_CAFILE={ca}"
    )


def test_other_connection_errors_leave_kafka_unavailable() -> None:
    # nothing listens there, so the library's own login is refused by the OS too (the
    # shared services may run a real SASL_SSL listener on 9094)
    away = _sasl().model_copy(update={"bootstrap_servers": f"127.0.0.1:{free_port()}"})
    error = unavailable(away, KafkaTimeoutError("Unable to bootstrap"), [OSError("refused")])
    assert type(error) is ServiceUnavailableError


class _Refusing:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def ping(self) -> None:
        raise self.exc


@pytest.mark.parametrize(
    ("settings", "exc", "error", "message"),
    [
        (
            RedisSettings(url="rediss://:in-url@h:6380/0"),
            redis.AuthenticationError("invalid username-password pair"),
            ConfigError,
            "(check the password in REDIS_URL)",
        ),
        (
            RedisSettings(url="rediss://h:6380/0", password=SECRET),
            redis.AuthenticationError("invalid username-password pair"),
            ConfigError,
            "(check REDIS_PASSWORD)",
        ),
        (
            RedisSettings(url="rediss://:in-url@h:6380/0"),
            redis.ConnectionError(
                "Error 1 connecting to h:6380. [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
                "failed: self-signed certificate in certificate chain (_ssl.c:1006)."
            ),
            ConfigError,
            "not trusted (self-signed certificate in certificate chain): check REDIS_SSL_CA_CERTS "
            "(unset: the system's CA bundle was used)",
        ),
        (
            RedisSettings(url="rediss://h:6380/0"),
            redis.ConnectionError("Connection refused"),
            ServiceUnavailableError,
            "is unavailable: Connection refused",
        ),
    ],
)
def test_redis_refusals_name_the_setting(
    settings: RedisSettings, exc: Exception, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        check_redis(cast("redis.Redis", _Refusing(exc)), settings)
    assert type(raised.value) is error
    assert message in str(raised.value)
    assert "in-url" not in str(raised.value)
    assert SECRET not in str(raised.value)


def _fake_broker(*connections: list[bytes]) -> tuple[str, threading.Thread]:
    """A loopback listener that takes one connection per list of ``connections`` and
    answers each request on it with the next of its answers (a response body after the
    correlation id), then closes it at once."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        with server:
            for answers in connections:
                with server.accept()[0] as conn:
                    for body in answers:
                        size = struct.unpack(">i", conn.recv(4, socket.MSG_WAITALL))[0]
                        request = conn.recv(size, socket.MSG_WAITALL)
                        correlation = request[4:8]
                        conn.sendall(struct.pack(">i", 4 + len(body)) + correlation + body)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"127.0.0.1:{port}", thread


def _plain(bootstrap: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="scorer",
        sasl_password=SECRET,
    )


#: The broker's answers to a PLAIN login: its handshake, a refusal, an acceptance.
_HANDSHAKE = struct.pack(">hi", 0, 1) + struct.pack(">h", 5) + b"PLAIN"
_REFUSED = b"Authentication failed: Invalid username or password"
_REFUSAL = struct.pack(">hh", 58, len(_REFUSED)) + _REFUSED + struct.pack(">iq", 0, 0)
_ACCEPTANCE = struct.pack(">hhiq", 0, -1, 0, 0)


def test_a_refusal_kafka_python_lost_is_found_by_one_login() -> None:
    bootstrap, broker = _fake_broker([_HANDSHAKE, _REFUSAL])
    error = unavailable(_plain(bootstrap), KafkaTimeoutError("Unable to bootstrap"))
    broker.join(5)
    assert isinstance(error, ConfigError)
    assert str(error) == (
        f"Kafka at {bootstrap} refused the SASL login of KAFKA_SASL_USERNAME=scorer "
        f"({_REFUSED.decode()}): check KAFKA_SASL_PASSWORD"
    )


def test_a_refused_login_is_named_before_any_client_is_built() -> None:
    bootstrap, broker = _fake_broker([_HANDSHAKE, _REFUSAL])
    with (
        pytest.raises(ConfigError, match="check KAFKA_SASL_PASSWORD"),
        building_client(_plain(bootstrap)),
    ):
        pytest.fail("the client was built after a refused login")
    broker.join(5)


def test_an_accepted_login_is_checked_once_per_process() -> None:
    # the broker accepts the first login and refuses the second: only settings it has
    # not accepted yet reach it again
    bootstrap, broker = _fake_broker([_HANDSHAKE, _ACCEPTANCE], [_HANDSHAKE, _REFUSAL])
    settings = _plain(bootstrap)
    check_login(settings)
    check_login(settings)  # accepted before: no second login
    with pytest.raises(ConfigError, match="check KAFKA_SASL_PASSWORD"):
        check_login(settings.model_copy(update={"sasl_password": SecretStr("changed")}))
    broker.join(5)
    assert not broker.is_alive()


def test_a_mechanism_the_broker_lacks_names_the_mechanism_setting() -> None:
    offered = struct.pack(">hi", 33, 1) + struct.pack(">h", 13) + b"SCRAM-SHA-512"
    bootstrap, broker = _fake_broker([offered])
    error = unavailable(_plain(bootstrap), KafkaTimeoutError("Unable to bootstrap"))
    broker.join(5)
    assert isinstance(error, ConfigError)
    assert "the broker offers SCRAM-SHA-512, not PLAIN: check KAFKA_SASL_MECHANISM" in str(error)
