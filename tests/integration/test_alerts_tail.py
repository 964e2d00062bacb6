"""``fraudstream alerts tail`` against a real broker: committed alerts only, as JSON
lines; ``--group`` goes on where it stopped, ``--from`` starts at a time, ``--follow``
prints alerts as they are published until SIGTERM."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from fraudstream.config import Settings
from fraudstream.console.tail import tail_alerts
from fraudstream.harness.scorer import scorer_env
from fraudstream.kafka.producer import build_producer
from fraudstream.processes import stop_process
from fraudstream.schemas import Alert, alert_id_for

START = datetime(2024, 4, 1, 12, 0, tzinfo=UTC)


def _alert(tx: str) -> Alert:
    return Alert(
        alert_id=alert_id_for(tx),
        transaction_id=tx,
        card_id=f"card-{tx}",
        merchant_id="merchant-1",
        amount=1234.5,
        score=0.97,
        threshold=0.5,
        model_version="cold-start-1",
        reasons=["amount"],
        event_time=START,
        scored_at=START,
    )


def _publish(
    settings: Settings, txs: list[str], *, abort: bool = False, at_ms: int | None = None
) -> None:
    """The alerts of ``txs`` in one Kafka transaction, committed or aborted."""
    producer = build_producer(settings.kafka, transactional_id=f"test-tail-{uuid.uuid4().hex}")
    try:
        producer.init_transactions()
        producer.begin_transaction()
        for tx in txs:
            value = msgspec.json.encode(_alert(tx))
            producer.send(
                settings.kafka.alerts_topic, value=value, key=tx.encode(), timestamp_ms=at_ms
            )
        producer.flush()
        if abort:
            producer.abort_transaction()
        else:
            producer.commit_transaction()
    finally:
        producer.close(timeout=10)


def _tail(settings: Settings, **options: object) -> list[dict[str, Any]]:
    lines: list[str] = []
    tail_alerts(settings.kafka, lines.append, **options)  # type: ignore[arg-type]
    return [json.loads(line) for line in lines]


def test_only_committed_alerts_are_printed_as_json_lines(settings: Settings) -> None:
    _publish(settings, ["a", "b"])
    _publish(settings, ["aborted"], abort=True)
    _publish(settings, ["c"])
    printed = _tail(settings)
    assert sorted(a["transaction_id"] for a in printed) == ["a", "b", "c"]
    assert msgspec.convert(printed[0], Alert) == _alert(str(printed[0]["transaction_id"]))


def test_a_group_goes_on_where_it_stopped(settings: Settings) -> None:
    group = f"test-tail-{uuid.uuid4().hex[:8]}"
    _publish(settings, ["a", "b"])
    assert sorted(a["transaction_id"] for a in _tail(settings, group=group)) == ["a", "b"]
    _publish(settings, ["c"])
    assert [a["transaction_id"] for a in _tail(settings, group=group)] == ["c"]
    assert _tail(settings, group=group) == []
    assert len(_tail(settings)) == 3  # without the group: from the beginning


def test_from_starts_at_the_first_alert_published_at_or_after_a_time(settings: Settings) -> None:
    now = datetime.now(UTC)
    old = int((now - timedelta(hours=2)).timestamp() * 1000)
    _publish(settings, ["old-1", "old-2"], at_ms=old)
    _publish(settings, ["new"], at_ms=int(now.timestamp() * 1000))
    since = now - timedelta(hours=1)
    assert [a["transaction_id"] for a in _tail(settings, since=since)] == ["new"]


def test_follow_prints_new_alerts_until_stopped(settings: Settings) -> None:
    lines: list[str] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=tail_alerts,
        args=(settings.kafka, lines.append),
        kwargs={"follow": True, "stop": stop},
    )
    thread.start()
    try:
        time.sleep(1.0)
        _publish(settings, ["live"])
        deadline = time.monotonic() + 20
        while not lines and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [json.loads(line)["transaction_id"] for line in lines] == ["live"]
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive()


@pytest.mark.timeout(60)
def test_the_command_prints_json_lines_and_stops_on_sigterm(settings: Settings) -> None:
    exe = shutil.which("fraudstream")
    assert exe is not None
    env = scorer_env(settings)
    _publish(settings, ["first"])
    done = subprocess.run(
        [exe, "alerts", "tail"], env=env, capture_output=True, timeout=40, check=True
    )
    assert [json.loads(line)["alert_id"] for line in done.stdout.splitlines()] == ["alert:first"]

    with subprocess.Popen(  # leaving the block closes its stdout
        [exe, "alerts", "tail", "--follow", "--from", "1m"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as follow:
        try:
            assert follow.stdout is not None
            _publish(settings, ["second"])
            line = follow.stdout.readline()
            assert json.loads(line)["transaction_id"] in {"first", "second"}
            follow.send_signal(signal.SIGTERM)
            assert follow.wait(20) == 0
        finally:
            stop_process(follow, 10.0)
