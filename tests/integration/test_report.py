"""fraudstream report from the real topics of a scored replay, and from an archive of
them; fraudstream drift reference stores what a running scorer compares with."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import orjson
import pandas as pd
import pytest

from fraudstream.config import Settings
from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.features.definitions import FEATURE_NAMES
from fraudstream.harness.kafka import read_topic
from fraudstream.harness.scorer import ScorerThread, TopicWatcher, scorer_env
from fraudstream.monitoring.drift import load_reference
from fraudstream.redis_client import build_redis
from fraudstream.replay.plan import Pace, ReplayOptions
from fraudstream.replay.service import replay


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings("report")


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("fraudstream")
    assert exe is not None
    return subprocess.run(
        [exe, *args],
        env=scorer_env(settings),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _summary_value(page: str, row: str) -> str:
    match = re.search(rf"<td>{re.escape(row)}</td><td class=\"num\">([^<]+)</td>", page)
    assert match is not None, row
    return match.group(1)


@pytest.mark.timeout(300)
def test_report_from_kafka_and_from_an_archive_of_the_same_run(
    settings: Settings, tmp_path: Path
) -> None:
    frame = simulate(SimulatorConfig(customers=300, terminals=600, days=3, seed=9))
    data = tmp_path / "sim.parquet"
    write_parquet_atomic(frame, data)
    sent = replay(settings, data, ReplayOptions(pace=Pace("max"), label_delay=timedelta(hours=6)))
    assert sent.failed == 0
    with (
        ScorerThread(settings) as scorer,
        TopicWatcher(settings.kafka.servers, settings.kafka.scored_topic) as watch,
    ):
        assert watch.wait_for(len(frame), 120, check=scorer.check) == len(frame)

    result = _cli(settings, "report", "--out", str(tmp_path / "kafka.html"), "--title", "run")
    assert result.returncode == 0, result.stderr[-2000:]
    page = (tmp_path / "kafka.html").read_text()
    assert _summary_value(page, "transactions scored") == f"{len(frame):,}"
    frauds = int(frame["is_fraud"].sum())
    assert _summary_value(page, "labelled transactions (fraud rate)").startswith(
        f"{len(frame):,} ("
    )
    assert frauds > 0
    assert page.count("data:image/png;base64,") >= 4

    # the same run as an archive: scored/ and labels/ date-partitioned, features flattened
    scored = pd.DataFrame(
        [
            {**{f"features.{k}": v for k, v in rec.pop("features").items()}, **rec}
            for rec in (
                orjson.loads(r.value)
                for r in read_topic(settings.kafka.servers, settings.kafka.scored_topic)
            )
        ]
    )
    labels = pd.DataFrame(
        [
            orjson.loads(r.value)
            for r in read_topic(settings.kafka.servers, settings.kafka.labels_topic)
        ]
    )
    for name, part in (("scored", scored), ("labels", labels)):
        folder = tmp_path / "archive" / name / "date=2024-04-01"
        folder.mkdir(parents=True)
        part.to_parquet(folder / "part-0.parquet")
    result = _cli(
        settings,
        "report",
        "--archive",
        str(tmp_path / "archive"),
        "--start",
        "2024-04-02",
        "--out",
        str(tmp_path / "archive.html"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    page = (tmp_path / "archive.html").read_text()
    later = int((frame["event_time"] >= pd.Timestamp("2024-04-02", tz="UTC")).sum())
    assert _summary_value(page, "transactions scored") == f"{later:,}"

    missing = _cli(settings, "report", "--archive", str(tmp_path / "nowhere"))
    assert missing.returncode == 65
    assert "scored" in missing.stderr


@pytest.mark.timeout(180)
def test_drift_reference_from_served_rows_is_stored_for_the_scorer(
    settings: Settings, tmp_path: Path
) -> None:
    rows = pd.DataFrame({name: [float(i % 7) for i in range(400)] for name in FEATURE_NAMES})
    rows["amount"] = [float(i) for i in range(400)]
    rows["score"] = [i / 400 for i in range(400)]
    rows["is_fraud"] = 0
    path = tmp_path / "served.parquet"
    rows.to_parquet(path)
    result = _cli(
        settings, "drift", "reference", "--from", str(path), "--out", str(tmp_path / "r.json")
    )
    assert result.returncode == 0, result.stderr[-2000:]
    with build_redis(settings.redis) as client:
        stored = load_reference(client, settings.features.key_prefix)
    assert stored is not None
    assert set(stored) == {*FEATURE_NAMES, "amount", "score"}
    assert len(stored["amount"].fractions) == 10
    assert (tmp_path / "r.json").exists()

    bad = _cli(settings, "drift", "reference", "--from", str(tmp_path / "missing.parquet"))
    assert bad.returncode == 65
    assert "not found" in bad.stderr
