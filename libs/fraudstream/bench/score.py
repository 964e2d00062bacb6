"""``fraudstream bench score``: the scorer against a pass-through consumer, same run.

1. The simulated month is replayed (``--max``, no labels) into a fresh topic.
2. Throughput: a scorer (all features, the default model) consumes it from the start
   in a fresh consumer group; then a pass-through loop (decode, re-produce, commit
   transactionally; no features, no model) does the same. Each rate counts from the
   first committed batch to the last.
3. Latency: a scorer runs while the replay offers 2,000 transactions a second; a
   read_committed consumer of ``transactions.scored`` records, per transaction, the
   time from the input record's Kafka timestamp to its scored result arriving
   (an HDR histogram).
4. Memory: a ``fraudstream score`` subprocess scores a million transactions; its RSS
   is sampled throughout.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import psutil
from hdrh.histogram import HdrHistogram
from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord
from prometheus_client import CollectorRegistry

from fraudstream.config import KafkaSettings, Settings
from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.errors import SchemaError
from fraudstream.features.redis_store import delete_prefix
from fraudstream.kafka.admin import delete_topics, ensure_topics
from fraudstream.kafka.security import kafka_client_kwargs
from fraudstream.observability.health import Health
from fraudstream.redis_client import build_redis
from fraudstream.replay.plan import Pace, ReplayOptions
from fraudstream.replay.service import replay
from fraudstream.schemas import decode_transaction, encode
from fraudstream.scoring.records import ScoredTransaction
from fraudstream.scoring.service import build_scorer_loop
from fraudstream.streaming.loop import (
    Emit,
    LoopConfig,
    LoopMetrics,
    OutRecord,
    StepResult,
    StreamLoop,
)
from fraudstream.testing.kafka import unique_topics
from fraudstream.testing.scorer import committed_offsets, scorer_env


@dataclass
class ScoreBenchResult:
    """Figures of one ``bench score`` run."""

    transactions: int
    scorer_rate: float = 0.0
    passthrough_rate: float = 0.0
    latency_rate: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    rss_mb: list[tuple[int, float]] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.scorer_rate / self.passthrough_rate if self.passthrough_rate else 0.0

    @property
    def rss_growth(self) -> float:
        """RSS at the end over RSS after the first tenth (1.0: no growth)."""
        if len(self.rss_mb) < 2:
            return 0.0
        tenth = self.rss_mb[-1][0] / 10
        base = next(mb for done, mb in self.rss_mb if done >= tenth)
        return self.rss_mb[-1][1] / base


class _PassThrough:
    """Decode and re-produce: the least a transactional consumer can do."""

    def __init__(self, topic: str) -> None:
        self._topic = topic

    def __call__(self, records: Sequence[ConsumerRecord], emit: Emit | None = None) -> StepResult:
        result = StepResult()
        emit = emit or result.outputs.append
        for record in records:
            try:
                tx = decode_transaction(record.value)
            except SchemaError:
                continue
            emit(OutRecord(self._topic, encode(tx), record.key))
        return result


def _run_until(
    loop: StreamLoop, registry: CollectorRegistry, total: int, timeout_s: float
) -> float:
    """Run ``loop`` in a thread until it consumed ``total`` records; return the rate."""
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    first: float | None = None
    first_count = 0.0
    deadline = time.monotonic() + timeout_s
    consumed = 0.0
    while time.monotonic() < deadline:
        consumed = (
            registry.get_sample_value("stream_records_consumed_total", loop_labels(registry)) or 0.0
        )
        if consumed and first is None:
            first, first_count = time.monotonic(), consumed
        if consumed >= total:
            break
        time.sleep(0.05)
    end = time.monotonic()
    stop.set()
    thread.join(timeout=30)
    if consumed < total or first is None:
        raise RuntimeError(f"consumed {consumed:.0f} of {total} before the timeout")
    return (consumed - first_count) / (end - first)


def loop_labels(registry: CollectorRegistry) -> dict[str, str]:
    """The label set of the (single) loop registered in ``registry``."""
    for metric in registry.collect():
        if metric.name == "stream_records_consumed":
            for sample in metric.samples:
                return dict(sample.labels)
    return {}


def bench_score(settings: Settings, *, rss_transactions: int) -> ScoreBenchResult:
    """Run every part of the benchmark against the configured Kafka and Redis."""
    base = unique_topics(settings, "bench-score")
    with tempfile.TemporaryDirectory(prefix="fraudstream-bench-") as tmp:
        path = Path(tmp) / "simulated.parquet"
        write_parquet_atomic(simulate(SimulatorConfig(days=30)), path)
        total = replay(
            base, path, ReplayOptions(pace=Pace("max"), label_fraction=0.0)
        ).transactions_sent
        result = ScoreBenchResult(transactions=total)
        result.scorer_rate = _scorer_throughput(base, total)
        result.passthrough_rate = _passthrough_throughput(base, total)
        result.latency_rate, result.latency_ms = _latency(settings, path)
        if rss_transactions:
            result.rss_mb = _rss(settings, path, rss_transactions)
    delete_topics(settings.kafka, bench_topics(base))
    return result


def bench_scorer_settings(settings: Settings, run: str, instance: str = "") -> Settings:
    """A scorer in group ``bench-RUN`` with its own keys; ``instance`` tells replicas apart."""
    scorer = settings.scorer.model_copy(
        update={
            "group_id": f"bench-{run}",
            "instance_id": f"bench-{run}{instance}",
            "http_port": 0,
        }
    )
    features = settings.features.model_copy(update={"key_prefix": f"bench-{run}"})
    return settings.model_copy(update={"scorer": scorer, "features": features})


def _scorer_throughput(settings: Settings, total: int) -> float:
    run = uuid.uuid4().hex[:8]
    scorer_settings = bench_scorer_settings(settings, run)
    registry = CollectorRegistry()
    loop, client = build_scorer_loop(scorer_settings, registry, Health(["kafka", "redis"]))
    try:
        return _run_until(loop, registry, total, timeout_s=600)
    finally:
        delete_prefix(client, f"bench-{run}")
        client.close()


def _passthrough_throughput(settings: Settings, total: int) -> float:
    run = uuid.uuid4().hex[:8]
    kafka = settings.kafka
    out_topic = f"{kafka.scored_topic}-passthrough"
    ensure_topics(kafka, [out_topic])
    registry = CollectorRegistry()
    config = LoopConfig(
        group_id=f"bench-pass-{run}",
        topics=(kafka.transactions_topic,),
        transactional_id=f"bench-pass-{run}",
        max_poll_records=settings.scorer.max_poll_records,
    )
    loop = StreamLoop(
        kafka,
        config,
        _PassThrough(out_topic),
        health=Health(["kafka"]),
        metrics=LoopMetrics(registry, "passthrough"),
    )
    return _run_until(loop, registry, total, timeout_s=600)


def _latency(
    settings: Settings, path: Path, rate: float = 2_000.0, seconds: float = 20.0
) -> tuple[float, dict[str, float]]:
    run = uuid.uuid4().hex[:8]
    topics = unique_topics(settings, "bench-latency")
    kafka = topics.kafka
    ensure_topics(kafka, kafka.topics)
    histogram = HdrHistogram(1, 60_000_000, 3)  # microseconds, up to a minute
    expected = int(rate * seconds)
    stop = threading.Event()
    reader = threading.Thread(
        target=_measure,
        args=(kafka, kafka.scored_topic, histogram, expected, stop),
        daemon=True,
    )
    process = start_scorer(settings, topics, run)
    try:
        reader.start()
        wait_ready(process, topics, run)
        report = replay(
            topics, path, ReplayOptions(pace=Pace("rate", rate), limit=expected, label_fraction=0.0)
        )
        reader.join(timeout=60)
    finally:
        stop.set()
        stop_scorer(process, settings, run, topics)
    figures = {f"p{q:g}": histogram.get_value_at_percentile(q) / 1000 for q in (50, 95, 99, 99.9)}
    figures["max"] = histogram.get_max_value() / 1000
    figures["count"] = float(histogram.get_total_count())
    return report.rate, figures


def start_scorer(
    settings: Settings, topics: Settings, run: str, instance: str = ""
) -> subprocess.Popen[bytes]:
    """A ``fraudstream score`` process on ``topics`` with its own group and keys."""
    env = {
        **scorer_env(bench_scorer_settings(topics, run, instance)),
        "FRAUDSTREAM_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "fraudstream.cli", "score"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_ready(
    process: subprocess.Popen[bytes], topics: Settings, run: str, members: int = 1
) -> None:
    """Wait until the scorer's consumer group is stable with ``members`` members."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**kafka_client_kwargs(topics.kafka, "bench"))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            group = admin.describe_groups([f"bench-{run}"]).get(f"bench-{run}", {})
            if group.get("group_state") == "Stable" and len(group.get("members") or []) >= members:
                return
            time.sleep(0.5)
    finally:
        admin.close()
    raise RuntimeError("the scorer did not join its consumer group in time")


