"""``fraudstream bench score``: the scorer against a pass-through consumer, same run.

In the order it runs:

1. The simulated month is replayed (``--max``, no labels) into a fresh topic.
2. Latency: first the replay offers 2,000 transactions a second with no service
   running, and the probe times the input records alone: one produce-to-consume
   hop, the floor (a service's result takes two hops and its work). Then a
   ``fraudstream score`` process runs while the replay offers 2,000
   transactions a second; a probe process (:mod:`fraudstream.bench.probe`) records,
   per transaction, the time from the input record's Kafka timestamp to its result
   being readable with ``read_committed`` (an HDR histogram). Then the same for a
   pass-through process: the latency floor of a transactional consumer here. Then
   both again with the at-least-once delivery (``SCORER_DELIVERY``). This comes
   before the throughput runs: right after them (~320 MB written), a first latency
   run was measured with twice the p99 of a second one straight after.
3. Throughput: a scorer (all features, the default model) consumes the month from
   the start in a fresh consumer group; then the pass-through
   (:mod:`fraudstream.bench.passthrough`: decode, re-produce, commit transactionally;
   no features, no model) does the same. Each rate counts from the first committed
   batch to the last, and the CPU the machine, the process and Redis used meanwhile
   is read (:mod:`fraudstream.bench.cpu`).
4. Memory: a ``fraudstream score`` subprocess scores a million transactions; its RSS
   is sampled throughout.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeVar

import psutil
from hdrh.histogram import HdrHistogram
from prometheus_client import CollectorRegistry

from fraudstream.bench.cpu import CpuMeter
from fraudstream.bench.passthrough import output_topic, passthrough_loop
from fraudstream.bench.stats import bucket_quantiles, percentiles_ms
from fraudstream.config import Settings
from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.features.redis_store import delete_prefix
from fraudstream.harness.embedded import free_port
from fraudstream.harness.kafka import unique_topics
from fraudstream.harness.scorer import committed_offsets, http_get, scorer_env, with_delivery
from fraudstream.kafka.admin import delete_topics, ensure_topics
from fraudstream.kafka.security import kafka_client_kwargs
from fraudstream.observability.health import Health
from fraudstream.redis_client import build_redis
from fraudstream.replay.plan import Pace, ReplayOptions
from fraudstream.replay.service import replay
from fraudstream.scoring.service import build_scorer_loop
from fraudstream.streaming.loop import StreamLoop

_Key = TypeVar("_Key")

#: The latency runs, in order: (service, delivery).
LATENCY_RUNS: Final = (
    ("scorer", "exactly-once"),
    ("passthrough", "exactly-once"),
    ("scorer", "at-least-once"),
    ("passthrough", "at-least-once"),
)


@dataclass(frozen=True)
class Throughput:
    """One loop over the backlog: its rate and the CPU used per transaction."""

    rate: float
    cpu_us: dict[str, float] = field(default_factory=dict)


@dataclass
class ScoreBenchResult:
    """Figures of one ``bench score`` run."""

    transactions: int
    scorer: Throughput = Throughput(0.0)
    passthrough: Throughput = Throughput(0.0)
    latency_rate: float = 0.0
    #: Percentiles (ms) per (service, delivery) of :data:`LATENCY_RUNS`.
    latency_ms: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    #: The same for the input records reaching the probe, during each run.
    hop_ms: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    #: The same with no service running: one produce-to-consume hop, the floor.
    hop_alone_ms: dict[str, float] = field(default_factory=dict)
    #: Per latency run, p50/p99 (ms) of each phase of a batch, from the service's
    #: ``/metrics`` at the end of the run: the loop's (``stream_phase_seconds``) and,
    #: for the scorer, its step's (``scorer_step_phase_seconds``, as ``step.<phase>``).
    phases_ms: dict[tuple[str, str], dict[str, dict[str, float]]] = field(default_factory=dict)
    rss_mb: list[tuple[int, float]] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Scorer rate over pass-through rate (goal: at least 0.5)."""
        return self.scorer.rate / self.passthrough.rate if self.passthrough.rate else 0.0

    @property
    def rss_growth(self) -> float:
        """RSS at the end over RSS after the first tenth (1.0: no growth)."""
        if len(self.rss_mb) < 2:
            return 0.0
        tenth = self.rss_mb[-1][0] / 10
        base = next(mb for done, mb in self.rss_mb if done >= tenth)
        return self.rss_mb[-1][1] / base


