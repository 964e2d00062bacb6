"""Generated transaction streams: one with the awkward parts real streams have, one
whose frauds any model finds.

Out-of-order arrivals within and beyond the allowed lateness, duplicate deliveries,
equal timestamps, and fraud reports arriving part-way through: the inputs of the
feature store contract tests (:func:`messy_stream`). Cards spending small sums, some of
which then spend thousands at once: a replay whose alerts are known in advance
(:func:`obvious_frauds`), with each transaction's card counts (:func:`card_tx_counts`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fraudstream.features.definitions import CARD_WINDOWS, DAY_MS, HOUR_MS, epoch_ms


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


def obvious_frauds(
    cards: int = 60, per_card: int = 5, frauds: int = 8, *, seed: int = 11, merchants: int = 20
) -> pd.DataFrame:
    """Cards spending 20-80 every seven hours; ``frauds`` of them then spend 2,000-5,000
    at once (``fraud-<card>-<k>``; the others' ids start with ``ok-``), in event time
    order."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-04-01", tz="UTC")
    fraud_cards = set(rng.choice(cards, frauds, replace=False).tolist())
    rows: list[dict[str, object]] = []
    for card in range(cards):
        first = start + pd.Timedelta(seconds=int(rng.integers(0, 6 * 3600)))
        for k in range(per_card + (card in fraud_cards)):
            fraud = k == per_card
            rows.append(
                {
                    "transaction_id": f"{'fraud' if fraud else 'ok'}-{card:03d}-{k}",
                    "event_time": first + pd.Timedelta(hours=7 * k),
                    "card_id": f"card-{card:03d}",
                    "merchant_id": f"merchant-{int(rng.integers(merchants)):02d}",
                    "amount": round(
                        float(rng.uniform(2_000, 5_000) if fraud else rng.uniform(20, 80)), 2
                    ),
                    "is_fraud": int(fraud),
                }
            )
    return pd.DataFrame(rows).sort_values("event_time", ignore_index=True)


def card_tx_counts(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    """``card_tx_count_<w>`` of each transaction: its card's transactions in (t - w, t].

    >>> frame = obvious_frauds(cards=1, per_card=2, frauds=0)
    >>> card_tx_counts(frame)["ok-000-1"]
    {'card_tx_count_1h': 1, 'card_tx_count_1d': 2, 'card_tx_count_7d': 2, 'card_tx_count_30d': 2}
    """
    expected: dict[str, dict[str, int]] = {}
    for _, group in frame.groupby("card_id"):
        ms = np.array(epoch_ms(group["event_time"]), dtype=np.int64)
        for tx_id, t in zip(group["transaction_id"], ms, strict=True):
            expected[tx_id] = {
                f"card_tx_count_{suffix}": int(((ms > t - width) & (ms <= t)).sum())
                for suffix, width in CARD_WINDOWS
            }
    return expected
