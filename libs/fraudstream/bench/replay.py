"""``fraudstream bench replay``: the replay tool against a bare producer loop.

Both send the same ULB-shaped records (31 numeric fields) to the same Kafka with the
same producer settings. The bare loop sends bytes encoded before its clock starts;
the replay does all its own work (planning, encoding, pacing, delivery tracking)
with ``--max``. Each is timed from its first send until Kafka acknowledged its last
record, and the medians of the repeats are compared.

The replay runs its send loop with :func:`~fraudstream.gctune.fewer_collections`; the
goal's baseline is the bare loop with Python's defaults, and a third run gives the
bare loop the same collector setting, so the gain from it is shown, not hidden.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from fraudstream.bench.data import write_ulb_like
from fraudstream.config import Settings
from fraudstream.datasets import load_dataset
from fraudstream.gctune import fewer_collections
from fraudstream.kafka.admin import delete_topics, ensure_topics
from fraudstream.kafka.producer import DeliveryTracker, build_producer
from fraudstream.replay.plan import CHUNK_SIZE, Pace, ReplayOptions, plan_chunks
from fraudstream.replay.service import replay


@dataclass(frozen=True)
class ReplayBenchResult:
    """Medians of the repeats, in transactions a second."""

    rows: int
    record_bytes: float
    replay_rates: list[float]
    bare_rates: list[float]
    bare_tuned_rates: list[float]

    @property
    def replay(self) -> float:
        return statistics.median(self.replay_rates)

    @property
    def bare(self) -> float:
        return statistics.median(self.bare_rates)

    @property
    def bare_tuned(self) -> float:
        return statistics.median(self.bare_tuned_rates)

    @property
    def ratio(self) -> float:
        """Replay against the bare loop as anyone would write it: the goal's ratio."""
        return self.replay / self.bare if self.bare else 0.0

    @property
    def ratio_tuned(self) -> float:
        """Replay against a bare loop given the replay's garbage-collector setting."""
        return self.replay / self.bare_tuned if self.bare_tuned else 0.0


def bench_replay(settings: Settings, *, rows: int, repeats: int) -> ReplayBenchResult:
    """Run ``repeats`` alternating rounds of replay and bare loop over ``rows`` records."""
    options = ReplayOptions(pace=Pace("max"), label_fraction=0.0)
    topics: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fraudstream-bench-") as tmp:
        path = write_ulb_like(Path(tmp) / "creditcard.csv", rows)
        keys: list[bytes] = []
        values: list[bytes] = []
        for chunk in plan_chunks(load_dataset(path), options):
            keys += chunk.keys
            values += chunk.values
        replay_rates: list[float] = []
        bare_rates: list[float] = []
        bare_tuned_rates: list[float] = []
        try:
            for _ in range(repeats):
                run_id = uuid.uuid4().hex[:8]
                replay_topic, bare_topic = f"bench-replay-{run_id}", f"bench-bare-{run_id}"
                tuned_topic = f"bench-bare-gc-{run_id}"
                topics += [replay_topic, bare_topic, tuned_topic]
                ensure_topics(settings.kafka, [replay_topic, bare_topic, tuned_topic])
                replay_settings = settings.model_copy(
                    update={
                        "kafka": settings.kafka.model_copy(
                            update={
                                "transactions_topic": replay_topic,
                                "labels_topic": replay_topic,
                            }
                        )
                    }
                )
                report = replay(replay_settings, path, options)
                if report.failed or report.transactions_sent != rows:
                    raise RuntimeError(f"replay run incomplete: {report.to_dict()}")
                replay_rates.append(report.rate)
                bare_rates.append(_bare_loop(settings, bare_topic, keys, values))
                with fewer_collections():
                    bare_tuned_rates.append(_bare_loop(settings, tuned_topic, keys, values))
        finally:
            delete_topics(settings.kafka, topics)
    return ReplayBenchResult(
        rows=rows,
        record_bytes=sum(map(len, values)) / len(values),
        replay_rates=replay_rates,
        bare_rates=bare_rates,
        bare_tuned_rates=bare_tuned_rates,
    )


def _bare_loop(settings: Settings, topic: str, keys: list[bytes], values: list[bytes]) -> float:
    """The baseline: pre-encoded bytes, one send each, futures counted as they complete
    (every :data:`~fraudstream.replay.plan.CHUNK_SIZE` sends, as the replay does), one
    flush."""
    producer = build_producer(settings.kafka)
    tracker = DeliveryTracker()
    try:
        started = time.monotonic()
        for index, (key, value) in enumerate(zip(keys, values, strict=True)):
            tracker.track(producer.send(topic, value=value, key=key))
            if index % CHUNK_SIZE == 0:
                tracker.poll()
        producer.flush(timeout=120)
        elapsed = time.monotonic() - started
    finally:
        producer.close(timeout=10)
    tracker.drain()
    if tracker.failed:
        raise RuntimeError(f"bare loop lost {tracker.failed} records: {tracker.errors}")
    return len(values) / elapsed
