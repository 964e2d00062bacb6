"""Redis clients built from :class:`~fraudstream.config.RedisSettings`, written once.

Every Redis client fraudstream opens comes from :func:`build_redis`, so
``REDIS_PASSWORD`` (AUTH) and ``REDIS_SSL_CA_CERTS`` (TLS with ``rediss://``) apply
everywhere. :func:`check_redis` tells a refused password (a configuration error:
retrying will not help) from Redis being away (retry later). URLs are shown with
their password masked (:func:`redact_url`).

>>> redact_url("redis://:hunter2@cache:6379/0")
'redis://:***@cache:6379/0'
>>> redact_url("redis://127.0.0.1:6379/0")
'redis://127.0.0.1:6379/0'
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis

from fraudstream.config import RedisSettings
from fraudstream.errors import ConfigError, ServiceUnavailableError, untrusted_certificate


def redact_url(url: str, mask: str | None = "***") -> str:
    """``url`` with any password replaced by ``mask`` (safe to log); ``None`` drops it."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    credentials = user if mask is None else f"{user}:{mask}"
    return urlunsplit(parts._replace(netloc=f"{credentials}@{host}" if credentials else host))


def build_redis(settings: RedisSettings, **overrides: Any) -> redis.Redis:
    """A client for ``settings.url`` with its timeouts, password and CA bundle.

    ``REDIS_PASSWORD`` wins over a password in the URL. ``REDIS_SSL_CA_CERTS`` needs a
    ``rediss://`` URL (else :class:`~fraudstream.errors.ConfigError`). ``overrides``
    are passed on to :meth:`redis.Redis.from_url`.
    """
    scheme = urlsplit(settings.url).scheme
    if scheme not in {"redis", "rediss", "unix"}:
        raise ConfigError(
            f"REDIS_URL must start with redis://, rediss:// or unix://, got {scheme!r}"
        )
    kwargs: dict[str, Any] = {
        "socket_timeout": settings.socket_timeout_s,
        "socket_connect_timeout": settings.socket_timeout_s,
    }
    if settings.password is not None:
        kwargs["password"] = settings.password.get_secret_value()
    if settings.ssl_ca_certs is not None:
        if scheme != "rediss":
            raise ConfigError("REDIS_SSL_CA_CERTS needs a rediss:// REDIS_URL")
        if not settings.ssl_ca_certs.is_file():
            raise ConfigError(f"REDIS_SSL_CA_CERTS={settings.ssl_ca_certs} is not a file")
        kwargs["ssl_ca_certs"] = str(settings.ssl_ca_certs)
    url = settings.url
    if settings.password is not None:  # redis-py lets the URL win over keyword arguments
        url = redact_url(url, mask=None)
    kwargs.update(overrides)
    return redis.Redis.from_url(url, **kwargs)


def check_redis(client: redis.Redis, settings: RedisSettings) -> None:
    """Ping Redis once.

    Raises :class:`~fraudstream.errors.ConfigError` when Redis refuses the password
    (or wants one and none is set) or, over TLS, its certificate is not signed by a
    trusted CA (``REDIS_SSL_CA_CERTS``), and
    :class:`~fraudstream.errors.ServiceUnavailableError` when it cannot be reached.
    """
    where = redact_url(settings.url)
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        if settings.password is not None:
            given = "check REDIS_PASSWORD"
        elif urlsplit(settings.url).password is not None:
            given = "check the password in REDIS_URL"
        else:
            given = "REDIS_PASSWORD is unset"
        raise ConfigError(f"Redis at {where} refused the connection: {exc} ({given})") from exc
    except redis.RedisError as exc:
        untrusted = untrusted_certificate(
            exc, f"Redis at {where}", "REDIS_SSL_CA_CERTS", settings.ssl_ca_certs
        )
        if untrusted is not None:
            raise untrusted from exc
        raise ServiceUnavailableError(f"Redis at {where} is unavailable: {exc}") from exc


def connect_redis(settings: RedisSettings) -> redis.Redis:
    """:func:`build_redis`, then :func:`check_redis` (the client is closed if that fails)."""
    client = build_redis(settings)
    try:
        check_redis(client, settings)
    except BaseException:
        client.close()
        raise
    return client
