"""Fixtures shared by the integration tests that talk to Redis directly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from fraudstream.features.redis_store import delete_prefix


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """A client of the test Redis."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def prefix(client: redis.Redis) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    yield prefix
    delete_prefix(client, prefix)
