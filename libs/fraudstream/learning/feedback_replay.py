"""Prequential evaluation with investigator feedback, offline.

As :func:`~fraudstream.learning.prequential.prequential_scores`, transactions are
scored in event-time order by the snapshot the learner had published, and every
delayed label arrives ``label_delay`` after its transaction. On top of that a team of
investigators works every day with a budget of ``cards_per_day`` cards. They review
the alerts as they come: a card is checked when its score first reaches the day's
alert threshold (the previous day's ``cards_per_day``-th highest card score), first
come first served, and the verdict on its transactions up to the alert (of the last
``history``) arrives ``delay`` (an hour) after the alert. The budget left when the day
ends goes to the day's highest-scored cards not checked yet, answered ``delay`` after
the day's end (``review="day-end"``: all of it, so). Cards already known compromised
are left out (a fraud of theirs in the last ``known_for``, as long as the protocol's
training window and delay, whose label, delayed or feedback, had arrived); a
transaction is judged once, and not after its delayed label came. The selection uses
only the scores served until then, so nothing is learned from the future.

Confirmed frauds reach the feature store at once, as the learner reports them: the
merchant's recent fraud count (``merchant_fraud_count_7d``, docs/features.md) of a
later transaction counts the investigators' frauds of the last week whose verdict had
arrived, on top of the delayed labels ``features`` already holds.

The learner takes both sources as :class:`~fraudstream.learning.learner.Learner`
does (docs/learning.md, "Investigator feedback"):

- ``same``: one model learns the feedback when it arrives; the delayed label of a
  transaction it learned from feedback is not learned again (the simulated
  investigators are always right, so the two never disagree here);
- ``separate``: the delayed model learns every delayed label, a feedback model learns
  the feedback, and :class:`~fraudstream.models.feedback.FeedbackBlend` averages them.

Every joined label counts towards the snapshot cadence, as in the learner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, Literal, TypeAlias

import numpy as np
import pandas as pd

from fraudstream.features.definitions import RECENT_FRAUD_WINDOW
from fraudstream.learning.models import ModelChoice
from fraudstream.learning.prequential import (
    Row,
    _nanoseconds,
    _nanoseconds_of,
    _records,
)
from fraudstream.models import RiverModel
from fraudstream.models.feedback import FEEDBACK_WEIGHT, FeedbackBlend

#: How the learner takes feedback: into the model itself, or into a feedback model.
FeedbackMode: TypeAlias = Literal["same", "separate"]
FEEDBACK_MODES: Final = ("same", "separate")

#: When the investigators check cards: the alerts as they come, or the day's best at its end.
Review: TypeAlias = Literal["alerts", "day-end"]
REVIEWS: Final = ("alerts", "day-end")

_DAY_NS: Final = 86_400 * 10**9

#: The served feature investigators' frauds feed at once, and its window.
RECENT_FRAUDS: Final = f"merchant_fraud_count_{RECENT_FRAUD_WINDOW[0]}"
_RECENT_NS: Final = RECENT_FRAUD_WINDOW[1] * 10**6

#: Runs of rows shorter than this are scored row by row, longer ones as one batch.
_SMALL_RUN: Final = 64


@dataclass(frozen=True)
class FeedbackPolicy:
    """The investigators: how many cards they check a day and how soon they answer."""

    cards_per_day: int
    delay: timedelta = timedelta(hours=1)
    mode: FeedbackMode = "separate"
    #: the feedback model's weight in the blend (``separate``).
    weight: float = FEEDBACK_WEIGHT
    #: how far back a fraud makes its card known compromised (not checked again).
    known_for: timedelta = timedelta(days=14)
    #: how far back from the day's end a checked card's transactions get a verdict
    #: (those whose delayed label had not come and that no verdict covered yet):
    #: with the label delay, every label the card still waits for.
    history: timedelta = timedelta(days=1)
    #: ``alerts``: a card is checked when its score first reaches the day's alert
    #: threshold (the previous day's ``cards_per_day``-th best card), first come first
    #: served, and the budget left at the day's end goes to its best cards unchecked;
    #: ``day-end``: all of them at the day's end.
    review: Review = "alerts"
    #: how often alerts are collected for review (their verdicts arrive ``delay``
    #: after the alert, so at least this long after it).
    review_every: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.cards_per_day < 0:
            raise ValueError("cards_per_day must be >= 0")
        if self.mode not in FEEDBACK_MODES:
            raise ValueError(f"mode must be one of {FEEDBACK_MODES}")
        if self.review not in REVIEWS:
            raise ValueError(f"review must be one of {REVIEWS}")
        if self.delay < self.review_every:
            raise ValueError("delay must be at least review_every: verdicts follow their round")


@dataclass(frozen=True)
class FeedbackScores:
    """What a pass with feedback served, and what the investigators said."""

    #: the score every row was served.
    scores: np.ndarray
    #: when the row's feedback arrived (int64 ns since the epoch), -1 for none.
    feedback_at: np.ndarray
    #: the cards checked, over every day.
    cards_checked: int
    #: the days investigators worked.
    days: int
    #: frauds among the transactions they labelled.
    feedback_frauds: int
    #: every row's recent fraud count as served (``merchant_fraud_count_7d``).
    recent_frauds: np.ndarray

    @property
    def feedback_labels(self) -> int:
        """Transactions labelled by the investigators."""
        return int((self.feedback_at >= 0).sum())


def prequential_feedback_scores(
    frame: pd.DataFrame,
    features: pd.DataFrame,
    choice: ModelChoice,
    *,
    label_delay: timedelta,
    policy: FeedbackPolicy,
    snapshot_every_labels: int = 1,
) -> FeedbackScores:
    """The score every row of ``frame`` (sorted by event time, with ``transaction_id``,
    ``event_time``, ``card_id``, ``merchant_id`` and ``is_fraud``) was served, with
    investigators checking ``policy.cards_per_day`` cards a day; ``features`` are the
    served inputs (:func:`~fraudstream.features.served.model_inputs`). With no card
    checked it equals :func:`~fraudstream.learning.prequential.prequential_scores`.

    >>> from fraudstream.learning.models import MODEL_CHOICES
    >>> times = pd.to_datetime(
    ...     ["2024-04-01 10:00", "2024-04-01 11:00", "2024-04-02 10:00", "2024-04-02 11:00"]
    ... )
    >>> frame = pd.DataFrame(
    ...     {
    ...         "transaction_id": ["a", "b", "c", "d"],
    ...         "event_time": times,
    ...         "card_id": ["x", "y", "x", "z"],
    ...         "merchant_id": ["m", "n", "m", "n"],
    ...         "is_fraud": [1, 0, 1, 0],
    ...     }
    ... )
    >>> features = pd.DataFrame(
    ...     {"amount": [900.0, 10.0, 900.0, 10.0], "merchant_fraud_count_7d": 0.0}
    ... )
    >>> policy = FeedbackPolicy(1, mode="same")
    >>> run = prequential_feedback_scores(
    ...     frame,
    ...     features,
    ...     MODEL_CHOICES["logreg"],
    ...     label_delay=timedelta(days=7),
    ...     policy=policy,
    ... )
    >>> run.cards_checked, run.feedback_labels, bool(run.scores[2] > run.scores[0])
    (2, 2, True)
    """
    every = snapshot_every_labels
    if every < 1:
        raise ValueError("snapshot_every_labels must be >= 1")
    times = _nanoseconds(frame["event_time"])
    delay = _nanoseconds_of(label_delay)
    features = features.copy()  # its recent fraud counts grow with the verdicts
    recent = _RecentFrauds(frame, features, times, delay)
    stream = _LabelStream(frame, features, choice, times, delay, policy, recent.values)
    served = RiverModel(stream.model, choice.name)
    scores = np.zeros(len(frame))
    cards = frame["card_id"].to_numpy(dtype=object)
    day = times // _DAY_NS
    starts: list[int] = (
        np.flatnonzero(np.r_[True, day[1:] != day[:-1]]).tolist() if len(frame) else []
    )
    ends = [*starts[1:], len(frame)]
    checked = 0
    # at the day's end only, a day is one round: nothing to review before it ends
    round_ns = _nanoseconds_of(policy.review_every) if policy.review == "alerts" else _DAY_NS
    history = _nanoseconds_of(policy.history)
    threshold = np.inf  # no day before the first: no alert to review as it comes
    for first, end in zip(starts, ends, strict=True):
        day_end = (int(day[first]) + 1) * _DAY_NS
        team = _Team(policy.cards_per_day, threshold)
        rounds = times[first:end] // round_ns
        round_starts = first + np.flatnonzero(np.r_[True, rounds[1:] != rounds[:-1]])
        for r_first, r_end in zip(round_starts, [*round_starts[1:], end], strict=True):
            recent.serve(int(r_first), int(r_end))
            _score(stream, served, features, scores, every, int(r_first), int(r_end))
            if policy.review == "alerts" and team.left:
                known = stream.known_compromised(int(times[r_first]))
                alerted = team.review(cards, scores, int(r_first), int(r_end), known)
                if alerted:
                    since = int(np.searchsorted(times, int(times[r_first]) - history))
                    rows, arrivals = stream.give_feedback_each(
                        min(int(r_first), since), int(r_end), alerted, policy.delay
                    )
                    recent.confirm(rows, arrivals)
        known = stream.known_compromised(day_end)
        threshold = _kth_best(cards[first:end], scores[first:end], known, policy.cards_per_day)
        top = _top_cards(cards[first:end], scores[first:end], known | team.checked, team.left)
        team.checked |= top
        checked += len(team.checked)
        at = day_end + _nanoseconds_of(policy.delay)
        since = int(np.searchsorted(times, day_end - history))
        rows = stream.give_feedback(min(first, since), end, top, at)
        recent.confirm(rows, np.full(len(rows), at, dtype=np.int64))
    fed = stream.feedback_at >= 0
    frauds = int(frame["is_fraud"].to_numpy(dtype=bool)[fed].sum())
    return FeedbackScores(scores, stream.feedback_at, checked, len(starts), frauds, recent.values)


def _score(
    stream: _LabelStream,
    served: RiverModel,
    features: pd.DataFrame,
    scores: np.ndarray,
    every: int,
    first: int,
    end: int,
) -> None:
    """Score rows ``first..end`` with the snapshots the learner had published then."""
    target = stream.arrived_before(stream.times[first:end]) // every * every
    run_starts = np.flatnonzero(np.r_[True, target[1:] != target[:-1]])
    for a, b in zip(run_starts, [*run_starts[1:], len(target)], strict=True):
        stream.learn_until(int(target[a]))
        rows = slice(first + a, first + b)
        if b - a < _SMALL_RUN:
            for i, x in enumerate(features.iloc[rows].to_dict("records")):
                scores[first + a + i] = stream.model.predict_proba_one(x).get(True, 0.0)
        else:
            scores[rows] = served.score(features.iloc[rows])


class _Team:
    """One day of the investigators' work: the alerts they review as they come."""

    def __init__(self, budget: int, threshold: float) -> None:
        self.left = budget
        self.threshold = threshold
        #: the cards checked today.
        self.checked: set[Any] = set()

    def review(
        self, cards: np.ndarray, scores: np.ndarray, first: int, end: int, known: set[Any]
    ) -> dict[Any, int]:
        """The cards of rows ``first..end`` alerted (score at the threshold, not known
        compromised, not checked today), first come first served while the budget
        lasts: card -> the row of its alert."""
        alerted: dict[Any, int] = {}
        for i in first + np.flatnonzero(scores[first:end] >= self.threshold):
            card = cards[i]
            if pd.isna(card) or card in known or card in self.checked or card in alerted:
                continue
            alerted[card] = int(i)
            if len(alerted) == self.left:
                break
        self.checked |= alerted.keys()
        self.left -= len(alerted)
        return alerted


