"""In-memory stand-ins for what the scorer keeps in Redis or reads from the registry.

Each has the interface the scorer uses and the behaviour of the real one, without a
service: alert markers (:class:`MemoryAlertMarkers`), the daily alert budget
(:class:`MemoryAlertBudget`), model snapshots (:class:`MemorySnapshots`) and the
registry's champion and challenger (:class:`StaticWatcher`). Nothing expires: the
Redis keys' TTLs are not modelled.

>>> markers = MemoryAlertMarkers()
>>> markers.mark(["tx-1"])
>>> markers.alerted(["tx-1", "tx-2"])
{'tx-1'}
>>> budget = MemoryAlertBudget()
>>> budget.reserve("2024-04-01", 3, per_day=4), budget.reserve("2024-04-01", 3, per_day=4)
(3, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from fraudstream.models import ScoringModel
from fraudstream.models.snapshots import SnapshotError
from fraudstream.registry.watcher import Served


class MemoryAlertMarkers:
    """Alert markers in a set (:class:`~fraudstream.scoring.markers.AlertMarkerStore`)."""

    def __init__(self) -> None:
        #: The transactions whose alert committed.
        self.marked: set[str] = set()

    def alerted(self, transaction_ids: Sequence[str]) -> set[str]:
        """Which of these already have a committed alert."""
        return self.marked.intersection(transaction_ids)

    def mark(self, transaction_ids: Sequence[str]) -> None:
        """Remember these alerts (after their transaction committed)."""
        self.marked.update(transaction_ids)


class MemoryAlertBudget:
    """Daily alert counts in a dict (:class:`~fraudstream.scoring.decide.AlertBudget`)."""

    def __init__(self) -> None:
        #: Alerts taken per day (``YYYY-MM-DD``).
        self.used: dict[str, int] = {}

    def reserve(self, day: str, wanted: int, per_day: int) -> int:
        """Take up to ``wanted`` of the ``per_day`` alerts ``day`` allows; how many taken."""
        granted = max(0, min(wanted, per_day - self.used.get(day, 0)))
        if granted:
            self.used[day] = self.used.get(day, 0) + granted
        return granted


class MemorySnapshots:
    """Model snapshots in a dict (:class:`~fraudstream.scoring.holder.Snapshots`).

    >>> from fraudstream.models import ColdStartModel
    >>> snapshots = MemorySnapshots()
    >>> snapshots.current_version() is None
    True
    >>> snapshots.publish(ColdStartModel())
    >>> snapshots.load(snapshots.current_version() or "").version
    'cold-start-1'
    """

    def __init__(self) -> None:
        self._models: dict[str, ScoringModel] = {}
        self._current: str | None = None

    def publish(self, model: ScoringModel) -> None:
        """Store ``model`` under its version and make it current."""
        self._models[model.version] = model
        self._current = model.version

    def current_version(self) -> str | None:
        """The version scorers should use, or None before the first snapshot."""
        return self._current

    def load(self, version: str) -> ScoringModel:
        """The model of ``version``; :class:`SnapshotError` when there is none."""
        try:
            return self._models[version]
        except KeyError:
            raise SnapshotError(f"model snapshot {version} is not stored") from None


@dataclass
class StaticWatcher:
    """A registry watcher that never polls: it serves what it was given
    (:class:`~fraudstream.scoring.holder.ServedModels`)."""

    served: Served = field(default_factory=Served)
    failures: int = 0

    @classmethod
    def serving(
        cls, *, champion: ScoringModel | None = None, challenger: ScoringModel | None = None
    ) -> StaticWatcher:
        """One serving ``champion`` and ``challenger`` (each labelled by its version)."""
        return cls(
            Served(
                champion=champion,
                champion_version=None if champion is None else champion.version,
                challenger=challenger,
                challenger_version=None if challenger is None else challenger.version,
            )
        )
