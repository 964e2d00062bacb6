"""``fraudstream bench learner``: the records are the ones a learner would read, in the
order it would read them, and the bench learns every label and prints its figures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import timedelta

import msgspec

from fraudstream.bench.learner import LABELS_TOPIC, SCORED_TOPIC, learner_records
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.schemas import ScoredTransaction, decode_label


def test_records_are_every_scored_transaction_and_its_label_a_delay_later() -> None:
    frame = simulate(SimulatorConfig(customers=50, terminals=100, days=3))
    delay = timedelta(days=1)

    records = learner_records(frame, delay)

    assert len(records) == 2 * len(frame)
    scored_at: dict[str, int] = {}
    for position, record in enumerate(records):
        if record.topic == SCORED_TOPIC:
            served = msgspec.json.decode(record.value, type=ScoredTransaction)
            scored_at[served.transaction_id] = position
            assert len(served.features) == 21
        else:
            assert record.topic == LABELS_TOPIC
            label = decode_label(record.value)
            assert scored_at[label.transaction_id] < position
    assert set(scored_at) == set(frame["transaction_id"])
    labels = [decode_label(r.value) for r in records if r.topic == LABELS_TOPIC]
    assert sum(label.is_fraud for label in labels) == int(frame["is_fraud"].sum())


def test_bench_learner_prints_its_figures(redis_url: str) -> None:
    exe = shutil.which("fraudstream")
    assert exe, "the fraudstream console script is not installed"
    env = {**os.environ, "REDIS_URL": redis_url, "REDIS_CLUSTER_NODES": ""}

    report = json.loads(
        subprocess.run(
            [exe, "bench", "learner", "--days", "3", "--repeats", "2", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        ).stdout
    )

    assert report["records"] == 2 * report["labels"] > 0
    assert len(report["learner_records_per_s"]) == 2
    assert min(report["learner_records_per_s"]) > 0
    assert 0 < report["ratio"] < 1  # learning costs more than decoding alone
    # both figures are rounded from the same unrounded rate, so they may part by one
    assert abs(report["transactions_per_s"] - report["learner_median"] / 2) <= 1