def _kth_best(cards: np.ndarray, scores: np.ndarray, known: set[Any], k: int) -> float:
    """The ``k``-th highest of the cards' best scores, known cards left out: the next
    day's alert threshold (the lowest best score when fewer cards; never, for none).

    >>> _kth_best(np.array(["a", "b", "b", "c"]), np.array([0.2, 0.1, 0.9, 0.5]), {"c"}, 2)
    0.2
    """
    best = _best_of_day(cards, scores, known, k)
    return float(best.min()) if len(best) else float("inf")


def _top_cards(cards: np.ndarray, scores: np.ndarray, known: set[Any], k: int) -> set[Any]:
    """The ``k`` cards with the highest score of the day, known ones left out.

    >>> sorted(_top_cards(np.array(["a", "b", "b", "c"]), np.array([0.2, 0.1, 0.9, 0.5]), {"c"}, 2))
    ['a', 'b']
    """
    return set(_best_of_day(cards, scores, known, k).index)


def _best_of_day(cards: np.ndarray, scores: np.ndarray, known: set[Any], k: int) -> pd.Series:
    """The ``k`` highest of the cards' best scores, by card, known cards left out."""
    if k == 0 or len(cards) == 0:
        return pd.Series(dtype=np.float64)
    day = pd.DataFrame({"card": cards, "score": scores}).dropna(subset=["card"])
    best = day[~day["card"].isin(known)].groupby("card", sort=False)["score"].max()
    return best.nlargest(k)


