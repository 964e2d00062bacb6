"""Alert or not: a threshold, and optionally a daily alert budget shared by replicas.

With a budget of K alerts a day, transactions at or above the threshold alert, highest
scores of a sub-batch first, until K alerts have been raised for that (event-time) day by
all scorer replicas together; a Redis counter per day holds the count. A batch retried
after a failure counts its alerts again, so a retry can only make the team see fewer
alerts that day, never more than K.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

import numpy as np
import redis

_RESERVE: Final = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - used)
if grant <= 0 then return 0 end
redis.call('INCRBY', KEYS[1], grant)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return grant
"""
_COUNTER_TTL_MS: Final = 3 * 86_400_000


class Decider:
    """Turns scores into alert decisions."""

    def __init__(
        self,
        threshold: float,
        *,
        budget_per_day: int | None = None,
        client: redis.Redis | None = None,
        prefix: str = "fs",
    ) -> None:
        if budget_per_day is not None and client is None:
            raise ValueError("a daily alert budget needs Redis to share its count")
        self.threshold = threshold
        self.budget_per_day = budget_per_day
        self._client = client
        self._prefix = prefix
        self._reserve = client.register_script(_RESERVE) if client is not None else None

    def decide(self, scores: np.ndarray, event_times: Sequence[datetime]) -> np.ndarray:
        """Which of the batch's transactions alert (``event_times``: theirs, aware)."""
        candidates = scores >= self.threshold
        if self.budget_per_day is None or self._reserve is None or not candidates.any():
            return candidates
        by_day: dict[str, list[int]] = defaultdict(list)
        for index in np.flatnonzero(candidates).tolist():
            by_day[event_times[index].astimezone(UTC).date().isoformat()].append(index)
        alerts = np.zeros(len(scores), dtype=bool)
        for day, indices in by_day.items():
            granted = int(
                self._reserve(
                    keys=[f"{self._prefix}:alerts:{day}"],
                    args=[len(indices), self.budget_per_day, _COUNTER_TTL_MS],
                )
            )
            best = sorted(indices, key=lambda i: -scores[i])[:granted]
            alerts[best] = True
        return alerts
