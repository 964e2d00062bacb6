"""One contract, every feature store: each must answer what the reference computes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudstream.features.definitions import (
    DAY_MS,
    FEATURE_NAMES,
    HOUR_MS,
    FeatureConfig,
    epoch_ms,
)
from fraudstream.features.reference import compute_features
from fraudstream.features.store import (
    FeatureBatch,
    FeatureRequest,
    FeatureStore,
    FraudReport,
    requests_from_frame,
)
from fraudstream.testing.streams import messy_stream

from .conftest import StoreFactory

T0 = 1_712_000_000_000  # 2024-04-01 19:33:20 UTC


def _run(
    store: FeatureStore,
    frame: pd.DataFrame,
    labels: pd.DataFrame,
    batch_size: int,
    part_size: int | None = None,
) -> pd.DataFrame:
    """Feed the store in batches, delivering each fraud report at its position; with
    ``part_size``, each batch goes in parts of that size through ``process_parts``."""
    requests = requests_from_frame(frame)
    reports = {
        position: [
            FraudReport(r.transaction_id, r.merchant_id, t)
            for r, t in zip(group.itertuples(), epoch_ms(group["event_time"]), strict=True)
        ]
        for position, group in labels.groupby("known_before")
    }
    batches: list[FeatureBatch] = []
    begin = 0
    while begin < len(requests):
        end = min(begin + batch_size, len(requests))
        due = [p for p in reports if begin < p < end]
        if due:
            end = min(due)
        store.report_frauds(reports.get(begin, []))
        batch = requests[begin:end]
        if part_size is None:
            batches.append(store.process(batch))
        else:
            parts = [batch[i : i + part_size] for i in range(0, len(batch), part_size)]
            batches += store.process_parts(parts)
        begin = end
    return pd.concat([b.to_frame() for b in batches], ignore_index=True)


def _assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    expected = expected.reset_index(drop=True)
    assert list(got.columns) == [*FEATURE_NAMES, "duplicate", "late"]
    for name in FEATURE_NAMES:
        np.testing.assert_allclose(
            got[name].to_numpy(), expected[name].to_numpy(), rtol=1e-9, atol=1e-9, err_msg=name
        )
    assert got["duplicate"].tolist() == expected["duplicate"].tolist()
    assert got["late"].tolist() == expected["late"].tolist()


@pytest.mark.parametrize(
    ("seed", "config"),
    [
        (1, FeatureConfig()),
        (2, FeatureConfig(lateness_ms=2 * HOUR_MS, label_delay_ms=2 * DAY_MS)),
        (3, FeatureConfig(max_events_per_entity=25)),
    ],
    ids=["defaults", "short-lateness", "capped"],
)
def test_messy_stream_matches_the_reference(
    make_store: StoreFactory, seed: int, config: FeatureConfig
) -> None:
    stream = messy_stream(2_500, seed=seed)
    expected = compute_features(stream.transactions, stream.fraud_labels, config)
    got = _run(make_store(config), stream.transactions, stream.fraud_labels, batch_size=200)
    print(
        f"{len(got)} deliveries: {int(got['duplicate'].sum())} duplicates, "
        f"{int(got['late'].sum())} too late, "
        f"{int((got['merchant_fraud_share_30d'] > 0).sum())} with a fraud share"
    )
    assert got["duplicate"].sum() > 50
    assert got["late"].sum() > 5
    assert (got["merchant_fraud_share_30d"] > 0).sum() > 100
    _assert_same(got, expected)


def test_batches_in_parts_match_the_reference(make_store: StoreFactory) -> None:
    """Parts sent together see each other exactly as consecutive batches would."""
    stream = messy_stream(1_500, seed=4)
    config = FeatureConfig()
    expected = compute_features(stream.transactions, stream.fraud_labels, config)
    store = make_store(config)
    got = _run(store, stream.transactions, stream.fraud_labels, batch_size=300, part_size=70)
    assert got["duplicate"].sum() > 20
    _assert_same(got, expected)


def _req(
    tx: str, minutes: float, cents: int = 1000, card: str | None = "k", merchant: str | None = "m"
) -> FeatureRequest:
    return FeatureRequest(tx, T0 + int(minutes * 60_000), cents, card, merchant)


def _features(batch: FeatureBatch, name: str) -> list[float]:
    return batch.values[:, FEATURE_NAMES.index(name)].tolist()


def test_replaying_a_batch_counts_nothing_twice(make_store: StoreFactory) -> None:
    store = make_store(FeatureConfig())
    batch = [_req("a", 0), _req("b", 10, 3000), _req("c", 20, 500)]
    first = store.process(batch)
    again = store.process(batch)
    assert not first.duplicate.any()
    assert again.duplicate.all()
    np.testing.assert_array_equal(again.values, first.values)
    later = store.process([_req("d", 30)])
    assert _features(later, "card_tx_count_1h") == [4.0]


def test_out_of_order_event_is_placed_at_its_time(make_store: StoreFactory) -> None:
    store = make_store(FeatureConfig())
    store.process([_req("a", 0, 1000), _req("c", 40, 3000)])
    late = store.process([_req("b", 20, 2000)])
    after = store.process([_req("d", 50, 4000)])
    assert _features(late, "card_tx_count_1h") == [2.0]  # a and itself, not c
    assert _features(late, "card_amount_mean_1h") == [15.0]
    assert _features(late, "card_seconds_since_prev") == [1200.0]
    assert _features(after, "card_tx_count_1h") == [4.0]
    assert _features(after, "card_amount_mean_1h") == [25.0]
    assert not late.late.any()


def test_too_late_event_is_flagged_and_not_recorded(make_store: StoreFactory) -> None:
    store = make_store(FeatureConfig(lateness_ms=HOUR_MS))
    store.process([_req("a", 0), _req("b", 180)])
    too_late = store.process([_req("x", 100)])
    after = store.process([_req("c", 190)])
    assert too_late.late.tolist() == [True]
    assert _features(too_late, "card_tx_count_1h") == [1.0]  # only itself
    assert _features(after, "card_tx_count_1d") == [3.0]  # a, b, c: not x


def test_transactions_without_card_or_merchant_get_defaults(make_store: StoreFactory) -> None:
    store = make_store(FeatureConfig())
    batch = store.process(
        [_req("u1", 0, card=None, merchant=None), _req("u2", 1, card=None, merchant=None)]
    )
    row = dict(zip(FEATURE_NAMES, batch.values[1].tolist(), strict=True))
    assert row["card_tx_count_1h"] == 0.0
    assert row["card_seconds_since_prev"] == -1.0
    assert row["card_amount_over_mean_30d"] == 1.0
    assert row["merchant_tx_count_30d"] == 0.0
    assert row["hour_of_day"] == 19.0


def test_fraud_share_uses_only_reported_frauds_old_enough(make_store: StoreFactory) -> None:
    delay = 2 * DAY_MS
    store = make_store(FeatureConfig(label_delay_ms=delay))
    store.process([_req("a", 0), _req("b", 60), _req("c", 120)])
    store.report_frauds([FraudReport("a", "m", T0), FraudReport("zz", "m", T0)])
    minutes = (delay + 3 * HOUR_MS) / 60_000
    batch = store.process([_req("d", minutes)])
    assert _features(batch, "merchant_fraud_share_1d") == [pytest.approx(1 / 3)]
    assert _features(batch, "merchant_tx_count_30d") == [4.0]


def test_recent_fraud_count_uses_reports_at_once(make_store: StoreFactory) -> None:
    store = make_store(FeatureConfig(label_delay_ms=7 * DAY_MS))
    store.process([_req("a", 0), _req("b", 60), _req("c", 120)])
    store.report_frauds([FraudReport("a", "m", T0), FraudReport("b", "m", T0 + 3_600_000)])
    batch = store.process([_req("d", 180)])
    assert _features(batch, "merchant_fraud_count_7d") == [2.0]
    assert _features(batch, "merchant_fraud_share_7d") == [0.0]  # delayed: not yet
    # a week after a, only b is recent
    week = 7 * DAY_MS / 60_000
    assert _features(store.read([_req("e", week + 30)]), "merchant_fraud_count_7d") == [1.0]


def test_empty_batch(make_store: StoreFactory) -> None:
    batch = make_store(FeatureConfig()).process([])
    assert len(batch) == 0
    assert batch.values.shape == (0, len(FEATURE_NAMES))