def median_result(results: Sequence[ScoreBenchResult]) -> ScoreBenchResult:
    """Every figure of ``results`` as its median over the runs (the memory samples: the
    last run that took them).

    >>> runs = [
    ...     ScoreBenchResult(10, scorer=Throughput(r, {"process": r / 100}))
    ...     for r in (9.0, 12.0, 10.0)
    ... ]
    >>> median = median_result(runs)
    >>> median.scorer.rate, median.scorer.cpu_us
    (10.0, {'process': 0.1})
    """
    if not results:
        raise ValueError("no run to take the median of")
    last = results[-1]
    return ScoreBenchResult(
        transactions=last.transactions,
        scorer=_median_throughput([r.scorer for r in results]),
        passthrough=_median_throughput([r.passthrough for r in results]),
        latency_rate=statistics.median(r.latency_rate for r in results),
        latency_ms=_median_nested([r.latency_ms for r in results]),
        hop_ms=_median_nested([r.hop_ms for r in results]),
        hop_alone_ms=_median_flat([r.hop_alone_ms for r in results]),
        phases_ms={
            run: _median_nested([r.phases_ms.get(run, {}) for r in results])
            for run in last.phases_ms
        },
        rss_mb=next((r.rss_mb for r in reversed(results) if r.rss_mb), []),
    )


def _median_throughput(runs: Sequence[Throughput]) -> Throughput:
    return Throughput(
        statistics.median(t.rate for t in runs), _median_flat([t.cpu_us for t in runs])
    )


