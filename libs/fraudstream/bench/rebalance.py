"""``fraudstream bench rebalance``: one scorer of two restarted, with and without static
group membership, and how long its partitions go without a commit.

Each run has topics of 6 partitions, a consumer group and Redis keys of its own. Two
``fraudstream score`` processes share the group while a feeder sends transactions at a
steady rate to every partition. Once both hold partitions and commit, the second is
stopped (SIGTERM, or SIGKILL) and started again at once with the same
``SCORER_INSTANCE_ID``. Measured from the stop:

- ``stalled_s``: the longest any partition then went without a commit;
- ``back_s``: until the new process holds partitions and every partition committed
  since (both replicas at work again).

>>> timing = RestartTiming(static=True, stop="kill", stalled_s=4.0, back_s=5.0)
>>> RebalanceResult([timing]).median(True, "kill")
(4.0, 5.0)
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from fraudstream.bench.score import bench_scorer_settings, bench_topics
from fraudstream.config import Settings
from fraudstream.features.redis_store import delete_prefix
from fraudstream.harness.group import GroupInspector
from fraudstream.harness.kafka import unique_topics
from fraudstream.harness.scorer import scorer_env
from fraudstream.kafka.admin import delete_topics, ensure_topics
from fraudstream.kafka.producer import build_producer
from fraudstream.redis_client import build_redis
from fraudstream.schemas import Transaction, encode

Stop = Literal["sigterm", "kill"]
#: Every way a scorer is stopped, in the order they run.
STOPS: Final[tuple[Stop, ...]] = ("sigterm", "kill")

PARTITIONS: Final = 6
#: How often the group and its offsets are looked at.
_SAMPLE_S: Final = 0.2
#: Longest wait for the group to settle, or for a restart to be over.
_WAIT_S: Final = 120.0


@dataclass(frozen=True)
class RestartTiming:
    """One restart: static membership or not, how it was stopped, what it cost."""

    static: bool
    stop: Stop
    stalled_s: float
    back_s: float


@dataclass
class RebalanceResult:
    """Every restart measured."""

    runs: list[RestartTiming] = field(default_factory=list)

    def median(self, static: bool, stop: Stop) -> tuple[float, float]:
        """Median ``stalled_s`` and ``back_s`` of the runs of one kind."""
        runs = [r for r in self.runs if r.static == static and r.stop == stop]
        return (
            statistics.median(r.stalled_s for r in runs),
            statistics.median(r.back_s for r in runs),
        )


class Feeder:
    """Sends valid transactions round-robin over the partitions at a steady rate."""

    def __init__(self, settings: Settings, rate: float) -> None:
        self._settings = settings
        self._rate = rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feeder", daemon=True)

    def __enter__(self) -> Feeder:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        kafka = self._settings.kafka
        producer = build_producer(kafka)
        start, sent = time.monotonic(), 0
        try:
            while not self._stop.is_set():
                due = start + sent / self._rate
                if due > time.monotonic():
                    self._stop.wait(due - time.monotonic())
                    continue
                tx = Transaction(
                    transaction_id=f"tx-{uuid.uuid4().hex}",
                    event_time=datetime.now(UTC) - timedelta(seconds=1),
                    amount=10.0 + sent % 90,
                    card_id=f"card-{sent % 600}",
                    merchant_id=f"merchant-{sent % 50}",
                    features={},
                )
                producer.send(
                    kafka.transactions_topic, value=encode(tx), partition=sent % PARTITIONS
                )
                sent += 1
        finally:
            producer.close(timeout=10)


def bench_rebalance(
    settings: Settings,
    *,
    runs: int = 3,
    stops: Sequence[Stop] = STOPS,
    rate: float = 300.0,
    session_timeout: timedelta = timedelta(seconds=10),
) -> RebalanceResult:
    """Restart one scorer of two ``runs`` times per stop and membership, the replicas'
    ``SCORER_SESSION_TIMEOUT`` set to ``session_timeout``."""
    result = RebalanceResult()
    for stop in stops:
        for static in (False, True):
            for _ in range(runs):
                scorer = settings.scorer.model_copy(
                    update={"static_membership": static, "session_timeout": session_timeout}
                )
                replicas = settings.model_copy(update={"scorer": scorer})
                result.runs.append(_one_restart(replicas, stop, rate))
    return result


def _one_restart(settings: Settings, stop: Stop, rate: float) -> RestartTiming:
    run = uuid.uuid4().hex[:8]
    topics = unique_topics(settings, "bench-rebalance")
    kafka = topics.kafka.model_copy(update={"partitions": PARTITIONS})
    topics = topics.model_copy(update={"kafka": kafka})
    ensure_topics(kafka, kafka.topics)
    processes: list[subprocess.Popen[bytes]] = []
    group = GroupInspector(kafka, f"bench-{run}", kafka.transactions_topic)
    try:
        first, second = (bench_scorer_settings(topics, run, f"-{i}") for i in (1, 2))
        processes += [_start(first), _start(second)]
        with Feeder(topics, rate):
            _wait_settled(group, processes)
            before = {m.member_id for m in group.view().members}
            stopped_at = time.monotonic()
            processes[1].send_signal(signal.SIGTERM if stop == "sigterm" else signal.SIGKILL)
            processes[1].wait(60)
            processes[1] = _start(second)
            stalled_s, back_s = _watch_restart(group, before, stopped_at)
        return RestartTiming(settings.scorer.static_membership, stop, stalled_s, back_s)
    finally:
        for process in processes:
            _terminate(process)
        group.close()
        with build_redis(settings.redis) as client:
            delete_prefix(client, f"bench-{run}")
        delete_topics(settings.kafka, bench_topics(topics))


def _start(settings: Settings) -> subprocess.Popen[bytes]:
    env = {**scorer_env(settings), "FRAUDSTREAM_LOG_LEVEL": "WARNING"}
    return subprocess.Popen(
        [sys.executable, "-m", "fraudstream.cli", "score"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_settled(group: GroupInspector, processes: list[subprocess.Popen[bytes]]) -> None:
    """Until both replicas hold partitions and every partition committed since."""
    deadline = time.monotonic() + _WAIT_S
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise RuntimeError("a scorer exited while starting")
        view = group.view()
        if view.size == 2 and view.covers(PARTITIONS) and all(m.partitions for m in view.members):
            break
        time.sleep(_SAMPLE_S)
    else:
        raise RuntimeError(f"the group did not settle in {_WAIT_S:g} s: {group.view()}")
    _wait_all_commit(group, deadline)


def _wait_all_commit(group: GroupInspector, deadline: float) -> None:
    start = group.committed()
    while time.monotonic() < deadline:
        now = group.committed()
        if all(now.get(p, -1) > start.get(p, -1) for p in range(PARTITIONS)):
            return
        time.sleep(_SAMPLE_S)
    raise RuntimeError("not every partition committed in time")


def _watch_restart(
    group: GroupInspector, before: set[str], stopped_at: float
) -> tuple[float, float]:
    """``stalled_s`` and ``back_s`` of a restart begun at ``stopped_at``."""
    deadline = stopped_at + _WAIT_S
    last = group.committed()
    last_change = dict.fromkeys(range(PARTITIONS), stopped_at)
    stalled = 0.0
    joined_at: float | None = None
    at_join: dict[int, int] = {}
    while time.monotonic() < deadline:
        now, offsets = time.monotonic(), group.committed()
        for p in range(PARTITIONS):
            if offsets.get(p, -1) > last.get(p, -1):
                stalled = max(stalled, now - last_change[p])
                last_change[p] = now
        last = offsets
        if joined_at is None:
            view = group.view()
            new = [m for m in view.members if m.member_id not in before and m.partitions]
            if new and view.covers(PARTITIONS):
                joined_at, at_join = now, dict(offsets)
        elif all(offsets.get(p, -1) > at_join.get(p, -1) for p in range(PARTITIONS)):
            return stalled, now - stopped_at
        time.sleep(_SAMPLE_S)
    raise RuntimeError(f"the restarted scorer was not back at work in {_WAIT_S:g} s")
