"""The model holder reads the snapshot version at most once per ``check_every_s``, and
drops a model that fails while scoring for the last good one."""

from __future__ import annotations

import numpy as np

from fraudstream.models import ModelInput, RiverModel
from fraudstream.models.snapshots import SnapshotStore
from fraudstream.scoring.holder import ModelHolder
from fraudstream.testing.doubles import MemorySnapshots, StaticWatcher


class _CountingStore(SnapshotStore):
    """A snapshot store with no snapshot yet that counts how often it is asked."""

    def __init__(self) -> None:
        self.reads = 0

    def current_version(self) -> str | None:
        self.reads += 1
        return None


def test_the_version_is_read_once_per_interval() -> None:
    store = _CountingStore()
    holder = ModelHolder(store, check_every_s=3600.0)
    for _ in range(5):
        assert holder.refresh().version == "cold-start-1"
    assert store.reads == 1


def test_without_an_interval_every_refresh_reads_the_version() -> None:
    store = _CountingStore()
    holder = ModelHolder(store)
    for _ in range(5):
        holder.refresh()
    assert store.reads == 5


def _inputs() -> ModelInput:
    return ModelInput(("amount",), np.array([[25.0], [9_000.0]]))


def test_a_snapshot_that_cannot_score_is_dropped_for_the_previous_one() -> None:
    snapshots = MemorySnapshots()
    holder = ModelHolder(snapshots)
    snapshots.publish(RiverModel(object(), "broken-1"))  # loads, but raises when it scores
    broken = holder.refresh()
    assert broken.version == "broken-1"
    assert holder.score(broken, _inputs()) is None
    assert holder.model.version == "cold-start-1"
    assert holder.refresh().version == "cold-start-1"  # the failed version is not reloaded
    assert holder.load_failures == 1


def test_a_challenger_that_cannot_score_is_no_longer_shadowed() -> None:
    watcher = StaticWatcher.serving(challenger=RiverModel(object(), "broken-2"))
    holder = ModelHolder(None, watcher)
    challenger = holder.shadow
    assert challenger is not None
    assert holder.score(challenger, _inputs()) is None
    assert holder.shadow is None
    assert holder.refresh().version == "cold-start-1"  # the champion is untouched


def test_a_model_that_scores_is_kept() -> None:
    holder = ModelHolder(None)
    model = holder.refresh()
    scores = holder.score(model, _inputs())
    assert scores is not None
    assert scores.tolist() == model.score(_inputs()).tolist()
    assert holder.load_failures == 0
