"""Redis and the Kafka broker restarted under a running scorer: it pauses (not ready,
nothing committed), resumes when they are back, and loses or repeats nothing (the
at-least-once delivery may repeat what the batch the broker restart interrupted sent).

Each test restarts a dependency of its own (a private Redis; a private broker started
by infra/local/services.sh), so the services other tests share are never touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka.errors import KafkaError

from fraudstream.config import Settings
from fraudstream.harness.faults import ReplayThread, read_outputs, sent_ids, tally
from fraudstream.harness.scorer import (
    RedisServer,
    ScorerProcess,
    committed_offsets,
    create_topics,
    free_port,
    http_get,
    metric_values,
    scorer_settings,
    wait_until,
)
from fraudstream.replay.plan import Pace, ReplayOptions

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 20_000
RATE = 1_000.0


def _committed(settings: Settings) -> Callable[[], int]:
    """The group's committed offsets now; -1 while the broker cannot say (restarting)."""
    kafka = settings.kafka

    def committed() -> int:
        try:
            return committed_offsets(
                kafka.servers, settings.scorer.group_id, kafka.transactions_topic
            )
        except KafkaError:
            return -1

    return committed


def _start_streaming(
    settings: Settings,
    path: Path,
    scorer_processes: Callable[[Settings], ScorerProcess],
    committed: Callable[[], int],
) -> tuple[ScorerProcess, ReplayThread]:
    """A ready scorer, and a replay running at RATE until it committed some batches."""
    create_topics(settings)
    scorer = scorer_processes(settings)
    assert wait_until(lambda: _healthz(settings) == 200, 90, check=scorer.check)
    feed = ReplayThread(
        settings, path, ReplayOptions(pace=Pace("rate", RATE), limit=TOTAL, label_fraction=0.0)
    )
    assert wait_until(lambda: committed() >= 2_000, 90, interval_s=0.5, check=scorer.check)
    return scorer, feed


def _healthz(settings: Settings) -> int:
    return http_get(f"http://127.0.0.1:{settings.scorer.http_port}/healthz")[0]


def _retries(settings: Settings) -> dict[str, float]:
    _, text = http_get(f"http://127.0.0.1:{settings.scorer.http_port}/metrics")
    return {
        dict(labels)["cause"]: value
        for labels, value in metric_values(text, "stream_batch_retries_total").items()
    }


@pytest.mark.timeout(240)
def test_a_redis_restart_mid_stream_pauses_the_scorer_and_loses_nothing(
    kafka_bootstrap: str,
    simulated: Path,
    tmp_path: Path,
    scorer_processes: Callable[[Settings], ScorerProcess],
) -> None:
    with RedisServer(data_dir=tmp_path) as redis_server:
        settings = scorer_settings(
            kafka_bootstrap, redis_server.url, "redis-restart", REDIS_SOCKET_TIMEOUT_S="1"
        )
        committed = _committed(settings)
        scorer, feed = _start_streaming(settings, simulated, scorer_processes, committed)

        redis_server.stop()
        assert wait_until(lambda: _healthz(settings) == 503, 20, check=scorer.check)
        paused_at, mid_stream = committed(), feed.running
        time.sleep(4)
        assert committed() == paused_at, "committed while Redis was down"
        assert _healthz(settings) == 503
        retries = _retries(settings)
        redis_server.start()
        assert wait_until(lambda: _healthz(settings) == 200, 30, check=scorer.check)

        assert feed.join(120).transactions_sent == TOTAL
        assert wait_until(lambda: committed() >= TOTAL, 120, interval_s=0.5, check=scorer.check)
        scorer.send_signal(signal.SIGTERM)
        assert scorer.wait(30) == 0, scorer.log_tail()

    counts = tally(sent_ids(settings), read_outputs(settings))
    print(
        counts.line("Redis restarted mid-stream")
        + f"; paused at {paused_at:,} committed (replay still sending: {mid_stream})"
        + f", batches retried while down: {retries.get('dependency', 0):.0f}"
    )
    assert mid_stream
    assert retries.get("dependency", 0) >= 1
    assert (counts.scored, counts.duplicates, counts.lost, counts.dlq) == (TOTAL, 0, 0, 0)
    assert (counts.alert_duplicates, counts.alerts_mismatched) == (0, 0)


# -- the Kafka broker ------------------------------------------------------------------


class LocalBroker:
    """A Kafka broker of its own, run by infra/local/services.sh in a private state folder."""

    def __init__(self, state_dir: Path) -> None:
        self.port = free_port()
        self._env = {
            **os.environ,
            "FRAUDSTREAM_STATE_DIR": str(state_dir),
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(free_port()),
            "KAFKA_SASL_PORT": "off",  # plaintext only: this broker is restarted at will
        }

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def run(self, command: str) -> float:
        """``services.sh COMMAND kafka``; return how long it took."""
        started = time.monotonic()
        subprocess.run(
            ["bash", str(ROOT / "infra/local/services.sh"), command, "kafka"],
            env=self._env,
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=180,
        )
        return time.monotonic() - started


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalBroker]:
    broker = LocalBroker(tmp_path / "services")
    broker.run("up")
    try:
        yield broker
    finally:
        broker.run("down")


@pytest.mark.parametrize("delivery", ["exactly-once", "at-least-once"])
@pytest.mark.timeout(300)
def test_a_kafka_broker_restart_mid_stream_loses_nothing(
    broker: LocalBroker,
    redis_url: str,
    simulated: Path,
    scorer_processes: Callable[[Settings], ScorerProcess],
    delivery: str,
) -> None:
    """At-least-once, what a batch the restart interrupted had sent may come again."""
    settings = scorer_settings(
        broker.bootstrap, redis_url, "kafka-restart", SCORER_DELIVERY=delivery
    )
    committed = _committed(settings)
    scorer, feed = _start_streaming(settings, simulated, scorer_processes, committed)
    at_restart = committed()
    restart_s = broker.run("restart")
    not_ready = _healthz(settings)  # the scorer may have reconnected already

    report = feed.join(180)
    assert wait_until(lambda: committed() >= TOTAL, 180, interval_s=0.5, check=scorer.check), (
        scorer.log_tail()
    )
    assert wait_until(lambda: _healthz(settings) == 200, 30, check=scorer.check)
    retries = _retries(settings)
    scorer.send_signal(signal.SIGTERM)
    assert scorer.wait(30) == 0, scorer.log_tail()

    sent = sent_ids(settings)
    counts = tally(sent, read_outputs(settings))
    print(
        counts.line(f"Kafka broker restarted mid-stream, {delivery}")
        + f"; {at_restart:,} committed at the restart, restart took {restart_s:.0f} s, "
        f"/healthz right after {not_ready}, batches retried {retries.get('kafka', 0):.0f}, "
        f"replay delivered {report.delivered:,} failed {report.failed}"
    )
    assert at_restart < TOTAL
    assert (report.transactions_sent, report.failed) == (TOTAL, 0)
    assert len(sent) == len(set(sent)) == TOTAL
    assert counts.alerts_mismatched == 0
    if delivery == "at-least-once":
        assert (counts.lost, counts.dlq) == (0, 0)
        assert counts.scored == TOTAL + counts.duplicates
    else:
        assert (counts.scored, counts.duplicates, counts.lost, counts.dlq) == (TOTAL, 0, 0, 0)
        assert counts.alert_duplicates == 0
