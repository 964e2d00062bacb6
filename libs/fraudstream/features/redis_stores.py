"""The Redis feature store for a client: one Redis or a Redis Cluster.

Processes build their client with :func:`~fraudstream.redis_client.build_any_redis`
(a cluster client when ``REDIS_CLUSTER_NODES`` is set) and open the store that fits
it here, so no process decides twice.
"""

from __future__ import annotations

from typing import TypeAlias

from redis.cluster import RedisCluster

from fraudstream.features.definitions import FeatureConfig
from fraudstream.features.redis_cluster_store import RedisClusterFeatureStore
from fraudstream.features.redis_store import RedisFeatureStore
from fraudstream.redis_client import AnyRedis

#: Either Redis feature store.
AnyRedisFeatureStore: TypeAlias = RedisFeatureStore | RedisClusterFeatureStore


def redis_feature_store(
    client: AnyRedis, config: FeatureConfig = FeatureConfig(), *, prefix: str = "fs"
) -> AnyRedisFeatureStore:
    """The cluster store over a cluster client, the single-Redis store otherwise."""
    if isinstance(client, RedisCluster):
        return RedisClusterFeatureStore(client, config, prefix=prefix)
    return RedisFeatureStore(client, config, prefix=prefix)
