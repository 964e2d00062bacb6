"""A card's latest transactions, read back from the Redis feature store.

The store keeps each card's transactions in a sorted set (``<prefix>:c:<card>:t``,
scored by event time) and running count and cents per transaction in a hash
(``<prefix>:c:<card>:h``, see features.lua): a transaction's amount is its running
cents less those of the one before it. On a Redis Cluster the card id in those names
is its hash tag (``<prefix>:c:{<card>}:t``,
:func:`~fraudstream.features.redis_cluster_store.entity_tag`), as the cluster store
writes them. Nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from redis.cluster import RedisCluster

from fraudstream.features.errors import redis_errors
from fraudstream.features.redis_cluster_store import entity_tag
from fraudstream.redis_client import AnyRedis


@dataclass(frozen=True)
class CardTransaction:
    """One transaction the store holds for a card."""

    transaction_id: str
    event_time: datetime
    amount: float


def recent_card_transactions(
    client: AnyRedis, prefix: str, card_id: str, limit: int = 20
) -> list[CardTransaction]:
    """The card's ``limit`` latest transactions in the store, newest first (a cluster
    client reads the cluster store's tagged keys).

    Raises :class:`~fraudstream.features.errors.FeatureStoreUnavailableError` when
    Redis cannot answer.
    """
    entity = entity_tag(card_id) if isinstance(client, RedisCluster) else card_id
    base = f"{prefix}:c:{entity}"
    with redis_errors("reading a card's transactions"):
        # one more than asked for: the amount of the oldest shown needs the one before it
        found = client.zrevrange(f"{base}:t", 0, limit, withscores=True)
        entries = cast(list[tuple[bytes, float]], found)
        if not entries:
            return []
        ids = [_text(member) for member, _ in entries]
        fields = [f"s:{tx}" for tx in ids] + ["_bs"]
        sums = [int(v) if v is not None else None for v in client.hmget(f"{base}:h", fields)]
    running, before_kept = sums[:-1], sums[-1] or 0
    result: list[CardTransaction] = []
    for index, (tx, (_, score)) in enumerate(zip(ids[:limit], entries[:limit], strict=True)):
        cents = running[index]
        previous = running[index + 1] if index + 1 < len(ids) else before_kept
        if cents is None or previous is None:
            continue
        result.append(
            CardTransaction(
                transaction_id=tx,
                event_time=datetime.fromtimestamp(score / 1000, UTC),
                amount=(cents - previous) / 100,
            )
        )
    return result


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
