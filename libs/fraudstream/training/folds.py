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
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def time_folds(
    times: pd.Series, folds: int, gap: pd.Timedelta
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train positions, test positions) per fold, oldest fold first.

    ``times`` must be sorted. Raises ValueError when the span is too short for the
    folds and the gap, or a fold would be empty.
    """
    if folds < 1:
        raise ValueError("folds must be >= 1")
    values = _nanoseconds(times)
    if len(values) == 0:
        raise ValueError("no rows to fold")
    if not (values[1:] >= values[:-1]).all():
        raise ValueError("times must be sorted")
    first, last, gap_ns = int(values[0]), int(values[-1]), int(gap.value)
    usable = (last - first) - gap_ns
    if usable <= 0:
        raise ValueError(f"span {pd.Timedelta(last - first)} is not longer than the gap {gap}")
    block = usable // (folds + 1)
    result = []
    for k in range(folds):
        test_start = first + gap_ns + block * (k + 1)
        test_end = test_start + block if k < folds - 1 else last + 1
        train = np.flatnonzero(values < test_start - gap_ns)
        test = np.flatnonzero((values >= test_start) & (values < test_end))
        if len(train) == 0 or len(test) == 0:
            raise ValueError(f"fold {k} would be empty: too few rows for {folds} folds")
        result.append((train, test))
    return result


def _nanoseconds(times: pd.Series) -> np.ndarray:
    """Times as int64 nanoseconds since the epoch (UTC), whatever their unit."""
    utc = pd.to_datetime(times, utc=True).dt.tz_convert(None)
    return utc.to_numpy().astype("datetime64[ns]").astype(np.int64)
