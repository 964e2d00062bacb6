"""Prequential ("test, then train") evaluation with delayed labels, offline.

Transactions are taken in event-time order. Each is scored by the model the learner
had published by then; labels arrive ``label_delay`` after their transaction and are
learned in that order, and a snapshot is published every ``snapshot_every_labels``
labels. The scores are exactly what a scorer following that learner would have
given, so the measures over them are the online quality of the model as deployed.
Features come from the offline path (:func:`fraudstream.features.served.served_features`),
fed with the fraud labels the system would have known, so terminal-risk features are
what was served.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, TypeAlias

import numpy as np
import pandas as pd

from fraudstream.evaluation.measures import average_precision, card_precision_at_k, roc_auc
from fraudstream.learning.models import ModelChoice
from fraudstream.models import ColdStartModel, RiverModel

#: A feature row as River takes it.
Row: TypeAlias = dict[Hashable, Any]

#: Runs of rows shorter than this are scored row by row, longer ones as one batch.
_SMALL_RUN: Final = 64


@dataclass(frozen=True)
class PrequentialResult:
    """Quality of one model over the evaluated days."""

    name: str
    average_precision: float
    mean_daily_average_precision: float
    roc_auc: float
    card_precision_at_100: float


def prequential_scores(
    frame: pd.DataFrame,
    features: pd.DataFrame,
    choice: ModelChoice | None,
    *,
    label_delay: timedelta,
    snapshot_every_labels: int = 1,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """The score each row in ``rows`` (positions; default every row) was served.

    ``frame`` is sorted by event time. The label of a transaction arrives
    ``label_delay`` after its event time, and the learner learns labels in the order
    they arrive (every fraud, and the genuine ones ``choice`` keeps); it publishes a
    snapshot after every ``snapshot_every_labels`` labels, and a transaction is scored
    by the newest snapshot published before its event time, as the scorer would.
    Nothing is rounded to days, so an hour's delay is an hour. ``choice`` None is the
    cold-start model (it never learns).

    >>> from fraudstream.learning.models import MODEL_CHOICES
    >>> times = pd.to_datetime(["2024-04-01 00:00", "2024-04-01 01:00", "2024-04-01 02:00"])
    >>> frame = pd.DataFrame(
    ...     {"transaction_id": ["a", "b", "c"], "event_time": times, "is_fraud": [1, 0, 0]}
    ... )
    >>> features = pd.DataFrame({"amount": [900.0, 10.0, 900.0]})
    >>> choice = MODEL_CHOICES["logreg"]
    >>> late = prequential_scores(frame, features, choice, label_delay=timedelta(hours=3))
    >>> soon = prequential_scores(frame, features, choice, label_delay=timedelta(minutes=30))
    >>> bool(late[2] == late[0]), bool(soon[2] > late[2])  # only "soon" knows row a's fraud
    (True, True)
    """
    return prequential_scores_at(
        frame,
        features,
        choice,
        label_delay=label_delay,
        cadences=(snapshot_every_labels,),
        rows=rows,
    )[0]


def prequential_scores_at(
    frame: pd.DataFrame,
    features: pd.DataFrame,
    choice: ModelChoice | None,
    *,
    label_delay: timedelta,
    cadences: Sequence[int],
    rows: np.ndarray | Sequence[np.ndarray] | None = None,
) -> list[np.ndarray]:
    """:func:`prequential_scores` for several snapshot cadences at once, in one pass.

    The model learns each label once; a row is scored, for each cadence, by the model
    as it stood at that cadence's newest snapshot. ``rows`` is one array of positions
    for every cadence, or a list of one per cadence. The result is in the order of
    ``cadences`` and equals calling :func:`prequential_scores` once per cadence.
    """
    everything = np.arange(len(frame))
    if rows is None or isinstance(rows, np.ndarray):
        chosen = [everything if rows is None else np.asarray(rows)] * len(cadences)
    else:
        chosen = [np.asarray(r) for r in rows]
    if len(chosen) != len(cadences):
        raise ValueError("give one array of rows per cadence")
    if choice is None:
        return [ColdStartModel().score(features.iloc[positions]) for positions in chosen]
    if any(every < 1 for every in cadences):
        raise ValueError("snapshot_every_labels must be >= 1")
    times = _nanoseconds(frame["event_time"])
    if any(p.size and not (np.diff(p) >= 0).all() for p in chosen):
        raise ValueError("rows must be in event-time order")
    delay = _nanoseconds_of(label_delay)
    arrived = [np.searchsorted(times + delay, times[p], side="left") for p in chosen]
    y = frame["is_fraud"].to_numpy(dtype=bool)
    learns = choice.learns_many(frame["transaction_id"].astype(str).tolist(), y)
    kept = np.flatnonzero(learns)
    # labels to learn, in arrival order; the rows become dicts a chunk at a time, once
    to_learn = zip(_records(features, kept), y[kept].tolist(), strict=True)
    kept_before = np.r_[0, np.cumsum(learns)]  # kept labels among the first i
    model = choice.build()
    served = RiverModel(model, choice.name)
    scores = [np.zeros(len(positions)) for positions in chosen]
    learned = 0
    # rows served by the same snapshot form one run: learn up to it, then score the run
    for target, which, start, end in _runs(arrived, cadences):
        positions = chosen[which]
        if target > learned:
            lesson = list(itertools.islice(to_learn, kept_before[target] - kept_before[learned]))
            choice.learn_all(model, [x for x, _ in lesson], [label for _, label in lesson])
            learned = target
        out = scores[which]
        if end - start < _SMALL_RUN:  # a DataFrame per row or two costs more than the model
            for i, x in enumerate(features.iloc[positions[start:end]].to_dict("records")):
                out[start + i] = model.predict_proba_one(x).get(True, 0.0)
        else:
            out[start:end] = served.score(features.iloc[positions[start:end]])
    return scores


def _runs(
    arrived: Sequence[np.ndarray], cadences: Sequence[int]
) -> list[tuple[int, int, int, int]]:
    """``(labels learned, cadence index, first row, end row)`` of every run of rows
    served by one snapshot, for every cadence (``arrived``: the labels arrived before
    each of its rows), ordered by the labels learned.

    >>> _runs([np.array([0, 1, 2, 3])] * 2, (2, 1))
    [(0, 0, 0, 2), (0, 1, 0, 1), (1, 1, 1, 2), (2, 0, 2, 4), (2, 1, 2, 3), (3, 1, 3, 4)]
    """
    runs: list[tuple[int, int, int, int]] = []
    for which, every in enumerate(cadences):
        published = arrived[which] // every * every
        starts = (
            np.flatnonzero(np.r_[True, published[1:] != published[:-1]])
            if len(published)
            else np.zeros(0, dtype=int)
        )
        ends = [*starts[1:], len(published)]
        runs.extend(
            (int(published[a]), which, int(a), int(b)) for a, b in zip(starts, ends, strict=True)
        )
    return sorted(runs, key=lambda run: (run[0], run[1]))


def _records(features: pd.DataFrame, rows: np.ndarray, chunk: int = 50_000) -> Iterator[Row]:
    """The rows ``rows`` of ``features`` as dicts, in order, converted a chunk at a time
    (one conversion per row, whatever the runs are)."""
    for first in range(0, len(rows), chunk):
        yield from features.iloc[rows[first : first + chunk]].to_dict("records")


def _nanoseconds(times: pd.Series) -> np.ndarray:
    """Event times as int64 nanoseconds since the epoch (UTC)."""
    utc = pd.to_datetime(times, utc=True).dt.tz_convert(None)
    return utc.to_numpy().astype("datetime64[ns]").astype(np.int64)


def _nanoseconds_of(delta: timedelta) -> int:
    return int(pd.Timedelta(delta).value)


def run_prequential(
    frame: pd.DataFrame,
    features: pd.DataFrame,
    choice: ModelChoice | None,
    *,
    label_delay: timedelta,
    evaluate_from_day: int,
) -> PrequentialResult:
    """Score day by day, learn delayed labels, and measure days >= ``evaluate_from_day``.

    ``choice`` None is the cold-start model (it never learns).
    """
    day = _days(frame)
    y = frame["is_fraud"].astype(bool).to_numpy()
    scores = prequential_scores(frame, features, choice, label_delay=label_delay)
    mask = day >= evaluate_from_day
    daily = [
        average_precision(y[day == d], scores[day == d])
        for d in range(evaluate_from_day, int(day.max()) + 1)
    ]
    cards = pd.DataFrame(
        {
            "day": day[mask],
            "card_id": frame["card_id"].to_numpy()[mask],
            "score": scores[mask],
            "is_fraud": y[mask].astype(int),
        }
    )
    return PrequentialResult(
        name=choice.name if choice is not None else "cold-start",
        average_precision=average_precision(y[mask], scores[mask]),
        mean_daily_average_precision=float(np.mean(daily)) if daily else 0.0,
        roc_auc=roc_auc(y[mask], scores[mask]),
        card_precision_at_100=card_precision_at_k(cards, 100),
    )


def _days(frame: pd.DataFrame) -> np.ndarray:
    """Whole days since the first row's event time, per row."""
    return np.asarray((frame["event_time"] - frame["event_time"].iloc[0]).dt.days.to_numpy())