class _RecentFrauds:
    """The merchant's recent fraud count as served with feedback: the delayed labels'
    count ``features`` holds, plus the investigators' frauds of the last week whose
    verdict arrived before the transaction and whose delayed label had not."""

    def __init__(
        self, frame: pd.DataFrame, features: pd.DataFrame, times: np.ndarray, delay: int
    ) -> None:
        self._features = features
        self._column = int(list(features.columns).index(RECENT_FRAUDS))
        self.values = features[RECENT_FRAUDS].to_numpy(dtype=np.float64).copy()
        self._merchants = pd.factorize(frame["merchant_id"], use_na_sentinel=True)[0]
        self._fraud = frame["is_fraud"].to_numpy(dtype=bool)
        self._times = times
        self._delay = delay
        #: confirmed frauds: (merchant code, event time, verdict's arrival), ns
        self._confirmed: list[tuple[int, int, int]] = []

    def serve(self, first: int, end: int) -> None:
        """Set the counts of rows ``first..end`` (one day) before they are scored."""
        t = self._times[first:end]
        if not len(t):
            return
        self._confirmed = [c for c in self._confirmed if c[1] > t[0] - _RECENT_NS]
        if not self._confirmed:
            return
        merchants, extra = self._merchants[first:end], np.zeros(len(t))
        for merchant, event, at in self._confirmed:
            extra += (
                (merchants == merchant)
                & (t > at)  # the verdict had arrived
                & (event > t - _RECENT_NS)  # within the window
                & (event <= t)
                & (event + self._delay >= t)  # its delayed label had not
            )
        self.values[first:end] += extra
        self._features.iloc[first:end, self._column] = self.values[first:end]

    def confirm(self, rows: np.ndarray, at: np.ndarray) -> None:
        """The investigators' verdicts on ``rows`` arrive ``at`` (ns, one per row):
        keep the frauds."""
        kept = self._fraud[rows] & (self._merchants[rows] >= 0)
        for i, when in zip(rows[kept], at[kept], strict=True):
            self._confirmed.append((int(self._merchants[i]), int(self._times[i]), int(when)))


