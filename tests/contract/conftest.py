"""The feature store contract runs against every store: in memory, and real Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from fraudstream.features.definitions import FeatureConfig
from fraudstream.features.memory_store import MemoryFeatureStore
from fraudstream.features.redis_store import RedisFeatureStore, delete_prefix
from fraudstream.features.store import FeatureStore

StoreFactory = Callable[[FeatureConfig], FeatureStore]


@pytest.fixture(
    params=["memory", pytest.param("redis", marks=pytest.mark.integration)],
)
def make_store(request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    """A factory of empty stores of one kind (Redis keys live under a fresh prefix)."""
    if request.param == "memory":
        yield MemoryFeatureStore
        return
    url = request.getfixturevalue("redis_url")
    client = redis.Redis.from_url(url)
    prefixes: list[str] = []

    def make(config: FeatureConfig) -> FeatureStore:
        prefixes.append(f"test-{uuid.uuid4().hex[:10]}")
        return RedisFeatureStore(client, config, prefix=prefixes[-1])

    yield make
    for prefix in prefixes:
        delete_prefix(client, prefix)
    client.close()
