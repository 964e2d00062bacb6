"""fraudstream replay against a real Kafka broker."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest

from fraudstream.config import Settings
from fraudstream.datasets import load_dataset
from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.harness.kafka import read_topic, unique_topics
from fraudstream.harness.scorer import wait_until
from fraudstream.replay.plan import Pace, ReplayOptions
from fraudstream.replay.service import replay
from fraudstream.schemas import decode_label, decode_transaction
from fraudstream.testing.files import sparkov_rows, ulb_rows, write_sparkov_csv, write_ulb_csv


@pytest.fixture
def settings(kafka_bootstrap: str) -> Settings:
    return unique_topics(Settings.load(KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap), "replay")


def _cli(settings: Settings, *args: str) -> list[str]:
    exe = shutil.which("fraudstream")
    assert exe, "the fraudstream console script is not installed"
    return [exe, "replay", *args]


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "KAFKA_TRANSACTIONS_TOPIC": settings.kafka.transactions_topic,
        "KAFKA_LABELS_TOPIC": settings.kafka.labels_topic,
    }


def test_every_row_arrives_once_keyed_and_in_order_per_card(
    settings: Settings, tmp_path: Path
) -> None:
    path = write_sparkov_csv(tmp_path / "fraudTrain.csv", sparkov_rows(600, cards=7))
    report = replay(settings, path, ReplayOptions(pace=Pace("max"), label_delay=timedelta(hours=1)))
    expected = [tx for tx, _ in load_dataset(path).events()]
    assert (report.transactions_sent, report.labels_sent, report.failed) == (600, 600, 0)
    assert report.delivered == 1200

    records = read_topic(settings.kafka.servers, settings.kafka.transactions_topic)
    txs = [decode_transaction(r.value) for r in records]
    print(f"sent 600, received {len(txs)}, distinct {len({t.transaction_id for t in txs})}")
    assert sorted(t.transaction_id for t in txs) == sorted(t.transaction_id for t in expected)
    partitions: dict[str, set[int]] = defaultdict(set)
    by_partition: dict[int, list[float]] = defaultdict(list)
    for record, tx in zip(records, txs, strict=True):
        assert record.key == (tx.card_id or "").encode()
        partitions[tx.card_id or ""].add(record.partition)
        by_partition[record.partition].append(tx.event_time.timestamp())
    assert all(len(p) == 1 for p in partitions.values())
    assert len(partitions) == 7
    for times in by_partition.values():  # records of a partition are in offset order
        assert times == sorted(times)

    labels = [
        decode_label(r.value)
        for r in read_topic(settings.kafka.servers, settings.kafka.labels_topic)
    ]
    assert len(labels) == 600
    by_id = {t.transaction_id: t for t in expected}
    for label in labels:
        assert label.labelled_at - by_id[label.transaction_id].event_time == timedelta(hours=1)


def test_label_delay_is_respected_in_wall_time(settings: Settings, tmp_path: Path) -> None:
    rows = ulb_rows(200, seed=4)
    for i, row in enumerate(rows):  # 200 transactions over 40 s of event time
        row[0] = str(i * 0.2)
    path = write_ulb_csv(tmp_path / "creditcard.csv", rows)
    options = ReplayOptions(pace=Pace("speed", 20.0), label_delay=timedelta(seconds=30))
    report = replay(settings, path, options)
    assert report.failed == 0
    sent_at = {
        decode_transaction(r.value).transaction_id: r.timestamp_ms
        for r in read_topic(settings.kafka.servers, settings.kafka.transactions_topic)
    }
    gaps = [
        r.timestamp_ms - sent_at[decode_label(r.value).transaction_id]
        for r in read_topic(settings.kafka.servers, settings.kafka.labels_topic)
    ]
    print(f"label gaps ms: min {min(gaps)}, max {max(gaps)} (expected 1500)")
    assert len(gaps) == 200
    # 30 s of event time at speed 20; a transaction sent behind schedule shortens its
    # gap by as much (a label is never sent before it is due)
    assert min(gaps) >= 1500 - 1000 * report.max_lag_s - 20
    assert max(gaps) <= 1500 + 250
    assert 3.0 < report.duration_s < 4.0  # 40 s + 30 s of event time / 20, plus a flush


@pytest.mark.slow
def test_rate_is_held_within_5_percent_over_10_seconds(settings: Settings, tmp_path: Path) -> None:
    frame = simulate(SimulatorConfig(customers=2_000, terminals=4_000, days=7, seed=3))
    assert len(frame) > 20_000
    path = tmp_path / "sim.parquet"
    write_parquet_atomic(frame, path)
    options = ReplayOptions(pace=Pace("rate", 2_000.0), limit=20_000, label_fraction=0.0)
    report = replay(settings, path, options)
    stamps = sorted(
        r.timestamp_ms
        for r in read_topic(settings.kafka.servers, settings.kafka.transactions_topic)
    )
    span_s = (stamps[-1] - stamps[0]) / 1000
    achieved = (len(stamps) - 1) / span_s
    per_second = [
        sum(1 for s in stamps if stamps[0] + k * 1000 <= s < stamps[0] + (k + 1) * 1000)
        for k in range(9)
    ]
    print(
        f"sent {report.transactions_sent}, span {span_s:.3f} s, rate {achieved:.0f}/s, "
        f"per second {per_second}, max lag {report.max_lag_s:.3f} s"
    )
    assert len(stamps) == 20_000
    assert abs(achieved - 2_000) / 2_000 < 0.05
    assert all(abs(n - 2_000) / 2_000 < 0.05 for n in per_second)


def test_sigterm_flushes_and_reports(settings: Settings, tmp_path: Path) -> None:
    frame = simulate(SimulatorConfig(customers=500, terminals=1_000, days=5, seed=1))
    path = tmp_path / "sim.parquet"
    write_parquet_atomic(frame, path)
    process = subprocess.Popen(
        _cli(settings, str(path), "--rate", "500", "--label-delay", "0", "--report", "json"),
        env=_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def mid_run() -> bool:  # a good part sent, most still to come (start-up may be slow)
        sent = read_topic(settings.kafka.servers, settings.kafka.transactions_topic, timeout_s=1)
        return len(sent) >= 1_000

    def running() -> None:
        if process.poll() is not None:
            raise AssertionError(f"replay ended before the SIGTERM: {process.communicate()}")

    assert wait_until(mid_run, 60, interval_s=0.5, check=running)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    report = json.loads(out)
    txs = read_topic(settings.kafka.servers, settings.kafka.transactions_topic)
    labels = read_topic(settings.kafka.servers, settings.kafka.labels_topic)
    print(
        f"planned {report['planned']}, sent {report['sent']}, delivered {report['delivered']}, "
        f"in Kafka {len(txs) + len(labels)}"
    )
    assert report["interrupted"] == "SIGTERM"
    assert 0 < report["transactions_sent"] < len(frame)
    assert report["failed"] == 0
    assert report["delivered"] == report["sent"]
    assert len(txs) == report["transactions_sent"]
    assert len(labels) == report["labels_sent"]


def test_bad_rows_are_skipped_and_counted_and_strict_fails(
    settings: Settings, tmp_path: Path
) -> None:
    rows = ulb_rows(50)
    rows[3][29] = "NaN"  # amount
    rows[10][0] = "yesterday"  # time
    rows[20][5] = ""  # a feature
    path = write_ulb_csv(tmp_path / "creditcard.csv", rows)
    result = subprocess.run(
        _cli(settings, str(path), "--max", "--report", "json"),
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["bad_rows"] == 3
    assert report["first_bad_rows"] == [
        "line 5, column 'Amount': not a finite number: 'NaN'",
        "line 12, column 'Time': not a finite number: 'yesterday'",
        "line 22, column 'V5': missing value",
    ]
    assert report["transactions_sent"] == 47
    assert len(read_topic(settings.kafka.servers, settings.kafka.transactions_topic)) == 47

    strict_settings = unique_topics(settings, "strict")
    strict = subprocess.run(
        _cli(strict_settings, str(path), "--max", "--strict"),
        env=_env(strict_settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert strict.returncode == 65
    assert "line 5, column 'Amount'" in strict.stderr
    assert (
        read_topic(
            strict_settings.kafka.servers, strict_settings.kafka.transactions_topic, timeout_s=2
        )
        == []
    )
