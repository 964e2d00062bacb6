"""Quality measures against brute-force definitions on random data."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudstream.evaluation.measures import (
    average_precision,
    card_precision_at_k,
    precision_recall_at,
    recall_at_budget,
    roc_auc,
)

labels_and_scores = st.integers(2, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.booleans(), min_size=n, max_size=n),
        st.lists(st.integers(0, 10), min_size=n, max_size=n),  # small range: many ties
    )
)


@given(labels_and_scores)
@settings(max_examples=200)
def test_roc_auc_is_the_pairwise_win_rate(data: tuple[list[bool], list[int]]) -> None:
    y, raw = np.array(data[0]), np.array(data[1], dtype=float)
    pos, neg = raw[y], raw[~y]
    if len(pos) == 0 or len(neg) == 0:
        assert roc_auc(y, raw) == 0.5
        return
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p, q in itertools.product(pos, neg))
    assert abs(roc_auc(y, raw) - wins / (len(pos) * len(neg))) < 1e-12


@given(labels_and_scores)
@settings(max_examples=200)
def test_average_precision_is_mean_precision_at_each_positive(
    data: tuple[list[bool], list[int]],
) -> None:
    y, raw = np.array(data[0]), np.array(data[1], dtype=float) + np.arange(len(data[0])) * 1e-6
    order = np.argsort(-raw)
    hits, precisions = 0, []
    for rank, index in enumerate(order, start=1):
        if y[index]:
            hits += 1
            precisions.append(hits / rank)
    expected = float(np.mean(precisions)) if precisions else 0.0
    assert abs(average_precision(y, raw) - expected) < 1e-12


def test_perfect_and_worst_rankings() -> None:
    y = np.array([1, 1, 0, 0, 0])
    assert average_precision(y, np.array([0.9, 0.8, 0.3, 0.2, 0.1])) == 1.0
    assert roc_auc(y, np.array([0.9, 0.8, 0.3, 0.2, 0.1])) == 1.0
    assert roc_auc(y, np.array([0.1, 0.2, 0.3, 0.8, 0.9])) == 0.0
    assert average_precision(np.zeros(3), np.ones(3)) == 0.0


def test_precision_recall_at_threshold() -> None:
    y = np.array([1, 0, 1, 0, 1])
    s = np.array([0.9, 0.8, 0.4, 0.1, 0.6])
    assert precision_recall_at(y, s, 0.5) == (2 / 3, 2 / 3)
    assert precision_recall_at(y, s, 0.95) == (0.0, 0.0)


def test_card_precision_counts_cards_per_day() -> None:
    frame = pd.DataFrame(
        {
            "day": ["d1"] * 4 + ["d2"] * 3,
            "card_id": ["a", "a", "b", "c", "a", "b", "c"],
            "score": [0.2, 0.95, 0.9, 0.1, 0.5, 0.6, 0.7],
            "is_fraud": [1, 0, 0, 1, 0, 1, 0],
        }
    )
    # d1: a (0.95, fraud) and b (0.9, none) on top -> 1/2; d2: c (none), b (fraud) -> 1/2
    assert card_precision_at_k(frame, 2) == 0.5
    # d1: a -> 1; d2: c -> 0
    assert card_precision_at_k(frame, 1) == 0.5
    assert card_precision_at_k(frame.iloc[:0], 5) == 0.0


@given(st.integers(1, 30), st.integers(1, 6), st.integers(0, 10_000))
@settings(max_examples=100)
def test_recall_at_budget_counts_the_frauds_in_each_days_top_k(n: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "day": rng.integers(0, 3, n),
            "score": rng.permutation(n) / n,  # distinct: the top k is unambiguous
            "is_fraud": rng.integers(0, 2, n),
        }
    )
    caught = 0
    for _, day in frame.groupby("day"):
        caught += int(day.nlargest(k, "score")["is_fraud"].sum())
    frauds = int(frame["is_fraud"].sum())
    expected = caught / frauds if frauds else 0.0
    assert abs(recall_at_budget(frame, k) - expected) < 1e-12


def test_recall_at_budget_refuses_an_empty_budget() -> None:
    frame = pd.DataFrame({"day": [0], "score": [0.5], "is_fraud": [1]})
    with pytest.raises(ValueError, match="k must be >= 1"):
        recall_at_budget(frame, 0)


def test_card_precision_divides_by_k_on_a_day_with_fewer_cards() -> None:
    # the handbook's definition: 1 frauded card of the 2 there are, divided by k = 5
    frame = pd.DataFrame(
        {"day": [0, 0], "card_id": ["a", "b"], "score": [0.9, 0.1], "is_fraud": [1, 0]}
    )
    assert card_precision_at_k(frame, 5) == 0.2


def test_card_precision_ignores_rows_without_a_card_id() -> None:
    frame = pd.DataFrame(
        {
            "day": [0, 0, 0],
            "card_id": [None, None, "a"],
            "score": [0.9, 0.8, 0.1],
            "is_fraud": [1, 1, 0],
        }
    )
    assert card_precision_at_k(frame, 1) == 0.0  # two unknown cards are not one frauded card
    assert np.isnan(card_precision_at_k(frame.assign(card_id=None), 1))  # undefined
