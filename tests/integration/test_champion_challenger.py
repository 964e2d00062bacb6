"""The batch loop end to end against real MLflow and Kafka: a challenger trained from the
archive is compared with the served champion on the latest labelled window, promoted
when it wins and kept when it does not; a running scorer follows the alias move."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import msgspec
import pandas as pd
import pytest

from fraudstream.config import Settings
from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.features.served import served_features
from fraudstream.harness.kafka import read_topic
from fraudstream.harness.scorer import ScorerThread, TopicWatcher, wait_until
from fraudstream.lake.offline import write_archive_from_frame
from fraudstream.promotion.aliases import PromotionError, promote
from fraudstream.promotion.compare import compare_and_promote, training_cutoff
from fraudstream.registry.client import Registry
from fraudstream.registry.watcher import RegistryWatcher
from fraudstream.replay.plan import Pace, ReplayOptions
from fraudstream.replay.service import replay
from fraudstream.schemas import ModelEvent, ScoredTransaction
from fraudstream.scoring import service as scoring_service
from fraudstream.scoring.service import registry_watcher
from fraudstream.training.pipeline import run_all

DAYS = 40
DELAY = timedelta(days=7)


@dataclass(frozen=True)
class Archive:
    root: Path
    frame: pd.DataFrame
    cutoff: str


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    """40 simulated days archived as the scorer (cold start) and the replay would have."""
    root = tmp_path_factory.mktemp("archive")
    frame = simulate(SimulatorConfig(customers=800, terminals=1600, days=DAYS, seed=31))
    write_archive_from_frame(str(root), frame, served_features(frame, DELAY), label_delay=DELAY)
    start = frame["event_time"].min().floor("D")
    return Archive(root, frame, (start + pd.Timedelta(days=DAYS)).isoformat())


@pytest.fixture
def settings(make_settings: Callable[..., Settings], mlflow_uri: str, archive: Archive) -> Settings:
    return make_settings(
        "champion",
        MLFLOW_TRACKING_URI=mlflow_uri,
        ARCHIVE_PATH=str(archive.root),
        TRAIN_WINDOW="21d",
        TRAIN_LABEL_DELAY="7d",
        TRAIN_EVAL_WINDOW="7d",
        TRAIN_FOLDS="2",
        TRAIN_SEARCH_TRIALS="2",
    )


def _train(settings: Settings, cutoff: str, tmp_path: Path) -> str:
    return run_all(settings, cutoff, str(tmp_path / uuid.uuid4().hex))["register"]["version"]


@pytest.mark.timeout(600)
def test_a_better_challenger_is_promoted_a_worse_one_kept(
    settings: Settings, archive: Archive, tmp_path: Path
) -> None:
    registry = Registry(settings.mlflow.tracking_uri, settings.mlflow.registered_model_name)
    first = _train(settings, training_cutoff(settings, archive.cutoff), tmp_path)
    result = compare_and_promote(settings, archive.cutoff)
    print(f"first challenger v{first}: {result['reason']} ({result['rows']} rows)")
    assert result["promote"] is True
    assert result["challenger_ap"] > result["champion_ap"]  # XGBoost beats cold start
    champion = registry.by_alias("champion")
    assert champion is not None
    assert champion.version == first
    assert champion.tags["fraudstream.comparison"] == result["reason"]

    # the same data again, but a margin no model can clear: kept, and MLflow says why
    strict = settings.model_copy(
        update={"mlflow": settings.mlflow.model_copy(update={"promotion_margin": 1.0})}
    )
    second = _train(strict, training_cutoff(strict, archive.cutoff), tmp_path)
    kept = compare_and_promote(strict, archive.cutoff)
    print(f"second challenger v{second}: {kept['reason']}")
    assert kept["promote"] is False
    assert "does not beat" in kept["reason"]
    champion = registry.by_alias("champion")
    assert champion is not None
    assert champion.version == first
    challenger = registry.version(second)
    assert challenger is not None
    assert challenger.tags["fraudstream.comparison"] == kept["reason"]

    # a challenger trained up to the cutoff has seen the window: never compared
    _train(settings, archive.cutoff, tmp_path)
    with pytest.raises(PromotionError, match="inside the evaluation window"):
        compare_and_promote(settings, archive.cutoff)

    events = [
        msgspec.json.decode(r.value, type=ModelEvent)
        for r in read_topic(settings.kafka.servers, settings.kafka.model_events_topic)
    ]
    assert [(e.event, e.version) for e in events] == [("promoted", first)]


def _scored(watch: TopicWatcher, start: int) -> list[ScoredTransaction]:
    return [msgspec.json.decode(r.value, type=ScoredTransaction) for r in watch.records[start:]]


def _day(archive: Archive, tmp_path: Path, day: int, name: str) -> tuple[Path, int]:
    start = archive.frame["event_time"].min().floor("D") + pd.Timedelta(days=day)
    rows = archive.frame[
        (archive.frame["event_time"] >= start)
        & (archive.frame["event_time"] < start + pd.Timedelta(hours=3))
    ]
    path = tmp_path / f"{name}.parquet"
    write_parquet_atomic(rows, path)
    return path, len(rows)


def _watchers(monkeypatch: pytest.MonkeyPatch) -> list[RegistryWatcher]:
    """The registry watchers that scorers started from now on follow the aliases with."""
    watchers: list[RegistryWatcher] = []

    def kept(settings: Settings) -> RegistryWatcher:
        watchers.append(registry_watcher(settings))
        return watchers[-1]

    monkeypatch.setattr(scoring_service, "registry_watcher", kept)
    return watchers


def _serves(watchers: list[RegistryWatcher], champion: str | None, challenger: str | None) -> bool:
    """Whether the (one) watcher serves these registered versions, loaded."""
    if not watchers:
        return False
    served = watchers[0].served
    return (
        (served.champion_version, served.challenger_version) == (champion, challenger)
        and (champion is None or served.champion is not None)
        and (challenger is None or served.challenger is not None)
    )


@pytest.mark.timeout(600)
def test_a_running_scorer_shadows_the_challenger_and_follows_a_promotion(
    settings: Settings, archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = _train(settings, training_cutoff(settings, archive.cutoff), tmp_path)
    registry = Registry(settings.mlflow.tracking_uri, settings.mlflow.registered_model_name)
    options = ReplayOptions(pace=Pace("max"), label_fraction=0.0)
    before, n_before = _day(archive, tmp_path, 35, "before")
    after, n_after = _day(archive, tmp_path, 36, "after")
    watchers = _watchers(monkeypatch)
    with (
        TopicWatcher(settings.kafka.servers, settings.kafka.scored_topic) as watch,
        ScorerThread(settings) as scorer,
    ):
        # the scorer's registry watcher has loaded the challenger
        assert wait_until(lambda: _serves(watchers, None, version), 60, check=scorer.check)
        replay(settings, before, options)
        watch.wait_for(n_before, 60, check=scorer.check)
        promote(settings, registry, version, "test promotion")
        # ...and has seen the promotion: the challenger is the champion, no longer a shadow
        assert wait_until(lambda: _serves(watchers, version, None), 60, check=scorer.check)
        replay(settings, after, options)
        watch.wait_for(n_before + n_after, 60, check=scorer.check)
    first, second = _scored(watch, 0)[:n_before], _scored(watch, n_before)
    print(
        f"before: {first[0].model_version} + shadow {first[0].shadow_model_version}; "
        f"after: {second[0].model_version} + shadow {second[0].shadow_model_version}"
    )
    label = f"xgboost-v{version}"
    assert {s.model_version for s in first} == {"cold-start-1"}
    assert {s.shadow_model_version for s in first} == {label}
    assert all(s.shadow_score is not None and 0 <= s.shadow_score <= 1 for s in first)
    assert {s.model_version for s in second} == {label}
    assert {s.shadow_model_version for s in second} == {None}
