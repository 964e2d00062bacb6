"""fraudstream learn with the real scorer, Kafka and Redis: learns every label once,
publishes snapshots the scorer picks up, and resumes after a kill without learning
anything twice."""

from __future__ import annotations

import math
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from mlflow.tracking import MlflowClient

from fraudstream.config import RedisSettings, Settings
from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.errors import ConfigError
from fraudstream.harness.scorer import (
    ScorerThread,
    TopicWatcher,
    free_port,
    http_get,
    learner_env,
    wait_until,
)
from fraudstream.learning.join import LabelJoin
from fraudstream.learning.learner import LearnerState, StateStore, quality
from fraudstream.learning.models import MODEL_CHOICES
from fraudstream.learning.service import run_learner
from fraudstream.learning.tracking import TrackingUnavailableError, log_snapshot
from fraudstream.models.online import RefitBooster
from fraudstream.models.snapshots import SnapshotStore
from fraudstream.redis_client import build_any_redis, build_redis, build_redis_cluster
from fraudstream.replay.plan import Pace, ReplayOptions
from fraudstream.replay.service import replay
from fraudstream.schemas import ScoredTransaction


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings("learner", **learner_env(400))


def _scored_stream(settings: Settings, tmp_path: Path, days: int = 6) -> int:
    """Replay a small simulated stream with labels a day late and score all of it."""
    frame = simulate(SimulatorConfig(customers=400, terminals=800, days=days, seed=11))
    path = tmp_path / "sim.parquet"
    write_parquet_atomic(frame, path)
    report = replay(settings, path, ReplayOptions(pace=Pace("max"), label_delay=timedelta(days=1)))
    assert report.failed == 0
    with (
        ScorerThread(settings) as scorer,
        TopicWatcher(settings.kafka.servers, settings.kafka.scored_topic) as watch,
    ):
        scored = watch.wait_for(len(frame), 90, check=scorer.check)
    assert scored == len(frame)
    return len(frame)


def _run_in_thread(
    settings: Settings,
) -> tuple[threading.Thread, threading.Event, list[LearnerState]]:
    stop = threading.Event()
    result: list[LearnerState] = []
    thread = threading.Thread(
        target=lambda: result.append(run_learner(settings, stop)), daemon=True
    )
    thread.start()
    return thread, stop, result


def _saved(settings: Settings) -> LearnerState | None:
    client = build_any_redis(settings.redis)
    try:
        return StateStore(client, settings.features.key_prefix).load()
    finally:
        client.close()


@pytest.mark.timeout(240)
def test_every_label_is_learned_once_and_the_scorer_takes_the_snapshot(
    settings: Settings, tmp_path: Path
) -> None:
    n = _scored_stream(settings, tmp_path)
    thread, stop, result = _run_in_thread(settings)
    assert wait_until(lambda: (s := _saved(settings)) is not None and s.labels_learned == n, 90)
    stop.set()
    thread.join(timeout=30)
    state = result[0]
    print(
        f"sent {n}, labels learned {state.labels_learned}, version {state.version}, "
        f"waiting {len(state.join.served)} served / {len(state.join.labels)} labels"
    )
    assert state.labels_learned == n
    assert not state.join.served
    assert not state.join.labels

    with build_redis(settings.redis) as client:
        current = SnapshotStore(client, settings.features.key_prefix).current_version()
    assert current == state.version

    # restarted with nothing new: loads the state, learns nothing twice
    port = free_port()
    learner = settings.learner.model_copy(update={"http_port": port})
    thread, stop, result = _run_in_thread(settings.model_copy(update={"learner": learner}))
    # ready: its state loaded and its consumer at the saved offsets
    assert wait_until(lambda: http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200, 60)
    time.sleep(2)  # the quiet spell under test: reading from there, it finds nothing to learn
    stop.set()
    thread.join(timeout=30)
    assert result[0].labels_learned == n

    # a scorer started now scores with the published model
    more = simulate(SimulatorConfig(customers=50, terminals=100, days=1, seed=99))
    more["transaction_id"] = "new-" + more["transaction_id"]
    path = tmp_path / "more.parquet"
    write_parquet_atomic(more, path)
    with TopicWatcher(settings.kafka.servers, settings.kafka.scored_topic) as watch:
        watch.wait_for(n, 30)
        replay(settings, path, ReplayOptions(pace=Pace("max"), label_fraction=0.0))
        with ScorerThread(settings) as scorer:
            watch.wait_for(n + len(more), 60, check=scorer.check)
    versions = {
        msgspec.json.decode(r.value, type=ScoredTransaction).model_version
        for r in watch.records[n:]
    }
    print(f"new transactions scored with {versions}")
    assert versions == {state.version}


