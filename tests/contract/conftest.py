"""The feature store contract runs against every store: in memory, one real Redis, and
a real Redis Cluster (``REDIS_CLUSTER_TEST_NODES``; missing, the tests fail)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from fraudstream.config import RedisSettings
from fraudstream.features.definitions import FeatureConfig
from fraudstream.features.memory_store import MemoryFeatureStore
from fraudstream.features.redis_cluster_store import RedisClusterFeatureStore
from fraudstream.features.redis_store import RedisFeatureStore, delete_prefix
from fraudstream.features.store import FeatureStore
from fraudstream.redis_client import AnyRedis, build_redis_cluster

StoreFactory = Callable[[FeatureConfig], FeatureStore]


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.integration),
        pytest.param("redis-cluster", marks=pytest.mark.integration),
    ],
)
def make_store(request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    """A factory of empty stores of one kind (Redis keys live under a fresh prefix)."""
    yield from store_factory(request)


def store_factory(request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    """A factory of empty stores of the kind ``request.param`` names; for fixtures that
    run a part of the contract on fewer kinds."""
    if request.param == "memory":
        yield MemoryFeatureStore
        return
    client: AnyRedis
    if request.param == "redis":
        client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    else:
        settings: RedisSettings = request.getfixturevalue("cluster_settings")
        client = build_redis_cluster(settings)
    prefixes: list[str] = []

    def make(config: FeatureConfig) -> FeatureStore:
        prefixes.append(f"test-{uuid.uuid4().hex[:10]}")
        if isinstance(client, redis.Redis):
            return RedisFeatureStore(client, config, prefix=prefixes[-1])
        return RedisClusterFeatureStore(client, config, prefix=prefixes[-1])

    yield make
    for prefix in prefixes:
        delete_prefix(client, prefix)
    client.close()
