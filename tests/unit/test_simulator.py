"""Tests of the built-in transaction simulator (fraudstream.datasets.simulator)."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from fraudstream.datasets import simulator
from fraudstream.datasets.simulator import SimulatorConfig, simulate

COLUMNS = [
    "transaction_id",
    "event_time",
    "card_id",
    "merchant_id",
    "amount",
    "is_fraud",
    "fraud_scenario",
]

# Small enough to run in well under a second, big enough for every scenario to show.
SMALL = SimulatorConfig(customers=500, terminals=1_000, days=60, seed=3)
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    result: pd.DataFrame = simulate(SMALL)
    return result


def day_index(frame: pd.DataFrame, config: SimulatorConfig) -> pd.Series:
    return ((frame["event_time"] - pd.Timestamp(config.start)) // DAY).astype(np.int64)


def cents(amount: pd.Series) -> pd.Series:
    return (amount * 100).round().astype(np.int64)


# --- determinism -----------------------------------------------------------------


def test_same_config_gives_identical_frame(frame: pd.DataFrame) -> None:
    again = simulate(SMALL)
    pd.testing.assert_frame_equal(frame, again, check_exact=True)
    assert frame["amount"].to_numpy().tobytes() == again["amount"].to_numpy().tobytes()


def test_different_seed_gives_different_data(frame: pd.DataFrame) -> None:
    other = simulate(dataclasses.replace(SMALL, seed=SMALL.seed + 1))
    assert not frame.equals(other)
    n = min(len(frame), len(other))
    assert not np.array_equal(frame["amount"].to_numpy()[:n], other["amount"].to_numpy()[:n])


# --- shape of the frame ----------------------------------------------------------


def test_columns_and_dtypes(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == COLUMNS
    assert str(frame["event_time"].dtype) == "datetime64[ns, UTC]"
    assert frame["amount"].dtype == np.float64
    assert frame["is_fraud"].dtype == np.int8
    assert frame["fraud_scenario"].dtype == np.int8
    for column in ("transaction_id", "card_id", "merchant_id"):
        assert pd.api.types.is_string_dtype(frame[column]), column
        assert frame[column].map(lambda value: isinstance(value, str)).all(), column
    assert isinstance(frame.index, pd.RangeIndex)
    assert (frame.index.start, frame.index.stop, frame.index.step) == (0, len(frame), 1)


def test_sorted_by_event_time_with_sequential_unique_ids(frame: pd.DataFrame) -> None:
    assert len(frame) > 10_000
    assert frame["event_time"].is_monotonic_increasing
    expected = [f"sim-{i:010d}" for i in range(1, len(frame) + 1)]
    assert frame["transaction_id"].tolist() == expected
    assert frame["transaction_id"].is_unique


def test_card_and_merchant_ids_are_well_formed(frame: pd.DataFrame) -> None:
    assert frame["card_id"].str.fullmatch(r"c\d{7}").all()
    assert frame["merchant_id"].str.fullmatch(r"t\d{7}").all()
    card_numbers = frame["card_id"].str[1:].astype(int)
    merchant_numbers = frame["merchant_id"].str[1:].astype(int)
    assert card_numbers.between(0, SMALL.customers - 1).all()
    assert merchant_numbers.between(0, SMALL.terminals - 1).all()
    # Customers spread their payments over the terminals around them.
    assert frame.groupby("card_id")["merchant_id"].nunique().max() > 1


def test_amounts_are_non_negative_cents(frame: pd.DataFrame) -> None:
    amount = frame["amount"]
    assert (amount >= 0).all()
    assert np.allclose(amount * 100, cents(amount), rtol=0, atol=1e-6)
    genuine = amount[frame["fraud_scenario"] == 0].groupby(frame["card_id"]).agg(["mean", "size"])
    assert genuine.loc[genuine["size"] >= 30, "mean"].between(2.5, 110).all()


def test_event_times_within_simulated_days(frame: pd.DataFrame) -> None:
    start = pd.Timestamp(SMALL.start)
    assert frame["event_time"].min() >= start
    assert frame["event_time"].max() < start + SMALL.days * DAY
    days = day_index(frame, SMALL)
    assert set(days.unique()) == set(range(SMALL.days))
    # Times of day are whole seconds centred on noon.
    seconds = (frame["event_time"] - start).dt.total_seconds() % 86_400
    assert (seconds == seconds.round()).all()
    assert abs(seconds.mean() - 43_200) < 600


def test_start_in_another_timezone_is_converted_to_utc() -> None:
    start = datetime(2024, 4, 1, 9, 0, tzinfo=timezone(timedelta(hours=2)))
    config = SimulatorConfig(customers=50, terminals=100, days=2, seed=1, start=start)
    result = simulate(config)
    assert str(result["event_time"].dtype) == "datetime64[ns, UTC]"
    assert result["event_time"].min() >= pd.Timestamp("2024-04-01T07:00:00Z")
    assert result["event_time"].max() < pd.Timestamp("2024-04-03T07:00:00Z")


def test_no_reachable_terminal_means_no_transactions() -> None:
    config = SimulatorConfig(customers=20, terminals=1, days=3, radius=1e-6)
    result = simulate(config)
    assert len(result) == 0
    assert list(result.columns) == COLUMNS
    assert str(result["event_time"].dtype) == "datetime64[ns, UTC]"


# --- labels ------------------------------------------------------------------------


def test_is_fraud_is_scenario_above_zero(frame: pd.DataFrame) -> None:
    assert set(frame["fraud_scenario"].unique()) == {0, 1, 2, 3}
    assert (frame["is_fraud"] == (frame["fraud_scenario"] > 0).astype(np.int8)).all()


def test_scenario1_large_amounts_are_fraud(frame: pd.DataFrame) -> None:
    scenario, amount = frame["fraud_scenario"], frame["amount"]
    assert (scenario == 1).sum() > 0
    assert (frame.loc[amount > 220, "is_fraud"] == 1).all()
    assert (amount[scenario == 1] > 220).all()
    assert (amount[scenario == 0] <= 220).all()
    # Above 220 without scenario 1 only when scenario 3 multiplied an amount <= 220.
    inflated = amount[(amount > 220) & (scenario != 1)]
    assert len(inflated) > 0
    assert (inflated <= 5 * 220).all()
    assert (cents(inflated) % 5 == 0).all()


def test_scenario2_terminal_days_are_wholly_compromised(frame: pd.DataFrame) -> None:
    rows = pd.DataFrame(
        {
            "terminal": frame["merchant_id"],
            "day": day_index(frame, SMALL),
            "s2": frame["fraud_scenario"] == 2,
            # Rows that scenario 2 would have labelled if their terminal were compromised.
            "clean": frame["fraud_scenario"].isin([0, 3]),
        }
    )
    assert rows["s2"].sum() > 0
    per_day = rows.groupby(["terminal", "day"])[["s2", "clean"]].any()
    mixed = per_day[per_day["s2"] & per_day["clean"]]
    assert mixed.empty, mixed.head()


def test_scenario2_compromise_lasts_28_days(frame: pd.DataFrame) -> None:
    # Per terminal, a run of scenario-2 days between two clean days g < g' is covered
    # by 28-day windows starting after g, so g' - g >= 29.
    rows = pd.DataFrame(
        {
            "terminal": frame["merchant_id"],
            "day": day_index(frame, SMALL),
            "s2": frame["fraud_scenario"] == 2,
            "clean": frame["fraud_scenario"].isin([0, 3]),
        }
    )
    per_day = rows.groupby(["terminal", "day"])[["s2", "clean"]].any().reset_index()
    per_day = per_day[per_day["s2"] | per_day["clean"]]
    clean_day = per_day["day"].where(per_day["clean"])
    by_terminal = clean_day.groupby(per_day["terminal"])
    previous_clean, next_clean = by_terminal.ffill(), by_terminal.bfill()
    sandwiched = per_day["s2"] & previous_clean.notna() & next_clean.notna()
    assert sandwiched.sum() > 20
    gaps = (next_clean - previous_clean)[sandwiched]
    assert gaps.min() >= 29, per_day[sandwiched & (next_clean - previous_clean < 29)].head()


def test_scenario2_helper_marks_exactly_the_window() -> None:
    event_day = np.array([3, -5], dtype=np.int64)
    event_terminal = np.array([1, 0], dtype=np.int64)
    tx_day = np.array([2, 3, 30, 31, 0, 22, 23], dtype=np.int64)
    tx_terminal = np.array([1, 1, 1, 1, 0, 0, 0], dtype=np.int64)
    got = simulator._scenario2(tx_day, tx_terminal, event_day, event_terminal, 28)
    assert got.tolist() == [False, True, True, False, True, True, False]


def test_scenario2_helper_matches_brute_force() -> None:
    rng = np.random.default_rng(11)
    event_day = rng.integers(-27, 100, size=60)
    event_terminal = rng.integers(0, 30, size=60)
    tx_day = rng.integers(0, 100, size=5_000)
    tx_terminal = rng.integers(0, 30, size=5_000)
    got = simulator._scenario2(tx_day, tx_terminal, event_day, event_terminal, 28)
    age = tx_day[:, None] - event_day[None, :]
    expected = ((tx_terminal[:, None] == event_terminal[None, :]) & (age >= 0) & (age < 28)).any(
        axis=1
    )
    assert got.sum() > 0
    assert np.array_equal(got, expected)


def test_scenario3_amounts_are_five_times_typical(frame: pd.DataFrame) -> None:
    scenario, amount = frame["fraud_scenario"], frame["amount"]
    assert (scenario == 3).sum() > 100
    assert (cents(amount[scenario == 3]) % 5 == 0).all()
    by_card = pd.DataFrame(
        {
            "fraud": amount[scenario == 3].groupby(frame["card_id"]).mean(),
            "genuine": amount[scenario == 0].groupby(frame["card_id"]).mean(),
        }
    ).dropna()
    assert len(by_card) > 30
    ratio = by_card["fraud"] / by_card["genuine"]
    assert 4.0 < ratio.median() < 6.0


def test_scenario3_helper_takes_a_third_of_the_window() -> None:
    # Customer 0: 31 transactions on days 5..18 (the window of a day-5 compromise)
    # and 10 outside it; customer 1: 30 transactions, never compromised.
    in_window = np.repeat(np.arange(5, 19), 3)[:31]
    tx_day = np.concatenate([in_window, np.full(5, 4), np.full(5, 19), np.arange(30) % 20])
    tx_customer = np.concatenate([np.zeros(41, dtype=np.int64), np.ones(30, dtype=np.int64)])
    picked = simulator._scenario3(
        np.random.default_rng(0),
        tx_day.astype(np.int64),
        tx_customer,
        event_day=np.array([5], dtype=np.int64),
        event_customer=np.array([0], dtype=np.int64),
        duration=14,
        days=20,
    )
    assert picked.sum() == 31 // 3
    assert picked[:31].sum() == 31 // 3
    assert not picked[31:].any()


def test_scenario3_helper_clips_warm_up_windows() -> None:
    tx_day = np.arange(20, dtype=np.int64)
    tx_customer = np.zeros(20, dtype=np.int64)
    picked = simulator._scenario3(
        np.random.default_rng(1),
        tx_day,
        tx_customer,
        event_day=np.array([-8], dtype=np.int64),  # covers days 0..5 only
        event_customer=np.array([0], dtype=np.int64),
        duration=14,
        days=20,
    )
    assert picked.sum() == 2
    assert (tx_day[picked] <= 5).all()


# --- building blocks ----------------------------------------------------------------


def test_neighbours_match_brute_force(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulator, "_NEIGHBOUR_CHUNK_CELLS", 1_000)  # many chunks
    rng = np.random.default_rng(5)
    customers = rng.uniform(0, 100, size=(70, 2))
    terminals = rng.uniform(0, 100, size=(300, 2))
    got = simulator._find_neighbours(customers, terminals, 12.0)
    dist = np.hypot(*(customers[:, None, :] - terminals[None, :, :]).transpose(2, 0, 1))
    assert got.offsets[0] == 0
    assert got.offsets[-1] == len(got.terminals)
    assert got.terminals.size > 0
    for c in range(len(customers)):
        expected = np.flatnonzero(dist[c] < 12.0)
        assert got.terminals[got.offsets[c] : got.offsets[c + 1]].tolist() == expected.tolist()


def test_sample_distinct_is_distinct_and_uniform() -> None:
    drawn = simulator._sample_distinct(np.random.default_rng(2), population=5, k=3, rows=30_000)
    assert drawn.shape == (30_000, 3)
    assert ((drawn >= 0) & (drawn < 5)).all()
    assert (np.sort(drawn, axis=1)[:, 1:] != np.sort(drawn, axis=1)[:, :-1]).all()
    share = np.bincount(drawn.ravel(), minlength=5) / drawn.size
    assert np.allclose(share, 1 / 5, atol=0.01)


# --- configuration ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"customers": 0}, "customers"),
        ({"terminals": -1}, "terminals"),
        ({"days": 0}, "days"),
        ({"days": 1.5}, "days"),
        ({"customers": True}, "customers"),
        ({"radius": 0.0}, "radius"),
        ({"radius": -2.0}, "radius"),
        ({"radius": math.nan}, "radius"),
        ({"seed": -1}, "seed"),
        ({"start": datetime(2024, 4, 1)}, "start"),  # naive: invalid
    ],
)
def test_invalid_config_raises_value_error(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=rf"SimulatorConfig\.{field}\b"):
        dataclasses.replace(SMALL, **changes)


def test_default_config_matches_the_handbook_scale() -> None:
    config = SimulatorConfig()
    assert (config.customers, config.terminals, config.days) == (5_000, 10_000, 30)
    assert config.radius == 5.0
    assert config.start == datetime(2024, 4, 1, tzinfo=UTC)


# --- statistics at full scale ---------------------------------------------------------


@pytest.mark.slow
def test_default_scale_statistics() -> None:
    config = SimulatorConfig()
    result = simulate(config)
    per_day = day_index(result, config).value_counts()
    assert len(per_day) == config.days
    assert 9_500 * 0.9 <= len(result) / config.days <= 9_500 * 1.1
    assert per_day.min() > 9_500 * 0.85
    assert 0.005 <= result["is_fraud"].mean() <= 0.012
    share = result["fraud_scenario"].value_counts(normalize=True)
    # Seen for seeds 0..5: 0.05-0.07% (1), 0.53-0.58% (2), 0.25-0.30% (3).
    assert 0.0002 <= share.get(1, 0.0) <= 0.002
    assert 0.004 <= share.get(2, 0.0) <= 0.008
    assert 0.0015 <= share.get(3, 0.0) <= 0.004
    # Compromises start before day 0, so the first week is already at the steady
    # rate (without that warm-up it would be about a quarter of the last week's).
    fraud_by_day = result["is_fraud"].groupby(day_index(result, config)).mean()
    assert fraud_by_day.iloc[:7].mean() > 0.7 * fraud_by_day.iloc[-7:].mean()
    assert result["card_id"].nunique() > 0.95 * config.customers
    assert result["merchant_id"].nunique() > 0.9 * config.terminals
