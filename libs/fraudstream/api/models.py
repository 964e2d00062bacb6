"""Request and response bodies of the API, with the examples the OpenAPI shows.

:class:`TransactionIn` mirrors :class:`~fraudstream.schemas.Transaction` and its value
rules (:func:`~fraudstream.schemas.validate_transaction`): ids of 1 to 128 characters,
a time zone on ``event_time`` (from 1970 to 2200), a finite ``amount`` from 0 to 1e9,
finite dataset features within 1e12 that do not reuse the names of computed ones.

>>> tx = TransactionIn.model_validate(TRANSACTION_EXAMPLE).to_transaction()
>>> tx.amount, tx.card_id
(129.99, 'card-0042')
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    field_validator,
)

from fraudstream.schemas import (
    EVENT_YEARS,
    MAX_AMOUNT,
    MAX_MAGNITUDE,
    SCHEMA_VERSION,
    Transaction,
)
from fraudstream.scoring.core import RESERVED_NAMES

TRANSACTION_EXAMPLE: Final[dict[str, Any]] = {
    "transaction_id": "tx-20240401-000123",
    "event_time": "2024-04-01T12:00:00Z",
    "amount": 129.99,
    "card_id": "card-0042",
    "merchant_id": "merchant-17",
}

_Id = Annotated[str, Field(min_length=1, max_length=128)]
_RESERVED: Final[list[JsonValue]] = [*sorted(RESERVED_NAMES)]
_Finite = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE)]


class TransactionIn(BaseModel):
    """One card payment to score (the canonical transaction schema)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"examples": [TRANSACTION_EXAMPLE]}
    )

    schema_version: Literal[1] = Field(SCHEMA_VERSION, description="Only version 1 is read.")
    transaction_id: _Id = Field(description="Unique per transaction: recording is idempotent.")
    event_time: AwareDatetime = Field(
        description="When it happened (ISO 8601 with a zone), from 1970 to 2200.",
        # the range, as far as JSON Schema can say it: the year
        json_schema_extra={"pattern": r"^(19[7-9]\d|2[01]\d\d)-"},
    )
    amount: float = Field(
        ge=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Amount, >= 0, at most 1e9."
    )
    card_id: _Id | None = Field(None, description="The card; absent: no card features.")
    merchant_id: _Id | None = Field(None, description="The merchant; absent: none.")
    features: dict[str, _Finite] = Field(
        default_factory=dict,
        description="The dataset's own numeric features (e.g. V1..V28), not named like "
        "a computed feature.",
        json_schema_extra={"propertyNames": {"not": {"enum": _RESERVED}}},
    )

    @field_validator("event_time")
    @classmethod
    def _plausible_time(cls, value: datetime) -> datetime:
        if not EVENT_YEARS[0] <= value.year < EVENT_YEARS[1]:
            raise ValueError(f"event_time must be from {EVENT_YEARS[0]} to {EVENT_YEARS[1]}")
        return value

    @field_validator("features")
    @classmethod
    def _no_reserved_names(cls, value: dict[str, float]) -> dict[str, float]:
        clash = sorted(RESERVED_NAMES.intersection(value))
        if clash:
            raise ValueError(f"names of computed features may not be reused: {clash}")
        return value

    def to_transaction(self) -> Transaction:
        """The library's record of this transaction."""
        return Transaction(
            transaction_id=self.transaction_id,
            event_time=self.event_time,
            amount=self.amount,
            card_id=self.card_id,
            merchant_id=self.merchant_id,
            features=dict(self.features),
        )


class BatchIn(BaseModel):
    """Several transactions, scored in order in one feature store round trip."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"transactions": [TRANSACTION_EXAMPLE]}]},
    )

    transactions: list[TransactionIn] = Field(
        min_length=1, description="At most API_MAX_BATCH of them (else 413)."
    )


def _shape(body: Any) -> str:
    return "batch" if isinstance(body, dict) and "transactions" in body else "transaction"


#: The body of ``POST /v1/score``: one transaction, or ``{"transactions": [...]}``.
ScoreRequest = Annotated[
    Annotated[TransactionIn, Tag("transaction")] | Annotated[BatchIn, Tag("batch")],
    Discriminator(_shape),
]


class ScoreResult(BaseModel):
    """The answer for one transaction."""

    transaction_id: str
    score: float = Field(description="Fraud probability in [0, 1].")
    decision: Literal["approve", "decline"] = Field(
        description="decline when score >= threshold (the streaming scorer's alert)."
    )
    threshold: float
    model_version: str
    reasons: list[str] = Field(description="Features that pushed the score up most.")
    duplicate: bool = Field(description="The feature store had already recorded this id.")
    late: bool = Field(description="Too late for the feature store to record.")


class ScoreResponse(BaseModel):
    """Results in the order of the request's transactions."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "recorded": True,
                    "results": [
                        {
                            "transaction_id": "tx-20240401-000123",
                            "score": 0.0431,
                            "decision": "approve",
                            "threshold": 0.5,
                            "model_version": "cold-start-1",
                            "reasons": ["amount"],
                            "duplicate": False,
                            "late": False,
                        }
                    ],
                }
            ]
        }
    )

    recorded: bool = Field(description="Whether the transactions were recorded.")
    results: list[ScoreResult]


class ModelInfo(BaseModel):
    """One loaded model."""

    version: str
    metrics: dict[str, float] = Field(default_factory=dict)


class ModelsResponse(BaseModel):
    """The models in use: the champion scores; a challenger, when loaded, runs in shadow."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "champion": {"version": "cold-start-1", "metrics": {}},
                    "challenger": None,
                    "snapshot_load_failures": 0,
                }
            ]
        }
    )

    champion: ModelInfo
    challenger: ModelInfo | None = None
    snapshot_load_failures: int


class Problem(BaseModel):
    """An error: what went wrong."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"detail": "Redis is unavailable: timeout"}]}
    )

    detail: Any
