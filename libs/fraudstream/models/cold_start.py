"""The cold-start model: a fixed, interpretable score for before any model is learned."""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from fraudstream.models.base import TOP_REASONS, Features, column


class ColdStartModel:
    """A fixed, interpretable logistic score for before any model has been learned.

    It knows what every fraud team knows on day one: large amounts, amounts far above
    the card's usual, and merchants with recent fraud are suspicious. Weights were set
    by hand (see docs/scoring.md) so that a normal purchase scores near 0.02, an
    amount of 250 at three times the card's mean near 0.7.

    Those weights are knowledge of card payments. A transaction without a card (no
    card history: ``card_tx_count_30d`` is 0, as on the ULB dataset, whose signal is
    in its own anonymised columns) gets the score of a typical purchase and no
    reasons: the model defers, neutrally, instead of ranking by an amount whose
    meaning it does not know there.

    >>> import pandas as pd
    >>> model = ColdStartModel()
    >>> frame = pd.DataFrame({"amount": [40.0, 900.0], "card_amount_over_mean_30d": [1.0, 8.0]})
    >>> low, high = model.score(frame)
    >>> bool(low < 0.05 < 0.9 < high)
    True
    >>> model.reasons({"amount": 900.0, "card_amount_over_mean_30d": 8.0})
    ['amount', 'card_amount_over_mean_30d']
    >>> no_card = pd.DataFrame({"amount": [1.0, 900.0], "card_tx_count_30d": [0.0, 0.0]})
    >>> bool(model.score(no_card)[0] == model.score(no_card)[1] == model.neutral)
    True
    """

    version = "cold-start-1"
    intercept: Final = -13.0
    #: feature -> (weight, typical value): a feature pushes a score up when it
    #: exceeds its typical value.
    terms: Final = {
        "amount": (2.2, 3.9),  # on log1p(amount): a typical 50
        "card_amount_over_mean_30d": (0.5, 1.0),
        "merchant_fraud_share_7d": (8.0, 0.0),
    }

    @property
    def neutral(self) -> float:
        """The score of a typical purchase: every term at its typical value."""
        z = self.intercept + sum(w * typical for w, typical in self.terms.values())
        return 1.0 / (1.0 + math.exp(-z))

    def _contributions(self, row: dict[str, float]) -> dict[str, float]:
        values = {
            "amount": math.log1p(max(row.get("amount", 0.0), 0.0)),
            "card_amount_over_mean_30d": min(
                max(row.get("card_amount_over_mean_30d", 1.0), 0.0), 20.0
            ),
            "merchant_fraud_share_7d": row.get("merchant_fraud_share_7d", 0.0),
        }
        return {name: w * values[name] for name, (w, _) in self.terms.items()}

    def score(self, frame: Features) -> np.ndarray:
        n = len(frame)

        def values(name: str, default: float) -> np.ndarray:
            found = column(frame, name)
            return np.full(n, default) if found is None else found

        amount = np.log1p(np.maximum(values("amount", 0.0), 0.0))
        over = np.clip(values("card_amount_over_mean_30d", 1.0), 0.0, 20.0)
        share = values("merchant_fraud_share_7d", 0.0)
        w = {name: weight for name, (weight, _) in self.terms.items()}
        z = (
            self.intercept
            + w["amount"] * amount
            + w["card_amount_over_mean_30d"] * over
            + w["merchant_fraud_share_7d"] * share
        )
        probabilities: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return np.where(values("card_tx_count_30d", 1.0) == 0, self.neutral, probabilities)

    def reasons(self, row: dict[str, float], k: int = TOP_REASONS) -> list[str]:
        if row.get("card_tx_count_30d", 1.0) == 0:
            return []
        contributions = self._contributions(row)
        above = {
            name: c - w * typical
            for (name, c), (w, typical) in zip(
                contributions.items(), self.terms.values(), strict=True
            )
        }
        ranked = sorted((v, n) for n, v in above.items() if v > 0)
        return [name for _, name in reversed(ranked)][:k]