def stop_scorer(
    process: subprocess.Popen[bytes], settings: Settings, run: str, topics: Settings
) -> None:
    process.terminate()
    process.wait(timeout=60)
    client = build_redis(settings.redis)
    delete_prefix(client, f"bench-{run}")
    client.close()
    delete_topics(settings.kafka, bench_topics(topics))


def _measure(
    kafka: KafkaSettings, topic: str, histogram: HdrHistogram, expected: int, stop: threading.Event
) -> None:
    consumer = KafkaConsumer(
        topic,
        **kafka_client_kwargs(kafka, "bench"),
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=5,
    )
    decoder = msgspec.json.Decoder(ScoredTransaction)
    seen = 0
    deadline = time.monotonic() + 120
    try:
        while seen < expected and time.monotonic() < deadline and not stop.is_set():
            for records in consumer.poll(timeout_ms=100).values():
                now_ms = time.time() * 1000
                for record in records:
                    source = decoder.decode(record.value).source_timestamp_ms
                    histogram.record_value(max(1, int((now_ms - source) * 1000)))
                    seen += 1
    finally:
        consumer.close()


def _rss(settings: Settings, path: Path, transactions: int) -> list[tuple[int, float]]:
    run = uuid.uuid4().hex[:8]
    topics = unique_topics(settings, "bench-rss")
    kafka = topics.kafka
    options = ReplayOptions(pace=Pace("max"), loop=True, limit=transactions, label_fraction=0.0)
    replay(topics, path, options)
    process = start_scorer(settings, topics, run)
    samples: list[tuple[int, float]] = []
    try:
        watcher = psutil.Process(process.pid)
        group = f"bench-{run}"
        deadline = time.monotonic() + 900
        done = 0
        while done < transactions and time.monotonic() < deadline and process.poll() is None:
            time.sleep(1.0)
            done = committed_offsets(kafka.servers, group, kafka.transactions_topic)
            samples.append((done, watcher.memory_info().rss / 2**20))
    finally:
        stop_scorer(process, settings, run, topics)
    return samples


def bench_topics(topics: Settings) -> list[str]:
    """Every topic a benchmark run made under ``topics``' names."""
    return [*topics.kafka.topics, f"{topics.kafka.scored_topic}-passthrough"]
