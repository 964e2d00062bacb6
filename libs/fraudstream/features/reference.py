"""The online features computed from a pandas frame: the offline path and the yardstick.

docs/features.md is the specification; this module follows it step by step, for
clarity rather than speed. Transactions are processed one at a time in **arrival
order** (the order of the frame's rows), exactly as a feature store would see them.
Event times are whole milliseconds since the epoch (floored) and amounts whole cents.

Per card and per merchant the *kept* transactions are held, sorted by (event time,
id), with the latest recorded event time ``max_t``. A transaction x with event time t,
for each of its entities:

1. is a **duplicate** when its id is already kept there: nothing is recorded;
2. else is **too late** when ``t < max_t - lateness``: nothing is recorded;
3. else is **recorded**; then events older than ``max_t - horizon`` are dropped, and
   past ``max_events_per_entity`` the oldest go first.

Its features are then read as of t from what is kept, with x itself added to its own
windows when it is not kept (too late, or dropped by the cap). A fraud report counts
for the merchant's fraud share only once delivered (just before the transaction at
its ``known_before`` position) and only if that transaction is kept by the merchant
at delivery.

Card ``k`` pays at 10:00 and 10:30; a payment made at 10:10 arrives last. It is
recorded (within the allowed lateness) but is not in the 10:30 payment's features,
which were read before it arrived; its own features see only the 10:00 payment:

>>> import pandas as pd
>>> transactions = pd.DataFrame(
...     {
...         "transaction_id": ["a", "b", "c"],
...         "event_time": pd.to_datetime(
...             ["2024-04-01 10:00", "2024-04-01 10:30", "2024-04-01 10:10"], utc=True
...         ),
...         "card_id": ["k", "k", "k"],
...         "merchant_id": ["m", "m", None],
...         "amount": [10.0, 30.0, 20.0],
...     }
... )
>>> features = compute_features(transactions)
>>> features["card_tx_count_1h"].tolist()
[1.0, 2.0, 2.0]
>>> features["card_amount_mean_1h"].tolist()
[10.0, 20.0, 15.0]
>>> features["card_seconds_since_prev"].tolist()
[-1.0, 1800.0, 600.0]
>>> features["merchant_tx_count_1d"].tolist()
[1.0, 2.0, 0.0]
>>> bool(features["duplicate"].any() or features["late"].any())
False
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

import pandas as pd

from fraudstream.features.definitions import (
    CARD_FEATURES,
    CARD_WINDOWS,
    FEATURE_NAMES,
    MERCHANT_FEATURES,
    MERCHANT_WINDOWS,
    MISSING_ENTITY_DEFAULTS,
    RECENT_FRAUD_WINDOW,
    FeatureConfig,
    epoch_ms,
    time_features,
    to_cents,
)

__all__ = [
    "FLAG_COLUMNS",
    "LABEL_COLUMNS",
    "TRANSACTION_COLUMNS",
    "EntityHistory",
    "FeatureState",
    "MerchantHistory",
    "Outcome",
    "compute_features",
]

#: Columns ``compute_features`` needs in the transactions frame.
TRANSACTION_COLUMNS = ("transaction_id", "event_time", "card_id", "merchant_id", "amount")
#: Columns it needs in the fraud-labels frame.
LABEL_COLUMNS = ("transaction_id", "merchant_id", "event_time", "known_before")
#: The bool columns added after the features.
FLAG_COLUMNS = ("duplicate", "late")


class Outcome(Enum):
    """What an entity did with a transaction offered to it."""

    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    LATE = "late"


class EntityHistory:
    """The kept transactions of one card or merchant, sorted by (event time, id)."""

    def __init__(self, horizon_ms: int, max_events: int) -> None:
        self._horizon_ms = horizon_ms
        self._max_events = max_events
        self._keys: list[tuple[int, str]] = []  # (event time in ms, transaction id)
        self._cents: list[int] = []  # amount of the transaction at the same position
        self._ids: set[str] = set()
        self.max_t: float = -math.inf  # latest recorded event time, ms

    def __contains__(self, tx_id: object) -> bool:
        return tx_id in self._ids

    def restore(self, keys: Sequence[tuple[int, str]], cents: Sequence[int], max_t: int) -> None:
        """Hold exactly these kept transactions, sorted by (event time, id), and this
        latest recorded event time: the state a backfill computed in bulk."""
        if list(keys) != sorted(keys) or len(keys) != len(cents):
            raise ValueError("kept transactions must be sorted by (event time, id), with cents")
        self._keys = list(keys)
        self._cents = list(cents)
        self._ids = {tx_id for _, tx_id in self._keys}
        self.max_t = max_t

    def kept(self) -> list[tuple[int, str, int]]:
        """The kept transactions as (event time, id, cents), in (event time, id) order."""
        return [(t, tx_id, c) for (t, tx_id), c in zip(self._keys, self._cents, strict=True)]

    def offer(self, t: int, tx_id: str, cents: int, lateness_ms: int) -> Outcome:
        """Record the transaction unless it is a duplicate or too late."""
        if tx_id in self._ids:
            return Outcome.DUPLICATE
        if t < self.max_t - lateness_ms:
            return Outcome.LATE
        position = bisect.bisect_left(self._keys, (t, tx_id))
        self._keys.insert(position, (t, tx_id))
        self._cents.insert(position, cents)
        self._ids.add(tx_id)
        self.max_t = max(self.max_t, t)
        self._trim()
        return Outcome.RECORDED

    def _trim(self) -> None:
        """Drop what is older than the horizon, then the oldest beyond the cap."""
        too_old = self.start_of(self.max_t - self._horizon_ms)
        self._drop_oldest(too_old)
        self._drop_oldest(len(self._keys) - self._max_events)

    def _drop_oldest(self, how_many: int) -> None:
        if how_many <= 0:
            return
        for _, tx_id in self._keys[:how_many]:
            self._ids.discard(tx_id)
        del self._keys[:how_many]
        del self._cents[:how_many]

    def start_of(self, time_ms: float) -> int:
        """Position of the first kept event with event time >= ``time_ms``."""
        return bisect.bisect_left(self._keys, time_ms, key=_event_time)

    def span(self, lo: int, hi: int) -> tuple[int, int]:
        """Positions [start, stop) of the kept events with lo <= event time < hi."""
        return self.start_of(lo), self.start_of(hi)

    def count(self, lo: int, hi: int) -> int:
        """Kept events with lo <= event time < hi."""
        start, stop = self.span(lo, hi)
        return stop - start

    def cents_sum(self, lo: int, hi: int) -> int:
        """Total cents of the kept events with lo <= event time < hi."""
        start, stop = self.span(lo, hi)
        return sum(self._cents[start:stop])

    def latest_other(self, t: int, tx_id: str) -> int | None:
        """Latest event time <= t among kept events other than ``tx_id``; None if none."""
        for position in reversed(range(self.start_of(t + 1))):
            time_ms, other_id = self._keys[position]
            if other_id != tx_id:
                return time_ms
        return None


class MerchantHistory(EntityHistory):
    """A merchant's kept transactions plus those reported to it as fraud."""

    def __init__(self, horizon_ms: int, max_events: int) -> None:
        super().__init__(horizon_ms, max_events)
        self._frauds: dict[str, int] = {}  # transaction id -> event time, ms

    def report_fraud(self, t: int, tx_id: str) -> None:
        """Take a fraud report for a kept transaction (others, and repeats, change nothing)."""
        if tx_id in self and tx_id not in self._frauds:
            self._frauds[tx_id] = t
        threshold = self.max_t - self._horizon_ms
        self._frauds = {i: time for i, time in self._frauds.items() if time >= threshold}

    def frauds(self) -> dict[str, int]:
        """The reported frauds it holds: transaction id -> event time, ms."""
        return dict(self._frauds)

    def restore_frauds(self, frauds: dict[str, int]) -> None:
        """Hold exactly these reported frauds (a backfill's bulk state)."""
        self._frauds = dict(frauds)

    def fraud_count(self, lo: int, hi: int) -> int:
        """Reported frauds with lo <= event time < hi."""
        return sum(1 for time in self._frauds.values() if lo <= time < hi)


