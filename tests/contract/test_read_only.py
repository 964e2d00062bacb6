"""The read-only variant of every feature store: it answers what recording would, and
records nothing."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest
import redis

from fraudstream.features.definitions import DAY_MS, HOUR_MS, FeatureConfig, epoch_ms
from fraudstream.features.redis_store import RedisFeatureStore, delete_prefix
from fraudstream.features.store import FeatureBatch, FeatureRequest, FraudReport
from fraudstream.features.store import requests_from_frame as requests_of
from fraudstream.testing.streams import messy_stream

from .conftest import StoreFactory

T0 = 1_712_000_000_000


def _reports(labels: pd.DataFrame) -> dict[int, list[FraudReport]]:
    return {
        int(position): [
            FraudReport(r.transaction_id, r.merchant_id, t)
            for r, t in zip(group.itertuples(), epoch_ms(group["event_time"]), strict=True)
        ]
        for position, group in labels.groupby("known_before")
    }


def _same(read: FeatureBatch, recorded: FeatureBatch, where: str) -> None:
    np.testing.assert_allclose(read.values, recorded.values, rtol=1e-12, atol=1e-9, err_msg=where)
    assert read.duplicate.tolist() == recorded.duplicate.tolist(), where
    assert read.late.tolist() == recorded.late.tolist(), where


def _redis_state(store: object) -> dict[bytes, tuple[bytes | None, bool]]:
    """Every key of a Redis store's prefix: its serialized value and whether it expires."""
    assert isinstance(store, RedisFeatureStore)
    client: redis.Redis = store._client
    keys = sorted(client.scan_iter(match=f"{store._prefix}:*", count=10_000))
    return {k: (client.dump(k), client.pttl(k) > 0) for k in keys}


@pytest.mark.parametrize(
    ("seed", "config"),
    [
        (11, FeatureConfig()),
        (12, FeatureConfig(lateness_ms=2 * HOUR_MS, label_delay_ms=2 * DAY_MS)),
        (13, FeatureConfig(max_events_per_entity=25)),
        (14, FeatureConfig(max_events_per_entity=1)),
    ],
    ids=["defaults", "short-lateness", "capped", "cap-of-one"],
)
def test_reading_answers_what_recording_then_returns(
    make_store: StoreFactory, seed: int, config: FeatureConfig
) -> None:
    """Each delivery of a messy stream is read first, then recorded: same answer.

    The stream has duplicates, late and too-late deliveries, equal timestamps, fraud
    reports and (capped configs) per-entity caps, so every branch of recording is met.
    """
    stream = messy_stream(1_200, seed=seed)
    store = make_store(config)
    reports = _reports(stream.fraud_labels)
    kinds = {"duplicate": 0, "late": 0, "recorded": 0}
    for position, request in enumerate(requests_of(stream.transactions)):
        store.report_frauds(reports.get(position, []))
        read = store.read([request])
        recorded = store.process([request])
        _same(read, recorded, f"delivery {position}: {request}")
        kind = "duplicate" if recorded.duplicate[0] else "late" if recorded.late[0] else "recorded"
        kinds[kind] += 1
    assert kinds["duplicate"] > 20
    assert kinds["late"] > 3


def test_a_read_batch_is_each_transaction_alone(make_store: StoreFactory) -> None:
    store = make_store(FeatureConfig())
    store.process([FeatureRequest("a", T0, 1000, "k", "m")])
    probes = [
        FeatureRequest("b", T0 + 60_000, 3000, "k", "m"),
        FeatureRequest("c", T0 + 120_000, 5000, "k", "m"),
        FeatureRequest("a", T0, 1000, "k", "m"),
    ]
    together = store.read(probes)
    for i, probe in enumerate(probes):
        alone = store.read([probe])
        _same(
            FeatureBatch(
                together.values[i : i + 1], together.duplicate[i : i + 1], together.late[i : i + 1]
            ),
            alone,
            probe.transaction_id,
        )
    assert together.duplicate.tolist() == [False, False, True]
    # "c" does not see "b": both see "a" and themselves
    assert together.values[:2, 0].tolist() == [2.0, 2.0]
    assert store.read([]).values.shape[0] == 0


@pytest.mark.integration
@pytest.mark.parametrize("config", [FeatureConfig(), FeatureConfig(max_events_per_entity=5)])
def test_reading_leaves_redis_unchanged(redis_url: str, config: FeatureConfig) -> None:
    stream = messy_stream(600, seed=21)
    client = redis.Redis.from_url(redis_url)
    prefix = f"test-ro-{uuid.uuid4().hex[:10]}"
    store = RedisFeatureStore(client, config, prefix=prefix)
    try:
        _record_then_read(store, requests_of(stream.transactions))
    finally:
        delete_prefix(client, prefix)
        client.close()


def _record_then_read(store: RedisFeatureStore, requests: list[FeatureRequest]) -> None:
    history, probes = requests[:500], requests[400:]  # old (duplicates) and new ones
    for begin in range(0, len(history), 100):
        store.process(history[begin : begin + 100])
    store.report_frauds(
        [FraudReport(r.transaction_id, r.merchant_id or "m0", r.event_ms) for r in history[::7]]
    )
    before = _redis_state(store)
    read = store.read(probes)
    assert _redis_state(store) == before
    assert len(read) == len(probes)
    assert read.duplicate.any()  # probes 400-499 were recorded (unless capped away)
