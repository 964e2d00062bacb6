"""Scorer replicas sharing one consumer group on a 6-partition topic.

Rebalances mid-stream (a replica joins, one leaves with SIGTERM, one is killed with
-9) and a replica stalled past its session (SIGSTOP, then SIGCONT) while the group
moved on: every transaction scored once, every alert once (read_committed). And
``fraudstream bench rebalance``, which measures what static membership saves.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fraudstream.config import Settings
from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.harness.faults import ReplayThread, Tally, read_outputs, sent_ids, tally
from fraudstream.harness.group import GroupInspector
from fraudstream.harness.scorer import (
    ScorerProcess,
    http_get,
    metric_values,
    replica,
    wait_until,
)
from fraudstream.replay.plan import Pace, ReplayOptions

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 6
#: Short enough that a dead member's partitions move on quickly.
SESSION_S = 6
#: A stalled replica's open batch is aborted by the broker this long after it began.
TRANSACTION_TIMEOUT_S = 10
#: Committed transactions each phase waits for before the next change.
PROGRESS = 1_500
#: Generous: three scorer processes and a replay share two busy cores.
SETTLE_S = 120.0
#: What a replica the group dropped logs when it finds out (docs/scoring.md#scaling).
STALL_LINES = ("partitions lost", "producer fenced", "group membership lost")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten simulated days (~19,000 transactions, ~2% fraud); replays loop over them."""
    path = tmp_path_factory.mktemp("scaling") / "simulated.parquet"
    write_parquet_atomic(
        simulate(SimulatorConfig(customers=1_000, terminals=2_000, days=10, seed=5)), path
    )
    return path


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """Own topics of 6 partitions, a short session and transaction timeout."""
    return make_settings(
        "scaling",
        KAFKA_PARTITIONS=str(PARTITIONS),
        SCORER_SESSION_TIMEOUT=f"{SESSION_S}s",
        SCORER_TRANSACTION_TIMEOUT=f"{TRANSACTION_TIMEOUT_S}s",
        SCORER_FOLLOW_REGISTRY="false",
    )


@pytest.fixture
def group(settings: Settings) -> Iterator[GroupInspector]:
    """The scorers' consumer group, seen from outside."""
    with GroupInspector(
        settings.kafka, settings.scorer.group_id, settings.kafka.transactions_topic
    ) as inspector:
        yield inspector


class Replicas:
    """Scorer processes of one group, each with its own instance id and port."""

    def __init__(self, settings: Settings, start: Callable[[Settings], ScorerProcess]) -> None:
        self._settings = settings
        self._start = start
        self.running: dict[str, ScorerProcess] = {}

    def add(self, name: str) -> ScorerProcess:
        process = self._start(replica(self._settings, name))
        self.running[name] = process
        return process

    def remove(self, name: str) -> ScorerProcess:
        return self.running.pop(name)

    def check(self) -> None:
        """Raise if a replica that should run has exited."""
        for process in self.running.values():
            process.check()


def stream(settings: Settings, path: Path, total: int) -> ReplayThread:
    """Replay ``total`` transactions at 800 a second, in the background."""
    options = ReplayOptions(pace=Pace("rate", 800.0), limit=total, loop=True, label_fraction=0.0)
    return ReplayThread(settings, path, options)


def committed_batches(process: ScorerProcess) -> float:
    """The replica's ``stream_transactions_committed_total`` (0 before it answers)."""
    scorer = process.settings.scorer
    status, text = http_get(f"http://{scorer.http_host}:{scorer.http_port}/metrics")
    return sum(metric_values(text, "stream_transactions_committed_total").values()) if status else 0


def wait_for_members(group: GroupInspector, members: int, replicas: Replicas) -> None:
    """Until the group is stable with ``members`` members holding all partitions."""

    def settled() -> bool:
        view = group.view()
        return view.size == members and view.covers(PARTITIONS)

    assert wait_until(settled, SETTLE_S, interval_s=0.5, check=replicas.check), (
        f"group not settled at {members} members: {group.view()}"
    )


def wait_committed(group: GroupInspector, replicas: Replicas, target: int) -> None:
    """Until the group committed ``target`` transactions in all."""
    assert wait_until(
        lambda: sum(group.committed().values()) >= target,
        SETTLE_S,
        interval_s=0.5,
        check=replicas.check,
    ), f"committed {sum(group.committed().values())} < {target}"


def wait_for_progress(group: GroupInspector, replicas: Replicas, total: int) -> None:
    """Until PROGRESS more transactions are committed (or all ``total`` are)."""
    wait_committed(group, replicas, min(sum(group.committed().values()) + PROGRESS, total))


def finish(
    settings: Settings,
    group: GroupInspector,
    feed: ReplayThread,
    replicas: Replicas,
    total: int,
) -> Tally:
    """Wait for the replay and for every transaction to be committed, stop the
    replicas left with SIGTERM, and count what came out."""
    report = feed.join(SETTLE_S)
    assert (report.transactions_sent, report.failed) == (total, 0)
    wait_committed(group, replicas, total)
    for name in list(replicas.running):
        process = replicas.remove(name)
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, process.log_tail()
    sent = sent_ids(settings)
    assert len(sent) == len(set(sent)) == total
    return tally(sent, read_outputs(settings))