_H = TypeVar("_H", bound=EntityHistory)


@dataclass(frozen=True)
class _Transaction:
    position: int
    tx_id: str
    t: int  # event time, ms since the epoch
    card: str | None
    merchant: str | None
    cents: int


@dataclass(frozen=True)
class _FraudReport:
    tx_id: str
    merchant: str | None
    t: int


class FeatureState:
    """The kept histories of every card and merchant, fed one transaction at a time.

    :func:`compute_features` runs it over a frame; the in-memory feature store wraps it.
    """

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config
        self.cards: dict[str, EntityHistory] = {}
        self.merchants: dict[str, MerchantHistory] = {}

    def report_fraud(self, tx_id: str, merchant: str | None, t: int) -> None:
        """Deliver a fraud report (ignored for a merchant never seen)."""
        _deliver(_FraudReport(tx_id=tx_id, merchant=merchant, t=t), self.merchants)

    def process(
        self, tx_id: str, t: int, cents: int, card_id: str | None, merchant_id: str | None
    ) -> tuple[list[float], bool, bool]:
        """Offer one transaction; return its features (``FEATURE_NAMES`` order) and the
        duplicate and late flags."""
        config = self.config
        tx = _Transaction(
            position=-1, tx_id=tx_id, t=t, card=card_id, merchant=merchant_id, cents=cents
        )
        card = _history(self.cards, tx.card, config.card_horizon_ms, config, EntityHistory)
        merchant = _history(
            self.merchants, tx.merchant, config.merchant_horizon_ms, config, MerchantHistory
        )
        outcomes = [
            h.offer(tx.t, tx.tx_id, tx.cents, config.lateness_ms) for h in (card, merchant) if h
        ]
        row = [
            *_card_features(card, tx),
            *_merchant_features(merchant, tx, config.label_delay_ms),
            *time_features(tx.t),
        ]
        return row, Outcome.DUPLICATE in outcomes, Outcome.LATE in outcomes


