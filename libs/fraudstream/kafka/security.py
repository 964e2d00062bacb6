"""Kafka client security settings (SASL, TLS), written once for every client.

Every producer, consumer and admin client fraudstream builds takes its keyword
arguments from :func:`kafka_security_kwargs`, so ``KAFKA_SECURITY_PROTOCOL``,
``KAFKA_SASL_*`` and ``KAFKA_SSL_CAFILE`` apply everywhere. The password stays a
:class:`~pydantic.SecretStr` until this function hands it to kafka-python.

>>> from fraudstream.config import KafkaSettings
>>> kafka_security_kwargs(KafkaSettings())
{'security_protocol': 'PLAINTEXT'}
>>> settings = KafkaSettings(
...     security_protocol="SASL_PLAINTEXT",
...     sasl_mechanism="SCRAM-SHA-256",
...     sasl_username="scorer",
...     sasl_password="s3cret",
... )
>>> sorted(kafka_security_kwargs(settings))
['sasl_mechanism', 'sasl_plain_password', 'sasl_plain_username', 'security_protocol']
"""

from __future__ import annotations

from typing import Any

from fraudstream.config import KafkaSettings
from fraudstream.errors import ConfigError


def kafka_security_kwargs(settings: KafkaSettings) -> dict[str, Any]:
    """The kafka-python keyword arguments for ``settings``' protocol, SASL and TLS.

    Raises :class:`~fraudstream.errors.ConfigError` when the settings contradict
    each other: SASL credentials without a SASL protocol, a SASL protocol without a
    mechanism, user name and password, or a CA file that does not exist.
    """
    protocol = settings.security_protocol
    sasl = protocol.startswith("SASL_")
    tls = protocol.endswith("SSL")
    kwargs: dict[str, Any] = {"security_protocol": protocol}
    given = {
        "KAFKA_SASL_MECHANISM": settings.sasl_mechanism,
        "KAFKA_SASL_USERNAME": settings.sasl_username,
        "KAFKA_SASL_PASSWORD": settings.sasl_password,
    }
    if sasl:
        missing = [name for name, value in given.items() if value is None]
        if missing:
            raise ConfigError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs {', '.join(missing)}")
        assert settings.sasl_password is not None  # checked above (for mypy)
        kwargs |= {
            "sasl_mechanism": settings.sasl_mechanism,
            "sasl_plain_username": settings.sasl_username,
            "sasl_plain_password": settings.sasl_password.get_secret_value(),
        }
    elif any(value is not None for value in given.values()):
        names = ", ".join(name for name, value in given.items() if value is not None)
        raise ConfigError(
            f"{names} set but KAFKA_SECURITY_PROTOCOL={protocol}: "
            "use SASL_PLAINTEXT or SASL_SSL, or unset them"
        )
    if settings.ssl_cafile is not None:
        if not tls:
            raise ConfigError(
                f"KAFKA_SSL_CAFILE set but KAFKA_SECURITY_PROTOCOL={protocol}: use SSL or SASL_SSL"
            )
        if not settings.ssl_cafile.is_file():
            raise ConfigError(f"KAFKA_SSL_CAFILE={settings.ssl_cafile} is not a file")
        kwargs["ssl_cafile"] = str(settings.ssl_cafile)
    return kwargs


def kafka_client_kwargs(settings: KafkaSettings, role: str) -> dict[str, Any]:
    """Bootstrap servers, a client id for ``role`` and the security arguments.

    >>> kafka_client_kwargs(KafkaSettings(bootstrap_servers="a:1,b:2"), "admin")["client_id"]
    'fraudstream-admin'
    """
    return {
        "bootstrap_servers": settings.servers,
        "client_id": f"{settings.client_id}-{role}",
        **kafka_security_kwargs(settings),
    }