def _median_flat(runs: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Per key, the median of the runs that have it."""
    keys = dict.fromkeys(k for run in runs for k in run)
    return {k: statistics.median(run[k] for run in runs if k in run) for k in keys}


def _median_nested(
    runs: Sequence[Mapping[_Key, Mapping[str, float]]],
) -> dict[_Key, dict[str, float]]:
    keys = dict.fromkeys(k for run in runs for k in run)
    return {k: _median_flat([run[k] for run in runs if k in run]) for k in keys}


@dataclass(frozen=True)
class Goal:
    """One goal of the benchmark: a measured figure against its limit."""

    name: str
    value: float
    limit: float
    #: True: the value must not exceed the limit; False: it must reach it.
    at_most: bool
    unit: str = ""

    @property
    def met(self) -> bool:
        """Whether the figure is on the right side of its limit (a missing one: not)."""
        if self.value != self.value or self.limit != self.limit:  # NaN: not measured
            return False
        return self.value <= self.limit if self.at_most else self.value >= self.limit


def score_goals(result: ScoreBenchResult) -> list[Goal]:
    """The goals, each against a floor measured in the same run(s) (pass
    :func:`median_result` of several runs): exactly-once costs at most 30 ms of p99
    over at-least-once; the scorer's at-least-once p99 is within 1.25x the
    pass-through's; the pass-through's exactly-once p99 within 3x one bare hop's; the
    scorer runs at least half as fast as the pass-through (both exactly-once).

    >>> result = ScoreBenchResult(
    ...     1,
    ...     scorer=Throughput(6.0),
    ...     passthrough=Throughput(10.0),
    ...     latency_ms={
    ...         ("scorer", "exactly-once"): {"p99": 60.0},
    ...         ("scorer", "at-least-once"): {"p99": 40.0},
    ...         ("passthrough", "at-least-once"): {"p99": 30.0},
    ...         ("passthrough", "exactly-once"): {"p99": 50.0},
    ...     },
    ...     hop_alone_ms={"p99": 15.0},
    ... )
    >>> [(goal.value, goal.limit, goal.met) for goal in score_goals(result)]
    [(60.0, 70.0, True), (40.0, 37.5, False), (50.0, 45.0, False), (0.6, 0.5, True)]
    """

    def p99(service: str, delivery: str) -> float:
        return result.latency_ms.get((service, delivery), {}).get("p99", float("nan"))

    hop = result.hop_alone_ms.get("p99", float("nan"))
    return [
        Goal(
            "scorer exactly-once p99 <= scorer at-least-once p99 + 30 ms",
            p99("scorer", "exactly-once"),
            p99("scorer", "at-least-once") + 30.0,
            at_most=True,
            unit="ms",
        ),
        Goal(
            "scorer at-least-once p99 <= 1.25x pass-through at-least-once p99",
            p99("scorer", "at-least-once"),
            1.25 * p99("passthrough", "at-least-once"),
            at_most=True,
            unit="ms",
        ),
        Goal(
            "pass-through exactly-once p99 <= 3x the bare hop's p99",
            p99("passthrough", "exactly-once"),
            3.0 * hop,
            at_most=True,
            unit="ms",
        ),
        Goal(
            "throughput scorer / pass-through (both exactly-once) >= 0.5",
            result.ratio,
            0.5,
            at_most=False,
        ),
    ]


def _run_until(loop: StreamLoop, total: int, meter: CpuMeter, timeout_s: float) -> Throughput:
    """Run ``loop`` in a thread until it consumed ``total`` records.

    Rate and CPU count from the first committed batch to the last, so neither the
    group join nor the shutdown is in them.
    """
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    first: float | None = None
    first_count = 0
    deadline = time.monotonic() + timeout_s
    consumed = 0
    while time.monotonic() < deadline:
        # not the registry: collecting every metric 20 times a second holds the GIL the
        # loop needs (a wall-clock profile overstated it; the rates did not move)
        consumed = loop.records_committed
        if consumed and first is None:
            first, first_count = time.monotonic(), consumed
            meter.start()
        if consumed >= total:
            break
        time.sleep(0.05)
    end = time.monotonic()
    cpu = meter.stop()
    stop.set()
    thread.join(timeout=30)
    if consumed < total or first is None:
        raise RuntimeError(f"consumed {consumed:.0f} of {total} before the timeout")
    counted = consumed - first_count
    return Throughput(counted / (end - first), cpu.per_transaction_us(counted))


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
        # latency before throughput (see the module's docstring); the hop alone first
        result.latency_rate, result.hop_alone_ms, _, _ = _latency(settings, path, None)
        for run in LATENCY_RUNS:
            service, delivery = run
            latency = _latency(with_delivery(settings, delivery), path, service)
            result.latency_rate, result.latency_ms[run], result.hop_ms[run] = latency[:3]
            result.phases_ms[run] = latency[3]
        meter = CpuMeter(settings.redis)
        result.scorer = _scorer_throughput(base, total, meter)
        result.passthrough = _passthrough_throughput(base, total, meter)
        if rss_transactions:
            result.rss_mb = _rss(settings, path, rss_transactions)
    delete_topics(settings.kafka, bench_topics(base))
    return result


def bench_scorer_settings(
    settings: Settings, run: str, instance: str = "", http_port: int = 0
) -> Settings:
    """A scorer in group ``bench-RUN`` with its own keys; ``instance`` tells replicas apart.

    It serves the default model whatever the MLflow registry holds: a champion
    promoted there earlier (by the demo, say) would make the figures another model's.
    """
    scorer = settings.scorer.model_copy(
        update={
            "group_id": f"bench-{run}",
            "instance_id": f"bench-{run}{instance}",
            "http_port": http_port,
            "follow_registry": False,
        }
    )
    features = settings.features.model_copy(update={"key_prefix": f"bench-{run}"})
    return settings.model_copy(update={"scorer": scorer, "features": features})


def _scorer_throughput(settings: Settings, total: int, meter: CpuMeter) -> Throughput:
    run = uuid.uuid4().hex[:8]
    scorer_settings = bench_scorer_settings(settings, run)
    registry = CollectorRegistry()
    loop, client = build_scorer_loop(scorer_settings, registry, Health(["kafka", "redis"]))
    try:
        return _run_until(loop, total, meter, timeout_s=600)
    finally:
        delete_prefix(client, f"bench-{run}")
        client.close()


def _passthrough_throughput(settings: Settings, total: int, meter: CpuMeter) -> Throughput:
    run = uuid.uuid4().hex[:8]
    ensure_topics(settings.kafka, [output_topic(settings)])
    registry = CollectorRegistry()
    loop = passthrough_loop(bench_scorer_settings(settings, run), registry)
    return _run_until(loop, total, meter, timeout_s=600)


#: Seconds to wait for the probe's figures after the replay ended.
PROBE_TIMEOUT_S: Final = 240.0

#: What ``_latency`` can measure: the module each runs as its own process.
_SERVICES = {
    "scorer": ("fraudstream.cli", "score"),
    "passthrough": ("fraudstream.bench.passthrough",),
}


def _latency(
    settings: Settings,
    path: Path,
    service: str | None,
    rate: float = 2_000.0,
    seconds: float = 20.0,
    warmup_s: float = 2.0,
) -> tuple[float, dict[str, float], dict[str, float], dict[str, dict[str, float]]]:
    """Latency percentiles (ms) of ``service`` while the replay offers ``rate`` tx/s,
    leaving out the first ``warmup_s`` seconds; then those of the input records
    reaching the probe (the produce-to-consume hop); then the service's phases (see
    :func:`_phases`). With no service, the probe reads only the input: both are the
    hop with nothing else running, and there are no phases."""
    run = uuid.uuid4().hex[:8]
    topics = unique_topics(settings, "bench-latency")
    kafka = topics.kafka
    outputs = {None: kafka.transactions_topic, "scorer": kafka.scored_topic}
    output = outputs.get(service, output_topic(topics))
    ensure_topics(kafka, [*kafka.topics, output])
    expected = int(rate * (warmup_s + seconds))
    probe = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fraudstream.bench.probe",
            kafka.transactions_topic,
            output,
            str(expected),
            str(warmup_s),
        ],
        env=scorer_env(topics),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    process, port, phases = None, free_port(), {}
    if service is not None:
        process = start_scorer(settings, topics, run, module=_SERVICES[service], http_port=port)
    try:
        if probe.stdout is None or probe.stdout.readline().strip() != "ready":
            raise RuntimeError("the latency probe did not start")
        if process is not None:
            wait_ready(process, topics, run)
        report = replay(
            topics, path, ReplayOptions(pace=Pace("rate", rate), limit=expected, label_fraction=0.0)
        )
        encoded, _ = probe.communicate(timeout=PROBE_TIMEOUT_S)
        if process is not None:
            phases = _phases(port)
    finally:
        if probe.poll() is None:
            probe.kill()
            probe.wait()
        if process is not None:
            stop_scorer(process, settings, run, topics)
        else:
            delete_topics(settings.kafka, bench_topics(topics))
    results, inputs = (HdrHistogram.decode(line.encode()) for line in encoded.split())
    return report.rate, _latency_ms(results), _latency_ms(inputs), phases


def _phases(port: int) -> dict[str, dict[str, float]]:
    """p50/p99 (ms) and count of each phase a service on ``port`` timed since its
    start: the loop's phases, then the scorer step's as ``step.<phase>``."""
    status, text = http_get(f"http://127.0.0.1:{port}/metrics")
    if status != 200:
        raise RuntimeError(f"the service's /metrics answered {status}: {text[:200]}")
    phases = bucket_quantiles(text, "stream_phase_seconds", "phase")
    step = bucket_quantiles(text, "scorer_step_phase_seconds", "phase")
    return {**phases, **{f"step.{name}": figures for name, figures in step.items()}}


def _latency_ms(histogram: HdrHistogram) -> dict[str, float]:
    """p50 to p99.9, max (ms) and count of a histogram of microseconds."""
    figures = percentiles_ms(histogram, (50, 95, 99, 99.9))
    figures["count"] = float(histogram.get_total_count())
    return figures


def start_scorer(
    settings: Settings,
    topics: Settings,
    run: str,
    instance: str = "",
    module: Sequence[str] = ("fraudstream.cli", "score"),
    http_port: int = 0,
) -> subprocess.Popen[bytes]:
    """A ``fraudstream score`` process (or ``module``) on ``topics`` with its own group
    and keys, its metrics on ``http_port`` (0: any free port)."""
    env = {
        **scorer_env(bench_scorer_settings(topics, run, instance, http_port)),
        "FRAUDSTREAM_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", *module],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_ready(
    process: subprocess.Popen[bytes], topics: Settings, run: str, members: int = 1
) -> None:
    """Wait until the scorer's consumer group is stable with ``members`` members."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    admin = KafkaAdminClient(**kafka_client_kwargs(topics.kafka, "bench"))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                group = admin.describe_groups([f"bench-{run}"]).get(f"bench-{run}", {})
            except KafkaError as error:
                # a fresh broker has no coordinator until __consumer_offsets exists
                if not error.retriable:
                    raise
                group = {}
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
            done = committed_offsets(kafka, group, kafka.transactions_topic)
            samples.append((done, watcher.memory_info().rss / 2**20))
    finally:
        stop_scorer(process, settings, run, topics)
    return samples


def bench_topics(topics: Settings) -> list[str]:
    """Every topic a benchmark run made under ``topics``' names."""
    return [*topics.kafka.topics, output_topic(topics)]
