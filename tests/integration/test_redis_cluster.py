"""The Redis Cluster client, and the stores that work on a cluster (model snapshots,
alert markers, the shared alert budget), against a real cluster of three masters, as
``infra/local/services.sh`` starts it (``redis-cluster``).

Its seed nodes come from ``REDIS_CLUSTER_TEST_NODES`` (the ``cluster_settings`` fixture of
tests/conftest.py), a variable that is no fraudstream setting (``REDIS_CLUSTER_NODES``
would put every process of the suite in cluster mode); the tests pass it on as
``REDIS_CLUSTER_NODES`` in the settings they build.
"""

from __future__ import annotations

import socket
import uuid

import pytest
import redis
from redis.cluster import RedisCluster

from fraudstream.config import RedisSettings
from fraudstream.errors import ConfigError, ServiceUnavailableError
from fraudstream.models import RiverModel
from fraudstream.models.snapshots import KEEP_VERSIONS, SnapshotStore
from fraudstream.redis_client import (
    build_redis,
    build_redis_cluster,
    check_redis,
)
from fraudstream.scoring.decide import RedisAlertBudget
from fraudstream.scoring.markers import AlertMarkers


@pytest.fixture
def tag() -> str:
    """A key prefix of this test's own."""
    return f"test-{uuid.uuid4().hex[:10]}"


def _delete(client: RedisCluster, keys: list[str]) -> None:
    for key in keys:
        client.delete(key)


def _delete_prefix(client: RedisCluster, prefix: str) -> None:
    """Every key under ``prefix``, on every master."""
    keys = [
        key
        for node in client.get_primaries()
        for key in client.scan_iter(match=f"{prefix}*", target_nodes=node)
    ]
    _delete(client, keys)


def test_the_client_sees_three_masters_covering_every_slot(
    cluster: RedisCluster, cluster_settings: RedisSettings
) -> None:
    check_redis(cluster, cluster_settings)
    info = cluster.cluster_info()
    assert info["cluster_state"] == "ok"
    assert int(info["cluster_slots_assigned"]) == 16384
    assert len(cluster.get_primaries()) == 3


def test_keys_of_many_entities_spread_over_the_nodes_and_a_pipeline_reaches_them(
    cluster: RedisCluster, tag: str
) -> None:
    keys = [f"{tag}:{{card:{i}}}:n" for i in range(60)]
    try:
        with cluster.pipeline() as pipe:
            for i, key in enumerate(keys):
                pipe.set(key, i)
            pipe.execute()
        nodes = {cluster.get_node_from_key(key).name for key in keys}
        assert len(nodes) == 3
        with cluster.pipeline() as pipe:
            for key in keys:
                pipe.get(key)
            assert [int(v) for v in pipe.execute()] == list(range(60))
    finally:
        _delete(cluster, keys)


def test_one_hash_tag_keeps_multi_key_commands_and_scripts_in_one_slot(
    cluster: RedisCluster, tag: str
) -> None:
    entity = f"{tag}:{{card:42}}"
    keys = [f"{entity}:events", f"{entity}:sum"]
    script = cluster.register_script(
        "redis.call('RPUSH', KEYS[1], ARGV[1]) return redis.call('INCRBY', KEYS[2], ARGV[1])"
    )
    try:
        assert cluster.keyslot(keys[0]) == cluster.keyslot(keys[1])
        assert script(keys=keys, args=[5]) == 5
        assert script(keys=keys, args=[7]) == 12
        assert cluster.lrange(keys[0], 0, -1) == [b"5", b"7"]
    finally:
        _delete(cluster, keys)


def test_a_script_over_two_entities_is_refused_by_the_cluster(
    cluster: RedisCluster, tag: str
) -> None:
    keys = [f"{tag}:{{card:1}}:n", f"{tag}:{{merchant:1}}:n"]
    assert cluster.keyslot(keys[0]) != cluster.keyslot(keys[1])
    node = cluster.get_node_from_key(keys[0])
    direct = redis.Redis(host=node.host, port=node.port)  # past the client's own check
    try:
        with pytest.raises(redis.ResponseError, match="same slot"):
            direct.eval("return redis.call('MGET', KEYS[1], KEYS[2])", 2, *keys)
    finally:
        direct.close()


def test_the_single_node_builder_refuses_cluster_settings(
    cluster_settings: RedisSettings,
) -> None:
    with pytest.raises(ConfigError, match="REDIS_CLUSTER_NODES"):
        build_redis(cluster_settings)


def test_an_unreachable_cluster_is_unavailable_not_a_crash() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = RedisSettings(cluster_nodes=f"127.0.0.1:{port}", socket_timeout_s=0.5)
    with pytest.raises(ServiceUnavailableError, match="Redis Cluster"):
        build_redis_cluster(settings)


def test_model_snapshots_publish_and_load_on_a_cluster(cluster: RedisCluster, tag: str) -> None:
    store = SnapshotStore(cluster, tag)
    try:
        assert store.current_version() is None
        versions = [f"v{i}" for i in range(KEEP_VERSIONS + 2)]
        for version in versions:
            store.publish(RiverModel({"weights": version}, version))
        assert store.current_version() == versions[-1]
        loaded = store.load(versions[-1])
        assert (loaded.version, loaded.model) == (versions[-1], {"weights": versions[-1]})
        assert cluster.get(f"{tag}:model:v:{versions[0]}") is None  # old ones pruned
    finally:
        _delete_prefix(cluster, tag)


def test_alert_markers_over_many_slots_on_a_cluster(cluster: RedisCluster, tag: str) -> None:
    markers = AlertMarkers(cluster, tag, ttl_ms=60_000)
    ids = [f"tx-{i}" for i in range(40)]
    try:
        markers.mark(ids[::2])
        assert markers.alerted(ids) == set(ids[::2])
        assert markers.alerted([]) == set()
        ttl = cluster.pttl(f"{tag}:alerted:{ids[0]}")
        assert 0 < ttl <= 60_000
    finally:
        _delete_prefix(cluster, tag)


def test_the_shared_alert_budget_on_a_cluster(
    cluster: RedisCluster, cluster_settings: RedisSettings, tag: str
) -> None:
    budget = RedisAlertBudget(cluster, tag)
    other = build_redis_cluster(cluster_settings)  # a second scorer's client
    try:
        assert budget.reserve("2026-01-02", 7, 10) == 7
        assert RedisAlertBudget(other, tag).reserve("2026-01-02", 7, 10) == 3
        assert budget.reserve("2026-01-02", 1, 10) == 0
        assert budget.used("2026-01-02") == 10
        assert budget.reserve("2026-01-03", 2, 10) == 2
    finally:
        other.close()
        _delete_prefix(cluster, tag)
