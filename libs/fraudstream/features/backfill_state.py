"""The end state a backfill writes: per card and per merchant, what a store keeps.

:class:`WindowState` holds, as flat numpy arrays, every entity's kept transactions
(:class:`KeptSets`) and every merchant's reported frauds (:class:`FraudSets`), as
:func:`~fraudstream.features.backfill_compute.window_state` computes them from a
history; :mod:`~fraudstream.features.backfill_writer` writes it into Redis, and
:meth:`WindowState.feature_state` turns it into the in-memory store's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from fraudstream.features.definitions import FeatureConfig
from fraudstream.features.reference import EntityHistory, FeatureState, MerchantHistory

__all__ = ["FraudSets", "KeptSets", "WindowState"]


@dataclass(frozen=True)
class KeptSets:
    """What one kind of entity keeps, entity by entity (entities sorted by id).

    The members of entity ``i`` are ``offsets[i]:offsets[i + 1]``, in the order Redis
    keeps a sorted set: by event time, then by id byte by byte.
    """

    entities: np.ndarray  # object: entity ids
    latest_ms: np.ndarray  # newest recorded event time
    recorded: np.ndarray  # transactions recorded, ever (kept or removed since)
    recorded_cents: np.ndarray
    offsets: np.ndarray
    member_ids: np.ndarray  # object
    member_ms: np.ndarray
    member_cents: np.ndarray

    def __len__(self) -> int:
        return len(self.entities)

    @property
    def kept(self) -> np.ndarray:
        """How many transactions each entity keeps (at least one: its newest)."""
        return np.diff(self.offsets)

    def kept_cents(self) -> np.ndarray:
        """The cents each entity's kept transactions add up to."""
        if not len(self.entities):
            return np.zeros(0, dtype=np.int64)
        return np.add.reduceat(self.member_cents, self.offsets[:-1])

    def running_totals(self) -> tuple[np.ndarray, np.ndarray]:
        """Per member, the running count and cents a card's hash holds for it: those of
        every removed transaction, then the kept ones up to it in order."""
        kept = self.kept
        owner = np.repeat(np.arange(len(kept)), kept)
        first = self.offsets[:-1][owner]
        rank = np.arange(len(owner), dtype=np.int64) - first + 1
        cumulative = np.cumsum(self.member_cents)
        before = cumulative[first] - self.member_cents[first]
        removed = self.recorded - kept
        removed_cents = self.recorded_cents - self.kept_cents()
        return removed[owner] + rank, removed_cents[owner] + cumulative - before


@dataclass(frozen=True)
class FraudSets:
    """Reported frauds per merchant (aligned with the merchants' :class:`KeptSets`):
    those of merchant ``i`` are ``offsets[i]:offsets[i + 1]``, by event time then id;
    ``flagged`` marks merchants that ever took a report."""

    flagged: np.ndarray
    offsets: np.ndarray
    ids: np.ndarray
    ms: np.ndarray

    def of(self, i: int) -> dict[str, int]:
        """Merchant ``i``'s frauds: transaction id -> event time."""
        lo, hi = self.offsets[i], self.offsets[i + 1]
        return dict(zip(self.ids[lo:hi].tolist(), self.ms[lo:hi].tolist(), strict=True))


@dataclass(frozen=True)
class WindowState:
    """Every card's and merchant's state after a history, as of ``until_ms``."""

    config: FeatureConfig
    until_ms: int
    transactions: int
    cards: KeptSets
    merchants: KeptSets
    #: Frauds as ``report_frauds.lua`` leaves them (the Redis store).
    store_frauds: FraudSets
    #: Frauds as the reference leaves them (the in-memory store).
    reference_frauds: FraudSets
    #: Entities replayed delivery by delivery (the bulk shortcut did not hold).
    replayed: int = 0

    def feature_state(self) -> FeatureState:
        """The same state as the reference's :class:`FeatureState` (for the in-memory
        store)."""
        config = self.config
        cap = config.max_events_per_entity
        state = FeatureState(config)
        for i, card in enumerate(self.cards.entities.tolist()):
            state.cards[card] = _restored(EntityHistory(config.card_horizon_ms, cap), self.cards, i)
        for i, merchant in enumerate(self.merchants.entities.tolist()):
            history = _restored(MerchantHistory(config.merchant_horizon_ms, cap), self.merchants, i)
            history.restore_frauds(self.reference_frauds.of(i))
            state.merchants[merchant] = history
        return state


_H = TypeVar("_H", bound=EntityHistory)


def _restored(history: _H, sets: KeptSets, i: int) -> _H:
    """``history`` holding entity ``i`` of ``sets``."""
    lo, hi = sets.offsets[i], sets.offsets[i + 1]
    keys = list(zip(sets.member_ms[lo:hi].tolist(), sets.member_ids[lo:hi].tolist(), strict=True))
    history.restore(keys, sets.member_cents[lo:hi].tolist(), int(sets.latest_ms[i]))
    return history
