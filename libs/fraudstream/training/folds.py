"""Time-ordered cross-validation: train, then a gap, then test; never shuffled.

The timeline ``[first, last]`` of the training set is cut into ``folds + 1`` equal
blocks after the gap is set aside. Fold ``k`` (0 = oldest) tests on block ``k + 1``
and trains on everything that ended at least ``gap`` before that block starts (an
expanding window). The gap is the label delay: a model trained today is first used
on transactions a label delay after its newest labelled one, and the folds measure
exactly that.

>>> import pandas as pd
>>> times = pd.Series(pd.date_range("2024-04-01", periods=40, freq="D", tz="UTC"))
>>> for train, test in time_folds(times, folds=3, gap=pd.Timedelta(days=7)):
...     print(
...         times[train].iloc[-1].date(),
...         "|",
...         times[test].iloc[0].date(),
...         times[test].iloc[-1].date(),
...     )
2024-04-08 | 2024-04-16 2024-04-23
2024-04-16 | 2024-04-24 2024-05-01
2024-04-24 | 2024-05-02 2024-05-10

A short training set (the handbook's 7 days, with a 7-day label delay) cannot hold
the folds and the whole gap. :func:`plan_folds` then keeps the longest gap that
leaves every block :data:`MIN_BLOCK` long, and says so:

>>> week = pd.Series(pd.date_range("2024-04-01", "2024-04-07 23:00", freq="h", tz="UTC"))
>>> plan = plan_folds(week, folds=3, gap=pd.Timedelta(days=7))
>>> plan.gap, len(plan.folds)
(Timedelta('2 days 23:00:00'), 3)
>>> for part in plan.note.split(": "):
...     print(part)
label-delay gap shrunk from 7 days 00:00:00 to 2 days 23:00:00
a span of 6 days 23:00:00 holds 3 folds of 1 day and no longer gap
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from fraudstream.errors import FraudstreamError

#: The shortest block a fold tests on (one day: the daily cycle, Card Precision@k per
#: day) when the gap has to shrink; spans under ``folds + 2`` days use a
#: ``(folds + 2)``-th of the span instead.
MIN_BLOCK: Final = pd.Timedelta(days=1)


class FoldError(FraudstreamError, ValueError):
    """A training set cannot be cut into the folds asked for (too short or too sparse).

    >>> FoldError("no rows to fold").exit_code
    65
    """

    exit_code = 65  # EX_DATAERR


@dataclass(frozen=True)
class FoldPlan:
    """The folds, the gap they keep, and why it is shorter than asked (or "")."""

    folds: list[tuple[np.ndarray, np.ndarray]]
    gap: pd.Timedelta
    asked_gap: pd.Timedelta
    note: str = ""


def time_folds(
    times: pd.Series, folds: int, gap: pd.Timedelta
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train positions, test positions) per fold, oldest fold first.

    ``times`` must be sorted. Raises :class:`FoldError` when the span is too short for
    the folds and the gap, or a fold would be empty.
    """
    values = _checked(times, folds)
    first, last, gap_ns = int(values[0]), int(values[-1]), int(gap.value)
    usable = (last - first) - gap_ns
    if usable <= 0:
        raise FoldError(f"span {pd.Timedelta(last - first)} is not longer than the gap {gap}")
    block = usable // (folds + 1)
    result = []
    for k in range(folds):
        test_start = first + gap_ns + block * (k + 1)
        test_end = test_start + block if k < folds - 1 else last + 1
        train = np.flatnonzero(values < test_start - gap_ns)
        test = np.flatnonzero((values >= test_start) & (values < test_end))
        if len(train) == 0 or len(test) == 0:
            raise FoldError(f"fold {k} would be empty: too few rows for {folds} folds")
        result.append((train, test))
    return result


def fitting_gap(span: pd.Timedelta, folds: int, gap: pd.Timedelta) -> pd.Timedelta:
    """The longest gap, at most ``gap``, that leaves ``folds + 1`` blocks of at least
    ``min(MIN_BLOCK, span / (folds + 2))`` each in ``span``.

    >>> day = pd.Timedelta(days=1)
    >>> fitting_gap(60 * day, 3, 7 * day)  # room enough: the whole gap
    Timedelta('7 days 00:00:00')
    >>> fitting_gap(7 * day, 3, 7 * day)  # 4 blocks of a day, 3 days of gap
    Timedelta('3 days 00:00:00')
    >>> fitting_gap(2.5 * day, 3, 7 * day)  # under 5 days: 5 equal parts
    Timedelta('0 days 12:00:00')
    """
    block = _block(span, folds)
    return max(pd.Timedelta(0), min(gap, span - block * (folds + 1)))


def plan_folds(times: pd.Series, folds: int, gap: pd.Timedelta) -> FoldPlan:
    """:func:`time_folds` with the gap :func:`fitting_gap` allows; ``note`` says when it
    is shorter than ``gap``. Raises :class:`FoldError` when a fold would be empty."""
    values = _checked(times, folds)
    span = pd.Timedelta(int(values[-1] - values[0]))
    if span <= pd.Timedelta(0):
        raise FoldError(f"every row has the same time: {folds} folds need a span of time")
    kept = fitting_gap(span, folds, gap)
    note = ""
    if kept < gap:
        block = _block(span, folds)
        note = (
            f"label-delay gap shrunk from {gap} to {kept}: a span of {span} holds "
            f"{folds} folds of {_short(block)} and no longer gap"
        )
    return FoldPlan(time_folds(times, folds, kept), kept, gap, note)


def _block(span: pd.Timedelta, folds: int) -> pd.Timedelta:
    """The shortest block :func:`fitting_gap` leaves (whole seconds)."""
    return min(MIN_BLOCK, (span / (folds + 2)).ceil("s"))


def _short(delta: pd.Timedelta) -> str:
    return "1 day" if delta == MIN_BLOCK else str(delta)


def _checked(times: pd.Series, folds: int) -> np.ndarray:
    """Sorted times as nanoseconds; FoldError when there is nothing to fold."""
    if folds < 1:
        raise FoldError("folds must be >= 1")
    values = _nanoseconds(times)
    if len(values) == 0:
        raise FoldError("no rows to fold")
    if not (values[1:] >= values[:-1]).all():
        raise ValueError("times must be sorted")
    return values


def _nanoseconds(times: pd.Series) -> np.ndarray:
    """Times as int64 nanoseconds since the epoch (UTC), whatever their unit."""
    utc = pd.to_datetime(times, utc=True).dt.tz_convert(None)
    return utc.to_numpy().astype("datetime64[ns]").astype(np.int64)
