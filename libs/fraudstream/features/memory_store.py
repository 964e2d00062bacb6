"""The in-memory feature store: the reference semantics, one process, no Redis.

For tests, notebooks and single-process demos. It answers exactly what the reference
computes (it runs the same :class:`~fraudstream.features.reference.FeatureState`),
which is also what the Redis store answers.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np

from fraudstream.features.definitions import FEATURE_NAMES, FeatureConfig
from fraudstream.features.reference import FeatureState
from fraudstream.features.store import (
    FeatureAnswers,
    FeatureBatch,
    FeatureRequest,
    FraudReport,
)


class MemoryFeatureStore:
    """Features kept in this process's memory."""

    def __init__(self, config: FeatureConfig = FeatureConfig()) -> None:
        self._state = FeatureState(config)

    @property
    def config(self) -> FeatureConfig:
        """The settings that shape its features."""
        return self._state.config

    @property
    def holds_state(self) -> bool:
        """True once any card or merchant was recorded (or loaded)."""
        return bool(self._state.cards or self._state.merchants)

    def load(self, state: FeatureState) -> None:
        """Replace everything it holds with ``state`` (a backfill, see
        :mod:`~fraudstream.features.backfill`)."""
        if state.config != self._state.config:
            raise ValueError("the state was computed for other feature settings")
        self._state = state

    def process(self, requests: Sequence[FeatureRequest]) -> FeatureBatch:
        """Record each transaction in order and return its features."""
        return self._features(requests, lambda _: self._state)

    def process_parts(self, parts: Sequence[Sequence[FeatureRequest]]) -> FeatureAnswers:
        """:meth:`process` each part in turn."""
        for part in parts:
            yield self.process(part)

    def read(self, requests: Sequence[FeatureRequest]) -> FeatureBatch:
        """Each transaction's features as recording it alone would give; nothing kept."""
        return self._features(requests, self._trial)

    def _trial(self, r: FeatureRequest) -> FeatureState:
        """A throw-away state holding copies of the request's card and merchant only."""
        state, trial = self._state, FeatureState(self._state.config)
        if r.card_id in state.cards:
            trial.cards[r.card_id] = copy.deepcopy(state.cards[r.card_id])
        if r.merchant_id in state.merchants:
            trial.merchants[r.merchant_id] = copy.deepcopy(state.merchants[r.merchant_id])
        return trial

    def _features(
        self,
        requests: Sequence[FeatureRequest],
        state_for: Callable[[FeatureRequest], FeatureState],
    ) -> FeatureBatch:
        rows: list[list[float]] = []
        duplicate: list[bool] = []
        late: list[bool] = []
        for r in requests:
            row, is_duplicate, is_late = state_for(r).process(
                r.transaction_id, r.event_ms, r.cents, r.card_id, r.merchant_id
            )
            rows.append(row)
            duplicate.append(is_duplicate)
            late.append(is_late)
        values = np.array(rows, dtype=np.float64).reshape(len(rows), len(FEATURE_NAMES))
        return FeatureBatch(
            values=values, duplicate=np.array(duplicate, bool), late=np.array(late, bool)
        )

    def report_frauds(self, reports: Sequence[FraudReport]) -> None:
        """Deliver fraud reports, in order."""
        for r in reports:
            self._state.report_fraud(r.transaction_id, r.merchant_id, r.event_ms)

    def close(self) -> None:
        """Nothing to release."""
