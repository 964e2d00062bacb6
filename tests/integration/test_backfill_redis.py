"""Backfilling Redis as an operator runs it: idempotent, resumable after a kill,
refusing to write over live or foreign state unless forced, TTLs as live, the CLI."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import redis

from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.features import backfill_writer
from fraudstream.features.backfill import backfill
from fraudstream.features.backfill_marker import Marker, marker_key
from fraudstream.features.definitions import DAY_MS, FeatureConfig
from fraudstream.features.errors import BackfillRefusedError
from fraudstream.features.history import History, history_from_frame
from fraudstream.features.redis_store import RedisFeatureStore, delete_prefix
from fraudstream.features.store import FeatureRequest

UNTIL = pd.Timestamp("2024-04-15", tz="UTC")
DELAY = pd.Timedelta(days=7)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Twenty simulated days of 400 cards and 200 terminals."""
    return simulate(SimulatorConfig(customers=400, terminals=200, days=20, seed=11))


@pytest.fixture
def history(frame: pd.DataFrame) -> History:
    return history_from_frame(frame, UNTIL, label_delay=DELAY, source="simulated")


@pytest.fixture
def other_prefix(client: redis.Redis) -> Iterator[str]:
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    yield prefix
    delete_prefix(client, prefix)


def _store(client: redis.Redis, prefix: str) -> RedisFeatureStore:
    return RedisFeatureStore(client, FeatureConfig(), prefix=prefix)


def _content(client: redis.Redis, prefix: str) -> dict[str, object]:
    """Feature keys' content, without the wall-clock ``_exp``."""
    held: dict[str, object] = {}
    for key in client.scan_iter(match=f"{prefix}:[cm]:*", count=10_000):
        name = key.decode().removeprefix(prefix)
        if client.type(key) == b"hash":
            held[name] = {f: v for f, v in client.hgetall(key).items() if f != b"_exp"}
        else:
            held[name] = client.zrange(key, 0, -1, withscores=True)
    return held


def _dump(client: redis.Redis, prefix: str) -> dict[bytes, bytes | None]:
    """Every key under the prefix, serialized byte for byte."""
    return {k: client.dump(k) for k in sorted(client.scan_iter(match=f"{prefix}:*"))}


def test_a_second_run_changes_nothing(client: redis.Redis, prefix: str, history: History) -> None:
    first = backfill(_store(client, prefix), history)
    assert first.cards > 300
    assert first.merchants > 150
    assert first.frauds > 0
    before = _dump(client, prefix)
    again = backfill(_store(client, prefix), history)
    assert again.already_done
    assert _dump(client, prefix) == before


