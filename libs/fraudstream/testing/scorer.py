"""The scorer's step with nothing behind it but memory, and its outputs decoded.

:func:`memory_scorer` builds a :class:`~fraudstream.scoring.scorer.Scorer` on a
:class:`~fraudstream.features.memory_store.MemoryFeatureStore` and the in-memory
doubles of :mod:`fraudstream.testing.doubles`; :func:`score_records` runs it on one
batch (:func:`~fraudstream.testing.steps.run_step`) and decodes what it produced.

>>> from fraudstream.schemas import encode
>>> from fraudstream.testing.samples import sample_transaction
>>> from fraudstream.testing.steps import consumer_records
>>> big = sample_transaction(amount=9_000.0)
>>> out = score_records(memory_scorer(), consumer_records([encode(big), b"oops"]))
>>> len(out.scored), [a.reasons for a in out.alerts], [d.reason for d in out.dead_letters]
(1, [['amount']], ['not_json'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from kafka.consumer.fetcher import ConsumerRecord
from prometheus_client import CollectorRegistry

from fraudstream.features.memory_store import MemoryFeatureStore
from fraudstream.features.store import FeatureStore
from fraudstream.observability.health import Health
from fraudstream.schemas import Alert, DeadLetter, ScoredTransaction
from fraudstream.scoring.decide import Decider
from fraudstream.scoring.holder import ModelHolder
from fraudstream.scoring.markers import AlertMarkerStore
from fraudstream.scoring.metrics import ScorerMetrics
from fraudstream.scoring.scorer import Scorer, ScorerTopics
from fraudstream.streaming.loop import OutRecord
from fraudstream.testing.doubles import MemoryAlertMarkers
from fraudstream.testing.steps import run_step

#: Where a :func:`memory_scorer` writes.
SCORER_TOPICS: Final = ScorerTopics(
    alerts="transactions.alerts", scored="transactions.scored", dlq="transactions.dlq"
)


def memory_scorer(
    *,
    models: ModelHolder | None = None,
    decider: Decider | None = None,
    markers: AlertMarkerStore | None = None,
    store: FeatureStore | None = None,
    metrics: ScorerMetrics | None = None,
) -> Scorer:
    """A scorer writing to :data:`SCORER_TOPICS`; what is not given is in memory.

    By default: the cold-start model, a threshold of 0.5 without a budget, empty
    markers and an empty feature store.
    """
    return Scorer(
        topics=SCORER_TOPICS,
        store=MemoryFeatureStore() if store is None else store,
        models=ModelHolder(None) if models is None else models,
        decider=Decider(0.5) if decider is None else decider,
        markers=MemoryAlertMarkers() if markers is None else markers,
        metrics=ScorerMetrics(CollectorRegistry()) if metrics is None else metrics,
        health=Health(["kafka", "redis"]),
    )


@dataclass(frozen=True)
class ScorerOutputs:
    """What one batch produced, in order, and decoded per topic."""

    records: list[OutRecord]
    alerts: list[Alert]
    scored: list[ScoredTransaction]
    dead_letters: list[DeadLetter]


def score_records(
    scorer: Scorer, records: Sequence[ConsumerRecord], *, commit: bool = True
) -> ScorerOutputs:
    """Run a :func:`memory_scorer` on one batch (see :func:`~.steps.run_step`)."""
    sink = run_step(scorer, records, commit=commit)
    return ScorerOutputs(
        records=sink.records,
        alerts=sink.values(SCORER_TOPICS.alerts, Alert),
        scored=sink.values(SCORER_TOPICS.scored, ScoredTransaction),
        dead_letters=sink.values(SCORER_TOPICS.dlq, DeadLetter),
    )