def assert_exactly_once(counts: Tally, total: int) -> None:
    assert (counts.scored, counts.duplicates, counts.lost, counts.dlq) == (total, 0, 0, 0)
    assert counts.alerts > 0
    assert (counts.alert_duplicates, counts.alerts_mismatched) == (0, 0)


@pytest.mark.timeout(420)
def test_replicas_join_leave_and_die_mid_stream_without_loss_or_repeat(
    settings: Settings,
    simulated: Path,
    group: GroupInspector,
    scorer_processes: Callable[[Settings], ScorerProcess],
) -> None:
    total, started = 48_000, time.monotonic()
    replicas = Replicas(settings, scorer_processes)
    replicas.add("a")
    replicas.add("b")
    wait_for_members(group, 2, replicas)
    feed = stream(settings, simulated, total)  # about 60 s of it
    wait_for_progress(group, replicas, total)
    events: list[str] = []

    def event(name: str) -> None:
        committed = sum(group.committed().values())
        done = "" if feed.running else " (replay done)"
        events.append(f"{name} at {committed:,} committed{done}")

    event("c joins")
    replicas.add("c")
    wait_for_members(group, 3, replicas)
    wait_for_progress(group, replicas, total)

    event("a leaves (SIGTERM)")
    leaving = replicas.remove("a")
    leaving.send_signal(signal.SIGTERM)
    assert leaving.wait(60) == 0, leaving.log_tail()
    wait_for_members(group, 2, replicas)
    wait_for_progress(group, replicas, total)

    event("b killed (-9)")
    killed = replicas.remove("b")
    killed.send_signal(signal.SIGKILL)
    assert killed.wait(30) == -signal.SIGKILL
    wait_for_members(group, 1, replicas)  # after b's session timed out

    counts = finish(settings, group, feed, replicas, total)
    print(counts.line("3 replicas, join / SIGTERM / kill -9"))
    print("; ".join(events) + f"; {time.monotonic() - started:.0f} s in all")
    assert "replay done" not in events[0], "the first rebalance came after the replay"
    assert_exactly_once(counts, total)


@pytest.mark.timeout(420)
def test_a_replica_stalled_past_its_session_cannot_commit_and_rejoins(
    settings: Settings,
    simulated: Path,
    group: GroupInspector,
    scorer_processes: Callable[[Settings], ScorerProcess],
) -> None:
    total = 48_000
    replicas = Replicas(settings, scorer_processes)
    stalled = replicas.add("a")
    replicas.add("b")
    wait_for_members(group, 2, replicas)
    feed = stream(settings, simulated, total)  # about 60 s of it
    wait_for_progress(group, replicas, total)
    assert wait_until(lambda: committed_batches(stalled) > 0, SETTLE_S, check=replicas.check)

    stalled.send_signal(signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        # b alone holds every partition once a's session has run out, and works on
        wait_for_members(group, 1, replicas)
        wait_for_progress(group, replicas, total)
        # and a's open batch, if it had one, is aborted by the broker by now
        time.sleep(max(stopped_at + TRANSACTION_TIMEOUT_S + 2 - time.monotonic(), 0))
        before = committed_batches(replicas.running["b"])
    finally:
        stalled.send_signal(signal.SIGCONT)
    stalled_s = time.monotonic() - stopped_at

    # a finds its membership (and its producer, if it was mid-batch) gone, and rejoins
    wait_for_members(group, 2, replicas)
    resumed = committed_batches(stalled)
    assert feed.running, "the replay ended before the stalled replica was back"
    assert wait_until(
        lambda: committed_batches(stalled) > resumed, SETTLE_S, check=replicas.check
    ), stalled.log_tail()
    counts = finish(settings, group, feed, replicas, total)
    log = stalled.log_path.read_text(errors="replace")
    said = [line for line in STALL_LINES if line in log]
    print(counts.line(f"replica stalled {stalled_s:.0f} s"))
    print(f"b committed {before:.0f} batches meanwhile; the stalled replica logged {said}")
    assert said, f"the stalled replica said nothing of its stall:\n{stalled.log_tail()}"
    assert_exactly_once(counts, total)


@pytest.mark.timeout(420)
def test_bench_rebalance_measures_a_killed_replica_with_and_without_static_membership(
    tmp_path: Path,
) -> None:
    """``fraudstream bench rebalance`` end to end, one run of each membership."""
    exe = shutil.which("fraudstream")
    assert exe, "the fraudstream console script is not installed (uv sync)"
    report = tmp_path / "rebalance.json"
    args = ["bench", "rebalance", "--runs", "1", "--stop", "kill", "--session-timeout", "6"]
    done = subprocess.run(
        [exe, *args, "--out", str(report)],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "partitions stalled" in done.stdout
    runs = json.loads(report.read_text())["runs"]
    assert sorted((r["static"], r["stop"]) for r in runs) == [(False, "kill"), (True, "kill")]
    for run in runs:
        # a partition of the killed replica waits at least for a process to start
        assert 0 < run["stalled_s"] <= run["back_s"] + 1, run
