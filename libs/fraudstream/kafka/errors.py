"""What the Kafka clients raise: :class:`~fraudstream.errors.ServiceUnavailableError`
when Kafka cannot be reached, and what reading a topic may raise besides.

>>> err = ReadTimeoutError("scored: not read to its end within 5 s")
>>> err.records, err.exit_code
([], 69)
"""

from __future__ import annotations

from collections.abc import Sequence

from kafka.consumer.fetcher import ConsumerRecord

from fraudstream.config import KafkaSettings
from fraudstream.errors import FraudstreamError, ServiceUnavailableError


def unavailable(settings: KafkaSettings, exc: Exception) -> ServiceUnavailableError:
    """The error to raise from ``exc`` when a client of ``settings`` cannot be built.

    >>> str(unavailable(KafkaSettings(bootstrap_servers="a:1"), OSError("refused")))
    'Kafka at a:1 is unavailable: refused'
    """
    return ServiceUnavailableError(f"Kafka at {settings.bootstrap_servers} is unavailable: {exc}")


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
