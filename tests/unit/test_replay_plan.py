"""The replay plan: what is sent, in which order, when, with which key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pandas as pd
import pytest

from fraudstream.datasets import Dataset, load_dataset
from fraudstream.replay.plan import (
    CHUNK_SIZE,
    Pace,
    ReplayOptions,
    plan_chunks,
    plan_items,
    planned_transactions,
)
from fraudstream.schemas import Transaction, TransactionWire, decode_label, decode_transaction
from fraudstream.testing.files import write_sparkov_csv, write_ulb_csv

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _dataset(seconds: list[int], cards: list[str | None] | None = None) -> Dataset:
    n = len(seconds)
    frame = pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "event_time": [pd.Timestamp(T0 + timedelta(seconds=s)) for s in seconds],
            "card_id": cards or [f"c{i % 3}" for i in range(n)],
            "merchant_id": [None] * n,
            "amount": [float(i) for i in range(n)],
            "is_fraud": [i % 2 for i in range(n)],
        }
    )
    return Dataset("test", "mem", frame)


def _options(**changes: object) -> ReplayOptions:
    fields: dict[str, object] = {"pace": Pace("max"), "label_delay": timedelta(0)}
    fields.update(changes)
    return ReplayOptions(**fields)  # type: ignore[arg-type]


def test_every_row_is_one_transaction_and_one_label() -> None:
    items = list(plan_items(_dataset([0, 5, 10, 15]), _options()))
    txs = [decode_transaction(i.value) for i in items if not i.is_label]
    labels = [decode_label(i.value) for i in items if i.is_label]
    assert [t.transaction_id for t in txs] == ["t0", "t1", "t2", "t3"]
    assert [label.transaction_id for label in labels] == ["t0", "t1", "t2", "t3"]
    assert [label.is_fraud for label in labels] == [False, True, False, True]


def test_zero_delay_label_follows_its_transaction() -> None:
    kinds = [(i.is_label, i.key) for i in plan_items(_dataset([0, 0, 7]), _options())]
    assert kinds == [
        (False, b"c0"),
        (False, b"c1"),
        (True, b"c0"),
        (True, b"c1"),
        (False, b"c2"),
        (True, b"c2"),
    ]


def test_labels_are_placed_at_event_time_plus_delay() -> None:
    options = _options(label_delay=timedelta(seconds=12))
    order = [
        ("L" if i.is_label else "T") + decode_label(i.value).transaction_id[1:]
        if i.is_label
        else "T" + decode_transaction(i.value).transaction_id[1:]
        for i in plan_items(_dataset([0, 5, 10, 15, 20]), options)
    ]
    assert order == ["T0", "T1", "T2", "L0", "T3", "L1", "T4", "L2", "L3", "L4"]
    label = next(decode_label(i.value) for i in plan_items(_dataset([0]), options) if i.is_label)
    assert label.labelled_at == T0 + timedelta(seconds=12)


def test_speed_divides_event_time() -> None:
    options = _options(pace=Pace("speed", 5.0), label_delay=timedelta(seconds=10))
    dues = [(i.is_label, i.due) for i in plan_items(_dataset([0, 5, 20]), options)]
    assert dues == [(False, 0.0), (False, 1.0), (True, 2.0), (True, 3.0), (False, 4.0), (True, 6.0)]


def test_rate_spaces_transactions_evenly_and_labels_ride_along() -> None:
    options = _options(pace=Pace("rate", 4.0), label_delay=timedelta(seconds=6))
    dues = [(i.is_label, i.due) for i in plan_items(_dataset([0, 5, 10, 100]), options)]
    # labels at 6, 11, 16 and 106: the first goes out with t2 (time 10), the next two
    # with t3 (time 100), the last after the last transaction, at the end of the pass
    assert dues == [
        (False, 0.0),
        (False, 0.25),
        (True, 0.5),
        (False, 0.5),
        (True, 0.75),
        (True, 0.75),
        (False, 0.75),
        (True, 1.0),
    ]


def test_label_fraction_is_a_seeded_sample() -> None:
    data = _dataset(list(range(0, 2000, 2)))
    labels = [i for i in plan_items(data, _options(label_fraction=0.3, seed=5)) if i.is_label]
    again = [i for i in plan_items(data, _options(label_fraction=0.3, seed=5)) if i.is_label]
    assert 240 < len(labels) < 360
    assert labels == again
    assert not [i for i in plan_items(data, _options(label_fraction=0.0)) if i.is_label]


def test_limit_start_and_end_select_transactions() -> None:
    data = _dataset([0, 10, 20, 30, 40])
    options = _options(start=T0 + timedelta(seconds=10), end=T0 + timedelta(seconds=40), limit=2)
    ids = [
        decode_transaction(i.value).transaction_id
        for i in plan_items(data, options)
        if not i.is_label
    ]
    assert ids == ["t1", "t2"]
    assert planned_transactions(data, options) == 2


@pytest.mark.parametrize("pace", [Pace("speed", 10.0), Pace("rate", 1.0)])
def test_a_replay_from_start_sends_the_labels_of_earlier_transactions_due_after_it(
    pace: Pace,
) -> None:
    data = _dataset([0, 10, 20, 30, 40])
    start = T0 + timedelta(seconds=25)
    options = _options(pace=pace, start=start, label_delay=timedelta(seconds=10))
    items = list(plan_items(data, options))
    sent = [
        ("label", decode_label(i.value).transaction_id)
        if i.is_label
        else ("tx", decode_transaction(i.value).transaction_id)
        for i in items
    ]
    # t0 and t1 were labelled before the start; t2's label (at 30 s) comes after it
    assert sent == [
        ("tx", "t3"),
        ("label", "t2"),
        ("tx", "t4"),
        ("label", "t3"),
        ("label", "t4"),
    ]
    assert [i.due for i in items] == sorted(i.due for i in items)
    assert items[0].due == 0.0
    assert planned_transactions(data, options) == 2
    assert sum(c.transactions for c in plan_chunks(data, options)) == 2


def test_loop_moves_time_on_and_keeps_ids_unique() -> None:
    data = _dataset([0, 10])
    options = _options(loop=True, limit=5, label_fraction=0.0)
    txs = [decode_transaction(i.value) for i in plan_items(data, options)]
    assert [t.transaction_id for t in txs] == ["t0", "t1", "t0~1", "t1~1", "t0~2"]
    times = [t.event_time for t in txs]
    assert times == sorted(times)
    assert times[2] - times[0] == timedelta(seconds=11)
    assert planned_transactions(data, options) == 5


def test_key_is_card_or_transaction_id() -> None:
    data = _dataset([0, 1], cards=["card-9", None])
    keys = [i.key for i in plan_items(data, _options(label_fraction=0.0))]
    assert keys == [b"card-9", b"t1"]


def test_encoded_ulb_transactions_equal_the_adapter_records(tmp_path: Path) -> None:
    data = load_dataset(write_ulb_csv(tmp_path / "creditcard.csv", n=CHUNK_SIZE + 37))
    expected = [tx for tx, _ in data.events()]
    sent = [decode_transaction(i.value) for i in plan_items(data, _options(label_fraction=0.0))]
    assert sent == expected


def test_encoded_sparkov_transactions_equal_the_adapter_records(tmp_path: Path) -> None:
    data = load_dataset(write_sparkov_csv(tmp_path / "fraudTrain.csv", n=120))
    expected = [tx for tx, _ in data.events()]
    sent = [decode_transaction(i.value) for i in plan_items(data, _options()) if not i.is_label]
    assert sent == expected


def test_chunks_count_their_transactions() -> None:
    data = _dataset(list(range(12_000)))
    chunks = list(plan_chunks(data, _options(label_delay=timedelta(seconds=3))))
    assert sum(c.transactions for c in chunks) == 12_000
    assert sum(len(c.values) for c in chunks) == 24_000
    assert all(len(c.values) <= CHUNK_SIZE for c in chunks)


def test_wire_struct_matches_transaction_fields() -> None:
    names = [f.name for f in msgspec.structs.fields(Transaction)]
    assert [f.name for f in msgspec.structs.fields(TransactionWire)] == names


@pytest.mark.parametrize(
    "changes",
    [{"label_fraction": 1.5}, {"label_delay": timedelta(seconds=-1)}, {"limit": -1}],
)
def test_invalid_options_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        _options(**changes)


def test_pace_needs_a_positive_value() -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        Pace("rate", 0.0)
