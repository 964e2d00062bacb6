"""The runbook's "Redis lost its data" procedure, run against the real Kafka and Redis.

A scorer streams simulated transactions while the archiver writes what it serves to
the Parquet archive. Mid-stream the test's keys are deleted (the store lost), a few
more transactions are served on the empty store, the scorer is stopped, and
``fraudstream features backfill --from-archive --force --until ...`` rebuilds the
store from the archive up to its newest transaction. Resumed, the scorer serves the
rest of the stream the very features an uninterrupted run serves; without the
backfill it does not.

No labels are sent: without a learner the live store never hears of a fraud, and the
archive holds none for the backfill to report either.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pandas as pd
import pytest

from fraudstream.archive.service import run_archiver
from fraudstream.config import Settings
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.harness.scorer import (
    RawRecord,
    ScorerThread,
    TopicWatcher,
    delete_keys,
    free_port,
    produce,
    wait_until,
)
from fraudstream.lake.store import read_scored
from fraudstream.schemas import ScoredTransaction, Transaction, encode

#: Where the store is lost, and where the scorers are stopped for the backfill.
LOST_AT = pd.Timestamp("2024-04-05", tz="UTC")
STOPPED_AT = pd.Timestamp("2024-04-05T12:00:00", tz="UTC")

#: A window holding every archived transaction.
ARCHIVE_FROM = "2024-03-01"
ARCHIVE_TO = "2024-05-01"

#: Exact equality, but for the last bits of floating-point sums done in another order.
REL_TOL = 1e-9
ABS_TOL = 1e-9


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Eight simulated days of 300 cards and 100 terminals, in event-time order."""
    frame = simulate(SimulatorConfig(customers=300, terminals=100, days=8, seed=5))
    return frame.sort_values("event_time", kind="stable", ignore_index=True)


@pytest.fixture
def restore_settings(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> Callable[[str], Settings]:
    """Settings of one run: its own topics (one partition, so every run takes the
    transactions in the same order), key prefix, group, and archive."""

    def make(name: str) -> Settings:
        return make_settings(
            name,
            KAFKA_PARTITIONS="1",
            ARCHIVE_PATH=str(tmp_path / f"archive-{name}"),
            ARCHIVE_GROUP_ID=f"test-archive-{name}-{uuid.uuid4().hex[:10]}",
            ARCHIVE_FLUSH_EVERY="1s",
            ARCHIVE_HTTP_PORT=str(free_port()),
        )

    return make


@dataclass
class Run:
    """A scorer's run over parts of the stream, and what it served."""

    settings: Settings
    served: dict[str, dict[str, float]]

    def features(self, ids: list[str]) -> dict[str, dict[str, float]]:
        missing = [i for i in ids if i not in self.served]
        assert not missing, f"{len(missing)} transactions never served, e.g. {missing[:3]}"
        return {i: self.served[i] for i in ids}


class Archiver:
    """``fraudstream archive`` in a thread, stopped (with a last flush) on exit."""

    def __init__(self, settings: Settings) -> None:
        self._stop = threading.Event()
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(settings,), daemon=True)

    def _run(self, settings: Settings) -> None:
        try:
            run_archiver(settings, self._stop)
        except BaseException as exc:  # surfaced by check()
            self.errors.append(exc)

    def check(self) -> None:
        if self.errors:
            raise self.errors[0]

    def __enter__(self) -> Archiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), "the archiver did not stop"
        self.check()


def _records(part: pd.DataFrame) -> Iterator[RawRecord]:
    columns = ("transaction_id", "event_time", "amount", "card_id", "merchant_id")
    for tx, event, amount, card, merchant in zip(*(part[c].tolist() for c in columns), strict=True):
        transaction = Transaction(
            transaction_id=str(tx),
            event_time=pd.Timestamp(event).to_pydatetime(),
            amount=float(amount),
            card_id=str(card),
            merchant_id=str(merchant),
        )
        yield RawRecord(encode(transaction), key=str(card).encode())


def _stream(
    scorer: ScorerThread,
    watcher: TopicWatcher,
    part: pd.DataFrame,
    served: dict[str, dict[str, float]],
) -> None:
    """Send ``part`` and wait until the scorer served all of it."""
    settings = scorer.settings
    produce(settings.kafka.bootstrap_servers, settings.kafka.transactions_topic, _records(part))
    wanted = len(served) + len(part)
    count = watcher.wait_for(wanted, timeout_s=120, check=scorer.check)
    assert count >= wanted, f"served {count} of {wanted}: {scorer.describe()}"
    for record in watcher.records[len(served) :]:
        scored = msgspec.json.decode(record.value, type=ScoredTransaction)
        served.setdefault(scored.transaction_id, dict(scored.features))


