"""Backfill, every feature store (in memory, one Redis, a Redis Cluster): streaming on
from a backfilled store gives exactly the features streaming from the start gives, and
the store holds exactly the same state."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.features.backfill import backfill
from fraudstream.features.definitions import DAY_MS, FEATURE_NAMES, HOUR_MS, FeatureConfig
from fraudstream.features.history import History, event_ms, history_from_frame
from fraudstream.features.memory_store import MemoryFeatureStore
from fraudstream.features.redis_cluster_store import RedisClusterFeatureStore
from fraudstream.features.redis_store import RedisFeatureStore, scan_keys
from fraudstream.features.redis_stores import AnyRedisFeatureStore
from fraudstream.features.store import FeatureStore, FraudReport
from fraudstream.testing.streams import Stream, messy_stream

from .conftest import StoreFactory
from .test_feature_store import _run

CONFIGS = [
    (1, FeatureConfig()),
    (2, FeatureConfig(lateness_ms=2 * HOUR_MS, label_delay_ms=2 * DAY_MS)),
    (3, FeatureConfig(max_events_per_entity=25)),
    (4, FeatureConfig(max_events_per_entity=1)),
]
CONFIG_IDS = ["defaults", "short-lateness", "capped", "cap-of-one"]


def _split(stream: Stream, k: int) -> tuple[History, Stream]:
    """The first ``k`` deliveries as a history (with the reports due by then), and the
    rest as a stream whose reports keep their place."""
    labels = stream.fraud_labels
    head = stream.transactions.iloc[:k].reset_index(drop=True)
    until = int(event_ms(head["event_time"]).max()) + 1
    due = labels["known_before"] <= k
    history = History(head, labels[due].reset_index(drop=True), until_ms=until)
    later = labels[~due].assign(known_before=labels["known_before"][~due] - k)
    rest = Stream(stream.transactions.iloc[k:].reset_index(drop=True), later)
    return history, rest


def _assert_identical(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Every feature bit for bit (the same arithmetic on the same state), every flag."""
    expected = expected.reset_index(drop=True)
    for name in FEATURE_NAMES:
        np.testing.assert_array_equal(got[name].to_numpy(), expected[name].to_numpy(), name)
    assert got["duplicate"].tolist() == expected["duplicate"].tolist()
    assert got["late"].tolist() == expected["late"].tolist()


@pytest.mark.parametrize("share", [0.3, 0.7])
@pytest.mark.parametrize(("seed", "config"), CONFIGS, ids=CONFIG_IDS)
def test_backfill_then_stream_matches_streaming_from_the_start(
    make_store: StoreFactory, seed: int, config: FeatureConfig, share: float
) -> None:
    """Duplicates, out-of-order and too-late deliveries, equal times, fraud reports and
    caps, on both sides of the split."""
    stream = messy_stream(2_500, seed=seed)
    expected = _run(make_store(config), stream.transactions, stream.fraud_labels, 200)
    k = int(len(stream.transactions) * share)
    history, rest = _split(stream, k)
    store = make_store(config)
    result = backfill(store, history)
    got = _run(store, rest.transactions, rest.fraud_labels, 200)
    tail = expected.iloc[k:]
    assert tail["duplicate"].sum() > 10
    assert tail["late"].sum() > 2
    assert len(history.fraud_labels) > 10
    if config.max_events_per_entity > 1:  # with one kept, no window ends D back
        assert (tail["merchant_fraud_share_30d"] > 0).sum() > 50
    if config.max_events_per_entity < 100:
        assert result.replayed > 0  # the cap: entities replayed one delivery at a time
    else:
        assert result.replayed == 0  # all in bulk
    _assert_identical(got, tail)


def _changed_repeats(n: int, seed: int) -> Stream:
    """A messy stream where repeated deliveries carry another event time or amount."""
    stream = messy_stream(n, seed=seed, duplicate_share=0.08)
    frame = stream.transactions.copy()
    repeats = frame.index[frame["transaction_id"].duplicated()]
    frame.loc[repeats[::2], "event_time"] += pd.Timedelta(minutes=7)
    frame.loc[repeats[1::2], "amount"] += 1.25
    return Stream(frame, stream.fraud_labels)


def test_repeats_with_another_time_are_replayed_exactly(make_store: StoreFactory) -> None:
    """A repeated id with another event time or amount breaks the bulk shortcut: those
    entities take the one-by-one path, and the result is still exact."""
    changed = _changed_repeats(2_000, seed=5)
    frame, config = changed.transactions, FeatureConfig()
    expected = _run(make_store(config), frame, changed.fraud_labels, 150)
    history, rest = _split(changed, 1_200)
    store = make_store(config)
    assert backfill(store, history).replayed > 0
    _assert_identical(_run(store, rest.transactions, rest.fraud_labels, 150), expected.iloc[1_200:])


