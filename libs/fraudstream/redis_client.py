"""Redis clients built from :class:`~fraudstream.config.RedisSettings`, written once.

Every Redis client fraudstream opens comes from :func:`build_redis` (one Redis,
``REDIS_URL``) or :func:`build_redis_cluster` (a Redis Cluster, ``REDIS_CLUSTER_NODES``),
so ``REDIS_PASSWORD`` (AUTH) and ``REDIS_SSL_CA_CERTS`` (TLS) apply everywhere.
:func:`check_redis` tells a refused password (a configuration error: retrying will
not help) from Redis being away (retry later). URLs are shown with their password
masked (:func:`redact_url`).

>>> redact_url("redis://:hunter2@cache:6379/0")
'redis://:***@cache:6379/0'
>>> redact_url("redis://127.0.0.1:6379/0")
'redis://127.0.0.1:6379/0'
>>> cluster_seeds("10.0.0.1:7000, 10.0.0.2:7001")
[('10.0.0.1', 7000), ('10.0.0.2', 7001)]
"""

from __future__ import annotations

from typing import Any, TypeAlias, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException

from fraudstream.config import RedisSettings
from fraudstream.errors import ConfigError, ServiceUnavailableError, untrusted_certificate

#: One Redis or a Redis Cluster: what the stores that work on both take.
AnyRedis: TypeAlias = redis.Redis | RedisCluster


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


def cluster_seeds(nodes: str) -> list[tuple[str, int]]:
    """``REDIS_CLUSTER_NODES`` (``host:port,host:port``) as ``(host, port)`` pairs.

    Raises :class:`~fraudstream.errors.ConfigError` for an entry that is not
    ``host:port``.
    """
    seeds: list[tuple[str, int]] = []
    for entry in (part.strip() for part in nodes.split(",")):
        if not entry:
            continue
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"REDIS_CLUSTER_NODES entries must be host:port, got {entry!r}")
        seeds.append((host.strip("[]"), int(port)))
    return seeds


def redis_location(settings: RedisSettings) -> str:
    """Where ``settings`` point, safe to log: the cluster's seeds or the masked URL."""
    if settings.cluster_nodes.strip():
        return f"Redis Cluster {settings.cluster_nodes.strip()}"
    return f"Redis at {redact_url(settings.url)}"


def _client_options(settings: RedisSettings) -> dict[str, Any]:
    """The keyword arguments both kinds of client take: timeouts, password, CA bundle."""
    kwargs: dict[str, Any] = {
        "socket_timeout": settings.socket_timeout_s,
        "socket_connect_timeout": settings.socket_timeout_s,
    }
    if settings.password is not None:
        kwargs["password"] = settings.password.get_secret_value()
    if settings.ssl_ca_certs is not None:
        if not settings.ssl_ca_certs.is_file():
            raise ConfigError(f"REDIS_SSL_CA_CERTS={settings.ssl_ca_certs} is not a file")
        kwargs["ssl_ca_certs"] = str(settings.ssl_ca_certs)
    return kwargs


def build_redis(settings: RedisSettings, **overrides: Any) -> redis.Redis:
    """A client for ``settings.url`` with its timeouts, password and CA bundle.

    ``REDIS_PASSWORD`` wins over a password in the URL. ``REDIS_SSL_CA_CERTS`` needs a
    ``rediss://`` URL (else :class:`~fraudstream.errors.ConfigError`). ``overrides``
    are passed on to :meth:`redis.Redis.from_url`. With ``REDIS_CLUSTER_NODES`` set
    this raises :class:`~fraudstream.errors.ConfigError`: the callers of this
    function keep keys of several entities in one call, which a cluster refuses;
    :func:`build_redis_cluster` is the cluster's client.
    """
    if settings.cluster_nodes.strip():
        raise ConfigError(
            "REDIS_CLUSTER_NODES is set, but this process needs a single Redis: "
            "unset it and set REDIS_URL"
        )
    scheme = urlsplit(settings.url).scheme
    if scheme not in {"redis", "rediss", "unix"}:
        raise ConfigError(
            f"REDIS_URL must start with redis://, rediss:// or unix://, got {scheme!r}"
        )
    if settings.ssl_ca_certs is not None and scheme != "rediss":
        raise ConfigError("REDIS_SSL_CA_CERTS needs a rediss:// REDIS_URL")
    kwargs = _client_options(settings)
    url = settings.url
    if settings.password is not None:  # redis-py lets the URL win over keyword arguments
        url = redact_url(url, mask=None)
    kwargs.update(overrides)
    return redis.Redis.from_url(url, **kwargs)


