"""The learner's core: join labels with served features, learn, measure, snapshot.

Everything the learner knows lives in one :class:`LearnerState` (the model, the
join's waiting records, the consumed offsets, the prequential window). A snapshot
stores that state whole, so a restarted learner continues exactly where the snapshot
was taken: records after it are read again and learned once, since the state they
had updated was not saved.
"""

from __future__ import annotations

import math
import pickle
from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
import numpy as np
import pandas as pd
import structlog
from kafka.consumer.fetcher import ConsumerRecord

from fraudstream.errors import SchemaError
from fraudstream.evaluation.measures import (
    average_precision,
    card_precision_at_k,
    precision_recall_at,
    roc_auc,
)
from fraudstream.features.store import FeatureStore, FraudReport
from fraudstream.learning.join import Joined, LabelJoin, Served
from fraudstream.learning.models import ModelChoice
from fraudstream.models import RiverModel
from fraudstream.models.feedback import FeedbackBlend
from fraudstream.models.online import serving_copy
from fraudstream.models.snapshots import SnapshotStore
from fraudstream.redis_client import AnyRedis
from fraudstream.schemas import ScoredTransaction, decode_label

log = structlog.get_logger(__name__)

_scored_decoder: Final = msgspec.json.Decoder(ScoredTransaction)


@dataclass
class LearnerState:
    """Everything a learner snapshot holds."""

    model_name: str
    model: Any
    join: LabelJoin
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    labels_learned: int = 0
    watermark_ms: int = 0
    window: deque[tuple[float, bool, str | None, int]] = field(
        default_factory=lambda: deque(maxlen=5_000)
    )
    #: The same for the shadow challenger's scores (only labels it scored).
    shadow_window: deque[tuple[float, bool, str | None, int]] = field(
        default_factory=lambda: deque(maxlen=5_000)
    )

    @property
    def version(self) -> str:
        """The model version: its name and how many labels it has learned."""
        return f"{self.model_name}-{self.labels_learned}"


@dataclass(frozen=True)
class Quality:
    """Prequential measures over the window of the latest labels."""

    labels: int
    average_precision: float
    roc_auc: float
    precision: float
    recall: float
    card_precision_at_100: float


def quality(window: Collection[tuple[float, bool, str | None, int]], threshold: float) -> Quality:
    """Measure the scores of a prequential window against their labels
    (:attr:`LearnerState.window`: those served; ``shadow_window``: the challenger's)."""
    if not window:
        return Quality(0, 0.0, 0.5, 0.0, 0.0, 0.0)
    scores = np.array([w[0] for w in window])
    truth = np.array([w[1] for w in window])
    precision, recall = precision_recall_at(truth, scores, threshold)
    cards = pd.DataFrame(
        {
            "day": [w[3] for w in window],
            "card_id": [w[2] for w in window],
            "score": scores,
            "is_fraud": truth.astype(int),
        }
    )
    return Quality(
        labels=len(window),
        average_precision=average_precision(truth, scores),
        roc_auc=roc_auc(truth, scores),
        precision=precision,
        recall=recall,
        card_precision_at_100=card_precision_at_k(cards, 100),
    )


class StateStore:
    """The learner's state in Redis, one key, written atomically."""

    def __init__(self, client: AnyRedis, prefix: str) -> None:
        self._client = client
        self._key = f"{prefix}:learner:state"

    def load(self) -> LearnerState | None:
        """The last saved state, or None before the first snapshot."""
        data = self._client.get(self._key)
        if data is None:
            return None
        state = pickle.loads(data if isinstance(data, bytes) else data.encode())  # noqa: S301
        if not isinstance(state, LearnerState):
            raise TypeError(f"{self._key} holds a {type(state).__name__}")
        return state

    def save(self, state: LearnerState) -> None:
        """Replace the saved state."""
        self._client.set(self._key, pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))


