"""What the Kafka clients raise: :class:`~fraudstream.errors.ServiceUnavailableError`
when Kafka cannot be reached, :class:`~fraudstream.errors.ConfigError` when the broker
refuses the client's credentials or the client does not trust the broker's
certificate, and what reading a topic may raise besides.

>>> err = ReadTimeoutError("scored: not read to its end within 5 s")
>>> err.records, err.exit_code
([], 69)
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import struct
from collections.abc import Iterator, Sequence
from typing import Final

from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import (
    KafkaError,
    SaslAuthenticationFailedError,
    UnsupportedSaslMechanismError,
)

from fraudstream.config import KafkaSettings
from fraudstream.errors import (
    ConfigError,
    FraudstreamError,
    ServiceUnavailableError,
    untrusted_certificate,
)
from fraudstream.kafka.login import LoginRefusedError, try_login
from fraudstream.kafka.security import kafka_client_kwargs

#: How many connection errors a :class:`ConnectionFailures` keeps.
_MAX_KEPT: Final = 50

#: Longest wait of the one login that tells a refusal from an outage.
_LOGIN_TIMEOUT_S: Final = 10.0

#: The secured settings whose login a broker has accepted in this process.
_ACCEPTED_LOGINS: set[tuple[str | None, ...]] = set()


class ConnectionFailures(logging.Handler):
    """The exceptions kafka-python logs while it connects.

    Its bootstrap retries a refused login or an untrusted certificate like any other
    failed connection, until its timeout, and then reports only "Unable to bootstrap";
    the cause is in what it logged on the way (at WARNING and above).
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.errors: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the exceptions among the record's arguments."""
        args = record.args if isinstance(record.args, tuple) else ()
        for arg in args:
            if isinstance(arg, BaseException) and len(self.errors) < _MAX_KEPT:
                self.errors.append(arg)


@contextlib.contextmanager
def watching_connections() -> Iterator[ConnectionFailures]:
    """Collect the connection errors kafka-python logs inside the block (any thread)."""
    logger = logging.getLogger("kafka.net")
    failures = ConnectionFailures()
    logger.addHandler(failures)
    try:
        yield failures
    finally:
        logger.removeHandler(failures)


def refused(settings: KafkaSettings, errors: Sequence[BaseException]) -> ConfigError | None:
    """The configuration error that explains ``errors`` (logged while connecting), if any.

    A refused SASL login names ``KAFKA_SASL_PASSWORD``, an unsupported mechanism
    ``KAFKA_SASL_MECHANISM``, a broker certificate not signed by a trusted CA
    ``KAFKA_SSL_CAFILE``. No secret is ever part of the message.

    >>> settings = KafkaSettings(bootstrap_servers="b:9094", security_protocol="SSL")
    >>> err = OSError(
    ...     "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
    ...     "self-signed certificate in certificate chain (_ssl.c:1006)"
    ... )
    >>> print(refused(settings, [err]))  # doctest: +NORMALIZE_WHITESPACE
    Kafka at b:9094: the server's certificate is not trusted (self-signed certificate in
    certificate chain): check KAFKA_SSL_CAFILE (unset: the system's CA bundle was used)
    >>> refused(settings, [OSError("connection refused")]) is None
    True
    """
    where = f"Kafka at {settings.bootstrap_servers}"
    for exc in errors:
        if isinstance(exc, SaslAuthenticationFailedError | LoginRefusedError):
            detail = str(exc.args[0] if exc.args else exc)
            return ConfigError(
                f"{where} refused the SASL login of KAFKA_SASL_USERNAME={settings.sasl_username}"
                f" ({detail.removeprefix('SaslAuthenticationFailedError: ')}): "
                "check KAFKA_SASL_PASSWORD"
            )
        if isinstance(exc, UnsupportedSaslMechanismError):
            return ConfigError(f"{where}: {exc}: check KAFKA_SASL_MECHANISM")
        untrusted = untrusted_certificate(exc, where, "KAFKA_SSL_CAFILE", settings.ssl_cafile)
        if untrusted is not None:
            return untrusted
    return None


