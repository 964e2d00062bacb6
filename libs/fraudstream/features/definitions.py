"""Feature names, windows and the settings that shape them.

>>> FEATURE_NAMES[:3]
('card_tx_count_1h', 'card_tx_count_1d', 'card_tx_count_7d')
>>> len(FEATURE_NAMES)
20
>>> time_features(1_712_000_000_000)  # 2024-04-01 19:33:20 UTC, a Monday
(19.0, 0.0, 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Final

import pandas as pd

if TYPE_CHECKING:
    from fraudstream.config import FeatureSettings

HOUR_MS: Final = 3_600_000
DAY_MS: Final = 24 * HOUR_MS

#: Card windows: (suffix, length in ms).
CARD_WINDOWS: Final = (("1h", HOUR_MS), ("1d", DAY_MS), ("7d", 7 * DAY_MS), ("30d", 30 * DAY_MS))
#: Merchant windows, for counts and for the delayed fraud share.
MERCHANT_WINDOWS: Final = (("1d", DAY_MS), ("7d", 7 * DAY_MS), ("30d", 30 * DAY_MS))
#: The merchant's recent frauds: those of the last week already reported, undelayed
#: (investigators' verdicts arrive within hours, long before the delayed labels).
RECENT_FRAUD_WINDOW: Final = ("7d", 7 * DAY_MS)

CARD_FEATURES: Final = (
    *(f"card_tx_count_{s}" for s, _ in CARD_WINDOWS),
    *(f"card_amount_mean_{s}" for s, _ in CARD_WINDOWS),
    "card_seconds_since_prev",
    "card_amount_over_mean_30d",
)
MERCHANT_FEATURES: Final = (
    *(f"merchant_tx_count_{s}" for s, _ in MERCHANT_WINDOWS),
    *(f"merchant_fraud_share_{s}" for s, _ in MERCHANT_WINDOWS),
    f"merchant_fraud_count_{RECENT_FRAUD_WINDOW[0]}",
)
TIME_FEATURES: Final = ("hour_of_day", "is_night", "is_weekend")

#: Every online feature, in the order of feature vectors.
FEATURE_NAMES: Final = (*CARD_FEATURES, *MERCHANT_FEATURES, *TIME_FEATURES)

#: Values for a transaction without a card or merchant id.
MISSING_ENTITY_DEFAULTS: Final = {
    "card_seconds_since_prev": -1.0,
    "card_amount_over_mean_30d": 1.0,
}

_EPOCH: Final = pd.Timestamp(0, tz="UTC")
_ONE_MS: Final = pd.Timedelta(1, unit="ms")
_NIGHT_BEFORE_HOUR: Final = 6
_EPOCH_WEEKDAY: Final = 3  # 1970-01-01 was a Thursday (Monday = 0)


@dataclass(frozen=True)
class FeatureConfig:
    """What shapes the features and bounds the store's memory."""

    label_delay_ms: int = 7 * DAY_MS
    lateness_ms: int = DAY_MS
    max_events_per_entity: int = 20_000
    key_ttl_ms: int = 40 * DAY_MS

    def __post_init__(self) -> None:
        for name in ("label_delay_ms", "lateness_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.max_events_per_entity < 1:
            raise ValueError("max_events_per_entity must be >= 1")
        if self.key_ttl_ms < 1:
            raise ValueError("key_ttl_ms must be >= 1")

    @classmethod
    def from_durations(
        cls,
        *,
        label_delay: timedelta,
        lateness: timedelta,
        max_events_per_entity: int,
        key_ttl: timedelta,
    ) -> FeatureConfig:
        """Build from timedeltas (as the settings hold them)."""
        return cls(
            label_delay_ms=_ms(label_delay),
            lateness_ms=_ms(lateness),
            max_events_per_entity=max_events_per_entity,
            key_ttl_ms=_ms(key_ttl),
        )

    @classmethod
    def from_settings(cls, settings: FeatureSettings) -> FeatureConfig:
        """The config a process's ``FEATURES_*`` settings describe."""
        return cls.from_durations(
            label_delay=settings.label_delay,
            lateness=settings.lateness,
            max_events_per_entity=settings.max_events_per_entity,
            key_ttl=settings.key_ttl,
        )

    @property
    def card_horizon_ms(self) -> int:
        """How far back a card's transactions are kept: longest window + lateness."""
        return CARD_WINDOWS[-1][1] + self.lateness_ms

    @property
    def merchant_horizon_ms(self) -> int:
        """How far back a merchant's are kept: delay + longest window + lateness."""
        return self.label_delay_ms + MERCHANT_WINDOWS[-1][1] + self.lateness_ms


def _ms(delta: timedelta) -> int:
    return round(delta.total_seconds() * 1000)


def to_cents(amount: float) -> int:
    """An amount in whole cents, rounded half to even.

    >>> to_cents(12.345), to_cents(0.1 + 0.2)
    (1234, 30)
    """
    return round(amount * 100)


def epoch_ms(event_times: pd.Series) -> list[int]:
    """Event times as whole milliseconds since the epoch, floored, whatever the unit.

    >>> epoch_ms(pd.Series(pd.to_datetime(["1970-01-01 00:00:01.0019"], utc=True)))
    [1001]
    """
    as_utc = pd.to_datetime(event_times, utc=True)
    return [int(ms) for ms in ((as_utc - _EPOCH) // _ONE_MS).tolist()]


def time_features(event_ms: int) -> tuple[float, float, float]:
    """(hour of day, night flag, weekend flag) of an event time in ms since the epoch, UTC."""
    hour = (event_ms // HOUR_MS) % 24
    weekday = (event_ms // DAY_MS + _EPOCH_WEEKDAY) % 7
    return float(hour), float(hour < _NIGHT_BEFORE_HOUR), float(weekday >= 5)