def _backfill(settings: Settings, until: pd.Timestamp) -> subprocess.CompletedProcess[str]:
    """The operator's command: rebuild the store from the archive, forced over the
    state the scorers wrote after the loss."""
    exe = shutil.which("fraudstream")
    assert exe, "the fraudstream console script is not installed"
    env = {
        **os.environ,
        "REDIS_URL": settings.redis.url,
        "FEATURES_KEY_PREFIX": settings.features.key_prefix,
        "ARCHIVE_PATH": settings.archive.path,
    }
    return subprocess.run(
        [
            exe,
            "features",
            "backfill",
            "--from-archive",
            "--force",
            "--until",
            f"{until:%Y-%m-%dT%H:%M:%S}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


def _newest_archived(settings: Settings, expected: int) -> pd.Timestamp:
    """Wait until the archive holds the ``expected`` transactions; their newest time."""
    root = settings.archive.path

    def archived() -> pd.DataFrame:
        return read_scored(root, ARCHIVE_FROM, ARCHIVE_TO)

    assert wait_until(lambda: len(archived()) >= expected, 60, interval_s=0.5), (
        f"the archive holds {len(archived())} of {expected} transactions"
    )
    return pd.Timestamp(archived()["event_time"].max())


def _restore(
    settings: Settings, frame: pd.DataFrame, *, backfill: bool
) -> tuple[Run, subprocess.CompletedProcess[str] | None]:
    """The procedure: the store lost at LOST_AT, the scorer stopped at STOPPED_AT,
    (with ``backfill``) the store rebuilt from the archive, the rest streamed."""
    before = frame[frame["event_time"] < LOST_AT]
    after_loss = frame[(frame["event_time"] >= LOST_AT) & (frame["event_time"] < STOPPED_AT)]
    rest = frame[frame["event_time"] >= STOPPED_AT]
    served: dict[str, dict[str, float]] = {}
    done: subprocess.CompletedProcess[str] | None = None
    with TopicWatcher(settings.kafka, settings.kafka.scored_topic) as watcher:
        with Archiver(settings) as archiver, ScorerThread(settings) as scorer:
            _stream(scorer, watcher, before, served)
            assert delete_keys(settings.redis, settings.features.key_prefix) > 0  # lost
            _stream(scorer, watcher, after_loss, served)
            scorer.stop()  # 1. stop the scorers
            newest = _newest_archived(settings, len(before) + len(after_loss))
            archiver.check()
        if backfill:  # 2. backfill until just after the archive's newest transaction
            until = newest.floor("s") + pd.Timedelta(seconds=1)
            assert until <= rest["event_time"].min()
            done = _backfill(settings, until)
        with ScorerThread(settings) as scorer:  # 3. resume
            _stream(scorer, watcher, rest, served)
    return Run(settings, served), done


def _uninterrupted(settings: Settings, frame: pd.DataFrame) -> Run:
    served: dict[str, dict[str, float]] = {}
    with (
        TopicWatcher(settings.kafka, settings.kafka.scored_topic) as watcher,
        ScorerThread(settings) as scorer,
    ):
        _stream(scorer, watcher, frame, served)
    return Run(settings, served)


def _differences(got: dict[str, dict[str, float]], want: dict[str, dict[str, float]]) -> list[str]:
    """Each transaction's features that differ, beyond floating-point noise."""
    differ: list[str] = []
    for tx, features in want.items():
        other = got[tx]
        if other.keys() != features.keys():
            differ.append(f"{tx}: features {sorted(other)} != {sorted(features)}")
            continue
        for name, value in features.items():
            if not math.isclose(other[name], value, rel_tol=REL_TOL, abs_tol=ABS_TOL):
                differ.append(f"{tx} {name}: {other[name]!r} != {value!r}")
    return differ


@pytest.mark.timeout(600)
def test_a_store_restored_from_the_archive_serves_what_an_uninterrupted_one_does(
    restore_settings: Callable[[str], Settings], frame: pd.DataFrame
) -> None:
    rest = frame.loc[frame["event_time"] >= STOPPED_AT, "transaction_id"].astype(str).tolist()
    assert len(rest) > 500

    reference = _uninterrupted(restore_settings("restore-ref"), frame).features(rest)

    restored, done = _restore(restore_settings("restore-bf"), frame, backfill=True)
    assert done is not None
    assert done.returncode == 0, done.stderr
    assert "backfilled" in done.stdout
    differ = _differences(restored.features(rest), reference)
    assert not differ, f"{len(differ)} features differ after the backfill: {differ[:10]}"

    lost, _ = _restore(restore_settings("restore-no-bf"), frame, backfill=False)
    differ = _differences(lost.features(rest), reference)
    assert len(differ) > len(rest) // 2, "without the backfill the features should differ"
