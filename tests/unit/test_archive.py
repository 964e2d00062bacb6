"""The Parquet archive: idempotent partitions, generic rows, readers, fsspec URLs."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
import pytest

from fraudstream.errors import SchemaError
from fraudstream.lake.records import to_frame, to_row
from fraudstream.lake.store import (
    LABELS,
    SCORED,
    compact_partition,
    partitions,
    read_labels,
    read_scored,
    write_rows,
)
from fraudstream.schemas import ScoredTransaction, encoder


def _scored(ids: list[str], times: list[str], **extra: list[object]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "transaction_id": ids,
            "event_time": pd.to_datetime(times, utc=True),
            "features.amount": np.arange(len(ids), dtype=float),
            "score": np.linspace(0, 1, len(ids)),
        }
    )
    for name, values in extra.items():
        frame[name] = values
    return frame


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("part-*.parquet"))


def test_rewriting_a_partition_never_duplicates_rows(tmp_path: Path) -> None:
    rows = _scored(["a", "b", "c"], ["2024-04-01 10:00", "2024-04-01 11:00", "2024-04-02 09:00"])
    assert write_rows(str(tmp_path), SCORED, rows) == 3
    assert write_rows(str(tmp_path), SCORED, rows) == 0  # the same batch again
    # a batch consumed again after a crash, overlapping new rows
    more = _scored(["c", "d"], ["2024-04-02 09:00", "2024-04-02 10:00"])
    assert write_rows(str(tmp_path), SCORED, more) == 1
    frame = read_scored(str(tmp_path), "2024-04-01", "2024-04-03")
    assert frame["transaction_id"].tolist() == ["a", "b", "c", "d"]
    assert partitions(str(tmp_path), SCORED) == [date(2024, 4, 1), date(2024, 4, 2)]
    layout = {p.parent.name for p in _files(tmp_path)}
    assert layout == {"date=2024-04-01", "date=2024-04-02"}
    assert all(p.parent.parent.name == "scored" for p in _files(tmp_path))


def test_a_key_repeated_in_one_batch_is_written_once(tmp_path: Path) -> None:
    rows = _scored(["a", "a"], ["2024-04-01 10:00", "2024-04-01 10:00"])
    assert write_rows(str(tmp_path), SCORED, rows) == 1


def test_readers_drop_repeats_left_by_an_interrupted_compaction(tmp_path: Path) -> None:
    write_rows(str(tmp_path), SCORED, _scored(["a"], ["2024-04-01 10:00"]))
    write_rows(str(tmp_path), SCORED, _scored(["b"], ["2024-04-01 11:00"]))
    assert compact_partition(str(tmp_path), SCORED, date(2024, 4, 1)) == 2
    [merged] = _files(tmp_path)
    shutil.copy(merged, merged.with_name("part-copy.parquet"))  # merged, old not yet deleted
    frame = read_scored(str(tmp_path), "2024-04-01", "2024-04-02")
    assert frame["transaction_id"].tolist() == ["a", "b"]


def test_labels_are_keyed_by_transaction_and_time(tmp_path: Path) -> None:
    labels = pd.DataFrame(
        {
            "transaction_id": ["a", "a", "a"],
            "is_fraud": [False, True, True],
            "labelled_at": pd.to_datetime(
                ["2024-04-08 10:00", "2024-04-20 10:00", "2024-04-20 10:00"], utc=True
            ),
        }
    )
    assert write_rows(str(tmp_path), LABELS, labels) == 2  # a correction is a new row
    frame = read_labels(str(tmp_path), "2024-04-01", "2024-05-01")
    assert frame["is_fraud"].tolist() == [False, True]
    assert (tmp_path / "labels" / "date=2024-04-20").is_dir()


def test_read_bounds_are_start_inclusive_end_exclusive(tmp_path: Path) -> None:
    rows = _scored(["a", "b", "c"], ["2024-04-01 00:00", "2024-04-01 23:59", "2024-04-02 00:00"])
    write_rows(str(tmp_path), SCORED, rows)
    frame = read_scored(str(tmp_path), "2024-04-01", "2024-04-02")
    assert frame["transaction_id"].tolist() == ["a", "b"]
    assert read_scored(str(tmp_path), "2024-05-01", "2024-05-02").empty


def test_a_field_added_later_flows_through(tmp_path: Path) -> None:
    write_rows(str(tmp_path), SCORED, _scored(["a"], ["2024-04-01 10:00"]))
    later = _scored(["b"], ["2024-04-01 11:00"], shadow_score=[0.7], shadow_model_version=["x"])
    write_rows(str(tmp_path), SCORED, later)
    frame = read_scored(str(tmp_path), "2024-04-01", "2024-04-02")
    assert np.isnan(frame["shadow_score"].iloc[0])
    assert frame["shadow_score"].iloc[1] == 0.7
    assert frame["shadow_model_version"].tolist()[1] == "x"


def test_any_fsspec_url_works() -> None:
    root = "memory://test-archive-fsspec"
    rows = _scored(["a", "b"], ["2024-04-01 10:00", "2024-04-03 10:00"])
    assert write_rows(root, SCORED, rows) == 2
    assert write_rows(root, SCORED, rows) == 0
    assert read_scored(root, "2024-04-01", "2024-04-04")["transaction_id"].tolist() == ["a", "b"]


def test_rows_lacking_the_key_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lack columns"):
        write_rows(str(tmp_path), SCORED, pd.DataFrame({"score": [1.0]}))


def test_every_scored_field_becomes_a_column() -> None:
    record = ScoredTransaction(
        transaction_id="t1",
        card_id="c1",
        merchant_id=None,
        event_time=pd.Timestamp("2024-04-01 10:00", tz="UTC").to_pydatetime(),
        amount=12.5,
        features={"amount": 12.5, "card_tx_count_1h": 2.0},
        score=0.3,
        threshold=0.5,
        alert=False,
        model_version="cold-start-1",
        scored_at=pd.Timestamp("2024-06-01 10:00", tz="UTC").to_pydatetime(),
        partition=2,
        offset=17,
        source_timestamp_ms=1,
    )
    row = to_row(encoder.encode(record), SCORED)
    expected = {f for f in ScoredTransaction.__struct_fields__ if f != "features"}
    assert expected | {"features.amount", "features.card_tx_count_1h"} == set(row)
    frame = to_frame([row])
    assert str(frame["event_time"].dt.tz) == "UTC"
    assert str(frame["scored_at"].dt.tz) == "UTC"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty"),
        (b"{not json", "not_json"),
        (b"[1, 2]", "wrong_type"),
        (msgspec.json.encode({"transaction_id": "t1"}), "missing_field"),
    ],
)
def test_unusable_records_are_rejected_with_a_reason(value: bytes | None, reason: str) -> None:
    with pytest.raises(SchemaError) as caught:
        to_row(value, SCORED)
    assert caught.value.reason == reason
