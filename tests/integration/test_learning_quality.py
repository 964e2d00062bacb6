"""The online loop learns: after the first labels, the served scores are clearly better.

A stream with a pattern the cold-start model cannot see (fraud shows in a dataset
feature, ``signal``, not in amounts) and labels a day late. The first half is scored by
the cold-start model; the learner learns its labels and publishes a snapshot; the second
half is scored by the learned model. Prequential average precision (the score served
when the transaction was scored, against the label that arrived later) of each half
comes from the topics themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import msgspec
import numpy as np
import pytest

from fraudstream.config import Settings
from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.evaluation.measures import average_precision
from fraudstream.harness.kafka import read_topic
from fraudstream.harness.scorer import ScorerThread, TopicWatcher, learner_env, wait_until
from fraudstream.learning.learner import StateStore
from fraudstream.learning.service import run_learner
from fraudstream.models import ColdStartModel
from fraudstream.redis_client import build_redis
from fraudstream.replay.plan import Pace, ReplayOptions
from fraudstream.replay.service import replay
from fraudstream.schemas import Label, ScoredTransaction


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings("quality", **learner_env(500, LEARNER_MLFLOW_EVERY="0"))


def _halves(tmp_path: Path) -> tuple[Path, int, Path, int]:
    """Twelve simulated days; 3% fraud that only the ``signal`` feature reveals."""
    frame = simulate(SimulatorConfig(customers=300, terminals=600, days=12, seed=23))
    rng = np.random.default_rng(23)
    fraud = rng.random(len(frame)) < 0.03
    frame["is_fraud"] = fraud.astype("int8")
    frame["fraud_scenario"] = 0
    frame["signal"] = rng.normal(0.0, 1.0, len(frame)) + 3.0 * fraud
    middle = frame["event_time"].min() + timedelta(days=6)
    first, second = frame[frame["event_time"] < middle], frame[frame["event_time"] >= middle]
    paths = tmp_path / "first.parquet", tmp_path / "second.parquet"
    write_parquet_atomic(first, paths[0])
    write_parquet_atomic(second, paths[1])
    return paths[0], len(first), paths[1], len(second)


def _learned(settings: Settings) -> int:
    with build_redis(settings.redis) as client:
        state = StateStore(client, settings.features.key_prefix).load()
    return 0 if state is None else state.labels_learned


@pytest.mark.timeout(300)
def test_prequential_precision_after_learning_is_clearly_above_cold_start(
    settings: Settings, tmp_path: Path
) -> None:
    first, n_first, second, n_second = _halves(tmp_path)
    options = ReplayOptions(pace=Pace("max"), label_delay=timedelta(days=1))
    stop = threading.Event()
    learner = threading.Thread(target=run_learner, args=(settings, stop), daemon=True)
    with TopicWatcher(settings.kafka.servers, settings.kafka.scored_topic) as watch:
        replay(settings, first, options)
        with ScorerThread(settings) as scorer:
            watch.wait_for(n_first, 90, check=scorer.check)
        learner.start()
        assert wait_until(lambda: _learned(settings) >= n_first, 120)
        stop.set()  # publishes its last snapshot
        learner.join(timeout=60)
        replay(settings, second, options)
        with ScorerThread(settings) as scorer:
            watch.wait_for(n_first + n_second, 90, check=scorer.check)

    truth = {
        label.transaction_id: label.is_fraud
        for label in (
            msgspec.json.decode(r.value, type=Label)
            for r in read_topic(settings.kafka.servers, settings.kafka.labels_topic)
        )
    }
    by_model: dict[bool, tuple[list[bool], list[float]]] = {True: ([], []), False: ([], [])}
    for record in watch.records:
        served = msgspec.json.decode(record.value, type=ScoredTransaction)
        cold = served.model_version == ColdStartModel.version
        by_model[cold][0].append(truth[served.transaction_id])
        by_model[cold][1].append(served.score)
    cold_ap = average_precision(np.array(by_model[True][0]), np.array(by_model[True][1]))
    learned_ap = average_precision(np.array(by_model[False][0]), np.array(by_model[False][1]))
    print(
        f"prequential AP: cold start {cold_ap:.3f} over {len(by_model[True][0])} transactions; "
        f"learned {learned_ap:.3f} over {len(by_model[False][0])} "
        f"(fraud rate {np.mean(list(truth.values())):.3f})"
    )
    assert len(by_model[True][0]) == n_first
    assert len(by_model[False][0]) == n_second
    assert learned_ap > 0.5
    assert learned_ap > cold_ap + 0.3