def test_a_killed_run_resumes_where_it_stopped(
    client: redis.Redis,
    prefix: str,
    other_prefix: str,
    redis_url: str,
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
import sys, time, redis
from datetime import timedelta
from pathlib import Path
from fraudstream.features import backfill_writer
from fraudstream.features.backfill import backfill
from fraudstream.features.definitions import FeatureConfig
from fraudstream.features.history import load_history
from fraudstream.features.redis_store import RedisFeatureStore
backfill_writer.CHUNK_ENTRIES = 500
history = load_history(Path({str(data)!r}), {UNTIL.isoformat()!r}, label_delay=timedelta(days=7))
store = RedisFeatureStore(redis.Redis.from_url({redis_url!r}), FeatureConfig(), prefix={prefix!r})
backfill(store, history, progress=lambda written, total: time.sleep(0.2))
"""
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            marker = Marker.read(client, prefix)
            if marker is not None and marker.done > 0:
                break
            assert child.poll() is None, "the backfill ended before it could be killed"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    killed = Marker.read(client, prefix)
    assert killed is not None
    assert killed.status == "writing"
    assert 0 < killed.done < killed.total

    monkeypatch.setattr(backfill_writer, "CHUNK_ENTRIES", 500)
    seen: list[int] = []
    resumed = backfill(
        _store(client, prefix), history, progress=lambda written, total: seen.append(written)
    )
    assert resumed.resumed_at >= killed.done
    assert seen[0] > 0  # the entries written before the kill count as done
    backfill(_store(client, other_prefix), history)
    assert _content(client, prefix) == _content(client, other_prefix)
    marker = Marker.read(client, prefix)
    assert marker is not None
    assert marker.status == "done"


def test_newer_live_state_is_refused_and_left_alone(
    client: redis.Redis, prefix: str, history: History
) -> None:
    live = _store(client, prefix)
    t = int(UNTIL.timestamp() * 1000) + 60_000  # after --until
    live.process([FeatureRequest("live-1", t, 1000, "card-x", "m-x")])
    before = _dump(client, prefix)
    with pytest.raises(BackfillRefusedError, match="newer live state") as refused:
        backfill(_store(client, prefix), history)
    assert refused.value.exit_code == 73
    assert _dump(client, prefix) == before


def test_older_state_no_backfill_wrote_is_refused(
    client: redis.Redis, prefix: str, history: History
) -> None:
    _store(client, prefix).process([FeatureRequest("old-1", 1_700_000_000_000, 1, "c", "m")])
    with pytest.raises(BackfillRefusedError, match="no backfill wrote"):
        backfill(_store(client, prefix), history)


def test_live_writes_after_a_backfill_refuse_it_until_forced(
    client: redis.Redis, prefix: str, other_prefix: str, history: History, frame: pd.DataFrame
) -> None:
    """The live script notes its writes in the marker: a rerun refuses; --force
    replaces the feature state, and keeps the keys that are not features."""
    backfill(_store(client, prefix), history)
    client.set(f"{prefix}:model:current", b"snapshot")
    t = int(UNTIL.timestamp() * 1000) + 1
    _store(client, prefix).process([FeatureRequest("live-2", t, 500, "card-live", "m-live")])
    marker = Marker.read(client, prefix)
    assert marker is not None
    assert marker.live_ms is not None
    with pytest.raises(BackfillRefusedError, match="took live writes"):
        backfill(_store(client, prefix), history)

    later = history_from_frame(frame, UNTIL + pd.Timedelta(days=2), label_delay=DELAY)
    forced = backfill(_store(client, prefix), later, force=True)
    assert not forced.already_done
    backfill(_store(client, other_prefix), later)
    assert _content(client, prefix) == _content(client, other_prefix)
    assert client.get(f"{prefix}:model:current") == b"snapshot"
    assert client.exists(f"{prefix}:c:card-live:t") == 0
    again = Marker.read(client, prefix)
    assert again is not None
    assert again.live_ms is None


def test_live_writes_during_a_backfill_fail_it(
    client: redis.Redis, prefix: str, history: History
) -> None:
    live = _store(client, prefix)
    wrote: list[int] = []

    def meanwhile(written: int, total: int) -> None:
        if written and not wrote:
            live.process([FeatureRequest("during", 1_713_000_000_000, 1, "c-d", "m-d")])
            wrote.append(written)

    with pytest.raises(BackfillRefusedError, match="during the backfill"):
        backfill(_store(client, prefix), history, progress=meanwhile)
    with pytest.raises(BackfillRefusedError, match="took live writes"):
        backfill(_store(client, prefix), history)


def test_keys_get_the_ttl_left_to_them(client: redis.Redis, prefix: str) -> None:
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
    store = RedisFeatureStore(client, FeatureConfig(key_ttl_ms=ttl), prefix=prefix)
    now = int(client.time()[0]) * 1000
    result = backfill(store, History(transactions, labels, until_ms=until))
    assert (result.cards, result.merchants, result.expired) == (1, 1, 2)
    assert client.exists(f"{prefix}:c:idle:t", f"{prefix}:m:m-idle:h") == 0
    left = ttl - DAY_MS // 2
    for key in (f"{prefix}:c:busy:t", f"{prefix}:c:busy:h", f"{prefix}:m:m-busy:t"):
        assert left - 60_000 < client.pttl(key) <= left
    exp = int(client.hget(f"{prefix}:c:busy:h", "_exp") or 0)
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


def test_the_command(
    client: redis.Redis, prefix: str, redis_url: str, tmp_path: Path, frame: pd.DataFrame
) -> None:
    data = tmp_path / "sim.parquet"
    write_parquet_atomic(frame, data)
    env = {"REDIS_URL": redis_url, "FEATURES_KEY_PREFIX": prefix}
    done = _cli(str(data), "--until", "2024-04-15", env=env)
    assert done.returncode == 0, done.stderr
    assert "backfilled" in done.stdout
    assert "tx/s" in done.stdout
    assert "entries" in done.stderr  # the progress bar
    assert client.exists(marker_key(prefix)) == 1

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