def _login_error(settings: KafkaSettings) -> list[BaseException]:
    """What one login of :func:`~fraudstream.kafka.login.try_login` ran into ([] if none)."""
    timeout_s = min(settings.request_timeout_ms / 1000, _LOGIN_TIMEOUT_S)
    try:
        try_login(settings, kafka_client_kwargs(settings, "login"), timeout_s)
    except (OSError, KafkaError, LoginRefusedError, struct.error, ValueError) as exc:
        return [exc]
    return []


def unavailable(
    settings: KafkaSettings, exc: Exception, logged: Sequence[BaseException] = ()
) -> FraudstreamError:
    """The error to raise from ``exc`` when a client of ``settings`` cannot be built:
    the :func:`refused` configuration error that ``logged`` (the connection errors seen
    meanwhile) explains, else :class:`~fraudstream.errors.ServiceUnavailableError`.

    kafka-python may have lost a refusal (see :mod:`fraudstream.kafka.login`): with a
    secured protocol and nothing explained, one login of our own settles it.

    >>> str(unavailable(KafkaSettings(bootstrap_servers="a:1"), OSError("refused")))
    'Kafka at a:1 is unavailable: refused'
    """
    found = refused(settings, logged)
    if found is None and settings.security_protocol != "PLAINTEXT":
        found = refused(settings, _login_error(settings))
    return found or ServiceUnavailableError(
        f"Kafka at {settings.bootstrap_servers} is unavailable: {exc}"
    )


def reading_failed(settings: KafkaSettings, topic: str, exc: Exception) -> ServiceUnavailableError:
    """The error to raise from ``exc`` when reading ``topic`` fails.

    >>> str(reading_failed(KafkaSettings(bootstrap_servers="a:1"), "alerts", OSError("gone")))
    'Kafka at a:1: reading alerts: gone'
    """
    return ServiceUnavailableError(f"Kafka at {settings.bootstrap_servers}: reading {topic}: {exc}")


class TopicNotFoundError(FraudstreamError):
    """The topic does not exist on the broker."""

    exit_code = 66  # EX_NOINPUT

    def __init__(self, topic: str) -> None:
        super().__init__(f"{topic}: no such topic on the broker")
        self.topic = topic

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.topic,))


class ReadTimeoutError(ServiceUnavailableError):
    """A topic was not read to its end in time; ``records`` holds what was read."""

    def __init__(self, message: str, records: Sequence[ConsumerRecord] = ()) -> None:
        super().__init__(message)
        self.records = list(records)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (str(self), self.records))


def _login_key(settings: KafkaSettings) -> tuple[str | None, ...]:
    """What decides a login's outcome; the password only as its digest."""
    password = settings.sasl_password.get_secret_value() if settings.sasl_password else ""
    return (
        settings.bootstrap_servers,
        settings.security_protocol,
        settings.sasl_mechanism,
        settings.sasl_username,
        hashlib.sha256(password.encode()).hexdigest(),
        str(settings.ssl_cafile or ""),
    )


def check_login(settings: KafkaSettings) -> None:
    """Raise the :func:`refused` configuration error at once when the broker refuses
    the login of ``settings`` or is not trusted; return otherwise.

    kafka-python's bootstrap retries a refused login like an outage until its timeout
    (30 s by default), so a wrong password would take that long to be named. With a
    secured protocol, one login of our own settles it first, once per process and
    settings: a login accepted before is not tried again. A broker out of reach is left
    to the client's bootstrap (and :func:`unavailable`).

    >>> check_login(KafkaSettings(bootstrap_servers="a:1"))  # plaintext: nothing to check
    """
    if settings.security_protocol == "PLAINTEXT":
        return
    key = _login_key(settings)
    if key in _ACCEPTED_LOGINS:
        return
    errors = _login_error(settings)
    found = refused(settings, errors)
    if found is not None:
        raise found
    if not errors:
        _ACCEPTED_LOGINS.add(key)


@contextlib.contextmanager
def building_client(settings: KafkaSettings) -> Iterator[None]:
    """Around building a kafka-python client of ``settings``: a refused login or an
    untrusted broker raises :class:`~fraudstream.errors.ConfigError` before the build
    (:func:`check_login`), and a build that fails with a ``KafkaError`` raises what
    :func:`unavailable` makes of it and of the connection errors logged meanwhile.
    """
    check_login(settings)
    with watching_connections() as failures:
        try:
            yield
        except KafkaError as exc:
            raise unavailable(settings, exc, failures.errors) from exc
