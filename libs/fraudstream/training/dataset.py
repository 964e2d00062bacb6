"""The training set of a cutoff: features as served, joined with the labels known then.

The leakage rule: a model trained at ``cutoff`` may only see what the system knew at
``cutoff``. So

- a label counts only if it became known at or before the cutoff
  (``labelled_at <= cutoff``); the latest such label of a transaction wins;
- transactions come from ``[cutoff - label_delay - window, cutoff - label_delay)``:
  those of the last ``label_delay`` before the cutoff are left out, because only
  their quickly reported frauds would be labelled yet, which would teach the model a
  fraud rate that is far too high;
- transactions without a known label are left out.

Features are the columns the scorer served (``features.<name>`` in the archive), so
training and serving cannot disagree about what a feature means.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from fraudstream.lake.store import FEATURE_PREFIX, read_labels, read_scored

#: The label column of a training set.
LABEL: str = "is_fraud"


@dataclass(frozen=True)
class Window:
    """The transactions a training set draws from, and the cutoff its labels obey."""

    cutoff: pd.Timestamp
    start: pd.Timestamp
    end: pd.Timestamp

    @classmethod
    def of(cls, cutoff: datetime | str, window: timedelta, label_delay: timedelta) -> Window:
        """The window of ``cutoff`` (naive means UTC).

        >>> w = Window.of("2024-06-01", timedelta(days=30), timedelta(days=7))
        >>> w.start.isoformat(), w.end.isoformat()
        ('2024-04-25T00:00:00+00:00', '2024-05-25T00:00:00+00:00')
        """
        stamp = pd.Timestamp(cutoff)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        end = stamp - pd.Timedelta(label_delay)
        return cls(cutoff=stamp, start=end - pd.Timedelta(window), end=end)


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The model's inputs: the served feature columns, in the order they appear."""
    return [c for c in frame.columns if c.startswith(FEATURE_PREFIX)]


def feature_names(columns: list[str]) -> list[str]:
    """Feature names as the scorer knows them (the archive's prefix removed).

    >>> feature_names(["features.amount", "features.hour_of_day"])
    ['amount', 'hour_of_day']
    """
    return [c.removeprefix(FEATURE_PREFIX) for c in columns]


def known_labels(labels: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """The label of each transaction among those known at ``cutoff``: a delayed one
    (authoritative) over an investigator's, and among labels of one source the latest.
    Rows without a ``source`` (archived before labels had one) are delayed.

    >>> at = pd.to_datetime(["2024-04-08", "2024-04-02", "2024-04-09"], utc=True)
    >>> labels = pd.DataFrame(
    ...     {
    ...         "transaction_id": ["a", "a", "b"],
    ...         "is_fraud": [False, True, True],
    ...         "labelled_at": at,
    ...         "source": [None, "investigator", "investigator"],
    ...     }
    ... )
    >>> known_labels(labels, pd.Timestamp("2024-04-10", tz="UTC"))[LABEL].tolist()
    [False, True]
    >>> known_labels(labels, pd.Timestamp("2024-04-05", tz="UTC"))[LABEL].tolist()
    [True]
    """
    if labels.empty:
        return pd.DataFrame(columns=["transaction_id", LABEL, "labelled_at"])
    known = labels[pd.to_datetime(labels["labelled_at"], utc=True) <= cutoff]
    source = known["source"] if "source" in known.columns else pd.Series("delayed", known.index)
    authoritative = source.fillna("delayed").ne("investigator").astype(int)
    known = known.assign(_authoritative=authoritative)
    known = known.sort_values(["_authoritative", "labelled_at"], kind="stable")
    latest = known.drop_duplicates("transaction_id", keep="last")
    latest = latest.sort_values("labelled_at", kind="stable")
    return latest[["transaction_id", LABEL, "labelled_at"]]


def build_training_set(root: str, window: Window) -> pd.DataFrame:
    """Served rows of ``window`` with their label known at its cutoff, sorted by event
    time. Columns: the archive's scored columns, ``is_fraud`` and ``labelled_at``."""
    scored = read_scored(root, window.start, window.end)
    if scored.empty:
        return scored
    # a label is known within [event time, cutoff]: read from the window's start
    labels = known_labels(
        read_labels(root, window.start, window.cutoff + pd.Timedelta(microseconds=1)),
        window.cutoff,
    )
    joined = scored.merge(labels, on="transaction_id", how="inner", validate="one_to_one")
    joined[LABEL] = joined[LABEL].astype(bool)
    return joined.sort_values("event_time", kind="stable").reset_index(drop=True)
