"""``fraudstream topics`` against a real broker: creates what is missing, once."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

from kafka import KafkaAdminClient

from fraudstream.config import Settings

EXE = shutil.which("fraudstream")


def test_topics_creates_the_missing_topics_once(kafka_bootstrap: str) -> None:
    assert EXE, "the fraudstream console script is not installed (uv sync)"
    run = uuid.uuid4().hex[:10]
    names = {
        f"KAFKA_{kind}_TOPIC": f"test-{run}-{kind.lower()}"
        for kind in ("TRANSACTIONS", "LABELS", "ALERTS", "SCORED", "DLQ", "MODEL_EVENTS")
    }
    env = {
        **os.environ,
        **names,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_PARTITIONS": "2",
    }
    first = subprocess.run(
        [EXE, "topics"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert first.returncode == 0, first.stderr
    expected = Settings.load(**names).kafka.topics
    assert first.stdout.strip() == f"created: {', '.join(expected)}; already there: -"

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        described = admin.describe_topics(expected)
    finally:
        admin.close()
    assert sorted(t["name"] for t in described) == sorted(expected)
    assert {len(t["partitions"]) for t in described} == {2}

    again = subprocess.run(
        [EXE, "topics"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"created: -; already there: {', '.join(expected)}"