class _LabelStream:
    """The labels in arrival order, delayed and feedback merged, learned on demand."""

    def __init__(
        self,
        frame: pd.DataFrame,
        features: pd.DataFrame,
        choice: ModelChoice,
        times: np.ndarray,
        delay: int,
        policy: FeedbackPolicy,
        recent: np.ndarray,
    ) -> None:
        self._features = features
        #: each row's recent fraud count as served (set when its day is scored)
        self._recent = recent
        self._choice = choice
        self._ids = frame["transaction_id"].astype(str).to_numpy()
        self._y = frame["is_fraud"].to_numpy(dtype=bool)
        self._cards = frame["card_id"].to_numpy(dtype=object)
        codes, uniques = pd.factorize(frame["card_id"], use_na_sentinel=True)
        #: each row's card as a number (-1: none), and each card's number
        self._card_codes = codes
        self._code_of = {card: i for i, card in enumerate(uniques)}
        #: a card's alert row by its number (-1: not alerted); the extra last slot
        #: stays -1 for rows without a card
        self._alert_row = np.full(len(uniques) + 1, -1, dtype=np.int64)
        self._arrival = times + delay
        self._learns = choice.learns_many(self._ids.tolist(), self._y)
        self._kept = _records(features, np.flatnonzero(self._learns))
        self._separate = policy.mode == "separate"
        self.model: Any = (
            FeedbackBlend(choice.build(), choice.build(), weight=policy.weight)
            if self._separate
            else choice.build()
        )
        self.feedback_at = np.full(len(frame), -1, dtype=np.int64)
        #: feedback queued: arrival time, row, its features.
        self._queue: list[tuple[int, int, Row]] = []
        self._queue_times: list[int] = []
        self._next_delayed = 0
        self._next_feedback = 0
        #: delayed labels skipped as already learned from feedback, by position.
        self._skipped = np.zeros(len(frame) + 1, dtype=np.int64)
        self.learned = 0  # labels joined (the snapshot cadence counts them)
        self._frauds = np.flatnonzero(self._y)
        self._next_fraud = 0
        self._next_known = 0  # the next queued feedback not yet counted in _latest
        #: card -> event time (ns) of its latest fraud whose label has arrived.
        self._latest: dict[Any, int] = {}
        self.times = times
        self._known_for = _nanoseconds_of(policy.known_for)

    def arrived_before(self, times: np.ndarray) -> np.ndarray:
        """Labels joined (duplicates left out) that arrived before each time."""
        delayed = np.searchsorted(self._arrival, times, side="left")
        feedback = np.searchsorted(np.asarray(self._queue_times), times, side="left")
        return np.asarray(delayed - self._skipped[delayed] + feedback)

    def learn_until(self, target: int) -> None:
        """Learn labels in arrival order until ``target`` were joined."""
        while self.learned < target:
            d, f = self._next_delayed, self._next_feedback
            if f < len(self._queue) and (
                d >= len(self._arrival) or self._queue[f][0] < self._arrival[d]
            ):
                self._learn_feedback(*self._queue[f])
                self._next_feedback += 1
            else:
                self._learn_delayed(d)
                self._next_delayed += 1

    def _learn_delayed(self, i: int) -> None:
        x = next(self._kept) if self._learns[i] else None
        if x is not None:
            x[RECENT_FRAUDS] = float(self._recent[i])  # as served, whenever converted
        if self.feedback_at[i] >= 0 and not self._separate:
            return  # learned from feedback already: not a second example
        if x is not None:
            self._choice.learn(self.model, x, bool(self._y[i]))
        self.learned += 1

    def _learn_feedback(self, _at: int, i: int, x: Row) -> None:
        label = bool(self._y[i])
        if self._separate:
            self.model.learn_feedback(x, label)
        elif self._learns[i]:
            self._choice.learn(self.model, x, label)
        self.learned += 1

    def known_compromised(self, at: int) -> set[Any]:
        """Cards with a fraud in the ``known_for`` before ``at`` whose label (delayed or
        feedback) arrived before ``at``."""
        frauds, arrival, latest = self._frauds, self._arrival, self._latest
        while self._next_fraud < len(frauds) and arrival[frauds[self._next_fraud]] < at:
            self._remember(int(frauds[self._next_fraud]))
            self._next_fraud += 1
        queue = self._queue
        while self._next_known < len(queue) and queue[self._next_known][0] < at:
            i = queue[self._next_known][1]
            if self._y[i]:
                self._remember(i)
            self._next_known += 1
        since = at - self._known_for
        return {card for card, t in latest.items() if t >= since}

    def _remember(self, i: int) -> None:
        card, t = self._cards[i], int(self.times[i])
        if t > self._latest.get(card, -1):
            self._latest[card] = t

    def give_feedback(self, first: int, end: int, cards: set[Any], at: int) -> np.ndarray:
        """The verdicts on ``cards``' transactions among rows ``first..end``, arriving
        ``at`` (those whose delayed label came first are known already): their rows."""
        if not cards:
            return np.zeros(0, dtype=np.int64)
        rows = first + np.flatnonzero(
            pd.Series(self._cards[first:end]).isin(cards).to_numpy()
            & (self._arrival[first:end] > at)
            & (self.feedback_at[first:end] < 0)
        )
        self._enqueue(rows, np.full(len(rows), at, dtype=np.int64))
        return rows

    def give_feedback_each(
        self, first: int, end: int, alerted: dict[Any, int], delay: timedelta
    ) -> tuple[np.ndarray, np.ndarray]:
        """The verdicts on the ``alerted`` cards (card -> the row of its alert), each
        arriving ``delay`` after its alert, on their transactions among rows
        ``first..end`` up to the alert: their rows and arrival times, in arrival order."""
        alerted_codes = np.array([self._code_of[card] for card in alerted], dtype=np.int64)
        self._alert_row[alerted_codes] = list(alerted.values())
        alert = self._alert_row[self._card_codes[first:end]]
        self._alert_row[alerted_codes] = -1
        index = first + np.flatnonzero(alert >= 0)
        alert_row = alert[index - first]
        at = self.times[alert_row] + _nanoseconds_of(delay)
        keep = (index <= alert_row) & (self._arrival[index] > at) & (self.feedback_at[index] < 0)
        order = np.argsort(at[keep], kind="stable")
        rows, at = index[keep][order], at[keep][order]
        self._enqueue(rows, at)
        return rows, at

    def _enqueue(self, rows: np.ndarray, at: np.ndarray) -> None:
        """Queue the verdicts on ``rows``, arriving ``at`` (ns, non-decreasing)."""
        if not rows.size:
            return
        self.feedback_at[rows] = at
        records = self._features.iloc[rows].to_dict("records")
        self._queue.extend((int(t), int(i), x) for t, i, x in zip(at, rows, records, strict=True))
        self._queue_times.extend(at.tolist())
        if not self._separate:
            skipped = np.zeros(len(self._arrival), dtype=np.int64)
            skipped[rows] = 1
            self._skipped += np.r_[0, np.cumsum(skipped)]
