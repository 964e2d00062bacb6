"""The model holder reads the snapshot version at most once per ``check_every_s``."""

from __future__ import annotations

from fraudstream.models.snapshots import SnapshotStore
from fraudstream.scoring.holder import ModelHolder


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
