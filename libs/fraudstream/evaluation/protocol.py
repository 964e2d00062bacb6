"""The evaluation protocol of the ULB/Worldline handbook, as pure functions.

*Reproducible Machine Learning for Credit Card Fraud Detection - Practical handbook*
(Le Borgne et al.) judges a fraud model like this, and so does ``fraudstream bench
quality``:

1. **Windows** (:class:`Windows`): a training window (7 days), a delay period as
   long as the label delay (7 days: the labels of the last training day arrive at
   its end), then a test window (7 days). A model may learn only labels that had
   arrived when it scores.
2. **Test set** (:func:`evaluation_set`): the test window's transactions, less those of
   cards *known compromised* at the start of their day: cards with a fraud whose
   label had arrived by then (event time + label delay <= the day's start). Such a
   card is blocked, so scoring it tells nothing. This is by label arrival (with a
   whole-day delay it is the handbook's rule, which goes by the day each fraud fell
   on). Frauds count from the training window's start on, as in the handbook: a card
   blocked months ago has been replaced, and the simulator's card ids are customers,
   who keep theirs. Counting every fraud since the data's first day instead
   (``frauds_since``) leaves out most of the simulated customers (72% of the test
   week's transactions, against 13% from the training start).
3. **Measures** (:func:`measure`): average precision and ROC AUC over the test set,
   and Card Precision@k (:func:`~fraudstream.evaluation.measures.daily_card_precision`
   averaged over the test days). Without card ids Card Precision@k is undefined:
   None, never a number.
4. **Intervals** (:func:`bootstrap`, :func:`interval`): test *days* are resampled with
   replacement (frauds cluster by day, terminal and card, so transactions are not
   independent draws) and the 2.5th and 97.5th percentiles of the resampled measures
   bound the 95% interval. The draws come from a fixed seed, and every model scored
   on the same test set is measured on the same draws.

>>> windows = Windows.starting("2018-07-25", train=DAY * 7, delay=DAY * 7, test=DAY * 7)
>>> windows.train_end.date(), windows.test_start.date(), windows.test_end.date()
(datetime.date(2018, 8, 1), datetime.date(2018, 8, 8), datetime.date(2018, 8, 15))
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import numpy as np
import pandas as pd

from fraudstream.errors import ConfigError
from fraudstream.evaluation.measures import (
    average_precision,
    daily_card_precision,
    daily_top_cards,
    roc_auc,
)

DAY: Final = pd.Timedelta(days=1)

#: The handbook's simulated data starts on this day...
HANDBOOK_START: Final = pd.Timestamp("2018-04-01", tz="UTC")
#: ...and its training window on this one.
HANDBOOK_TRAIN_START: Final = pd.Timestamp("2018-07-25", tz="UTC")


class ProtocolError(ConfigError):
    """The protocol's windows do not fit the data (or make no sense)."""


