"""Dataset adapters on small files in the real column layouts, good and bad."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from fraudstream.datasets import detect_kind, load_dataset
from fraudstream.datasets.canonical import load_canonical, write_parquet_atomic
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.datasets.ulb import PCA_COLUMNS
from fraudstream.errors import DataFileError
from fraudstream.testing.files import (
    SPARKOV_HEADER,
    SPARKOV_UNIX_SHIFT,
    sparkov_rows,
    ulb_rows,
    write_sparkov_csv,
    write_ulb_csv,
)

# --- ULB --------------------------------------------------------------------------


def test_ulb_rows_become_time_ordered_events(tmp_path: Path) -> None:
    rows = ulb_rows(60, seed=3)
    rows[10], rows[11] = rows[11], rows[10]  # out of order in the file
    path = write_ulb_csv(tmp_path / "creditcard.csv", rows)
    data = load_dataset(path)
    assert data.name == "ulb"
    assert len(data) == 60
    assert data.frame["event_time"].is_monotonic_increasing
    events = list(data.events(label_delay=timedelta(days=2)))
    first_tx, first_label = events[0]
    assert first_tx.card_id is None
    assert first_tx.merchant_id is None
    assert set(first_tx.features) == set(PCA_COLUMNS)
    assert first_label.labelled_at - first_tx.event_time == timedelta(days=2)
    assert first_tx.event_time == datetime(2013, 9, 1, tzinfo=UTC) + timedelta(
        seconds=float(sorted(float(r[0]) for r in rows)[0])
    )
    frauds = sum(label.is_fraud for _, label in events)
    assert frauds == sum(r[-1] == "1" for r in rows)
    assert len({tx.transaction_id for tx, _ in events}) == 60


def test_ulb_amount_and_features_keep_their_values(tmp_path: Path) -> None:
    rows = ulb_rows(5, seed=1)
    path = write_ulb_csv(tmp_path / "creditcard.csv", rows)
    tx, _ = next(load_dataset(path).events())
    first = min(rows, key=lambda r: float(r[0]))
    assert tx.amount == float(first[29])
    assert tx.features["V1"] == float(first[1])
    assert tx.features["V28"] == float(first[28])


def test_ulb_missing_column_names_file_and_column(tmp_path: Path) -> None:
    path = tmp_path / "creditcard.csv"
    write_ulb_csv(path, n=3)
    text = path.read_text().replace('"Amount"', '"Amt"')
    path.write_text(text)
    with pytest.raises(DataFileError, match=r"creditcard\.csv, column 'Amount': missing column"):
        load_dataset(path, "ulb")


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        (29, "NaN", "not a finite number"),
        (29, "", "missing value"),
        (29, "12,50", None),  # an extra field: the row is malformed
        (0, "noon", "not a finite number: 'noon'"),
        (30, "2", "not a 0/1 flag"),
    ],
)
def test_ulb_bad_value_names_line_and_column(
    tmp_path: Path, column: int, value: str, reason: str | None
) -> None:
    rows = ulb_rows(8)
    rows[4][column] = value
    path = tmp_path / "creditcard.csv"
    with path.open("w") as f:  # unquoted, so "12,50" really is two fields
        f.write(",".join(["Time", *PCA_COLUMNS, "Amount", "Class"]) + "\n")
        f.writelines(",".join(r) + "\n" for r in rows)
    with pytest.raises(DataFileError) as caught:
        load_dataset(path)
    assert caught.value.row == 6  # header is line 1, rows[4] is line 6
    if reason is not None:
        assert reason in str(caught.value)
        assert caught.value.column == ["Time", *PCA_COLUMNS, "Amount", "Class"][column]


def test_ulb_truncated_file_is_an_error_at_its_last_line(tmp_path: Path) -> None:
    path = write_ulb_csv(tmp_path / "creditcard.csv", n=10)
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b",", 0, len(data) - 40)])  # cut the last row short
    with pytest.raises(DataFileError) as caught:
        load_dataset(path)
    assert caught.value.row == 11
    assert "missing value" in str(caught.value)


def test_bad_rows_can_be_skipped_and_counted(tmp_path: Path) -> None:
    rows = ulb_rows(30)
    rows[3][29] = "nan"
    rows[7][0] = "x"
    path = write_ulb_csv(tmp_path / "creditcard.csv", rows)
    data = load_dataset(path, on_bad_row="skip")
    assert len(data) == 28
    assert data.bad_row_count == 2
    assert [(b.line, b.column) for b in data.bad_rows] == [(5, "Amount"), (9, "Time")]
    assert data.summary().bad_rows == 2


@pytest.mark.parametrize("content", [b"", b"Time,V1\n", b"just,a,header\n"])
def test_empty_or_unknown_files_are_clear_errors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(DataFileError, match=r"data\.csv"):
        load_dataset(path)


def test_header_only_file_is_an_error(tmp_path: Path) -> None:
    path = write_ulb_csv(tmp_path / "creditcard.csv", [])
    with pytest.raises(DataFileError, match="no rows"):
        load_dataset(path)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="no such file"):
        load_dataset(tmp_path / "nope.csv", "ulb")


# --- Sparkov -----------------------------------------------------------------------


def test_sparkov_rows_become_card_keyed_events(tmp_path: Path) -> None:
    rows = sparkov_rows(80, seed=5, cards=4)
    path = write_sparkov_csv(tmp_path / "fraudTrain.csv", rows[::-1])  # reversed file
    data = load_dataset(path)
    assert data.name == "sparkov"
    assert data.frame["event_time"].is_monotonic_increasing
    events = list(data.events())
    assert {tx.transaction_id for tx, _ in events} == {r[18] for r in rows}
    by_id = {r[18]: r for r in rows}
    for tx, label in events:
        row = by_id[tx.transaction_id]
        assert tx.card_id == row[2]
        assert tx.merchant_id == row[3]
        assert tx.amount == float(row[5])
        assert tx.event_time.strftime("%Y-%m-%d %H:%M:%S") == row[1]
        assert tx.features[f"category_{row[4]}"] == 1.0
        assert tx.features["merch_lat"] == float(row[20])
        assert label.is_fraud == (row[22] == "1")
        assert label.card_id == row[2]
    assert data.summary().cards == len({r[2] for r in rows})


def test_sparkov_without_calendar_time_uses_unix_time(tmp_path: Path) -> None:
    rows = sparkov_rows(10)
    keep = [i for i, name in enumerate(SPARKOV_HEADER) if name != "trans_date_trans_time"]
    path = tmp_path / "fraudTest.csv"
    with path.open("w") as f:
        f.write(",".join(SPARKOV_HEADER[i] for i in keep) + "\n")
        f.writelines(",".join(r[i] for i in keep) + "\n" for r in rows)
    tx, _ = next(load_dataset(path).events())
    expected = datetime.strptime(rows[0][1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert tx.event_time == expected - SPARKOV_UNIX_SHIFT


def test_sparkov_unparsable_time_names_line_and_column(tmp_path: Path) -> None:
    rows = sparkov_rows(5)
    rows[2][1] = "31/12/2019"
    path = write_sparkov_csv(tmp_path / "fraudTrain.csv", rows)
    with pytest.raises(DataFileError) as caught:
        load_dataset(path)
    assert (caught.value.row, caught.value.column) == (4, "trans_date_trans_time")


def test_detect_kind(tmp_path: Path) -> None:
    assert detect_kind(write_ulb_csv(tmp_path / "a.csv", n=2)) == "ulb"
    assert detect_kind(write_sparkov_csv(tmp_path / "b.csv", n=2)) == "sparkov"
    simulated = simulate(SimulatorConfig(customers=20, terminals=40, days=1, seed=3))
    write_parquet_atomic(simulated, tmp_path / "c.parquet")
    assert detect_kind(tmp_path / "c.parquet") == "simulated"
    write_parquet_atomic(simulated.drop(columns=["fraud_scenario"]), tmp_path / "d.parquet")
    assert detect_kind(tmp_path / "d.parquet") == "canonical"
    assert load_dataset(tmp_path / "d.parquet").name == "canonical"
    write_parquet_atomic(simulated.drop(columns=["amount"]), tmp_path / "e.parquet")
    with pytest.raises(DataFileError, match=r"unknown layout.*this one has transaction_id"):
        detect_kind(tmp_path / "e.parquet")
    with pytest.raises(DataFileError, match="not a readable Parquet file"):
        detect_kind(tmp_path / "missing.parquet")


# --- canonical Parquet ---------------------------------------------------------------


def test_simulated_parquet_round_trip(tmp_path: Path) -> None:
    frame = simulate(SimulatorConfig(customers=50, terminals=100, days=3, seed=7))
    path = tmp_path / "sim.parquet"
    write_parquet_atomic(frame, path)
    data = load_dataset(path)
    assert data.name == "simulated"
    assert len(data) == len(frame)
    assert data.feature_columns == ()  # fraud_scenario is metadata, never a feature
    tx, label = next(data.events())
    assert tx.card_id == frame["card_id"].iloc[0]
    assert tx.merchant_id == frame["merchant_id"].iloc[0]
    assert label.is_fraud == bool(frame["is_fraud"].iloc[0])
    assert not list(tmp_path.glob("*.part"))


def test_failed_parquet_write_leaves_nothing(tmp_path: Path) -> None:
    bad = pd.DataFrame({"x": [object()]})
    with pytest.raises(Exception, match=r"."):
        write_parquet_atomic(bad, tmp_path / "out.parquet")
    assert list(tmp_path.iterdir()) == []


def test_canonical_parquet_negative_amount_is_a_bad_row(tmp_path: Path) -> None:
    frame = simulate(SimulatorConfig(customers=20, terminals=40, days=2, seed=1))
    frame.loc[3, "amount"] = -5.0
    path = tmp_path / "sim.parquet"
    write_parquet_atomic(frame, path)
    with pytest.raises(DataFileError, match=r"line 4, column 'amount'"):
        load_canonical(path)
    assert len(load_canonical(path, on_bad_row="skip")) == len(frame) - 1


def test_canonical_parquet_missing_column(tmp_path: Path) -> None:
    frame = simulate(SimulatorConfig(customers=20, terminals=40, days=2)).drop(columns="amount")
    path = tmp_path / "sim.parquet"
    write_parquet_atomic(frame, path)
    with pytest.raises(DataFileError, match="column 'amount': missing column"):
        load_canonical(path)


def test_not_a_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "sim.parquet"
    path.write_text("hello")
    with pytest.raises(DataFileError, match="not a readable Parquet file"):
        load_canonical(path)


def test_arrow_tables_are_those_pyarrow_builds_without_its_deprecated_read() -> None:
    import warnings

    import pyarrow as pa

    from fraudstream.datasets.arrow import arrow_table

    frame = pd.DataFrame(
        {
            "transaction_id": pd.array(["a", None, "c"], dtype="string"),
            "event_time": pd.to_datetime(
                ["2024-04-01 10:00:00.5", None, "2024-04-02 00:00:00.0"], utc=True
            ),
            "local": pd.date_range("2024-04-01", periods=3, tz="Europe/Paris", unit="ns"),
            "naive": pd.date_range("2024-04-01", periods=3),
            "features.amount": [1.0, float("nan"), 3.0],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.Pandas4Warning)
        expected = pa.Table.from_pandas(frame, preserve_index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = arrow_table(frame)
    assert table.schema.equals(expected.schema, check_metadata=True)
    assert str(table.schema.field("local").type) == "timestamp[ns, tz=Europe/Paris]"
    assert table.equals(expected)
    pd.testing.assert_frame_equal(table.to_pandas(), frame)
