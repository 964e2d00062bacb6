"""Alert or not: a threshold, and optionally a daily alert budget shared by replicas.

With a budget of K alerts a day, transactions at or above the threshold alert, highest
scores of a sub-batch first, until K alerts have been raised for that (event-time) day by
all scorer replicas together; a counter per day holds the count
(:class:`AlertBudget`: in Redis, :class:`RedisAlertBudget`). A batch retried
after a failure counts its alerts again, so a retry can only make the team see fewer
alerts that day, never more than K.

>>> from fraudstream.testing.doubles import MemoryAlertBudget
>>> decider = Decider(0.5, budget_per_day=1, counter=MemoryAlertBudget())
>>> day = datetime(2024, 4, 1, tzinfo=UTC)
>>> decider.decide(np.array([0.7, 0.9, 0.2]), [day] * 3).tolist()
[False, True, False]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final, Protocol

import numpy as np

from fraudstream.redis_client import AnyRedis

_RESERVE: Final = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - used)
if grant <= 0 then return 0 end
redis.call('INCRBY', KEYS[1], grant)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return grant
"""
_COUNTER_TTL_MS: Final = 3 * 86_400_000


class AlertBudget(Protocol):
    """The alerts raised per day, shared by every scorer replica."""

    def reserve(self, day: str, wanted: int, per_day: int) -> int:
        """Take up to ``wanted`` of the ``per_day`` alerts ``day`` allows; how many taken."""
        ...


class RedisAlertBudget:
    """The daily counts in Redis (``{prefix}:alerts:<day>``), taken atomically by a script.

    The script touches that one key only, so it runs on one Redis and on a Redis
    Cluster alike.
    """

    def __init__(self, client: AnyRedis, prefix: str = "fs") -> None:
        self._client = client
        self._prefix = prefix
        self._reserve = client.register_script(_RESERVE)

    def _key(self, day: str) -> str:
        return f"{self._prefix}:alerts:{day}"

    def reserve(self, day: str, wanted: int, per_day: int) -> int:
        """Take up to ``wanted`` of the ``per_day`` alerts ``day`` allows; how many taken."""
        return int(self._reserve(keys=[self._key(day)], args=[wanted, per_day, _COUNTER_TTL_MS]))

    def used(self, day: str) -> int:
        """How many alerts ``day`` (``YYYY-MM-DD``, UTC) has raised so far."""
        return int(self._client.get(self._key(day)) or 0)


class Decider:
    """Turns scores into alert decisions.

    A budget counts in ``counter``, or in Redis under ``prefix`` when ``client`` is given.
    """

    def __init__(
        self,
        threshold: float,
        *,
        budget_per_day: int | None = None,
        client: AnyRedis | None = None,
        prefix: str = "fs",
        counter: AlertBudget | None = None,
    ) -> None:
        if counter is None and client is not None:
            counter = RedisAlertBudget(client, prefix)
        if budget_per_day is not None and counter is None:
            raise ValueError(
                "a daily alert budget needs Redis (or another counter) to share its count"
            )
        self.threshold = threshold
        self.budget_per_day = budget_per_day
        self._counter = counter

    def decide(self, scores: np.ndarray, event_times: Sequence[datetime]) -> np.ndarray:
        """Which of the batch's transactions alert (``event_times``: theirs, aware)."""
        candidates = scores >= self.threshold
        if self.budget_per_day is None or self._counter is None or not candidates.any():
            return candidates
        by_day: dict[str, list[int]] = defaultdict(list)
        for index in np.flatnonzero(candidates).tolist():
            by_day[event_times[index].astimezone(UTC).date().isoformat()].append(index)
        alerts = np.zeros(len(scores), dtype=bool)
        for day, indices in by_day.items():
            granted = self._counter.reserve(day, len(indices), self.budget_per_day)
            best = sorted(indices, key=lambda i: -scores[i])[:granted]
            alerts[best] = True
        return alerts