def build_redis_cluster(settings: RedisSettings, **overrides: Any) -> RedisCluster:
    """A Redis Cluster client for ``settings.cluster_nodes``.

    It learns the slot map from the first seed that answers and follows MOVED, ASK
    and failovers itself. ``REDIS_PASSWORD`` and the timeouts apply as for one node;
    ``REDIS_SSL_CA_CERTS`` turns on TLS, checked against that bundle. ``overrides``
    are passed on to :class:`redis.cluster.RedisCluster`.
    """
    seeds = cluster_seeds(settings.cluster_nodes)
    if not seeds:
        raise ConfigError("REDIS_CLUSTER_NODES is empty: list host:port of one node or more")
    kwargs = _client_options(settings)
    if "ssl_ca_certs" in kwargs:
        kwargs["ssl"] = True
    kwargs.update(overrides)
    nodes = [ClusterNode(host, port) for host, port in seeds]  # type: ignore[no-untyped-call]
    try:
        return RedisCluster(startup_nodes=nodes, **kwargs)
    except redis.AuthenticationError as exc:
        raise ConfigError(f"{redis_location(settings)} refused the connection: {exc}") from exc
    except (redis.RedisError, RedisClusterException) as exc:
        raise ServiceUnavailableError(f"{redis_location(settings)} is unavailable: {exc}") from exc


def build_any_redis(settings: RedisSettings, **overrides: Any) -> AnyRedis:
    """:func:`build_redis_cluster` when ``REDIS_CLUSTER_NODES`` is set, else
    :func:`build_redis`: for processes whose every use of Redis works on both (one key
    per command, scripts over one slot's keys)."""
    if settings.cluster_nodes.strip():
        return build_redis_cluster(settings, **overrides)
    return build_redis(settings, **overrides)


def check_redis(client: redis.Redis | RedisCluster, settings: RedisSettings) -> None:
    """Ping Redis once.

    Raises :class:`~fraudstream.errors.ConfigError` when Redis refuses the password
    (or wants one and none is set) or, over TLS, its certificate is not signed by a
    trusted CA (``REDIS_SSL_CA_CERTS``), and
    :class:`~fraudstream.errors.ServiceUnavailableError` when it cannot be reached.
    """
    where = redis_location(settings)
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        if settings.password is not None:
            given = "check REDIS_PASSWORD"
        elif not settings.cluster_nodes.strip() and urlsplit(settings.url).password is not None:
            given = "check the password in REDIS_URL"
        else:
            given = "REDIS_PASSWORD is unset"
        raise ConfigError(f"{where} refused the connection: {exc} ({given})") from exc
    except redis.RedisError as exc:
        untrusted = untrusted_certificate(exc, where, "REDIS_SSL_CA_CERTS", settings.ssl_ca_certs)
        if untrusted is not None:
            raise untrusted from exc
        raise ServiceUnavailableError(f"{where} is unavailable: {exc}") from exc


def connect_any_redis(settings: RedisSettings) -> AnyRedis:
    """:func:`build_any_redis`, then :func:`check_redis` (the client is closed if that
    fails)."""
    return _checked(build_any_redis(settings), settings)


def connect_redis(settings: RedisSettings) -> redis.Redis:
    """:func:`build_redis`, then :func:`check_redis` (the client is closed if that fails)."""
    return _checked(build_redis(settings), settings)


_Client = TypeVar("_Client", bound=AnyRedis)


def _checked(client: _Client, settings: RedisSettings) -> _Client:
    """``client`` once it answered :func:`check_redis`; closed if it did not."""
    try:
        check_redis(client, settings)
    except BaseException:
        client.close()
        raise
    return client