def compute_features(
    transactions: pd.DataFrame,
    fraud_labels: pd.DataFrame | None = None,
    config: FeatureConfig = FeatureConfig(),
) -> pd.DataFrame:
    """The features of every transaction, as the store would compute them.

    ``transactions`` is in arrival order with columns ``TRANSACTION_COLUMNS``;
    ``fraud_labels`` (optional) has ``LABEL_COLUMNS``, where ``known_before`` is the
    row position of the transaction just before which the report reaches the store
    (positions past the end: never). The result has the index of ``transactions``,
    a float64 column per name in ``FEATURE_NAMES`` and the bool ``FLAG_COLUMNS``.
    """
    _require_columns(transactions, TRANSACTION_COLUMNS, "transactions")
    reports = _reports_by_position(fraud_labels, len(transactions))
    state = FeatureState(config)
    rows: list[list[float]] = []
    duplicate: list[bool] = []
    late: list[bool] = []
    for tx in _read_transactions(transactions):
        for report in reports.get(tx.position, ()):
            _deliver(report, state.merchants)
        row, is_duplicate, is_late = state.process(tx.tx_id, tx.t, tx.cents, tx.card, tx.merchant)
        rows.append(row)
        duplicate.append(is_duplicate)
        late.append(is_late)
    result = pd.DataFrame(
        rows, index=transactions.index, columns=list(FEATURE_NAMES), dtype="float64"
    )
    result["duplicate"] = pd.Series(duplicate, index=transactions.index, dtype=bool)
    result["late"] = pd.Series(late, index=transactions.index, dtype=bool)
    return result


def _history(
    histories: dict[str, _H],
    key: str | None,
    horizon_ms: int,
    config: FeatureConfig,
    kind: type[_H],
) -> _H | None:
    """The entity's history, created on first sight; None when there is no entity."""
    if key is None:
        return None
    if key not in histories:
        histories[key] = kind(horizon_ms, config.max_events_per_entity)
    return histories[key]


def _deliver(report: _FraudReport, merchants: dict[str, MerchantHistory]) -> None:
    """Hand a fraud report to its merchant (a merchant never seen has nothing kept)."""
    if report.merchant is not None and report.merchant in merchants:
        merchants[report.merchant].report_fraud(report.t, report.tx_id)


