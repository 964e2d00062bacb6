"""``model.events``: one record per alias move, for services and people downstream."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import msgspec

from fraudstream.schemas.transactions import SCHEMA_VERSION


class ModelEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A promotion or a rollback of the champion alias (keyed by model name)."""

    schema_version: int = SCHEMA_VERSION
    event: Literal["promoted", "rolled_back"]
    model_name: str
    alias: str
    version: str
    previous_version: str | None
    reason: str
    metrics: dict[str, float]
    at: datetime


def model_event(
    event: Literal["promoted", "rolled_back"],
    *,
    model_name: str,
    alias: str,
    version: str,
    previous_version: str | None,
    reason: str,
    metrics: dict[str, float] | None = None,
) -> ModelEvent:
    """A :class:`ModelEvent` stamped now."""
    return ModelEvent(
        event=event,
        model_name=model_name,
        alias=alias,
        version=version,
        previous_version=previous_version,
        reason=reason,
        metrics=metrics or {},
        at=datetime.now(UTC),
    )
