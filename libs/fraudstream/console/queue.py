"""The alert queue in Redis: what the console's consumer read, for its pages.

Keys under the console's prefix (``CONSOLE_KEY_PREFIX``):

- ``<prefix>:queue``: sorted set of alert ids by event time (ms), trimmed to the
  newest ``CONSOLE_MAX_ALERTS``;
- ``<prefix>:alert:<alert id>``: the alert record as published (JSON);
- ``<prefix>:served:<alert id>``: the features it was scored with (JSON object).

Every key expires ``CONSOLE_RETENTION`` after its last write. Writing an alert again
(a record read twice) changes nothing, so the consumer may commit after writing.

On a Redis Cluster every console key carries one hash tag, the prefix
(``<prefix>:{<prefix>}:queue`` and so on, :func:`key_base`), so the console's keys
share one slot and its multi-key calls (the page's ``MGET``, the verdict scripts) are
legal there; the console's volume is small enough for one master. On one Redis the
names have no tag.

>>> key_base(None, "console")
'console'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, cast

import msgspec
from redis.cluster import RedisCluster

from fraudstream.redis_client import AnyRedis
from fraudstream.schemas import Alert, ScoredTransaction, alert_id_for

_alert_decoder: Final = msgspec.json.Decoder(Alert)
_features_decoder: Final = msgspec.json.Decoder(dict[str, float])
_encoder: Final = msgspec.json.Encoder()

#: Alerts looked at, at most, to fill one filtered page.
SCAN_LIMIT: Final = 5_000


@dataclass(frozen=True)
class AlertFilter:
    """What the queue shows: a score floor, one merchant, an event-time range."""

    min_score: float | None = None
    merchant_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def keeps(self, alert: Alert) -> bool:
        """Whether ``alert`` passes the score and merchant conditions."""
        if self.min_score is not None and alert.score < self.min_score:
            return False
        return not (self.merchant_id and alert.merchant_id != self.merchant_id)


def key_base(client: AnyRedis | None, prefix: str) -> str:
    """What the console's key names start with: ``prefix`` on one Redis,
    ``<prefix>:{<prefix>}`` (one hash tag, so one slot) on a Redis Cluster."""
    return f"{prefix}:{{{prefix}}}" if isinstance(client, RedisCluster) else prefix


class AlertQueue:
    """Alerts and their served features in Redis, newest (event time) first."""

    def __init__(
        self, client: AnyRedis, prefix: str, *, max_alerts: int, retention_ms: int
    ) -> None:
        self._client = client
        self._prefix = key_base(client, prefix)
        self._max = max_alerts
        self._ttl = retention_ms

    @property
    def client(self) -> AnyRedis:
        """The Redis client."""
        return self._client

    def _key(self, kind: str, alert_id: str = "") -> str:
        return f"{self._prefix}:{kind}:{alert_id}" if alert_id else f"{self._prefix}:{kind}"

    def add(self, alerts: Sequence[Alert], served: Sequence[ScoredTransaction]) -> None:
        """Store alerts and the served features of alerted transactions, in one round trip."""
        if not alerts and not served:
            return
        pipe = self._client.pipeline(transaction=False)
        queue = self._key("queue")
        for alert in alerts:
            pipe.set(self._key("alert", alert.alert_id), _encoder.encode(alert), px=self._ttl)
            pipe.zadd(queue, {alert.alert_id: _ms(alert.event_time)})
        for record in served:
            key = self._key("served", alert_id_for(record.transaction_id))
            pipe.set(key, _encoder.encode(record.features), px=self._ttl)
        if alerts:
            pipe.zremrangebyrank(queue, 0, -(self._max + 1))
            pipe.pexpire(queue, self._ttl)
        pipe.execute()

    def get(self, alert_id: str) -> Alert | None:
        """One alert, or None when the queue does not hold it."""
        raw = self._client.get(self._key("alert", alert_id))
        return None if raw is None else _alert_decoder.decode(raw)

    def served_features(self, alert_id: str) -> dict[str, float]:
        """The features the alert's transaction was scored with ({} when not read yet)."""
        raw = self._client.get(self._key("served", alert_id))
        return {} if raw is None else _features_decoder.decode(raw)

    def size(self) -> int:
        """How many alerts the queue holds."""
        return int(self._client.zcard(self._key("queue")))

    def newest(self, limit: int, where: AlertFilter = AlertFilter()) -> list[Alert]:
        """Up to ``limit`` alerts passing ``where``, newest first.

        Looks at the newest :data:`SCAN_LIMIT` alerts of the time range at most.
        """
        high = "+inf" if where.until is None else _ms(where.until)
        low = "-inf" if where.since is None else _ms(where.since)
        found_ids = self._client.zrevrangebyscore(
            self._key("queue"), high, low, start=0, num=SCAN_LIMIT
        )
        ids = cast(list[bytes], found_ids)
        found: list[Alert] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            raws = self._client.mget([self._key("alert", _text(i)) for i in chunk])
            for raw in raws:
                if raw is None:  # expired: its id goes with the next trim
                    continue
                alert = _alert_decoder.decode(raw)
                if where.keeps(alert):
                    found.append(alert)
                    if len(found) >= limit:
                        return found
        return found


def _ms(moment: datetime) -> int:
    return math.floor(moment.timestamp() * 1000)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