class Learner:
    """Feeds records of ``labels`` and ``transactions.scored`` to the state."""

    def __init__(
        self,
        state: LearnerState,
        choice: ModelChoice,
        *,
        labels_topic: str,
        scored_topic: str,
        store: FeatureStore,
    ) -> None:
        self.state = state
        self._choice = choice
        self._labels_topic = labels_topic
        self._scored_topic = scored_topic
        self._store = store
        #: Records that could not be read, by topic.
        self.unreadable: dict[str, int] = {}
        #: Labels joined, by source (``delayed``, ``investigator``).
        self.by_source: dict[str, int] = {}
        #: Delayed labels that followed an investigator's: ``confirmed`` or ``overruled``.
        self.feedback_outcomes: dict[str, int] = {}

    def process(self, records: Sequence[ConsumerRecord]) -> tuple[int, int]:
        """Take a batch (any mix of both topics); return (labels learned, frauds among them)."""
        state = self.state
        joined: list[Joined] = []
        for record in records:
            try:
                if record.topic == self._scored_topic:
                    served = _served(record.value)
                    state.watermark_ms = max(state.watermark_ms, served.event_ms)
                    joined += state.join.add_served(served)
                else:
                    label = decode_label(record.value)
                    at = int(label.labelled_at.timestamp() * 1000)
                    joined += state.join.add_label(
                        label.transaction_id, label.is_fraud, at, label.source
                    )
            except (SchemaError, msgspec.DecodeError, TypeError):
                self.unreadable[record.topic] = self.unreadable.get(record.topic, 0) + 1
            state.offsets[(record.topic, record.partition)] = record.offset + 1
        frauds: list[FraudReport] = []
        lessons = _Lessons()
        for item in joined:
            served, is_fraud = item.served, item.is_fraud
            self._plan(item, lessons)
            state.labels_learned += 1
            self.by_source[item.source] = self.by_source.get(item.source, 0) + 1
            if item.feedback is not None:
                outcome = "confirmed" if item.feedback == is_fraud else "overruled"
                self.feedback_outcomes[outcome] = self.feedback_outcomes.get(outcome, 0) + 1
            day = served.event_ms // 86_400_000
            # the prequential windows judge served scores against the truth, once per
            # transaction: its delayed label
            if item.source == "delayed" and not math.isnan(served.score):
                state.window.append((served.score, is_fraud, served.card_id, day))
            if item.source == "delayed" and served.shadow_score is not None:
                state.shadow_window.append((served.shadow_score, is_fraud, served.card_id, day))
            if is_fraud and item.feedback is not True and served.merchant_id:
                frauds.append(
                    FraudReport(served.transaction_id, served.merchant_id, served.event_ms)
                )
        self._learn(lessons)
        self._store.report_frauds(frauds)
        return len(joined), sum(1 for item in joined if item.is_fraud)

    def _plan(self, item: Joined, lessons: _Lessons) -> None:
        """Put a joined label in the lessons as docs/learning.md says ("Investigator
        feedback").

        With a :class:`~fraudstream.models.feedback.FeedbackBlend` the feedback model
        learns every investigator's label and the delayed model every delayed label
        it keeps. With one model, an investigator's label is learned as a delayed one
        would be, and the delayed label that follows it only when it disagrees.
        """
        x, is_fraud = item.served.features, item.is_fraud
        if isinstance(self.state.model, FeedbackBlend) and item.source == "investigator":
            lessons.feedback.add(x, is_fraud)
        elif item.feedback == is_fraud and not isinstance(self.state.model, FeedbackBlend):
            return  # learned already, from the investigator's label
        elif self._choice.learns(item.served.transaction_id, is_fraud):
            lessons.model.add(x, is_fraud)

    def _learn(self, lessons: _Lessons) -> None:
        """Learn a batch's lessons, each model's in the order its labels came (the two
        models of a blend are independent, and nothing in a batch reads the model
        before the batch is learned, so this equals learning each label as it joins)."""
        model = self.state.model
        self._choice.learn_all(model, lessons.model.rows, lessons.model.labels)
        if lessons.feedback.rows:
            model.learn_feedback_sequence(lessons.feedback.rows, lessons.feedback.labels)

    def publish(self, snapshots: SnapshotStore, states: StateStore) -> str:
        """Save the whole state, then make the model current for the scorers."""
        state = self.state
        state.join.expire(state.watermark_ms)
        states.save(state)
        snapshots.publish(served_model(state))
        return state.version


@dataclass
class _Labels:
    """Rows and their labels, in the order they are to be learned."""

    rows: list[dict[str, float]] = field(default_factory=list)
    labels: list[bool] = field(default_factory=list)

    def add(self, x: dict[str, float], is_fraud: bool) -> None:
        self.rows.append(x)
        self.labels.append(is_fraud)


@dataclass
class _Lessons:
    """What a batch teaches: the model's labels and, for a blend, the feedback model's."""

    model: _Labels = field(default_factory=_Labels)
    feedback: _Labels = field(default_factory=_Labels)


def served_model(state: LearnerState) -> RiverModel:
    """What scorers load of ``state``: its model's serving copy, under its version."""
    return RiverModel(serving_copy(state.model), state.version)


def _served(value: bytes | None) -> Served:
    if value is None:
        raise SchemaError("empty record", "empty")
    scored = _scored_decoder.decode(value)
    return Served(
        transaction_id=scored.transaction_id,
        event_ms=math.floor(scored.event_time.timestamp() * 1000),
        features=scored.features,
        score=scored.score,
        card_id=scored.card_id,
        merchant_id=scored.merchant_id,
        shadow_score=scored.shadow_score,
    )
