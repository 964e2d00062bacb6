"""The feature store on the test Redis Cluster, beyond the contract suite: where its keys
live, the backfill marker, a master without the script, and removing a store's keys."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from redis.cluster import RedisCluster

from fraudstream.features.backfill_marker import marker_key
from fraudstream.features.redis_cluster_store import RedisClusterFeatureStore, _Script
from fraudstream.features.redis_store import delete_prefix, script_text
from fraudstream.features.store import FeatureRequest

pytestmark = pytest.mark.integration


@pytest.fixture
def store(cluster: RedisCluster) -> Iterator[RedisClusterFeatureStore]:
    """A cluster store under a fresh prefix; its keys are removed afterwards."""
    store = RedisClusterFeatureStore(cluster, prefix=f"test-{uuid.uuid4().hex[:10]}")
    yield store
    delete_prefix(cluster, store.prefix)


def _requests(n: int) -> list[FeatureRequest]:
    return [
        FeatureRequest(f"tx-{i}", 1_700_000_000_000 + i * 1000, 1_000 + i, f"card-{i}", f"m-{i}")
        for i in range(n)
    ]


def test_an_entitys_keys_share_a_slot_and_entities_spread_over_the_masters(
    cluster: RedisCluster, store: RedisClusterFeatureStore
) -> None:
    store.process(_requests(60))
    p = store.prefix
    masters = set()
    for i in range(60):
        card = [f"{p}:c:{{card-{i}}}:t", f"{p}:c:{{card-{i}}}:h"]
        merchant = [f"{p}:m:{{m-{i}}}:t", f"{p}:m:{{m-{i}}}:h"]
        assert cluster.exists(*card, *merchant) == 4
        assert len({cluster.keyslot(k) for k in card}) == 1
        assert len({cluster.keyslot(k) for k in merchant}) == 1
        masters.add(cluster.get_node_from_key(card[0]).name)
    assert len(masters) == 3


def test_a_recorded_batch_notes_its_live_write_in_an_existing_backfill_marker(
    cluster: RedisCluster, store: RedisClusterFeatureStore
) -> None:
    marker = marker_key(store.prefix)
    store.process(_requests(3))
    assert not cluster.exists(marker)  # never backfilled: no marker is made
    cluster.hset(marker, "status", "done")
    store.read(_requests(3))
    assert cluster.hget(marker, "live_ms") is None  # reading writes nothing
    store.process(_requests(5))
    assert int(cluster.hget(marker, "live_ms")) > 0


def test_a_master_without_the_script_gets_it_and_each_call_runs_once(
    cluster: RedisCluster, store: RedisClusterFeatureStore
) -> None:
    # a script text no master has seen: every call is first answered NOSCRIPT
    unseen = _Script(script_text("features.lua") + f"\n-- {uuid.uuid4().hex}\n")
    store._features = unseen
    batch = store.process(_requests(30))
    assert not batch.duplicate.any()
    assert cluster.script_exists(unseen.sha) == [True]
    assert store.process(_requests(30)).duplicate.all()  # recorded once, not twice


def test_removing_a_prefix_reaches_every_master(
    cluster: RedisCluster, store: RedisClusterFeatureStore
) -> None:
    store.process(_requests(40))
    removed = delete_prefix(cluster, store.prefix)
    assert removed == 40 * 2 + 40 * 2  # :t and :h of every card and merchant
    assert not any(
        True
        for node in cluster.get_primaries()
        for _ in cluster.scan_iter(match=f"{store.prefix}:*", target_nodes=node)
    )
