"""Backfilling Redis as an operator runs it, on one Redis and on a Redis Cluster:
idempotent, resumable after a kill, refusing to write over live or foreign state unless
forced, TTLs as live, the CLI."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from redis.cluster import RedisCluster

from fraudstream.config import RedisSettings
from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.features import backfill_cluster_writer, backfill_writer
from fraudstream.features.backfill import backfill
from fraudstream.features.backfill_marker import Marker, marker_key
from fraudstream.features.definitions import DAY_MS, FeatureConfig
from fraudstream.features.errors import BackfillRefusedError
from fraudstream.features.history import History, history_from_frame
from fraudstream.features.redis_cluster_store import entity_tag
from fraudstream.features.redis_store import delete_prefix, scan_keys
from fraudstream.features.redis_stores import AnyRedisFeatureStore, redis_feature_store
from fraudstream.features.store import FeatureRequest
from fraudstream.redis_client import AnyRedis, build_any_redis

UNTIL = pd.Timestamp("2024-04-15", tz="UTC")
DELAY = pd.Timedelta(days=7)


@dataclass(frozen=True)
class Target:
    """One kind of Redis a backfill writes to, and how to reach it."""

    settings: RedisSettings
    client: AnyRedis

    @property
    def cluster(self) -> bool:
        return bool(self.settings.cluster_nodes)

    def key(self, prefix: str, kind: str, entity: str, suffix: str) -> str:
        """An entity's key in the store's layout (hash-tagged on a cluster)."""
        name = entity_tag(entity) if self.cluster else entity
        return f"{prefix}:{kind}:{name}:{suffix}"

    def env(self) -> dict[str, str]:
        """The variables that point a process at it."""
        return {"REDIS_URL": self.settings.url, "REDIS_CLUSTER_NODES": self.settings.cluster_nodes}


@pytest.fixture(params=["redis", "redis-cluster"])
def target(request: pytest.FixtureRequest, redis_url: str) -> Iterator[Target]:
    settings = (
        request.getfixturevalue("cluster_settings")
        if request.param == "redis-cluster"
        else RedisSettings(url=redis_url, cluster_nodes="")
    )
    client = build_any_redis(settings)
    yield Target(settings, client)
    client.close()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Twenty simulated days of 400 cards and 200 terminals."""
    return simulate(SimulatorConfig(customers=400, terminals=200, days=20, seed=11))


@pytest.fixture
def history(frame: pd.DataFrame) -> History:
    return history_from_frame(frame, UNTIL, label_delay=DELAY, source="simulated")


def _fresh_prefix(target: Target) -> Iterator[str]:
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    yield prefix
    delete_prefix(target.client, prefix)


@pytest.fixture
def prefix(target: Target) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    yield from _fresh_prefix(target)


@pytest.fixture
def other_prefix(target: Target) -> Iterator[str]:
    yield from _fresh_prefix(target)


def _store(
    target: Target, prefix: str, config: FeatureConfig = FeatureConfig()
) -> AnyRedisFeatureStore:
    return redis_feature_store(target.client, config, prefix=prefix)


def _content(client: AnyRedis, prefix: str) -> dict[str, object]:
    """Feature keys' content, without the wall-clock ``_exp``."""
    held: dict[str, object] = {}
    for key in scan_keys(client, f"{prefix}:[cm]:*"):
        name = key.decode().removeprefix(prefix)
        if client.type(key) == b"hash":
            held[name] = {f: v for f, v in client.hgetall(key).items() if f != b"_exp"}
        else:
            held[name] = client.zrange(key, 0, -1, withscores=True)
    return held


def _dump(client: AnyRedis, prefix: str) -> dict[bytes, bytes | None]:
    """Every key under the prefix, serialized byte for byte."""
    return {k: client.dump(k) for k in sorted(scan_keys(client, f"{prefix}:*"))}


def test_a_second_run_changes_nothing(target: Target, prefix: str, history: History) -> None:
    first = backfill(_store(target, prefix), history)
    assert first.cards > 300
    assert first.merchants > 150
    assert first.frauds > 0
    before = _dump(target.client, prefix)
    again = backfill(_store(target, prefix), history)
    assert again.already_done
    assert _dump(target.client, prefix) == before