def _window_totals(history: EntityHistory, tx: _Transaction, window_ms: int) -> tuple[int, int]:
    """(count, cents) of the window (t - w, t], with x added when it is not kept."""
    lo, hi = tx.t - window_ms + 1, tx.t + 1  # (t - w, t] in whole milliseconds
    count, cents = history.count(lo, hi), history.cents_sum(lo, hi)
    if tx.tx_id not in history:
        count, cents = count + 1, cents + tx.cents
    return count, cents


def _card_features(card: EntityHistory | None, tx: _Transaction) -> list[float]:
    """The values of ``CARD_FEATURES`` for x."""
    if card is None:
        return [MISSING_ENTITY_DEFAULTS.get(name, 0.0) for name in CARD_FEATURES]
    totals = [_window_totals(card, tx, window_ms) for _, window_ms in CARD_WINDOWS]
    counts = [float(count) for count, _ in totals]
    means = [cents / 100 / count if count else 0.0 for count, cents in totals]
    previous = card.latest_other(tx.t, tx.tx_id)
    seconds_since_prev = -1.0 if previous is None else (tx.t - previous) / 1000
    mean_30d = means[-1]
    over_mean = (tx.cents / 100) / mean_30d if mean_30d != 0 else 1.0
    return [*counts, *means, seconds_since_prev, over_mean]


def _merchant_features(
    merchant: MerchantHistory | None, tx: _Transaction, label_delay_ms: int
) -> list[float]:
    """The values of ``MERCHANT_FEATURES`` for x."""
    if merchant is None:
        return [MISSING_ENTITY_DEFAULTS.get(name, 0.0) for name in MERCHANT_FEATURES]
    counts = [float(_window_totals(merchant, tx, w)[0]) for _, w in MERCHANT_WINDOWS]
    shares = [_fraud_share(merchant, tx.t, w, label_delay_ms) for _, w in MERCHANT_WINDOWS]
    # frauds reported in (t - w, t], whatever their label's delay
    recent = merchant.fraud_count(tx.t - RECENT_FRAUD_WINDOW[1] + 1, tx.t + 1)
    return [*counts, *shares, float(recent)]


def _fraud_share(merchant: MerchantHistory, t: int, window_ms: int, delay_ms: int) -> float:
    """Reported frauds over kept transactions in [t - D - w, t - D); 0 when none kept."""
    lo, hi = t - delay_ms - window_ms, t - delay_ms
    kept = merchant.count(lo, hi)
    if kept == 0:
        return 0.0
    return min(1.0, merchant.fraud_count(lo, hi) / kept)


def _read_transactions(frame: pd.DataFrame) -> Iterable[_Transaction]:
    """The rows of the transactions frame, in order, with times in ms and cents."""
    columns = zip(
        frame["transaction_id"].tolist(),
        epoch_ms(frame["event_time"]),
        frame["card_id"].tolist(),
        frame["merchant_id"].tolist(),
        frame["amount"].tolist(),
        strict=True,
    )
    for position, (tx_id, t, card, merchant, amount) in enumerate(columns):
        yield _Transaction(
            position=position,
            tx_id=str(tx_id),
            t=t,
            card=_entity_key(card),
            merchant=_entity_key(merchant),
            cents=to_cents(float(amount)),
        )


def _reports_by_position(
    labels: pd.DataFrame | None, n_transactions: int
) -> dict[int, list[_FraudReport]]:
    """Fraud reports grouped by the position they are delivered before, in frame order.

    A position below 0 means before the first transaction; one at or past the end,
    never (those are left out).
    """
    if labels is None:
        return {}
    _require_columns(labels, LABEL_COLUMNS, "fraud_labels")
    reports: dict[int, list[_FraudReport]] = {}
    columns = zip(
        labels["known_before"].tolist(),
        labels["transaction_id"].tolist(),
        labels["merchant_id"].tolist(),
        epoch_ms(labels["event_time"]),
        strict=True,
    )
    for known_before, tx_id, merchant, t in columns:
        position = max(0, int(known_before))
        if position < n_transactions:
            report = _FraudReport(tx_id=str(tx_id), merchant=_entity_key(merchant), t=t)
            reports.setdefault(position, []).append(report)
    return reports


def _entity_key(value: object) -> str | None:
    """A card or merchant id as a string; None when missing (None, NaN, NA or empty)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value) or None


def _event_time(key: tuple[int, str]) -> int:
    return key[0]


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks the column(s) {', '.join(missing)}")