def _simulated(days: int, seed: int) -> pd.DataFrame:
    return simulate(SimulatorConfig(customers=300, terminals=150, days=days, seed=seed))


def test_a_dataset_backfilled_until_a_day_then_replayed_from_it(make_store: StoreFactory) -> None:
    """The command's path: a dataset's history until a moment (labels a label delay
    late), then the stream from that moment, against the stream from the first day."""
    frame = _simulated(days=20, seed=3)
    delay = timedelta(days=7)
    config = FeatureConfig(label_delay_ms=7 * DAY_MS)
    times = event_ms(frame["event_time"])
    frauds = frame.index[frame["is_fraud"] == 1]
    labels = pd.DataFrame(
        {
            "transaction_id": frame.loc[frauds, "transaction_id"].to_numpy(),
            "merchant_id": frame.loc[frauds, "merchant_id"].to_numpy(),
            "event_time": frame.loc[frauds, "event_time"].to_numpy(),
            "known_before": np.searchsorted(times, times[frauds] + 7 * DAY_MS),
        }
    )
    expected = _run(make_store(config), frame, labels, 500)
    until = pd.Timestamp("2024-04-14 13:00", tz="UTC")
    k = int(np.searchsorted(times, event_ms(pd.Series([until]))[0]))
    history = history_from_frame(frame, until, label_delay=delay)
    assert len(history) == k
    known = times[frauds] + 7 * DAY_MS <= event_ms(pd.Series([until]))[0]
    reported = set(history.fraud_labels["transaction_id"])
    assert reported == set(labels["transaction_id"][known])
    store = make_store(config)
    assert backfill(store, history).replayed == 0
    # the rest reach the store as the live learner would bring them: at their place
    later = labels[~labels["transaction_id"].isin(reported)]
    later = later.assign(known_before=np.maximum(0, later["known_before"] - k))
    got = _run(store, frame.iloc[k:].reset_index(drop=True), later, 500)
    assert (expected.iloc[k:]["merchant_fraud_share_7d"] > 0).sum() > 20
    _assert_identical(got, expected.iloc[k:])


def _memory_state(store: MemoryFeatureStore) -> dict[tuple[str, str], object]:
    state = store._state
    held: dict[tuple[str, str], object] = {}
    for card, history in state.cards.items():
        held[("card", card)] = (history.kept(), history.max_t)
    for merchant, merchant_history in state.merchants.items():
        held[("merchant", merchant)] = (
            merchant_history.kept(),
            merchant_history.max_t,
            merchant_history.frauds(),
        )
    return held


def redis_state(store: AnyRedisFeatureStore) -> dict[str, object]:
    """Every feature key's content (hashes without the wall-clock ``_exp``), and
    whether it expires within the TTL (on every master of a cluster)."""
    client = store.client
    held: dict[str, object] = {}
    for key in scan_keys(client, f"{store.prefix}:[cm]:*"):
        name = key.decode().removeprefix(store.prefix)
        kind = client.type(key)
        if kind == b"hash":
            value: object = {f: v for f, v in client.hgetall(key).items() if f != b"_exp"}
        else:
            value = client.zrange(key, 0, -1, withscores=True)
        ttl = client.pttl(key)
        held[name] = (value, 0 < ttl <= store.config.key_ttl_ms)
    return held


def _state(store: FeatureStore) -> object:
    if isinstance(store, MemoryFeatureStore):
        return _memory_state(store)
    assert isinstance(store, RedisFeatureStore | RedisClusterFeatureStore)
    return redis_state(store)


@pytest.mark.parametrize("changed", [False, True], ids=["messy", "changed-repeats"])
@pytest.mark.parametrize(("seed", "config"), CONFIGS, ids=CONFIG_IDS)
def test_the_backfilled_state_is_the_streamed_state(
    make_store: StoreFactory, seed: int, config: FeatureConfig, changed: bool
) -> None:
    """Same entries, running totals (and their base once some were removed), latest
    and oldest times, counts, fraud sets and flags, every key with a TTL: only the
    wall-clock time of the last TTL refresh may differ."""
    stream = _changed_repeats(1_500, seed + 10) if changed else messy_stream(1_500, seed=seed)
    history, _ = _split(stream, 1_100)
    streamed = make_store(config)
    _run(streamed, history.transactions, history.fraud_labels, 100)
    # reports due after the last delivery (the backfill delivers them last too)
    last = history.fraud_labels[history.fraud_labels["known_before"] == len(history)]
    streamed.report_frauds(
        [
            FraudReport(r.transaction_id, r.merchant_id, t)
            for r, t in zip(last.itertuples(), event_ms(last["event_time"]), strict=True)
        ]
    )
    backfilled = make_store(config)
    backfill(backfilled, history)
    expected, got = _state(streamed), _state(backfilled)
    assert expected == got
    assert len(expected) > 40  # type: ignore[arg-type]
