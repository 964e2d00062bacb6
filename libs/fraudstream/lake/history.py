"""A backfill's history read from the archive: what was served, and what became known.

The ``scored`` table holds every transaction the scorers served (once per id, the
first archived), the ``labels`` table every label with the moment it became known.
:func:`archived_history` turns the part that can still matter at ``until`` into a
:class:`~fraudstream.features.history.History`: the served transactions with an event
time in ``[until - lookback, until)`` in the order the scorers took them (scoring
time, then partition and offset), and each fraud known by ``until`` reported as the
learner reports it: once the label is known on the stream's event-time clock, and
never before its transaction was served.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from fraudstream.errors import DataFileError
from fraudstream.features.history import History, event_ms, report_positions
from fraudstream.features.reference import TRANSACTION_COLUMNS
from fraudstream.lake.store import read_labels, read_scored

__all__ = ["archived_history"]

#: Columns that give the order the scorers took the transactions in, when present.
_ARRIVAL_ORDER = ("scored_at", "partition", "offset")


def archived_history(root: str, until: datetime, *, lookback: timedelta) -> History:
    """The history in the archive at ``root`` for a backfill until ``until``."""
    end = pd.Timestamp(until)
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    start = end - pd.Timedelta(lookback)
    scored = read_scored(root, start, end)
    if scored.empty:
        raise DataFileError(
            root, f"no archived transaction from {start.isoformat()} to {end.isoformat()}"
        )
    order = [c for c in _ARRIVAL_ORDER if c in scored.columns]
    scored = scored.sort_values(order or ["event_time"], kind="stable")
    transactions = scored[list(TRANSACTION_COLUMNS)].reset_index(drop=True)
    transactions["transaction_id"] = transactions["transaction_id"].astype(str)
    arrival = event_ms(transactions["event_time"])
    return History(
        transactions=transactions,
        fraud_labels=_fraud_reports(root, start, end, transactions, arrival),
        until_ms=int(event_ms(pd.Series([end]))[0]),
        source=f"archive {root}",
    )


def _fraud_reports(
    root: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    transactions: pd.DataFrame,
    arrival: np.ndarray,
) -> pd.DataFrame:
    """Frauds known by ``end`` for archived transactions, with their delivery position."""
    labels = read_labels(root, start, end + pd.Timedelta(1, unit="ms"))
    columns = ["transaction_id", "merchant_id", "event_time", "known_before"]
    if labels.empty:
        return pd.DataFrame(columns=columns)
    known = pd.to_datetime(labels["labelled_at"], utc=True)
    frauds = labels[labels["is_fraud"].fillna(False).astype(bool).to_numpy() & (known <= end)]
    first_known = (
        frauds.assign(labelled_at=pd.to_datetime(frauds["labelled_at"], utc=True))
        .groupby(frauds["transaction_id"].astype(str))["labelled_at"]
        .min()
    )
    served = pd.Index(transactions["transaction_id"])
    position = served.get_indexer(first_known.index)
    found = position >= 0
    position = position[found]
    merchants = transactions["merchant_id"].to_numpy()[position]
    with_merchant = pd.notna(merchants)
    position = position[with_merchant]
    known_ms = event_ms(first_known[found][with_merchant].reset_index(drop=True))
    known_before = np.maximum(report_positions(arrival, known_ms), position + 1)
    return pd.DataFrame(
        {
            "transaction_id": transactions["transaction_id"].to_numpy()[position],
            "merchant_id": transactions["merchant_id"].to_numpy()[position],
            "event_time": transactions["event_time"].iloc[position].reset_index(drop=True),
            "known_before": known_before,
        }
    ).sort_values("known_before", kind="stable", ignore_index=True)
