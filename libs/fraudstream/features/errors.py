"""What a feature store raises, whichever store it is.

Callers of the :class:`~fraudstream.features.store.FeatureStore` interface catch these,
so they need not know which store answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from fraudstream.errors import FraudstreamError, ServiceUnavailableError


class FeatureStoreError(FraudstreamError):
    """The feature store rejected a request (a script error, a wrong-type key)."""


class FeatureStoreUnavailableError(ServiceUnavailableError):
    """The store cannot be reached or timed out: pause and retry, commit nothing."""


class BackfillRefusedError(FeatureStoreError):
    """A backfill would write over state it did not write (live writes, another
    backfill, anything newer than its moment); ``--force`` replaces that state."""

    exit_code = 73  # EX_CANTCREAT: the output exists and is not ours to overwrite


@contextmanager
def redis_errors(failed: str) -> Iterator[None]:
    """Redis errors as the feature store's: unavailable (retry later), or ``failed``
    with Redis's message."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise FeatureStoreUnavailableError(f"Redis is unavailable: {exc}") from exc
    except redis.RedisError as exc:
        raise FeatureStoreError(f"{failed}: {exc}") from exc
