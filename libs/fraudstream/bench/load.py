"""``fraudstream bench load``: the scorer under fixed offered rates, and one vs two.

Per offered rate (transactions a second, or as fast as the replay goes): fresh topics,
one ``fraudstream score`` process, a replay at that rate for a fixed time, and a
read_committed consumer of ``transactions.scored`` that records, per transaction, the
time from the input's Kafka timestamp to its scored record arriving (an HDR
histogram) and when the first and last arrived (achieved throughput). A sampler reads
the consumer lag (end offsets minus the group's committed offsets) every second.

Scaling: a backlog on six partitions scored by one process, then by two in one group.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from hdrh.histogram import HdrHistogram
from kafka import TopicPartition

from fraudstream.bench.score import start_scorer, stop_scorer, wait_ready
from fraudstream.config import KafkaSettings, Settings
from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.harness.kafka import unique_topics
from fraudstream.harness.scorer import committed_offsets
from fraudstream.kafka.admin import ensure_topics, wait_for_partitions
from fraudstream.kafka.consumer import build_consumer
from fraudstream.replay.plan import Pace, ReplayOptions
from fraudstream.replay.service import replay
from fraudstream.schemas import ScoredTransaction


@dataclass
class RatePoint:
    """What one offered rate gave."""

    offered: float | None  # None: as fast as possible
    sent: int = 0
    replay_rate: float = 0.0
    scored: int = 0
    achieved: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    #: (seconds since the replay started, transactions not yet committed)
    lag: list[tuple[float, int]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return "max" if self.offered is None else f"{self.offered:,.0f}"


@dataclass
class LoadResult:
    """Every rate, and the one-vs-two scaling run (scorers -> tx/s)."""

    points: list[RatePoint]
    scaling: dict[int, float] = field(default_factory=dict)
    scaling_transactions: int = 0


class _Reader:
    """Reads a scored topic in a thread: latency histogram, count, first and last arrival."""

    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        self.histogram = HdrHistogram(1, 600_000_000, 3)  # microseconds, up to 10 minutes
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self._stop = threading.Event()
        self._consumer = build_consumer(kafka, "bench-load", fetch_max_wait_ms=5)
        partitions = wait_for_partitions(self._consumer, topic, 30)
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        self._consumer.assign(assigned)
        self._consumer.seek_to_beginning(*assigned)
        self._thread = threading.Thread(target=self._run, name="load-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        decoder = msgspec.json.Decoder(ScoredTransaction)
        while not self._stop.is_set():
            for records in self._consumer.poll(timeout_ms=100).values():
                now = time.time()
                if not self.count:
                    self.first = now
                self.last = now
                for record in records:
                    source = decoder.decode(record.value).source_timestamp_ms
                    self.histogram.record_value(max(1, int((now * 1000 - source) * 1000)))
                self.count += len(records)

    def wait_for(self, count: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.count < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.count >= count

    @property
    def rate(self) -> float:
        span = self.last - self.first
        return self.count / span if span > 0 else 0.0

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._consumer.close()


class _LagSampler:
    """Every second: transactions in the topic minus those the group committed."""

    def __init__(self, kafka: KafkaSettings, group: str, interval_s: float = 1.0) -> None:
        self.samples: list[tuple[float, int]] = []
        self._kafka = kafka
        self._group = group
        self._interval = interval_s
        self._stop = threading.Event()
        # read_uncommitted: end offsets are the high-water marks, open transactions included
        self._consumer = build_consumer(kafka, "bench-lag", isolation_level="read_uncommitted")
        self._partitions = [
            TopicPartition(kafka.transactions_topic, p)
            for p in sorted(wait_for_partitions(self._consumer, kafka.transactions_topic, 30))
        ]
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="load-lag", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        kafka = self._kafka
        while not self._stop.wait(self._interval):
            end = sum(self._consumer.end_offsets(self._partitions).values())
            done = committed_offsets(kafka, self._group, kafka.transactions_topic)
            self.samples.append((round(time.monotonic() - self._started, 1), end - done))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._consumer.close()


def _rate_point(
    settings: Settings, path: Path, offered: float | None, seconds: float, max_tx: int
) -> RatePoint:
    """One scorer process against one offered rate for ``seconds``."""
    run = uuid.uuid4().hex[:8]
    topics = unique_topics(settings, "bench-load")
    kafka = topics.kafka
    ensure_topics(kafka, kafka.topics)
    limit = max_tx if offered is None else int(offered * seconds)
    pace = Pace("max") if offered is None else Pace("rate", offered)
    point = RatePoint(offered=offered)
    process = start_scorer(settings, topics, run)
    reader = _Reader(kafka, kafka.scored_topic)
    try:
        wait_ready(process, topics, run)
        sampler = _LagSampler(kafka, f"bench-{run}")
        try:
            report = replay(topics, path, ReplayOptions(pace=pace, limit=limit, label_fraction=0.0))
            reader.wait_for(report.transactions_sent, timeout_s=max(60.0, 4 * seconds))
        finally:
            sampler.close()
    finally:
        reader.close()
        stop_scorer(process, settings, run, topics)
    histogram = reader.histogram
    point.sent, point.replay_rate = report.transactions_sent, report.rate
    point.scored, point.achieved, point.lag = reader.count, reader.rate, sampler.samples
    point.latency_ms = {
        f"p{q:g}": histogram.get_value_at_percentile(q) / 1000 for q in (50, 95, 99)
    }
    point.latency_ms["max"] = histogram.get_max_value() / 1000
    return point


def _scaling(settings: Settings, path: Path, scorers: int, transactions: int) -> float:
    """Rate of ``scorers`` processes in one group over a backlog on six partitions."""
    run = uuid.uuid4().hex[:8]
    topics = unique_topics(settings, f"bench-scale{scorers}")
    kafka = topics.kafka.model_copy(update={"partitions": 6})
    topics = topics.model_copy(update={"kafka": kafka})
    ensure_topics(kafka, kafka.topics)
    replay(
        topics,
        path,
        ReplayOptions(pace=Pace("max"), limit=transactions, loop=True, label_fraction=0.0),
    )
    processes: list[subprocess.Popen[bytes]] = []
    reader = _Reader(kafka, kafka.scored_topic)
    try:
        processes = [start_scorer(settings, topics, run, f"-{i}") for i in range(scorers)]
        reader.wait_for(transactions, timeout_s=600)
    finally:
        reader.close()
        for extra in processes[1:]:
            extra.terminate()
            extra.wait(timeout=60)
        if processes:
            stop_scorer(processes[0], settings, run, topics)
    return reader.rate


def bench_load(
    settings: Settings,
    rates: list[float | None],
    *,
    seconds: float = 15.0,
    max_transactions: int = 150_000,
    scaling_transactions: int = 60_000,
) -> LoadResult:
    """Every offered rate, then one vs two scorers (``scaling_transactions`` 0 skips it)."""
    with tempfile.TemporaryDirectory(prefix="fraudstream-load-") as tmp:
        path = Path(tmp) / "simulated.parquet"
        write_parquet_atomic(simulate(SimulatorConfig(days=30)), path)
        result = LoadResult(
            points=[_rate_point(settings, path, rate, seconds, max_transactions) for rate in rates]
        )
        if scaling_transactions:
            result.scaling_transactions = scaling_transactions
            for scorers in (1, 2):
                result.scaling[scorers] = _scaling(settings, path, scorers, scaling_transactions)
    return result


def plot_latency(result: LoadResult, target: Path) -> None:
    """Latency percentiles against offered load (the achieved rate for "max") as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [p.offered if p.offered is not None else p.achieved for p in result.points]
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    for key, style in (("p50", "o-"), ("p95", "s-"), ("p99", "^-"), ("max", "x--")):
        axes.plot(xs, [p.latency_ms.get(key, 0.0) for p in result.points], style, label=key)
    for x, point in zip(xs, result.points, strict=True):
        axes.annotate(
            f"{point.label}\n→ {point.achieved:,.0f}/s",
            (x, point.latency_ms.get("max", 0.0)),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize=7,
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("offered load, transactions/s (max: achieved)")
    axes.set_ylabel("end-to-end latency, ms")
    axes.set_title("fraudstream score: latency against offered load (one process)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target)
    plt.close(figure)
