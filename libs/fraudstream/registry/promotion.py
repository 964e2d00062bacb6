"""Champion and challenger: the decision, the alias move, and the way back.

The decision is pure (:func:`decide`); :func:`promote` and :func:`rollback` move the
``champion`` alias, keep the history of earlier champions in a registered-model tag,
record why on the promoted version, and publish a :class:`~.events.ModelEvent`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import structlog

from fraudstream.config import Settings
from fraudstream.errors import FraudstreamError
from fraudstream.registry.client import Registry
from fraudstream.registry.events import ModelEvent, model_event, publish_event

log = structlog.get_logger(__name__)


class PromotionError(FraudstreamError):
    """A promotion or rollback that cannot be done (nothing to roll back to...)."""


@dataclass(frozen=True)
class Comparison:
    """Champion and challenger measured on the same labelled window."""

    window_start: str
    window_end: str
    rows: int
    frauds: int
    champion_version: str
    challenger_version: str
    champion_ap: float
    challenger_ap: float


@dataclass(frozen=True)
class Decision:
    """Whether to promote, and the sentence that says why."""

    promote: bool
    reason: str

    def as_dict(self, comparison: Comparison) -> dict[str, object]:
        """The decision and its evidence, JSON-able (an Airflow XCom, a CLI report)."""
        return {"promote": self.promote, "reason": self.reason, **asdict(comparison)}


def decide(comparison: Comparison, margin: float) -> Decision:
    """Promote when the challenger's AP beats the champion's by at least ``margin``.

    A tie is never a win, whatever the margin; a window without frauds proves nothing.

    >>> c = Comparison("2026-01-01", "2026-01-08", 1000, 9, "river-v1", "xgboost-v2", 0.50, 0.58)
    >>> decide(c, margin=0.05).promote
    True
    >>> decide(c, margin=0.10).reason
    'challenger AP 0.5800 does not beat champion AP 0.5000 by the margin 0.1000'
    """
    if comparison.frauds == 0:
        return Decision(False, "no labelled fraud in the window: nothing to compare on")
    gain = comparison.challenger_ap - comparison.champion_ap
    if gain > 0 and gain >= margin:
        return Decision(
            True,
            f"challenger AP {comparison.challenger_ap:.4f} beats champion AP "
            f"{comparison.champion_ap:.4f} by {gain:.4f} (margin {margin:.4f})",
        )
    return Decision(
        False,
        f"challenger AP {comparison.challenger_ap:.4f} does not beat champion AP "
        f"{comparison.champion_ap:.4f} by the margin {margin:.4f}",
    )


def promote(
    settings: Settings,
    registry: Registry,
    version: str,
    reason: str,
    metrics: dict[str, float] | None = None,
) -> ModelEvent:
    """Point the champion alias at ``version`` and publish the event.

    The previous champion goes on the history, so :func:`rollback` can restore it.
    Promoting the current champion again changes nothing and publishes nothing.
    """
    alias = settings.mlflow.champion_alias
    if registry.version(version) is None:
        raise PromotionError(f"model {registry.name} has no version {version}")
    current = registry.by_alias(alias)
    previous = None if current is None else current.version
    event = model_event(
        "promoted",
        model_name=registry.name,
        alias=alias,
        version=version,
        previous_version=previous,
        reason=reason,
        metrics=metrics,
    )
    if previous == version:
        log.info("already champion", version=version)
        return event
    if previous is not None:
        registry.set_history([*registry.history(), previous])
    registry.set_alias(alias, version)
    registry.tag_version(
        version,
        {
            "fraudstream.promoted_at": datetime.now(UTC).isoformat(),
            "fraudstream.promotion_reason": reason,
            **{f"fraudstream.promotion.{k}": f"{v:.6f}" for k, v in (metrics or {}).items()},
        },
    )
    publish_event(settings.kafka, event)
    log.info("promoted", version=version, previous=previous, reason=reason)
    return event


def rollback(settings: Settings, registry: Registry, reason: str = "manual rollback") -> ModelEvent:
    """Restore the previous champion; raise :class:`PromotionError` when there is none."""
    alias = settings.mlflow.champion_alias
    history = registry.history()
    if not history:
        raise PromotionError(f"model {registry.name} has no earlier champion to roll back to")
    current = registry.by_alias(alias)
    restored = history.pop()
    registry.set_alias(alias, restored)
    registry.set_history(history)
    registry.tag_version(
        restored,
        {
            "fraudstream.restored_at": datetime.now(UTC).isoformat(),
            "fraudstream.restore_reason": reason,
        },
    )
    event = model_event(
        "rolled_back",
        model_name=registry.name,
        alias=alias,
        version=restored,
        previous_version=None if current is None else current.version,
        reason=reason,
    )
    publish_event(settings.kafka, event)
    log.info("rolled back", version=restored, replaced=event.previous_version)
    return event
