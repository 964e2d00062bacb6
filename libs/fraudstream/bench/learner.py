"""``fraudstream bench learner``: how many records a second one learner takes.

The learner reads two streams: every scored transaction (``transactions.scored``, the
features it was served with) and every label (``labels``, days later). Both are built
from simulated transactions, their served features computed as the scorer would, and
handed to :class:`~fraudstream.learning.learner.Learner` in Kafka-sized batches in the
order a consumer of both topics would see them: each label at its transaction's event
time plus the label delay. The learner joins them, learns each label with the default
model (its delayed-label half and its investigator-feedback half) and reports frauds
to a Redis feature store under a fresh prefix, as in production; only Kafka is left
out, so the figure is the learner's own ceiling.

Baseline in the same run: decoding the same records (msgspec, the one step no learner
can skip), so the ratio says how much of the cost is learning. A deployment's
transactions a second are half its records a second: one scored record and one label
each.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
import numpy as np
import pandas as pd
import redis
from kafka.consumer.fetcher import ConsumerRecord

from fraudstream.features.definitions import FeatureConfig
from fraudstream.features.redis_store import RedisFeatureStore, delete_prefix
from fraudstream.features.served import served_features
from fraudstream.kafka.records import consumer_record
from fraudstream.learning.join import LabelJoin
from fraudstream.learning.learner import Learner, LearnerState
from fraudstream.learning.models import DEFAULT_MODEL, MODEL_CHOICES, learner_model
from fraudstream.schemas import Label, ScoredTransaction, encode, encoder

__all__ = ["LearnerBenchResult", "bench_learner", "learner_records"]

LABELS_TOPIC = "labels"
SCORED_TOPIC = "transactions.scored"
_MAX_WAIT_MS = 14 * 86_400_000


@dataclass(frozen=True)
class LearnerBenchResult:
    """Figures of the learner benchmark (medians over the repeats)."""

    records: int  # scored records and labels, in all
    labels: int
    batch_size: int
    learner_rates: list[float]  # records a second, wall clock
    learner_cpu_us: list[float]  # process CPU microseconds a record
    decode_rates: list[float]  # records a second, decoding only

    @property
    def learner_rate(self) -> float:
        return statistics.median(self.learner_rates)

    @property
    def decode_rate(self) -> float:
        return statistics.median(self.decode_rates)

    @property
    def ratio(self) -> float:
        """Learner over decoding only, records a second."""
        return self.learner_rate / self.decode_rate if self.decode_rate else 0.0

    @property
    def transactions_rate(self) -> float:
        """Transactions a second one learner keeps up with: a scored record and a label each."""
        return self.learner_rate / 2

    @property
    def cpu_us_per_transaction(self) -> float:
        return 2 * statistics.median(self.learner_cpu_us)


def learner_records(frame: pd.DataFrame, label_delay: timedelta) -> list[ConsumerRecord]:
    """The scored records and labels of ``frame``, in the order a consumer sees them."""
    features = served_features(frame, label_delay)
    names = [c for c in features.columns if c not in ("transaction_id", "event_time")]
    values = features[names].to_numpy(dtype=float)
    utc = frame["event_time"].dt.tz_convert(None).to_numpy()
    event_ms = utc.astype("datetime64[ms]").astype(np.int64)
    delay_ms = int(label_delay.total_seconds() * 1000)
    ids: list[str] = frame["transaction_id"].tolist()
    cards: list[str | None] = frame["card_id"].tolist()
    merchants: list[str | None] = frame["merchant_id"].tolist()
    amounts: list[float] = frame["amount"].astype(float).tolist()
    frauds: list[int] = frame["is_fraud"].astype(int).tolist()
    stamped: list[tuple[int, int, ConsumerRecord]] = []
    for i, ms in enumerate(event_ms.tolist()):
        at = datetime.fromtimestamp(ms / 1000, UTC)
        scored = ScoredTransaction(
            transaction_id=ids[i],
            card_id=cards[i],
            merchant_id=merchants[i],
            event_time=at,
            amount=amounts[i],
            features=dict(zip(names, values[i].tolist(), strict=True)),
            score=0.0,
            threshold=0.5,
            alert=False,
            model_version="bench",
            scored_at=at,
            partition=0,
            offset=i,
            source_timestamp_ms=ms,
        )
        label = Label(
            transaction_id=ids[i],
            is_fraud=bool(frauds[i]),
            labelled_at=at + label_delay,
            card_id=cards[i],
        )
        stamped.append((ms, 0, consumer_record(SCORED_TOPIC, encoder.encode(scored), offset=i)))
        stamped.append((ms + delay_ms, 1, consumer_record(LABELS_TOPIC, encode(label), offset=i)))
    stamped.sort(key=lambda item: (item[0], item[1]))
    return [record for _, _, record in stamped]


def bench_learner(
    client: redis.Redis,
    records: Sequence[ConsumerRecord],
    *,
    batch_size: int,
    repeats: int,
) -> LearnerBenchResult:
    """Feed ``records`` to a new learner ``repeats`` times, and decode them as often."""
    learner_rates: list[float] = []
    learner_cpu: list[float] = []
    decode_rates: list[float] = []
    labels = sum(1 for r in records if r.topic == LABELS_TOPIC)
    for _ in range(repeats):
        prefix = f"bench-learner-{uuid.uuid4().hex[:8]}"
        try:
            learner = _learner(RedisFeatureStore(client, FeatureConfig(), prefix=prefix))
            wall, cpu = time.perf_counter(), time.process_time()
            learned = 0
            for begin in range(0, len(records), batch_size):
                learned += learner.process(records[begin : begin + batch_size])[0]
            cpu = time.process_time() - cpu
            wall = time.perf_counter() - wall
        finally:
            delete_prefix(client, prefix)
        if learned != labels:
            raise RuntimeError(f"the learner learned {learned} labels of {labels}")
        learner_rates.append(len(records) / wall)
        learner_cpu.append(cpu / len(records) * 1e6)
        decode_rates.append(_decode_rate(records))
    return LearnerBenchResult(
        records=len(records),
        labels=labels,
        batch_size=batch_size,
        learner_rates=learner_rates,
        learner_cpu_us=learner_cpu,
        decode_rates=decode_rates,
    )


def _learner(store: RedisFeatureStore) -> Learner:
    choice = MODEL_CHOICES[DEFAULT_MODEL]
    state = LearnerState(
        model_name=choice.name,
        model=learner_model(choice),
        join=LabelJoin(max_wait_ms=_MAX_WAIT_MS),
    )
    return Learner(state, choice, labels_topic=LABELS_TOPIC, scored_topic=SCORED_TOPIC, store=store)


def _decode_rate(records: Sequence[ConsumerRecord]) -> float:
    scored = msgspec.json.Decoder(ScoredTransaction)
    label = msgspec.json.Decoder(Label)
    started = time.perf_counter()
    for record in records:
        (scored if record.topic == SCORED_TOPIC else label).decode(record.value)
    return len(records) / (time.perf_counter() - started)
