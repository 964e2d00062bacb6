"""What a backfill reads: a dataset's or the archive's history up to a moment, and the
in-memory store's refusals."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.features.backfill import backfill
from fraudstream.features.backfill_compute import window_state
from fraudstream.features.backfill_state import KeptSets
from fraudstream.features.definitions import FeatureConfig
from fraudstream.features.errors import BackfillRefusedError
from fraudstream.features.history import History, history_from_frame, until_ms
from fraudstream.features.memory_store import MemoryFeatureStore
from fraudstream.features.served import served_features
from fraudstream.features.store import FeatureRequest
from fraudstream.lake.history import archived_history
from fraudstream.lake.offline import write_archive_from_frame

DELAY = timedelta(days=7)


def _frame(times: list[str], frauds: list[int]) -> pd.DataFrame:
    n = len(times)
    return pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "event_time": pd.to_datetime(times, utc=True),
            "card_id": ["k"] * n,
            "merchant_id": ["m"] * n,
            "amount": [10.0] * n,
            "is_fraud": frauds,
        }
    )


def test_until_is_exclusive_and_a_label_known_at_until_counts() -> None:
    frame = _frame(
        ["2024-04-01 00:00", "2024-04-01 12:00", "2024-04-08 00:00", "2024-04-08 00:01"],
        [1, 1, 0, 0],
    )
    history = history_from_frame(frame, pd.Timestamp("2024-04-08", tz="UTC"), label_delay=DELAY)
    assert history.transactions["transaction_id"].tolist() == ["t0", "t1"]
    # t0's label is known exactly at until: after the last transaction; t1's is not yet
    assert history.fraud_labels[["transaction_id", "known_before"]].values.tolist() == [["t0", 2]]
    assert history.until_ms == until_ms(pd.Timestamp("2024-04-08", tz="UTC"))


def test_a_lookback_keeps_only_what_can_still_matter() -> None:
    frame = _frame(["2024-01-01", "2024-03-01", "2024-04-01"], [0, 0, 0])
    history = history_from_frame(
        frame, pd.Timestamp("2024-04-02", tz="UTC"), label_delay=DELAY, lookback=timedelta(60)
    )
    assert history.transactions["transaction_id"].tolist() == ["t1", "t2"]


def test_the_fingerprint_follows_rows_order_and_settings() -> None:
    frame = _frame(["2024-04-01", "2024-04-02", "2024-04-03"], [0, 1, 0])
    until = pd.Timestamp("2024-04-20", tz="UTC")
    history = history_from_frame(frame, until, label_delay=DELAY)
    same = history_from_frame(frame.copy(), until, label_delay=DELAY)
    config = FeatureConfig()
    assert history.fingerprint(config) == same.fingerprint(config)
    swapped = History(
        history.transactions.iloc[::-1].reset_index(drop=True),
        history.fraud_labels,
        history.until_ms,
    )
    assert swapped.fingerprint(config) != history.fingerprint(config)
    assert history.fingerprint(FeatureConfig(lateness_ms=1)) != history.fingerprint(config)
    later = history_from_frame(frame, until + pd.Timedelta(days=1), label_delay=DELAY)
    assert later.fingerprint(config) != history.fingerprint(config)


def _same_sets(a: KeptSets, b: KeptSets) -> None:
    assert a.entities.tolist() == b.entities.tolist()
    for name in ("latest_ms", "recorded", "recorded_cents", "offsets", "member_ms"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), name)
    assert a.member_ids.tolist() == b.member_ids.tolist()


def test_the_archive_gives_the_state_the_dataset_gives(tmp_path: Path) -> None:
    """The scorer archived what the dataset replayed, labels a label delay late: a
    backfill from either holds the same windows and the same frauds."""
    frame = simulate(SimulatorConfig(customers=150, terminals=80, days=16, seed=4))
    write_archive_from_frame(str(tmp_path), frame, served_features(frame, DELAY), label_delay=DELAY)
    until = pd.Timestamp("2024-04-14 06:00", tz="UTC")
    from_archive = archived_history(str(tmp_path), until, lookback=timedelta(days=80))
    from_dataset = history_from_frame(frame, until, label_delay=DELAY)
    assert len(from_archive) == len(from_dataset) > 1_000
    assert len(from_archive.fraud_labels) == len(from_dataset.fraud_labels) > 5
    config = FeatureConfig()
    archived, replayed = window_state(from_archive, config), window_state(from_dataset, config)
    _same_sets(archived.cards, replayed.cards)
    _same_sets(archived.merchants, replayed.merchants)
    assert archived.store_frauds.ids.tolist() == replayed.store_frauds.ids.tolist()
    np.testing.assert_array_equal(archived.store_frauds.offsets, replayed.store_frauds.offsets)


def test_an_empty_archive_is_a_data_error(tmp_path: Path) -> None:
    from fraudstream.errors import DataFileError

    with pytest.raises(DataFileError, match="no archived transaction"):
        archived_history(str(tmp_path), pd.Timestamp("2024-04-14"), lookback=timedelta(days=3))


def test_the_memory_store_refuses_state_unless_forced() -> None:
    frame = _frame(["2024-04-01", "2024-04-02"], [0, 0])
    history = history_from_frame(frame, pd.Timestamp("2024-04-03", tz="UTC"), label_delay=DELAY)
    store = MemoryFeatureStore()
    store.process([FeatureRequest("x", 1_711_000_000_000, 100, "other", None)])
    with pytest.raises(BackfillRefusedError, match="already holds state"):
        backfill(store, history)
    result = backfill(store, history, force=True)
    assert (result.cards, result.merchants, result.entries) == (1, 1, 4)
    with pytest.raises(ValueError, match="other feature settings"):
        store.load(window_state(history, FeatureConfig(lateness_ms=5)).feature_state())