def test_a_killed_run_resumes_where_it_stopped(
    target: Target,
    prefix: str,
    other_prefix: str,
    tmp_path: Path,
    frame: pd.DataFrame,
    history: History,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGKILL a backfill part-way (small chunks, a slow progress callback), rerun it:
    it carries on after the chunks the marker names, and the store ends exactly as
    after one uninterrupted run."""
    data = tmp_path / "sim.parquet"
    write_parquet_atomic(frame, data)
    script = f"""
import sys, time
from datetime import timedelta
from pathlib import Path
from fraudstream.config import RedisSettings
from fraudstream.features import backfill_writer
from fraudstream.features.backfill import backfill
from fraudstream.features.definitions import FeatureConfig
from fraudstream.features.history import load_history
from fraudstream.features.redis_stores import redis_feature_store
from fraudstream.redis_client import build_any_redis
backfill_writer.CHUNK_ENTRIES = 500
history = load_history(Path({str(data)!r}), {UNTIL.isoformat()!r}, label_delay=timedelta(days=7))
url, nodes = {target.settings.url!r}, {target.settings.cluster_nodes!r}
client = build_any_redis(RedisSettings(url=url, cluster_nodes=nodes))
store = redis_feature_store(client, FeatureConfig(), prefix={prefix!r})
backfill(store, history, progress=lambda written, total: time.sleep(0.2))
"""
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            marker = Marker.read(target.client, prefix)
            if marker is not None and marker.done > 0:
                break
            assert child.poll() is None, "the backfill ended before it could be killed"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    killed = Marker.read(target.client, prefix)
    assert killed is not None
    assert killed.status == "writing"
    assert 0 < killed.done < killed.total

    monkeypatch.setattr(backfill_writer, "CHUNK_ENTRIES", 500)
    seen: list[int] = []
    resumed = backfill(
        _store(target, prefix), history, progress=lambda written, total: seen.append(written)
    )
    assert resumed.resumed_at >= killed.done
    assert seen[0] > 0  # the entries written before the kill count as done
    backfill(_store(target, other_prefix), history)
    assert _content(target.client, prefix) == _content(target.client, other_prefix)
    marker = Marker.read(target.client, prefix)
    assert marker is not None
    assert marker.status == "done"


class _StoppedError(Exception):
    """Stands in for a kill: raised where the marker would record a chunk."""


@pytest.mark.parametrize("recorded", [0, 3], ids=["before-any-record", "after-three"])
def test_a_cluster_run_stopped_between_a_chunks_writes_and_its_record_resumes_over_them(
    cluster_settings: RedisSettings,
    history: History,
    monkeypatch: pytest.MonkeyPatch,
    recorded: int,
) -> None:
    """On a cluster a chunk's writes and its record in the marker are separate steps:
    stopped between them (with the next chunk already sent), the store holds entities
    the marker does not count. The rerun resumes at the marker, is not refused for
    those entities, writes them again over themselves, and ends exactly as one
    uninterrupted run."""
    target = Target(cluster_settings, build_any_redis(cluster_settings))
    prefixes = [f"test-{uuid.uuid4().hex[:10]}" for _ in range(2)]
    real = backfill_cluster_writer.advance_marker
    calls: list[int] = []

    def stop_after(client: RedisCluster, prefix: str, done: int, now_ms: int) -> None:
        if len(calls) == recorded:
            raise _StoppedError
        calls.append(done)
        real(client, prefix, done, now_ms)

    monkeypatch.setattr(backfill_writer, "CHUNK_ENTRIES", 500)
    try:
        monkeypatch.setattr(backfill_cluster_writer, "advance_marker", stop_after)
        with pytest.raises(_StoppedError):
            backfill(_store(target, prefixes[0]), history)
        monkeypatch.setattr(backfill_cluster_writer, "advance_marker", real)
        stopped = Marker.read(target.client, prefixes[0])
        assert stopped is not None
        assert stopped.status == "writing"
        assert stopped.done == (calls[-1] if calls else 0)
        held = sum(1 for _ in scan_keys(target.client, f"{prefixes[0]}:[cm]:*:h"))
        assert held > stopped.done  # written, not yet counted

        resumed = backfill(_store(target, prefixes[0]), history)
        assert resumed.resumed_at == stopped.done
        backfill(_store(target, prefixes[1]), history)
        assert _content(target.client, prefixes[0]) == _content(target.client, prefixes[1])
        done = Marker.read(target.client, prefixes[0])
        assert done is not None
        assert (done.status, done.done) == ("done", done.total)
        assert backfill(_store(target, prefixes[0]), history).already_done
    finally:
        for prefix in prefixes:
            delete_prefix(target.client, prefix)
        target.client.close()


def test_newer_live_state_is_refused_and_left_alone(
    target: Target, prefix: str, history: History
) -> None:
    live = _store(target, prefix)
    t = int(UNTIL.timestamp() * 1000) + 60_000  # after --until
    live.process([FeatureRequest("live-1", t, 1000, "card-x", "m-x")])
    before = _dump(target.client, prefix)
    with pytest.raises(BackfillRefusedError, match="newer live state") as refused:
        backfill(_store(target, prefix), history)
    assert refused.value.exit_code == 73
    assert _dump(target.client, prefix) == before


def test_older_state_no_backfill_wrote_is_refused(
    target: Target, prefix: str, history: History
) -> None:
    """Every entity is found (on a cluster they spread over every master)."""
    old = [
        FeatureRequest(f"old-{i}", 1_700_000_000_000 + i, 1, f"c{i}", f"m{i}") for i in range(30)
    ]
    _store(target, prefix).process(old)
    with pytest.raises(BackfillRefusedError, match="already holds 60 cards and merchants"):
        backfill(_store(target, prefix), history)


def test_live_writes_after_a_backfill_refuse_it_until_forced(
    target: Target, prefix: str, other_prefix: str, history: History, frame: pd.DataFrame
) -> None:
    """The live script notes its writes in the marker: a rerun refuses; --force
    replaces the feature state, and keeps the keys that are not features."""
    backfill(_store(target, prefix), history)
    target.client.set(f"{prefix}:model:current", b"snapshot")
    t = int(UNTIL.timestamp() * 1000) + 1
    _store(target, prefix).process([FeatureRequest("live-2", t, 500, "card-live", "m-live")])
    marker = Marker.read(target.client, prefix)
    assert marker is not None
    assert marker.live_ms is not None
    with pytest.raises(BackfillRefusedError, match="took live writes"):
        backfill(_store(target, prefix), history)

    later = history_from_frame(frame, UNTIL + pd.Timedelta(days=2), label_delay=DELAY)
    forced = backfill(_store(target, prefix), later, force=True)
    assert not forced.already_done
    backfill(_store(target, other_prefix), later)
    assert _content(target.client, prefix) == _content(target.client, other_prefix)
    assert target.client.get(f"{prefix}:model:current") == b"snapshot"
    assert target.client.exists(target.key(prefix, "c", "card-live", "t")) == 0
    again = Marker.read(target.client, prefix)
    assert again is not None
    assert again.live_ms is None


def test_live_writes_during_a_backfill_fail_it(
    target: Target, prefix: str, history: History
) -> None:
    live = _store(target, prefix)
    wrote: list[int] = []

    def meanwhile(written: int, total: int) -> None:
        if written and not wrote:
            live.process([FeatureRequest("during", 1_713_000_000_000, 1, "c-d", "m-d")])
            wrote.append(written)

    with pytest.raises(BackfillRefusedError, match="during the backfill"):
        backfill(_store(target, prefix), history, progress=meanwhile)
    with pytest.raises(BackfillRefusedError, match="took live writes"):
        backfill(_store(target, prefix), history)


def test_keys_get_the_ttl_left_to_them(target: Target, prefix: str) -> None:
    """Live, keys expire a TTL after the entity's last write: an entity idle longer
    than that at --until is left out, the others keep what is left of their TTL."""
    ttl = 10 * DAY_MS
    until = 1_713_000_000_000
    rows = [  # (id, days before until, card, merchant)
        ("t1", 12.0, "idle", "m-idle"),
        ("t2", 3.0, "busy", "m-busy"),
        ("t3", 0.5, "busy", "m-busy"),
    ]
    transactions = pd.DataFrame(
        {
            "transaction_id": [r[0] for r in rows],
            "event_time": pd.to_datetime([until - int(r[1] * DAY_MS) for r in rows], unit="ms"),
            "card_id": [r[2] for r in rows],
            "merchant_id": [r[3] for r in rows],
            "amount": [10.0, 20.0, 30.0],
        }
    ).assign(event_time=lambda f: f["event_time"].dt.tz_localize("UTC"))
    labels = pd.DataFrame(columns=["transaction_id", "merchant_id", "event_time", "known_before"])
    store = _store(target, prefix, FeatureConfig(key_ttl_ms=ttl))
    client = target.client
    now = int(client.time()[0]) * 1000
    result = backfill(store, History(transactions, labels, until_ms=until))
    assert (result.cards, result.merchants, result.expired) == (1, 1, 2)
    for key in (target.key(prefix, "c", "idle", "t"), target.key(prefix, "m", "m-idle", "h")):
        assert client.exists(key) == 0
    left = ttl - DAY_MS // 2
    busy = [target.key(prefix, "c", "busy", s) for s in ("t", "h")]
    for key in (*busy, target.key(prefix, "m", "m-busy", "t")):
        assert left - 60_000 < client.pttl(key) <= left
    exp = int(client.hget(busy[1], "_exp") or 0)
    assert abs(exp - (now - DAY_MS // 2)) < 60_000


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("fraudstream")
    assert exe, "the fraudstream console script is not installed"
    return subprocess.run(
        [exe, "features", "backfill", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
        check=False,
    )


def test_the_command(target: Target, prefix: str, tmp_path: Path, frame: pd.DataFrame) -> None:
    """The same command on one Redis and, with REDIS_CLUSTER_NODES set, on a cluster."""
    data = tmp_path / "sim.parquet"
    write_parquet_atomic(frame, data)
    env = {**target.env(), "FEATURES_KEY_PREFIX": prefix}
    done = _cli(str(data), "--until", "2024-04-15", env=env)
    assert done.returncode == 0, done.stderr
    assert "backfilled" in done.stdout
    assert "tx/s" in done.stdout
    assert "entries" in done.stderr  # the progress bar
    assert target.client.exists(marker_key(prefix)) == 1

    again = _cli(str(data), "--until", "2024-04-15", env=env)
    assert again.returncode == 0, again.stderr
    assert "already backfilled" in again.stdout

    other = _cli(str(data), "--until", "2024-04-16", env=env)
    assert other.returncode == 73
    assert other.stderr.strip().startswith("error:")
    assert "another backfill" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1

    forced = _cli(str(data), "--until", "2024-04-16", "--force", env=env)
    assert forced.returncode == 0, forced.stderr
