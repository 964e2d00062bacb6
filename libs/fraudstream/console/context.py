"""What the pages show beside the alerts: the budget, a card's history, a merchant.

All of it is read from the feature store's Redis, never written: the daily alert
budget the scorers count (:class:`~fraudstream.scoring.decide.RedisAlertBudget`), the
card's latest transactions (:func:`~fraudstream.features.recent.recent_card_transactions`)
and the merchant's delayed fraud share (a read-only feature store call). Over a Redis
Cluster client each reads the cluster store's layout, where the scorers write.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from fraudstream.config import Settings
from fraudstream.features.definitions import MERCHANT_WINDOWS, FeatureConfig
from fraudstream.features.recent import CardTransaction, recent_card_transactions
from fraudstream.features.redis_stores import redis_feature_store
from fraudstream.features.store import FeatureRequest
from fraudstream.redis_client import AnyRedis
from fraudstream.schemas import Alert
from fraudstream.scoring.decide import RedisAlertBudget

#: Transactions of the card shown on an alert's page.
CARD_HISTORY: Final = 20


@dataclass(frozen=True)
class BudgetUse:
    """A day's alert budget and how much of it the scorers used."""

    day: str
    used: int
    per_day: int | None

    @property
    def share(self) -> float | None:
        """Used over budget (None: no budget)."""
        return None if not self.per_day else self.used / self.per_day


@dataclass(frozen=True)
class MerchantShare:
    """A merchant's delayed fraud share per window (``1d``, ``7d``, ``30d``)."""

    merchant_id: str
    shares: dict[str, float]


class Context:
    """Reads the scorers' state the console shows."""

    def __init__(self, client: AnyRedis, settings: Settings) -> None:
        prefix = settings.features.key_prefix
        self._client = client
        self._prefix = prefix
        self._per_day = settings.scorer.alert_budget_per_day
        self._budget = RedisAlertBudget(client, prefix)
        self._store = redis_feature_store(
            client, FeatureConfig.from_settings(settings.features), prefix=prefix
        )

    def budget(self, day: datetime) -> BudgetUse:
        """The budget of ``day``'s (UTC) event-time day."""
        name = day.astimezone(UTC).date().isoformat()
        return BudgetUse(day=name, used=self._budget.used(name), per_day=self._per_day)

    def card_history(self, card_id: str | None) -> list[CardTransaction]:
        """The card's latest transactions in the feature store, newest first."""
        if not card_id:
            return []
        return recent_card_transactions(self._client, self._prefix, card_id, CARD_HISTORY)

    def merchant_share(self, alert: Alert) -> MerchantShare | None:
        """The merchant's fraud share as of the alert's time (None: no merchant)."""
        if not alert.merchant_id:
            return None
        probe = FeatureRequest(
            transaction_id=f"console-probe:{alert.transaction_id}",
            event_ms=math.floor(alert.event_time.timestamp() * 1000),
            cents=0,
            merchant_id=alert.merchant_id,
        )
        row = self._store.read([probe]).as_dicts()[0]
        shares = {s: row[f"merchant_fraud_share_{s}"] for s, _ in MERCHANT_WINDOWS}
        return MerchantShare(merchant_id=alert.merchant_id, shares=shares)
