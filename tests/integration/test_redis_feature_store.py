"""What only the Redis store has: failures, key expiry, bounded memory, one round trip."""

from __future__ import annotations

import pytest
import redis

from fraudstream.config import RedisSettings
from fraudstream.errors import ServiceUnavailableError
from fraudstream.features.definitions import DAY_MS, FEATURE_NAMES, FeatureConfig
from fraudstream.features.errors import FeatureStoreError, FeatureStoreUnavailableError
from fraudstream.features.redis_store import RedisFeatureStore
from fraudstream.features.store import FeatureRequest
from fraudstream.harness.scorer import free_port

T0 = 1_712_000_000_000


def test_unreachable_redis_is_a_typed_error_not_empty_features() -> None:
    settings = RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0", socket_timeout_s=0.5)
    store = RedisFeatureStore.connect(settings)
    with pytest.raises(FeatureStoreUnavailableError, match="Redis is unavailable") as caught:
        store.process([FeatureRequest("a", T0, 100, "k", "m")])
    assert isinstance(caught.value, ServiceUnavailableError)
    assert not store.ping()


def test_unreachable_redis_fails_parts_with_the_typed_error() -> None:
    settings = RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0", socket_timeout_s=0.5)
    store = RedisFeatureStore.connect(settings)
    answers = store.process_parts([[FeatureRequest("a", T0, 100, "k", "m")]])
    with pytest.raises(FeatureStoreUnavailableError, match="Redis is unavailable"):
        next(answers)


def test_a_failing_part_fails_and_the_connection_stays_usable(
    client: redis.Redis, prefix: str
) -> None:
    """The second of three parts fails: its error surfaces, the third part's answer is
    left unread, and the store's next call still gets its own answer."""
    client.set(f"{prefix}:c:bad:t", "not a sorted set")
    store = RedisFeatureStore(client, prefix=prefix)
    answers = store.process_parts(
        [
            [FeatureRequest("a", T0, 100, "k", "m")],
            [FeatureRequest("b", T0 + 1, 100, "bad", "m")],
            [FeatureRequest("c", T0 + 2, 100, "k", "m")],
        ]
    )
    first = next(answers)
    assert not first.duplicate.any()
    with pytest.raises(FeatureStoreError, match="script failed"):
        next(answers)
    again = store.process([FeatureRequest("a", T0, 100, "k", "m")])
    assert again.duplicate.tolist() == [True]  # its own answer, not the third part's
    # the third part ran or not, as Redis had read it before the connection dropped
    assert client.zcard(f"{prefix}:c:k:t") in {1, 2}


def test_stopping_early_drops_the_unread_answers(client: redis.Redis, prefix: str) -> None:
    """Unread answers go with their connection: no later call reads one as its own."""
    store = RedisFeatureStore(client, prefix=prefix)
    parts = [[FeatureRequest(f"t{i}", T0 + i, 100, "k", "m")] for i in range(4)]
    answers = store.process_parts(parts)
    next(answers)
    answers.close()
    count = FEATURE_NAMES.index("card_tx_count_1h")
    for i in range(3):  # another card: its i-th transaction counts i + 1, whatever t1-t3 did
        batch = store.process([FeatureRequest(f"u{i}", T0 + i, 100, "other", "m")])
        assert batch.values[:, count].tolist() == [float(i + 1)]


def test_wrong_key_type_is_a_store_error(client: redis.Redis, prefix: str) -> None:
    client.set(f"{prefix}:c:k:t", "not a sorted set")
    store = RedisFeatureStore(client, prefix=prefix)
    with pytest.raises(FeatureStoreError, match="script failed"):
        store.process([FeatureRequest("a", T0, 100, "k", "m")])


def test_every_key_gets_the_ttl(client: redis.Redis, prefix: str) -> None:
    config = FeatureConfig(key_ttl_ms=3 * DAY_MS)
    store = RedisFeatureStore(client, config, prefix=prefix)
    store.process([FeatureRequest("a", T0, 100, "k", "m")])
    keys = sorted(k.decode() for k in client.scan_iter(match=f"{prefix}:*"))
    assert keys == [f"{prefix}:c:k:h", f"{prefix}:c:k:t", f"{prefix}:m:m:h", f"{prefix}:m:m:t"]
    for key in keys:
        assert 3 * DAY_MS - 60_000 < client.pttl(key) <= 3 * DAY_MS


def test_state_per_card_stays_bounded(client: redis.Redis, prefix: str) -> None:
    """A year of a card paying every hour keeps only the horizon's worth of events."""
    config = FeatureConfig(lateness_ms=DAY_MS)
    store = RedisFeatureStore(client, config, prefix=prefix)
    hour = 3_600_000
    requests = [FeatureRequest(f"t{i}", T0 + i * hour, 1000, "k", "m") for i in range(24 * 365)]
    for begin in range(0, len(requests), 500):
        batch = store.process(requests[begin : begin + 500])
    kept_card = client.zcard(f"{prefix}:c:k:t")
    kept_fields = client.hlen(f"{prefix}:c:k:h")
    kept_merchant = client.zcard(f"{prefix}:m:m:t")
    print(
        f"after 8760 events: card keeps {kept_card} ({kept_fields} hash fields), "
        f"merchant {kept_merchant}"
    )
    assert kept_card == 31 * 24 + 1  # 30 days + 1 day of lateness, both ends included
    assert kept_fields <= 2 * kept_card + 10
    assert kept_merchant == (7 + 30 + 1) * 24 + 1
    last = dict(zip(batch.names, batch.values[-1].tolist(), strict=True))
    assert last["card_tx_count_30d"] == 30 * 24
    assert last["card_amount_mean_30d"] == 10.0


def test_cap_bounds_a_busy_entity(client: redis.Redis, prefix: str) -> None:
    store = RedisFeatureStore(client, FeatureConfig(max_events_per_entity=100), prefix=prefix)
    store.process([FeatureRequest(f"t{i}", T0 + i * 1000, 100, "k", "m") for i in range(400)])
    assert client.zcard(f"{prefix}:c:k:t") == 100
    assert client.zcard(f"{prefix}:m:m:t") == 100
    assert store.capped_events == 600  # 300 for the card, 300 for the merchant


def test_one_round_trip_per_batch(client: redis.Redis, prefix: str) -> None:
    store = RedisFeatureStore(client, prefix=prefix)
    store.process([FeatureRequest("warm", T0, 1, "k", "m")])  # loads the script
    connections = client.info("stats")["total_connections_received"]
    before = client.info("commandstats")["cmdstat_evalsha"]["calls"]
    store.process([FeatureRequest(f"t{i}", T0 + i, 100, f"k{i}", f"m{i}") for i in range(500)])
    assert client.info("commandstats")["cmdstat_evalsha"]["calls"] - before == 1
    assert client.info("stats")["total_connections_received"] == connections
