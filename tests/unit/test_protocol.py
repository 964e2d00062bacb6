"""The handbook's protocol: windows, known-compromised cards, CP@k, bootstrap, leakage."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.errors import ConfigError, FraudstreamError
from fraudstream.evaluation.measures import (
    average_precision,
    card_precision_at_k,
    roc_auc,
)
from fraudstream.evaluation.protocol import (
    DAY,
    HANDBOOK_TRAIN_START,
    ProtocolError,
    Windows,
    bootstrap,
    daily_rank,
    day_draws,
    evaluation_set,
    has_card_ids,
    interval,
    mean_daily_rank,
    measure,
)
from fraudstream.features.served import served_features
from fraudstream.learning.models import DEFAULT_MODEL, MODEL_CHOICES
from fraudstream.learning.prequential import prequential_scores

WEEK = DAY * 7


def _frame(rows: list[tuple[str, str | None, int]]) -> pd.DataFrame:
    """(event time, card id, is_fraud) rows as a frame sorted by time."""
    frame = pd.DataFrame(rows, columns=["event_time", "card_id", "is_fraud"])
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
    return frame.sort_values("event_time", kind="stable").reset_index(drop=True)


# -- windows -------------------------------------------------------------------------


def test_the_handbook_windows() -> None:
    windows = Windows.starting(HANDBOOK_TRAIN_START, train=WEEK, delay=WEEK, test=WEEK)
    assert str(windows.train_start.date()) == "2018-07-25"
    assert str(windows.train_end.date()) == "2018-08-01"
    assert str(windows.test_start.date()) == "2018-08-08"
    assert str(windows.test_end.date()) == "2018-08-15"
    assert windows.test_days == 7
    half = Windows.starting("2024-01-01", train=WEEK, delay=WEEK, test=DAY * 2.5)
    assert half.test_days == 3  # a last partial day counts


def test_default_windows_end_with_the_last_day_of_data() -> None:
    last = pd.Timestamp("2020-12-31 23:59:34", tz="UTC")
    windows = Windows.ending_with(last, train=WEEK, delay=WEEK, test=WEEK)
    assert windows.test_end == pd.Timestamp("2021-01-01", tz="UTC")
    assert windows.train_start == pd.Timestamp("2020-12-11", tz="UTC")


def test_windows_that_do_not_fit_the_data_are_a_clear_error() -> None:
    windows = Windows.starting("2024-01-08", train=WEEK, delay=WEEK, test=WEEK)
    first, last = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-02-01", tz="UTC")
    windows.check(first, last)  # covered
    with pytest.raises(ProtocolError, match="before the last test day"):
        windows.check(first, pd.Timestamp("2024-01-20", tz="UTC"))
    with pytest.raises(ProtocolError, match="after the first training day"):
        windows.check(pd.Timestamp("2024-01-10", tz="UTC"), last)
    with pytest.raises(ProtocolError, match="longer than 0"):
        Windows.starting("2024-01-08", train=DAY * 0, delay=WEEK, test=WEEK)
    # one line and an exit code at the CLI, like every setting that does not fit
    assert issubclass(ProtocolError, ConfigError)
    assert issubclass(ProtocolError, FraudstreamError)


# -- the known-compromised exclusion --------------------------------------------------

# train 01-01..01-02, delay 7 days, test 01-09..01-12 (days 0, 1, 2)
SHORT = Windows.starting("2024-01-01", train=DAY, delay=WEEK, test=DAY * 3)


def test_a_card_is_left_out_from_the_first_day_after_its_fraud_label_arrived() -> None:
    frame = _frame(
        [
            ("2024-01-01 06:00", "a", 1),  # label 01-08 06:00: known from day 0
            ("2024-01-02 06:00", "b", 1),  # label 01-09 06:00: known from day 1
            ("2024-01-09 03:00", "a", 0),  # day 0: a out
            ("2024-01-09 04:00", "b", 0),  # day 0: b still in (its label comes at 06:00)
            ("2024-01-10 04:00", "b", 0),  # day 1: b out
            ("2024-01-10 05:00", "c", 1),  # day 1: c in (frauds in the test window count later)
            ("2024-01-11 05:00", "c", 0),  # day 2: c in (its label arrives 01-17)
            ("2024-01-11 06:00", None, 0),  # no card: never left out
        ]
    )
    chosen = evaluation_set(frame, SHORT)
    kept = frame.iloc[chosen.positions]
    assert kept["card_id"].fillna("none").tolist() == ["b", "c", "c", "none"]
    assert chosen.day.tolist() == [0, 1, 2, 2]
    assert chosen.excluded == 2
    assert chosen.days == 3


def test_frauds_count_from_the_training_start_unless_asked_for_all() -> None:
    frame = _frame(
        [
            ("2023-12-01 06:00", "old", 1),  # before the training window
            ("2024-01-09 03:00", "old", 0),
        ]
    )
    assert evaluation_set(frame, SHORT).positions.tolist() == [1]  # the handbook's horizon
    everything = evaluation_set(frame, SHORT, frauds_since=frame["event_time"].iloc[0])
    assert everything.positions.tolist() == []


@given(
    st.lists(
        st.tuples(st.integers(0, 12 * 24), st.sampled_from(["a", "b", "c", None]), st.booleans()),
        min_size=1,
        max_size=60,
    )
)
@settings(max_examples=100, deadline=None)
def test_the_exclusion_is_by_label_arrival_at_the_start_of_each_test_day(
    rows: list[tuple[int, str | None, bool]],
) -> None:
    start = pd.Timestamp("2024-01-01", tz="UTC")
    frame = _frame([(str(start + pd.Timedelta(hours=h)), c, int(f)) for h, c, f in rows])
    chosen = evaluation_set(frame, SHORT)
    expected = []
    for position, row in frame.iterrows():
        if not SHORT.test_start <= row["event_time"] < SHORT.test_end:
            continue
        day_start = row["event_time"].floor("D")
        known = frame[
            (frame["card_id"] == row["card_id"])
            & (frame["is_fraud"] == 1)
            & (frame["event_time"] >= SHORT.train_start)
            & (frame["event_time"] + SHORT.delay <= day_start)
        ]
        if pd.isna(row["card_id"]) or known.empty:
            expected.append(position)
    assert chosen.positions.tolist() == expected


def test_a_label_shifted_later_never_leaves_a_card_out_earlier() -> None:
    frame = _frame(
        [
            ("2024-01-02 06:00", "a", 1),
            ("2024-01-09 03:00", "a", 0),
            ("2024-01-10 03:00", "a", 0),
            ("2024-01-11 03:00", "a", 0),
        ]
    )
    before = evaluation_set(frame, SHORT)
    later = frame.copy()
    later.loc[0, "event_time"] += pd.Timedelta(days=1)  # its label arrives a day later
    after = evaluation_set(later, SHORT)
    assert before.positions.tolist() == [1]  # known from day 1
    assert after.positions.tolist() == [1, 2]  # known from day 2 only
    assert set(before.positions) <= set(after.positions)


# -- Card Precision@k -----------------------------------------------------------------


def test_card_precision_by_hand() -> None:
    # day 0: cards a (max 0.9, a fraud that day), b (0.8), c (0.7, fraud), d (0.1, fraud)
    # day 1: only two cards, e (fraud) and f: divided by k = 3 all the same
    y = np.array([0, 1, 0, 1, 1, 1, 0])
    score = np.array([0.9, 0.2, 0.8, 0.7, 0.1, 0.5, 0.4])
    day = np.array([0, 0, 0, 0, 0, 1, 1])
    cards = np.array(["a", "a", "b", "c", "d", "e", "f"], dtype=object)
    measures = measure(y, score, day, cards, days=2, k=3)
    assert measures.card_precision == pytest.approx((2 / 3 + 1 / 3) / 2)
    # a test day without any card still counts, as 0
    assert measure(y, score, day, cards, days=4, k=3).card_precision == pytest.approx(0.25)
    frame = pd.DataFrame({"day": day, "card_id": cards, "score": score, "is_fraud": y})
    assert card_precision_at_k(frame, 3) == pytest.approx(0.5)  # the one definition


@given(st.integers(1, 60), st.integers(1, 6), st.integers(0, 10_000))
@settings(max_examples=100, deadline=None)
def test_card_precision_against_a_brute_force_count(n: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = rng.permutation(n) / n  # distinct: the top k is unambiguous
    day = rng.integers(0, 3, n)
    cards = rng.choice(np.array(["a", "b", "c", "d", "e", "f", "g", None], dtype=object), n)
    expected = []
    for d in range(3):
        best: dict[str, tuple[float, int]] = {}
        for s, f, c, dd in zip(score, y, cards, day, strict=True):
            if dd == d and c is not None:
                top, fraud = best.get(c, (-1.0, 0))
                best[c] = (max(top, s), max(fraud, int(f)))
        ranked = sorted(best.values(), reverse=True)[:k]
        expected.append(sum(f for _, f in ranked) / k)
    got = measure(y, score, day, cards, days=3, k=k).card_precision
    if not any(c is not None for c in cards):
        assert got is None
    else:
        assert got == pytest.approx(np.mean(expected))


def test_without_card_ids_card_precision_is_undefined() -> None:
    y = np.array([1, 0, 1, 0])
    score = np.array([0.9, 0.1, 0.8, 0.2])
    day = np.array([0, 0, 1, 1])
    no_cards = np.array([None] * 4, dtype=object)
    assert not has_card_ids(no_cards)
    measures = measure(y, score, day, no_cards, days=2, k=100)
    assert measures.card_precision is None
    assert measures.average_precision == 1.0
    replicates = bootstrap(y, score, day, no_cards, draws=day_draws(2, 5, seed=0), k=100)
    assert replicates.card_precision is None
    frame = pd.DataFrame({"day": day, "card_id": no_cards, "score": score, "is_fraud": y})
    assert np.isnan(card_precision_at_k(frame, 100))  # a missing id is not one card
    # the ULB layout: no card is known compromised, so nothing is left out
    rows = _frame([("2024-01-01 06:00", None, 1), ("2024-01-09 03:00", None, 0)])
    assert evaluation_set(rows, SHORT).positions.tolist() == [1]


# -- bootstrap --------------------------------------------------------------------------


def _random_test_set(seed: int, n: int = 400, days: int = 5) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.1
    score = np.round(rng.random(n) + 0.3 * y, 2)  # two decimals: ties
    day = rng.integers(0, days, n)
    cards = np.array([f"c{i}" for i in rng.integers(0, 60, n)], dtype=object)
    return y, score, day, cards


def test_bootstrap_is_deterministic_and_paired() -> None:
    y, score, day, cards = _random_test_set(1)
    draws = day_draws(5, 200, seed=3)
    first = bootstrap(y, score, day, cards, draws=draws, k=10)
    again = bootstrap(y, score, day, cards, draws=day_draws(5, 200, seed=3), k=10)
    np.testing.assert_array_equal(first.average_precision, again.average_precision)
    np.testing.assert_array_equal(first.roc_auc, again.roc_auc)
    assert first.card_precision is not None
    assert again.card_precision is not None
    np.testing.assert_array_equal(first.card_precision, again.card_precision)
    other = bootstrap(y, score, day, cards, draws=day_draws(5, 200, seed=4), k=10)
    assert not np.array_equal(first.average_precision, other.average_precision)
    point = measure(y, score, day, cards, days=5, k=10)
    low, high = interval(first.average_precision)
    assert low <= point.average_precision <= high


@given(st.integers(0, 10_000))
@settings(max_examples=50, deadline=None)
def test_a_draw_measures_the_drawn_days_rows_repeated(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, days = 60, 4
    y = rng.random(n) < 0.3
    score = rng.permutation(n) / n  # distinct scores: the explicit order is unambiguous
    day = rng.integers(0, days, n)
    cards = np.array([f"c{i}" for i in rng.integers(0, 15, n)], dtype=object)
    counts = rng.multinomial(days, [1 / days] * days)
    replicate = bootstrap(y, score, day, cards, draws=counts[None, :], k=5)
    rows = np.concatenate([np.flatnonzero(day == d) for d in range(days) for _ in range(counts[d])])
    assert replicate.average_precision[0] == pytest.approx(average_precision(y[rows], score[rows]))
    assert replicate.roc_auc[0] == pytest.approx(roc_auc(y[rows], score[rows]))
    daily = [measure(y, score, day, cards, days=days, k=5)]  # per-day CP, weighted by draws
    assert daily[0].card_precision is not None
    per_day = [
        measure(y[day == d], score[day == d], day[day == d] * 0, cards[day == d], days=1, k=5)
        for d in range(days)
    ]
    expected = sum(c * (p.card_precision or 0.0) for c, p in zip(counts, per_day, strict=True))
    assert replicate.card_precision is not None
    assert replicate.card_precision[0] == pytest.approx(expected / days)


def test_every_day_drawn_once_gives_the_point_measures_even_with_ties() -> None:
    y, score, day, cards = _random_test_set(2)
    replicate = bootstrap(y, score, day, cards, draws=np.ones((1, 5), dtype=np.int64), k=10)
    point = measure(y, score, day, cards, days=5, k=10)
    assert replicate.average_precision[0] == pytest.approx(point.average_precision, abs=1e-12)
    assert replicate.roc_auc[0] == pytest.approx(point.roc_auc, abs=1e-12)
    assert replicate.card_precision is not None
    assert replicate.card_precision[0] == pytest.approx(point.card_precision)


# -- combination -----------------------------------------------------------------------


def test_daily_ranks_compare_models_within_each_day() -> None:
    day = np.array([0, 0, 0, 1, 1])
    first = np.array([0.1, 0.5, 0.9, 0.01, 0.02])
    assert daily_rank(first, day).tolist() == pytest.approx([1 / 3, 2 / 3, 1.0, 0.5, 1.0])
    second = first[::-1].copy()
    combined = mean_daily_rank(first, second, day)
    assert combined.shape == first.shape
    assert ((combined > 0) & (combined <= 1)).all()


# -- no leakage -------------------------------------------------------------------------


@pytest.mark.parametrize("every", [1, 7, 50])
def test_a_label_never_changes_a_score_served_before_it_arrived(every: int) -> None:
    """The online scores and the served features of a row depend only on labels that
    had arrived by its time: changing a later label changes nothing before it."""
    frame = simulate(SimulatorConfig(customers=200, terminals=400, days=10, seed=5))
    delay = timedelta(days=2)
    features = served_features(frame, delay)
    choice = MODEL_CHOICES[DEFAULT_MODEL]
    times = frame["event_time"]
    rows = np.flatnonzero((times >= times.iloc[0] + timedelta(days=4)).to_numpy())[::3]
    scores = prequential_scores(
        frame, features, choice, label_delay=delay, snapshot_every_labels=every, rows=rows
    )
    fraud = int(np.flatnonzero((frame["is_fraud"] == 1) & (times > times.iloc[0] + DAY * 3))[0])
    arrival = times.iloc[fraud] + delay
    shifted = frame.copy()
    shifted.loc[fraud, "is_fraud"] = 0  # its label says something else, still at `arrival`
    changed_features = served_features(shifted, delay)
    changed = prequential_scores(
        shifted,
        changed_features,
        choice,
        label_delay=delay,
        snapshot_every_labels=every,
        rows=rows,
    )
    before = (times <= arrival).to_numpy()
    pd.testing.assert_frame_equal(features[before], changed_features[before])
    earlier = before[rows]
    assert earlier.any()
    assert (~earlier).any()
    np.testing.assert_array_equal(scores[earlier], changed[earlier])
    assert (scores[~earlier] != changed[~earlier]).any()