@dataclass(frozen=True)
class Windows:
    """Training window, delay period (the label delay) and test window, back to back."""

    train_start: pd.Timestamp
    train: pd.Timedelta
    delay: pd.Timedelta
    test: pd.Timedelta

    @classmethod
    def starting(
        cls,
        train_start: str | datetime,
        *,
        train: timedelta,
        delay: timedelta,
        test: timedelta,
    ) -> Windows:
        """Windows from ``train_start`` (naive means UTC)."""
        if pd.Timedelta(train) <= pd.Timedelta(0) or pd.Timedelta(test) <= pd.Timedelta(0):
            raise ProtocolError("the training and test windows must be longer than 0")
        if pd.Timedelta(delay) < pd.Timedelta(0):
            raise ProtocolError("the label delay must not be negative")
        return cls(_utc(train_start), pd.Timedelta(train), pd.Timedelta(delay), pd.Timedelta(test))

    @classmethod
    def ending_with(
        cls, last: datetime, *, train: timedelta, delay: timedelta, test: timedelta
    ) -> Windows:
        """Windows whose test window ends with the day of ``last`` (the last event).

        >>> w = Windows.ending_with(
        ...     pd.Timestamp("2020-12-31 23:59", tz="UTC"),
        ...     train=DAY * 7,
        ...     delay=DAY * 7,
        ...     test=DAY * 7,
        ... )
        >>> w.train_start.date(), w.test_end.date()
        (datetime.date(2020, 12, 11), datetime.date(2021, 1, 1))
        """
        end = _utc(last).floor("D") + DAY
        span = pd.Timedelta(train) + pd.Timedelta(delay) + pd.Timedelta(test)
        return cls.starting(end - span, train=train, delay=delay, test=test)

    @property
    def train_end(self) -> pd.Timestamp:
        return self.train_start + self.train

    @property
    def test_start(self) -> pd.Timestamp:
        return self.train_end + self.delay

    @property
    def test_end(self) -> pd.Timestamp:
        return self.test_start + self.test

    @property
    def test_days(self) -> int:
        """Days of the test window (a last partial day counts)."""
        return int(-(-self.test // DAY))

    def check(self, first: datetime, last: datetime) -> None:
        """ProtocolError unless events from ``first`` to ``last`` cover the first
        training day and the last test day.

        >>> w = Windows.starting("2024-01-08", train=DAY * 7, delay=DAY * 7, test=DAY * 7)
        >>> w.check(pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-20", tz="UTC"))
        Traceback (most recent call last):
        ...
        fraudstream.evaluation.protocol.ProtocolError: the data ends 2024-01-20 00:00, before ...
        """
        first, last = _utc(first), _utc(last)
        needs = f"the protocol needs {self.describe_span()} from {self.train_start:%Y-%m-%d %H:%M}"
        if first >= self.train_start + min(DAY, self.train):
            raise ProtocolError(
                f"the data starts {first:%Y-%m-%d %H:%M}, after the first training day: {needs}"
            )
        if last < self.test_end - min(DAY, self.test):
            raise ProtocolError(
                f"the data ends {last:%Y-%m-%d %H:%M}, before the last test day "
                f"(the test window ends {self.test_end:%Y-%m-%d %H:%M}): {needs}"
            )

    def describe_span(self) -> str:
        span = self.train + self.delay + self.test
        return f"{span.days} days" if span % DAY == pd.Timedelta(0) else str(span)


@dataclass(frozen=True)
class EvaluationSet:
    """The evaluated rows: positions into the frame, each one's test day (0-based)."""

    positions: np.ndarray
    day: np.ndarray
    days: int
    #: test-window rows left out because their card was known compromised.
    excluded: int


def compromised_since(
    frame: pd.DataFrame, label_delay: timedelta, frauds_since: datetime | None = None
) -> pd.Series:
    """When each card became known compromised: the arrival of its first fraud label
    (event time + ``label_delay``), by card id, counting frauds at or after
    ``frauds_since`` (None: all). Rows without a card id name no card.

    >>> frame = pd.DataFrame(
    ...     {
    ...         "event_time": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-02"], utc=True),
    ...         "card_id": ["a", "a", None],
    ...         "is_fraud": [0, 1, 1],
    ...     }
    ... )
    >>> compromised_since(frame, DAY * 7).to_dict()
    {'a': Timestamp('2024-01-10 00:00:00+0000', tz='UTC')}
    >>> compromised_since(frame, DAY * 7, frauds_since=pd.Timestamp("2024-01-04", tz="UTC")).empty
    True
    """
    frauds = frame["is_fraud"].to_numpy(dtype=bool) & frame["card_id"].notna().to_numpy()
    if frauds_since is not None:
        frauds &= (frame["event_time"] >= _utc(frauds_since)).to_numpy()
    arrival = frame["event_time"][frauds] + pd.Timedelta(label_delay)
    return arrival.groupby(frame["card_id"][frauds].to_numpy()).min()


def evaluation_set(
    frame: pd.DataFrame, windows: Windows, *, frauds_since: datetime | None = None
) -> EvaluationSet:
    """The test window's rows whose card was not known compromised at the start of
    their day (labels arrive ``windows.delay`` after their transaction).

    ``frame`` (sorted by event time) holds the history before the test window too.
    Frauds count from ``frauds_since`` on (None: the training window's start, as the
    handbook; the data's first day for all of them).

    >>> frame = pd.DataFrame(
    ...     {
    ...         "event_time": pd.to_datetime(
    ...             [
    ...                 "2024-01-02 10:00",
    ...                 "2024-01-09 09:00",
    ...                 "2024-01-10 08:00",
    ...                 "2024-01-10 09:00",
    ...             ],
    ...             utc=True,
    ...         ),
    ...         "card_id": ["a", "a", "a", "b"],
    ...         "is_fraud": [1, 0, 0, 0],
    ...     }
    ... )
    >>> w = Windows.starting("2024-01-01", train=DAY, delay=DAY * 7, test=DAY * 2)
    >>> str(w.test_start.date())
    '2024-01-09'
    >>> chosen = evaluation_set(frame, w)  # a's fraud label arrives 01-09 10:00: known on 01-10
    >>> chosen.positions.tolist(), chosen.day.tolist(), chosen.excluded
    ([1, 3], [0, 1], 1)
    >>> late = pd.Timestamp("2024-01-05", tz="UTC")
    >>> evaluation_set(frame, w, frauds_since=late).positions.tolist()  # a's fraud forgotten
    [1, 2, 3]
    """
    times = frame["event_time"]
    inside = ((times >= windows.test_start) & (times < windows.test_end)).to_numpy()
    positions = np.flatnonzero(inside)
    day = ((times.iloc[positions] - windows.test_start) // DAY).to_numpy(dtype=np.int64)
    day_start = windows.test_start + pd.to_timedelta(day, unit="D")
    since = compromised_since(frame, windows.delay, frauds_since or windows.train_start)
    known = since.reindex(frame["card_id"].iloc[positions].to_numpy())  # NaT: never
    excluded = _naive(known) <= _naive(pd.Series(day_start))
    return EvaluationSet(
        positions[~excluded], day[~excluded], windows.test_days, int(excluded.sum())
    )


def has_card_ids(card_id: pd.Series | np.ndarray) -> bool:
    """Whether any row names its card (Card Precision@k needs card ids).

    >>> has_card_ids(pd.Series([None, None])), has_card_ids(pd.Series([None, "c"]))
    (False, True)
    """
    return bool(pd.Series(card_id).notna().any())


@dataclass(frozen=True)
class Measures:
    """The protocol's measures of one model on one test set."""

    average_precision: float
    roc_auc: float
    #: None without card ids (undefined).
    card_precision: float | None


def daily_card_precisions(
    y: np.ndarray, score: np.ndarray, day: np.ndarray, card_id: np.ndarray, *, days: int, k: int
) -> np.ndarray | None:
    """Card Precision@k of each test day ``0..days-1`` (a day without a card: 0), or
    None without card ids."""
    if not has_card_ids(card_id):
        return None
    frame = pd.DataFrame({"day": day, "card_id": card_id, "score": score, "is_fraud": y})
    daily = daily_card_precision(frame, k)
    return daily.reindex(range(days), fill_value=0.0).to_numpy(dtype=np.float64)


def measure(
    y: np.ndarray, score: np.ndarray, day: np.ndarray, card_id: np.ndarray, *, days: int, k: int
) -> Measures:
    """AP and ROC AUC over the rows, Card Precision@k averaged over the ``days`` test days.

    >>> y = np.array([1, 0, 0, 1])
    >>> score = np.array([0.9, 0.8, 0.1, 0.7])
    >>> day = np.array([0, 0, 1, 1])
    >>> m = measure(y, score, day, np.array(["a", "b", "a", "c"]), days=2, k=2)
    >>> round(m.average_precision, 4), m.roc_auc, m.card_precision
    (0.8333, 0.75, 0.5)
    >>> measure(y, score, day, np.array([None] * 4), days=2, k=2).card_precision is None
    True
    """
    daily = daily_card_precisions(y, score, day, card_id, days=days, k=k)
    return Measures(
        average_precision=average_precision(y, score),
        roc_auc=roc_auc(y, score),
        card_precision=None if daily is None else float(daily.mean()),
    )


def frauded_cards_found(
    y: np.ndarray,
    score: np.ndarray,
    day: np.ndarray,
    card_id: np.ndarray,
    group: np.ndarray,
    *,
    k: int,
) -> dict[int, tuple[int, int]]:
    """Per group: the frauded cards among each day's ``k`` highest-scored (the hits of
    Card Precision@k) and all the frauded cards, summed over the days. A frauded card's
    group on a day is the smallest ``group`` of its frauds that day (the simulator's
    ``fraud_scenario``, whose first applying scenario labels a fraud). Ties at the cut
    go to the card seen first, as in Card Precision@k.

    >>> y = np.array([1, 1, 0, 1])
    >>> score = np.array([0.9, 0.2, 0.8, 0.1])
    >>> found = frauded_cards_found(
    ...     y, score, np.zeros(4), np.array(["a", "b", "c", "d"]), np.array([1, 2, 0, 2]), k=2
    ... )
    >>> found  # a (group 1) is in the top 2; b and d (group 2) are not
    {1: (1, 1), 2: (0, 2)}
    """
    frame = pd.DataFrame(
        {"day": day, "card_id": card_id, "score": score, "is_fraud": y, "group": group}
    )
    top = daily_top_cards(frame, k).index
    frauds = frame[frame["is_fraud"].astype(bool) & frame["card_id"].notna()]
    groups = frauds.groupby(["day", "card_id"], sort=False)["group"].min()
    hit = groups.index.isin(top)
    found: dict[int, tuple[int, int]] = {}
    for value in sorted(groups.unique().tolist()):
        of_group = (groups == value).to_numpy()
        found[int(value)] = (int((of_group & hit).sum()), int(of_group.sum()))
    return found


def best_card_precision(
    y: np.ndarray, day: np.ndarray, card_id: np.ndarray, *, days: int, k: int
) -> float | None:
    """The highest Card Precision@k any model could reach on this test set: every day,
    all its frauded cards (up to ``k``) ranked first. None without card ids.

    >>> y, day, card = np.array([1, 1, 0]), np.array([0, 0, 1]), np.array(["a", "b", "a"])
    >>> best_card_precision(y, day, card, days=2, k=4)  # day 0: 2 of 4; day 1: none
    0.25
    """
    daily = daily_card_precisions(y, y.astype(np.float64), day, card_id, days=days, k=k)
    return None if daily is None else float(daily.mean())


def day_draws(days: int, resamples: int, seed: int) -> np.ndarray:
    """``resamples`` bootstrap draws of ``days`` test days with replacement, as how
    many times each day was drawn (shape ``(resamples, days)``).

    >>> draws = day_draws(7, 3, seed=0)
    >>> draws.shape, draws.sum(axis=1).tolist()
    ((3, 7), [7, 7, 7])
    >>> bool((draws == day_draws(7, 3, seed=0)).all())
    True
    """
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, days, size=(resamples, days))
    return (
        np.stack([np.bincount(row, minlength=days) for row in picks])
        if resamples
        else np.zeros((0, days), dtype=np.int64)
    )


@dataclass(frozen=True)
class Replicates:
    """Each measure over every bootstrap draw (one value per draw)."""

    average_precision: np.ndarray
    roc_auc: np.ndarray
    #: None without card ids.
    card_precision: np.ndarray | None


def bootstrap(
    y: np.ndarray,
    score: np.ndarray,
    day: np.ndarray,
    card_id: np.ndarray,
    *,
    draws: np.ndarray,
    k: int,
) -> Replicates:
    """The measures of each draw of :func:`day_draws`: the rows of the drawn days,
    each as many times as its day was drawn (ties in score in a fixed order).

    A draw of every day once gives :func:`measure`'s figures:

    >>> y = np.array([1, 0, 0, 1, 0])
    >>> score = np.array([0.9, 0.8, 0.1, 0.7, 0.3])
    >>> day = np.array([0, 0, 1, 1, 1])
    >>> cards = np.array(["a", "b", "a", "c", "d"])
    >>> r = bootstrap(y, score, day, cards, draws=np.array([[1, 1], [2, 0]]), k=2)
    >>> m = measure(y, score, day, cards, days=2, k=2)
    >>> float(r.average_precision[0]) == m.average_precision, float(r.roc_auc[0]) == m.roc_auc
    (True, True)
    >>> r.card_precision.tolist()  # day 0: 1 of 2; day 1: 1 of 2
    [0.5, 0.5]
    >>> float(r.roc_auc[1])  # day 0 twice: the fraud outranks the genuine one
    1.0
    """
    y = np.asarray(y, dtype=bool)
    days = draws.shape[1]
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")
    sorted_y, sorted_day = y[order], np.asarray(day)[order]
    groups, inverse = np.unique(np.asarray(score, dtype=np.float64), return_inverse=True)
    daily = daily_card_precisions(y, score, day, card_id, days=days, k=k)
    ap, auc = np.empty(len(draws)), np.empty(len(draws))
    for i, counts in enumerate(draws):
        ap[i] = _repeated_average_precision(sorted_y, counts[sorted_day])
        auc[i] = _weighted_roc_auc(y, inverse, len(groups), counts[day].astype(np.float64))
    cp = None if daily is None else draws @ daily / days
    return Replicates(ap, auc, cp)


def _repeated_average_precision(sorted_y: np.ndarray, copies: np.ndarray) -> float:
    """Average precision of rows sorted by score, each repeated ``copies`` times."""
    hits = np.repeat(sorted_y, copies)
    positives = int(hits.sum())
    if positives == 0:
        return 0.0
    ranks = np.flatnonzero(hits) + 1
    return float((np.arange(1, positives + 1) / ranks).mean())


def _weighted_roc_auc(y: np.ndarray, group: np.ndarray, groups: int, weight: np.ndarray) -> float:
    """ROC AUC with each row counted ``weight`` times (ties count half); rows share a
    ``group`` when their scores are equal, groups numbered by ascending score."""
    positive = np.bincount(group, weights=weight * y, minlength=groups)
    negative = np.bincount(group, weights=weight * ~y, minlength=groups)
    n_pos, n_neg = positive.sum(), negative.sum()
    if n_pos == 0 or n_neg == 0:
        return 0.5
    below = np.cumsum(negative) - negative
    return float((positive * (below + 0.5 * negative)).sum() / (n_pos * n_neg))


def interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap ``values``.

    >>> [round(bound, 3) for bound in interval(np.arange(101) / 100)]
    [0.025, 0.975]
    """
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def daily_rank(score: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Each score's rank within its day, scaled to (0, 1] (ties share their mean rank).

    >>> daily_rank(np.array([0.2, 0.9, 0.5, 0.1]), np.array([0, 0, 1, 1])).tolist()
    [0.5, 1.0, 1.0, 0.5]
    """
    ranks = pd.Series(score).groupby(np.asarray(day)).rank(method="average", pct=True)
    return ranks.to_numpy(dtype=np.float64)


def mean_daily_rank(first: np.ndarray, second: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Combine two models by the mean of their scores' ranks within each day.

    >>> mean_daily_rank(np.array([0.2, 0.9]), np.array([0.8, 0.1]), np.array([0, 0])).tolist()
    [0.75, 0.75]
    """
    return np.asarray((daily_rank(first, day) + daily_rank(second, day)) / 2, dtype=np.float64)


def mean_probability(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Combine two models by the mean of their fraud probabilities.

    >>> mean_probability(np.array([0.2, 0.9]), np.array([0.8, 0.1])).tolist()
    [0.5, 0.5]
    """
    return (np.asarray(first, dtype=np.float64) + np.asarray(second, dtype=np.float64)) / 2


def _naive(times: pd.Series) -> np.ndarray:
    """UTC times as naive datetime64 (NaT compares False)."""
    return pd.to_datetime(times, utc=True).dt.tz_convert(None).to_numpy()


def _utc(when: str | datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(when)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
