"""Join each label with the features that were served for its transaction.

Scored records usually arrive days before their labels; with no delay a label can
even beat its scored record. Both sides wait in memory, keyed by transaction id,
until the other arrives or until they are too old (by event time) to ever be joined.

>>> from datetime import UTC, datetime
>>> join = LabelJoin(max_wait_ms=1_000)
>>> join.add_served(Served("t1", 5_000, {"amount": 9.0}, 0.2, "c", "m"))
[]
>>> [(s.transaction_id, label) for s, label in join.add_label("t1", True, 6_000)]
[('t1', True)]
>>> join.add_label("zz", False, 10_000)
[]
>>> join.expire(now_ms=20_000), join.stats.expired_labels
(1, 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Served:
    """What the scorer served for a transaction (from ``transactions.scored``)."""

    transaction_id: str
    event_ms: int
    features: dict[str, float]
    score: float
    card_id: str | None
    merchant_id: str | None
    #: The shadow challenger's score, when one was loaded.
    shadow_score: float | None = None


@dataclass
class JoinStats:
    """Counts of what the join saw."""

    joined: int = 0
    duplicate_labels: int = 0
    expired_served: int = 0
    expired_labels: int = 0


@dataclass
class LabelJoin:
    """Served records and labels waiting for each other, and ids already joined."""

    max_wait_ms: int
    served: dict[str, Served] = field(default_factory=dict)
    labels: dict[str, tuple[bool, int]] = field(default_factory=dict)
    done: dict[str, int] = field(default_factory=dict)  # id -> event time, for dedupe
    stats: JoinStats = field(default_factory=JoinStats)

    def add_served(self, served: Served) -> list[tuple[Served, bool]]:
        """Keep a served record; return the join if its label was waiting."""
        tx = served.transaction_id
        if tx in self.done:
            return []
        waiting = self.labels.pop(tx, None)
        if waiting is None:
            self.served[tx] = served
            return []
        return [self._joined(served, waiting[0])]

    def add_label(
        self, transaction_id: str, is_fraud: bool, at_ms: int
    ) -> list[tuple[Served, bool]]:
        """Take a label; return the join if the served record was waiting."""
        if transaction_id in self.done:
            self.stats.duplicate_labels += 1
            return []
        served = self.served.pop(transaction_id, None)
        if served is None:
            self.labels[transaction_id] = (is_fraud, at_ms)
            return []
        return [self._joined(served, is_fraud)]

    def _joined(self, served: Served, is_fraud: bool) -> tuple[Served, bool]:
        self.done[served.transaction_id] = served.event_ms
        self.stats.joined += 1
        return served, is_fraud

    def expire(self, now_ms: int) -> int:
        """Forget what waited longer than ``max_wait_ms`` (event time); return how many."""
        horizon = now_ms - self.max_wait_ms
        old_served = [t for t, s in self.served.items() if s.event_ms < horizon]
        old_labels = [t for t, (_, at) in self.labels.items() if at < horizon]
        for t in old_served:
            del self.served[t]
        for t in old_labels:
            del self.labels[t]
        self.done = {t: at for t, at in self.done.items() if at >= horizon}
        self.stats.expired_served += len(old_served)
        self.stats.expired_labels += len(old_labels)
        return len(old_served) + len(old_labels)
