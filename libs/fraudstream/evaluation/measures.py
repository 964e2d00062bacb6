"""Fraud-detection quality measures, as plain functions over arrays.

Fraud is rare, so accuracy says nothing (calling everything genuine is 99% right).
What matters is how well the highest scores concentrate the frauds:

- **average precision** (area under the precision-recall curve);
- **ROC AUC** (how often a fraud outranks a genuine transaction);
- **precision and recall at the alert threshold** (what the team actually sees);
- **Card Precision@k**: each day, the number of the k highest-scored cards that
  really had a fraud that day, divided by k (the ULB/Worldline handbook's measure,
  since a team investigates cards, not transactions, and only k of them a day);
- **recall at an alert budget**: the share of frauds caught when each day only its k
  highest-scored transactions are alerted.

>>> y = np.array([0, 0, 1, 0, 1])
>>> s = np.array([0.1, 0.4, 0.35, 0.2, 0.9])
>>> round(average_precision(y, s), 4)
0.8333
>>> round(roc_auc(y, s), 4)
0.8333
>>> precision_recall_at(y, s, 0.3)
(0.6666666666666666, 1.0)
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def average_precision(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Mean of the precision at the rank of each positive (0 when there is none).

    Ties are broken by order of appearance after sorting by score, descending.
    """
    y = np.asarray(y_true, dtype=bool)
    positives = int(y.sum())
    if positives == 0:
        return 0.0
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    hits = y[order]
    ranks = np.flatnonzero(hits) + 1
    precision_at_hits = np.arange(1, positives + 1) / ranks
    return float(precision_at_hits.mean())


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Probability a random fraud scores above a random genuine one (ties count half);
    0.5 when either class is missing."""
    y = np.asarray(y_true, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return 0.5
    ranks = pd.Series(np.asarray(scores, dtype=np.float64)).rank(method="average").to_numpy()
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def precision_recall_at(
    y_true: np.ndarray, scores: np.ndarray, threshold: float
) -> tuple[float, float]:
    """(precision, recall) of alerting every score at or above ``threshold``."""
    y = np.asarray(y_true, dtype=bool)
    alerted = np.asarray(scores, dtype=np.float64) >= threshold
    true_alerts = int((alerted & y).sum())
    precision = true_alerts / int(alerted.sum()) if alerted.any() else 0.0
    recall = true_alerts / int(y.sum()) if y.any() else 0.0
    return precision, recall


def daily_card_precision(frame: pd.DataFrame, k: int) -> pd.Series:
    """Card Precision@k of each day, as the ULB/Worldline handbook defines it.

    ``frame`` has columns ``day``, ``card_id``, ``score`` and ``is_fraud``. A card's
    score for a day is its highest that day, and it counts as frauded if any of its
    transactions that day was. Each day, the ``k`` highest-scored cards are
    investigated: the day's figure is the number of frauded cards among them divided
    by ``k``, by ``k`` even on a day with fewer than ``k`` cards (a team that can look
    at ``k`` cards and is shown fewer is not more precise). Ties at the cut go to the
    card seen first. Rows without a card id are left out: a missing id is no card.
    The series is indexed by the days that have a card, in order.

    >>> frame = pd.DataFrame(
    ...     {
    ...         "day": [1, 1, 1, 2, 2],
    ...         "card_id": ["a", "b", "a", "a", None],
    ...         "score": [0.9, 0.8, 0.1, 0.2, 0.7],
    ...         "is_fraud": [0, 1, 1, 1, 1],
    ...     }
    ... )
    >>> daily_card_precision(frame, 3).round(4).to_dict()  # 2 of 3 on day 1, 1 of 3 on day 2
    {1: 0.6667, 2: 0.3333}
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    top = daily_top_cards(frame, k)
    frauded = top.groupby(level="day", sort=True)["fraud"].sum().astype(np.float64)
    return frauded / k


def daily_top_cards(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    """Each day's ``k`` highest-scored cards, as Card Precision@k picks them: indexed by
    (``day``, ``card_id``), with the card's highest ``score`` that day and ``fraud``, 1
    when any of its transactions that day was. Ties go to the card seen first; rows
    without a card id are left out."""
    known = frame[frame["card_id"].notna()]
    cards = known.groupby(["day", "card_id"], sort=False).agg(
        score=("score", "max"), fraud=("is_fraud", "max")
    )
    ranked = cards.sort_values("score", ascending=False, kind="stable")
    return ranked.groupby(level="day", sort=True).head(k)


def card_precision_at_k(frame: pd.DataFrame, k: int) -> float:
    """Card Precision@k: the mean over days of :func:`daily_card_precision` (0 for an
    empty frame; NaN, undefined, when no row has a card id).

    >>> frame = pd.DataFrame(
    ...     {
    ...         "day": ["d1", "d1", "d1", "d2", "d2"],
    ...         "card_id": ["a", "b", "a", "a", "c"],
    ...         "score": [0.9, 0.8, 0.1, 0.2, 0.7],
    ...         "is_fraud": [0, 1, 1, 0, 1],
    ...     }
    ... )
    >>> card_precision_at_k(frame, 1)  # d1: card a (a fraud that day); d2: card c
    1.0
    >>> card_precision_at_k(frame, 4)  # by k: d1 has 2 frauded cards of 4, d2 has 1
    0.375
    >>> card_precision_at_k(frame.assign(card_id=None), 4)
    nan
    """
    if frame.empty:
        return 0.0
    daily = daily_card_precision(frame, k)
    return float(daily.mean()) if len(daily) else float("nan")


def recall_at_budget(frame: pd.DataFrame, k: int) -> float:
    """Share of all frauds that are among the ``k`` highest scores of their day.

    ``frame`` has columns ``day``, ``score`` and ``is_fraud``: the recall of a team that
    can look at ``k`` alerts a day (0 when there is no fraud). Ties at the cut are broken
    by row order.

    >>> frame = pd.DataFrame(
    ...     {
    ...         "day": [1, 1, 1, 2, 2],
    ...         "score": [0.9, 0.8, 0.1, 0.2, 0.7],
    ...         "is_fraud": [0, 1, 1, 1, 0],
    ...     }
    ... )
    >>> recall_at_budget(frame, 1)
    0.0
    >>> round(recall_at_budget(frame, 2), 4)
    0.6667
    """
    if k < 1:
        raise ValueError(f"the alert budget k must be >= 1, got {k}")
    frauds = int(frame["is_fraud"].sum()) if not frame.empty else 0
    if frauds == 0:
        return 0.0
    ranked = frame.sort_values("score", ascending=False, kind="stable")
    top = ranked.groupby("day", sort=False).head(k)
    return float(top["is_fraud"].sum()) / frauds
