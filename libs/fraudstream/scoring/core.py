"""The scoring core: transactions -> features -> model -> decision -> reasons.

The Kafka scorer (:mod:`fraudstream.scoring.scorer`) and the HTTP API
(:mod:`fraudstream.api`) both score through :class:`ScoringCore`, so a transaction
with the same history gets the same features, score and decision from either. A
batch costs one feature store round trip (:meth:`ScoringCore.features`); the rest
(:meth:`ScoringCore.score`) is Python, plus one Redis call when a daily alert budget
is set.

>>> from fraudstream.features.memory_store import MemoryFeatureStore
>>> from fraudstream.scoring.decide import Decider
>>> from fraudstream.scoring.holder import ModelHolder
>>> from fraudstream.testing.samples import sample_transaction
>>> core = ScoringCore(MemoryFeatureStore(), ModelHolder(None), Decider(0.5))
>>> scored = core.run([sample_transaction(amount=25.0), sample_transaction(amount=9_000.0)])
>>> scored.alerts.tolist(), scored.model.version
([False, True], 'cold-start-1')
>>> scored.reasons(1)
['amount', 'card_amount_over_mean_30d']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Final

import numpy as np

from fraudstream.errors import SchemaError
from fraudstream.features.definitions import FEATURE_NAMES
from fraudstream.features.store import FeatureAnswers, FeatureBatch, FeatureRequest, FeatureStore
from fraudstream.models import ModelInput, ScoringModel
from fraudstream.schemas import Transaction
from fraudstream.scoring.decide import Decider
from fraudstream.scoring.holder import ModelHolder

#: Model input names the core computes; a transaction's own features may not reuse them.
RESERVED_NAMES: Final = frozenset({*FEATURE_NAMES, "amount"})


def check_feature_names(tx: Transaction) -> Transaction:
    """Reject a transaction whose dataset features reuse a computed name (SchemaError)."""
    if not RESERVED_NAMES.isdisjoint(tx.features):
        clash = sorted(RESERVED_NAMES.intersection(tx.features))
        raise SchemaError(f"dataset features reuse reserved names {clash}", "reserved_feature")
    return tx


def model_input(features: FeatureBatch, txs: Sequence[Transaction]) -> ModelInput:
    """One row per transaction: the online features, ``amount`` and the dataset's own.

    A dataset feature some transactions lack is NaN in their rows; dataset features
    come in the order they first appear (as a DataFrame of the feature dicts has them).
    """
    n = len(txs)
    online = features.values.reshape(n, len(features.names))
    amounts = np.fromiter((tx.amount for tx in txs), dtype=np.float64, count=n)
    names = [*features.names, "amount"]
    columns = [online, amounts.reshape(n, 1)]
    own = list(dict.fromkeys(name for tx in txs for name in tx.features))
    if own:
        columns.append(
            np.array(
                [[tx.features.get(name, math.nan) for name in own] for tx in txs],
                dtype=np.float64,
            ).reshape(n, len(own))
        )
        names += own
    return ModelInput(tuple(names), np.hstack(columns))


@dataclass(frozen=True)
class ScoredBatch:
    """A batch scored: per transaction its model input, score and decision."""

    transactions: Sequence[Transaction]
    features: FeatureBatch
    inputs: ModelInput
    scores: np.ndarray
    #: True where the transaction alerts (the API declines it).
    alerts: np.ndarray
    threshold: float
    model: ScoringModel
    #: The challenger's scores in shadow (never decide anything), when one is loaded.
    shadow_scores: np.ndarray | None = None
    shadow_model: ScoringModel | None = None

    @cached_property
    def rows(self) -> list[dict[str, float]]:
        """Each transaction's model input as a dict (dataset features it lacks left out)."""
        names = self.inputs.names
        rows = [dict(zip(names, values, strict=True)) for values in self.inputs.values.tolist()]
        if len(names) > len(self.features.names) + 1:  # dataset features may be missing
            rows = [{k: v for k, v in row.items() if not math.isnan(v)} for row in rows]
        return rows

    def reasons(self, index: int) -> list[str]:
        """The features that pushed the ``index``-th transaction's score up most."""
        return self.model.reasons(self.rows[index])


class ScoringCore:
    """Features from the store, the holder's model, the decider: one batch at a time."""

    def __init__(self, store: FeatureStore, models: ModelHolder, decider: Decider) -> None:
        self.store = store
        self.models = models
        self.decider = decider

    def features(self, txs: Sequence[Transaction], *, record: bool = True) -> FeatureBatch:
        """One feature store round trip; ``record=False`` reads without recording."""
        requests = [FeatureRequest.of(tx) for tx in txs]
        return self.store.process(requests) if record else self.store.read(requests)

    def features_parts(self, parts: Sequence[Sequence[Transaction]]) -> FeatureAnswers:
        """Record the parts in order; each part's features as the store answers them."""
        return self.store.process_parts([[FeatureRequest.of(tx) for tx in part] for part in parts])

    def score(
        self, txs: Sequence[Transaction], features: FeatureBatch, model: ScoringModel
    ) -> ScoredBatch:
        """Score and decide; a model that fails while scoring is dropped for the last good."""
        inputs = model_input(features, txs)
        scores = self.models.score(model, inputs)
        if scores is None:  # the model was dropped: the last good one scores the batch
            model = self.models.model
            scores = model.score(inputs)
        alerts = self.decider.decide(scores, [tx.event_time for tx in txs])
        shadow, shadow_scores = self._shadow(inputs)
        return ScoredBatch(
            transactions=txs,
            features=features,
            inputs=inputs,
            scores=scores,
            alerts=alerts,
            threshold=self.decider.threshold,
            model=model,
            shadow_scores=shadow_scores,
            shadow_model=shadow,
        )

    def _shadow(self, inputs: ModelInput) -> tuple[ScoringModel | None, np.ndarray | None]:
        """The challenger's scores; a challenger that fails is dropped, never the batch."""
        shadow = self.models.shadow
        scores = None if shadow is None else self.models.score(shadow, inputs)
        if scores is None:  # none, or dropped: a broken challenger costs the batch nothing
            return None, None
        return shadow, np.asarray(scores, dtype=np.float64)

    def run(self, txs: Sequence[Transaction], *, record: bool = True) -> ScoredBatch:
        """Refresh the model, then features and score of one batch."""
        model = self.models.refresh()
        return self.score(txs, self.features(txs, record=record), model)
