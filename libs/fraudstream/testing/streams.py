"""Generated transaction streams with the awkward parts real streams have.

Out-of-order arrivals within and beyond the allowed lateness, duplicate deliveries,
equal timestamps, and fraud reports arriving part-way through: the inputs of the
feature store contract tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fraudstream.features.definitions import DAY_MS, HOUR_MS


@dataclass(frozen=True)
class Stream:
    """Transactions in arrival order, and fraud reports with their delivery position."""

    transactions: pd.DataFrame
    fraud_labels: pd.DataFrame


def messy_stream(
    n: int = 2_000,
    *,
    seed: int = 0,
    cards: int = 30,
    merchants: int = 12,
    days: float = 45.0,
    late_share: float = 0.05,
    too_late_share: float = 0.01,
    duplicate_share: float = 0.04,
    fraud_share: float = 0.05,
    report_delay_ms: int = 3 * DAY_MS,
) -> Stream:
    """A stream of ``n`` deliveries over ``days`` of event time.

    Most arrive in event-time order; ``late_share`` arrive up to 6 hours late,
    ``too_late_share`` up to 10 days late, ``duplicate_share`` are repeated deliveries
    of an earlier transaction, some share a millisecond with another, and a fraud
    report for ``fraud_share`` of them arrives ``report_delay_ms`` of event time later.
    """
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-04-01", tz="UTC").value // 1_000_000
    times = np.sort(rng.integers(start, start + int(days * DAY_MS), n))
    ties = rng.random(n) < 0.03
    times[1:][ties[1:]] = times[:-1][ties[1:]]
    frame = pd.DataFrame(
        {
            "transaction_id": [f"tx{i:06d}" for i in range(n)],
            "event_ms": times,
            "card_id": [f"card{c}" for c in rng.integers(cards, size=n)],
            "merchant_id": [f"m{m}" for m in rng.integers(merchants, size=n)],
            "amount": rng.gamma(1.5, 40.0, n).round(2),
        }
    )
    frame.loc[rng.random(n) < 0.05, "card_id"] = None
    frame.loc[rng.random(n) < 0.05, "merchant_id"] = None
    arrival = frame["event_ms"].to_numpy(dtype=np.int64).copy()
    late = rng.random(n) < late_share
    arrival[late] += rng.integers(1, 6 * HOUR_MS, late.sum())
    too_late = rng.random(n) < too_late_share
    arrival[too_late] += rng.integers(2 * DAY_MS, 10 * DAY_MS, too_late.sum())
    frame["arrival"] = arrival
    repeats = frame.sample(frac=duplicate_share, random_state=seed).copy()
    repeats["arrival"] += rng.integers(0, 2 * HOUR_MS, len(repeats))
    delivered = pd.concat([frame, repeats]).sort_values(["arrival"], kind="stable")
    delivered = delivered.reset_index(drop=True)
    delivered["event_time"] = pd.to_datetime(delivered["event_ms"], unit="ms", utc=True)

    frauds = frame[(rng.random(n) < fraud_share) & frame["merchant_id"].notna()]
    known_at = frauds["event_ms"].to_numpy() + report_delay_ms
    positions = np.searchsorted(delivered["arrival"].to_numpy(), known_at, side="left")
    labels = pd.DataFrame(
        {
            "transaction_id": frauds["transaction_id"].to_numpy(),
            "merchant_id": frauds["merchant_id"].to_numpy(),
            "event_time": pd.to_datetime(frauds["event_ms"].to_numpy(), unit="ms", utc=True),
            "known_before": positions,
        }
    ).sort_values("known_before", kind="stable", ignore_index=True)
    columns = ["transaction_id", "event_time", "card_id", "merchant_id", "amount"]
    return Stream(transactions=delivered[columns], fraud_labels=labels)