@pytest.mark.timeout(240)
def test_on_a_redis_cluster_every_label_is_learned_once_and_frauds_reach_the_merchants(
    make_settings: Callable[..., Settings], cluster_settings: RedisSettings, tmp_path: Path
) -> None:
    """Scorer and learner with REDIS_CLUSTER_NODES set: state, snapshots and the
    merchants' fraud sets on the cluster."""
    settings = make_settings(
        "learner-cluster", REDIS_CLUSTER_NODES=cluster_settings.cluster_nodes, **learner_env(400)
    )
    n = _scored_stream(settings, tmp_path)
    thread, stop, result = _run_in_thread(settings)
    assert wait_until(lambda: (s := _saved(settings)) is not None and s.labels_learned == n, 90)
    stop.set()
    thread.join(timeout=30)
    assert result[0].labels_learned == n
    prefix = settings.features.key_prefix
    client = build_redis_cluster(settings.redis)
    try:
        assert SnapshotStore(client, prefix).current_version() == result[0].version
        fraud_sets = [
            key
            for node in client.get_primaries()
            for key in client.scan_iter(match=f"{prefix}:m:{{*}}:f", target_nodes=node)
        ]
        assert fraud_sets  # reported frauds reached the tagged merchant keys
    finally:
        client.close()


@pytest.mark.timeout(300)
def test_a_killed_learner_resumes_without_learning_a_label_twice(
    settings: Settings,
    tmp_path: Path,
    learner_processes: Callable[[Settings], subprocess.Popen[bytes]],
) -> None:
    n = _scored_stream(settings, tmp_path, days=10)
    first = learner_processes(settings)
    assert wait_until(lambda: (s := _saved(settings)) is not None and s.labels_learned >= 400, 60)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    at_kill = _saved(settings)
    assert at_kill is not None
    assert at_kill.labels_learned < n
    second = learner_processes(settings)
    assert wait_until(lambda: (s := _saved(settings)) is not None and s.labels_learned >= n, 90)
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0
    final = _saved(settings)
    assert final is not None
    print(
        f"labels sent {n}; learned at the kill {at_kill.labels_learned}; "
        f"learned in the end {final.labels_learned} (twice: {final.labels_learned - n})"
    )
    assert final.labels_learned == n


def _small_state() -> LearnerState:
    choice = MODEL_CHOICES["logreg"]
    state = LearnerState(model_name="logreg", model=choice.build(), join=LabelJoin(max_wait_ms=1))
    for i in range(50):
        state.model.learn_one({"amount": float(i)}, i % 10 == 0)
        state.window.append((i / 50, i % 10 == 0, f"c{i % 5}", 0))
    state.labels_learned = 50
    return state


def test_a_snapshot_is_logged_to_mlflow_with_metrics_and_model(mlflow_uri: str) -> None:
    state = _small_state()
    experiment = f"test-online-{time.time_ns()}"
    run_id = log_snapshot(mlflow_uri, experiment, state, quality(state.window, 0.5))
    client = MlflowClient(tracking_uri=mlflow_uri)
    run = client.get_run(run_id)
    print(f"run {run_id}: {sorted(run.data.metrics)}")
    assert run.data.params["version"] == "logreg-50"
    assert run.data.metrics["labels_learned"] == 50.0
    assert 0.0 <= run.data.metrics["prequential_average_precision"] <= 1.0
    assert [a.path for a in client.list_artifacts(run_id)] == ["model.pkl"]


def test_mlflow_down_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    state = _small_state()
    started = time.monotonic()
    with pytest.raises(TrackingUnavailableError, match="did not take the run"):
        log_snapshot(f"http://127.0.0.1:{free_port()}", "x", state, quality(state.window, 0.5))
    assert time.monotonic() - started < 30


def test_bootstrap_learns_the_history_and_publishes_it(settings: Settings, tmp_path: Path) -> None:
    frame = simulate(SimulatorConfig(customers=300, terminals=600, days=14, seed=5))
    path = tmp_path / "history.parquet"
    write_parquet_atomic(frame, path)
    until = datetime(2024, 4, 13, tzinfo=UTC)  # the label delay is 7 days
    before = frame["event_time"] < until
    # labels known by `until` are learned; the last label delay's transactions wait
    known = frame["event_time"] + settings.features.label_delay <= until
    expected = int(known.sum())
    waiting = int((before & ~known).sum())
    assert expected > 0
    assert waiting > 0
    stop = threading.Event()
    stop.set()  # learn the history, publish, then stop at once
    state = run_learner(settings, stop, bootstrap=(path, until))
    with build_redis(settings.redis) as client:
        current = SnapshotStore(client, settings.features.key_prefix).current_version()
    print(f"history before {until:%Y-%m-%d}: {expected} transactions; version {state.version}")
    assert state.labels_learned == expected
    assert len(state.join.served) == waiting
    assert all(math.isnan(s.score) for s in state.join.served.values())
    assert current == state.version == f"{settings.learner.model}-{expected}"
    with build_redis(settings.redis) as client:
        published = SnapshotStore(client, settings.features.key_prefix).load(current)
    # scorers load the model without the booster's training buffer; the state keeps it
    # (the delayed-label half of the default FeedbackBlend: the history has no verdicts)
    published_delayed = getattr(published.model, "delayed", published.model)
    learner_delayed = getattr(state.model, "delayed", state.model)
    published_booster, learner_booster = published_delayed.members[1], learner_delayed.members[1]
    assert isinstance(published_booster, RefitBooster)
    assert published_booster.rows is None
    assert learner_booster.rows is not None
    assert published_booster.fits == learner_booster.fits > 0
    with pytest.raises(ConfigError, match="already exists"):
        run_learner(settings, stop, bootstrap=(path, until))
