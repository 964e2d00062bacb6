"""What a registered model may have seen: the first transaction time it is judged on.

A model trained with the cutoff C learned the transactions of ``[start, end)``, where
``end`` is C minus the label delay, with the labels known by C. Quickly reported
frauds are known before the label delay has passed, so labels of transactions up to C
may have been known to it (the training set leaves those transactions out, but a model
judged on them is judged closer to its data than it is ever used). A transaction is
unseen from ``end + TRAIN_LABEL_DELAY`` on, and never before C: where the model is first
used in production, and where the folds' gap puts the test rows in cross-validation.

>>> seen = TrainedOn.of(
...     {"start": "2024-04-04", "end": "2024-04-25", "cutoff": "2024-05-02T00:00:00+00:00"}
... )
>>> seen.unseen_from(pd.Timedelta(days=7)).isoformat()
'2024-05-02T00:00:00+00:00'
>>> seen.overlaps(pd.Timestamp("2024-04-20", tz="UTC"), pd.Timestamp("2024-05-01", tz="UTC"))
True
>>> TrainedOn.of({"rows": "1000"}) is None  # a run without its window
True
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from fraudstream.errors import ConfigError
from fraudstream.training.pipeline import parse_cutoff


@dataclass(frozen=True)
class TrainedOn:
    """The transactions a model was trained on and the cutoff of its labels (UTC)."""

    start: pd.Timestamp | None
    end: pd.Timestamp
    cutoff: pd.Timestamp | None

    @classmethod
    def of(cls, params: dict[str, str]) -> TrainedOn | None:
        """From a training run's params (``start``, ``end``, ``cutoff``, as
        ``fraudstream train`` logs them); None when ``end`` is missing or unreadable."""
        try:
            end = parse_cutoff(params["end"])
            start = parse_cutoff(params["start"]) if "start" in params else None
            cutoff = parse_cutoff(params["cutoff"]) if "cutoff" in params else None
        except (KeyError, ConfigError):
            return None
        return cls(start=start, end=end, cutoff=cutoff)

    def unseen_from(self, label_delay: timedelta) -> pd.Timestamp:
        """The first transaction time whose label the model cannot have known."""
        first: pd.Timestamp = self.end + pd.Timedelta(label_delay)
        return first if self.cutoff is None else max(first, self.cutoff)

    def as_dict(self) -> dict[str, str | None]:
        """The training transactions' ``start`` and ``end``, ISO text (JSON-able)."""
        return {
            "start": None if self.start is None else self.start.isoformat(),
            "end": self.end.isoformat(),
        }

    def overlaps(self, start: pd.Timestamp, end: pd.Timestamp) -> bool:
        """Whether ``[start, end)`` shares transactions with the training rows."""
        return start < self.end and (self.start is None or end > self.start)
