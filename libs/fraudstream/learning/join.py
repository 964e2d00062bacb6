"""Join each label with the features that were served for its transaction.

Scored records usually arrive days before their labels; with no delay a label can
even beat its scored record. Both sides wait in memory, keyed by transaction id,
until the other arrives or until they are too old (by event time) to ever be joined.

Labels come from two sources (:data:`~fraudstream.schemas.LabelSource`): an
investigator's verdict, within the hour, and the delayed truth, days later and
authoritative. Each transaction is joined at most once per source, and an
investigator's label that comes after the delayed one (or meets it waiting) is
dropped: the truth is known. A delayed label joined after a verdict carries that
verdict (:attr:`Joined.feedback`), so the learner can tell a confirmation from an
overruling (docs/learning.md, "Investigator feedback").

>>> join = LabelJoin(max_wait_ms=1_000)
>>> join.add_served(Served("t1", 5_000, {"amount": 9.0}, 0.2, "c", "m"))
[]
>>> [(j.served.transaction_id, j.is_fraud, j.source) for j in join.add_label("t1", True, 6_000)]
[('t1', True, 'delayed')]
>>> join.add_label("zz", False, 10_000)
[]
>>> join.expire(now_ms=20_000), join.stats.expired_labels
(1, 1)
>>> join.add_served(Served("t2", 30_000, {"amount": 9.0}, 0.9, "c", "m"))
[]
>>> [j.source for j in join.add_label("t2", True, 30_100, "investigator")]
['investigator']
>>> [(j.source, j.feedback) for j in join.add_label("t2", True, 31_000)]
[('delayed', True)]
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from fraudstream.schemas import LabelSource


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


@dataclass(frozen=True)
class Joined:
    """A label joined with what was served for its transaction."""

    served: Served
    is_fraud: bool
    source: LabelSource = "delayed"
    #: for a delayed label: the investigator's verdict joined before it, if any.
    feedback: bool | None = None


@dataclass
class JoinStats:
    """Counts of what the join saw."""

    joined: int = 0
    duplicate_labels: int = 0
    expired_served: int = 0
    expired_labels: int = 0
    #: investigators' labels dropped because the delayed label was known already.
    late_feedback: int = 0

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Counters added since a state was saved start at 0."""
        self.__dict__.update({f.name: f.default for f in fields(self)} | state)


@dataclass
class _Waiting:
    """A label waiting for its served record."""

    is_fraud: bool
    at_ms: int
    source: LabelSource


@dataclass
class LabelJoin:
    """Served records and labels waiting for each other, and ids already joined."""

    max_wait_ms: int
    served: dict[str, Served] = field(default_factory=dict)
    labels: dict[str, _Waiting | tuple[bool, int]] = field(default_factory=dict)
    done: dict[str, int] = field(default_factory=dict)  # id -> event time, for dedupe
    #: joined with an investigator's label, waiting for the delayed one: the served
    #: record and the verdict.
    feedback: dict[str, tuple[Served, bool]] = field(default_factory=dict)
    stats: JoinStats = field(default_factory=JoinStats)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A state saved before feedback existed has no ``feedback`` map."""
        self.__dict__.update({"feedback": {}} | state)

    def add_served(self, served: Served) -> list[Joined]:
        """Keep a served record; return the join if its label was waiting."""
        tx = served.transaction_id
        if tx in self.done or tx in self.feedback:
            return []
        waiting = self.labels.pop(tx, None)
        if waiting is None:
            self.served[tx] = served
            return []
        waiting = _waiting(waiting)
        return [self._joined(served, waiting.is_fraud, waiting.source)]

    def add_label(
        self,
        transaction_id: str,
        is_fraud: bool,
        at_ms: int,
        source: LabelSource = "delayed",
    ) -> list[Joined]:
        """Take a label; return the join if the served record was waiting (or, for a
        delayed label, if an investigator's label of it was joined)."""
        tx = transaction_id
        if tx in self.done:
            self._drop(source)
            return []
        if source == "investigator":
            return self._add_feedback(tx, is_fraud, at_ms)
        verdict = self.feedback.pop(tx, None)
        if verdict is not None:
            return [self._joined(verdict[0], is_fraud, "delayed", feedback=verdict[1])]
        waiting = self.labels.get(tx)
        if waiting is not None and _waiting(waiting).source == "delayed":
            self.stats.duplicate_labels += 1
            return []
        if waiting is not None:  # an investigator's label waits: the truth replaces it
            self.stats.late_feedback += 1
        served = self.served.pop(tx, None)
        if served is None:
            self.labels[tx] = _Waiting(is_fraud, at_ms, "delayed")
            return []
        return [self._joined(served, is_fraud, "delayed")]

    def _add_feedback(self, tx: str, is_fraud: bool, at_ms: int) -> list[Joined]:
        if tx in self.feedback:
            self.stats.duplicate_labels += 1
            return []
        waiting = self.labels.get(tx)
        if waiting is not None:
            # a delayed label waiting: the truth is known; a verdict waiting: a repeat
            if _waiting(waiting).source == "delayed":
                self.stats.late_feedback += 1
            else:
                self.stats.duplicate_labels += 1
            return []
        served = self.served.pop(tx, None)
        if served is None:
            self.labels[tx] = _Waiting(is_fraud, at_ms, "investigator")
            return []
        return [self._joined(served, is_fraud, "investigator")]

    def _drop(self, source: LabelSource) -> None:
        """Count a label not joined because its transaction's label was known."""
        if source == "investigator":
            self.stats.late_feedback += 1
        else:
            self.stats.duplicate_labels += 1

    def _joined(
        self,
        served: Served,
        is_fraud: bool,
        source: LabelSource,
        feedback: bool | None = None,
    ) -> Joined:
        if source == "investigator":
            self.feedback[served.transaction_id] = (served, is_fraud)
        else:
            self.done[served.transaction_id] = served.event_ms
        self.stats.joined += 1
        return Joined(served, is_fraud, source, feedback)

    def expire(self, now_ms: int) -> int:
        """Forget what waited longer than ``max_wait_ms`` (event time); return how many
        served records and labels expired unjoined (verdicts whose delayed label never
        came are forgotten too, not counted)."""
        horizon = now_ms - self.max_wait_ms
        old_served = [t for t, s in self.served.items() if s.event_ms < horizon]
        old_labels = [t for t, w in self.labels.items() if _waiting(w).at_ms < horizon]
        for t in old_served:
            del self.served[t]
        for t in old_labels:
            del self.labels[t]
        self.done = {t: at for t, at in self.done.items() if at >= horizon}
        self.feedback = {t: v for t, v in self.feedback.items() if v[0].event_ms >= horizon}
        self.stats.expired_served += len(old_served)
        self.stats.expired_labels += len(old_labels)
        return len(old_served) + len(old_labels)


def _waiting(value: _Waiting | tuple[bool, int]) -> _Waiting:
    """A waiting label; a state saved before labels had a source holds tuples."""
    if isinstance(value, _Waiting):
        return value
    return _Waiting(value[0], value[1], "delayed")
