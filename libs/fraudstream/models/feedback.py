"""A delayed-label model and an investigator-feedback model, combined.

Investigators check the cards the model ranks highest and say within the hour whether
they were fraud; the delayed labels (chargebacks, claims) come days later for every
transaction. The two populations differ: feedback covers only the top of the ranking
and is mostly fraud. :class:`FeedbackBlend` keeps them apart, as Dal Pozzolo et al.
(2017) propose: one model learns the delayed labels, the other the feedback, and a
transaction's score is the weighted mean of their fraud probabilities. Until the
feedback model has learned ``min_feedback`` labels, the delayed model scores alone.

>>> from river import linear_model
>>> models = linear_model.LogisticRegression(), linear_model.LogisticRegression()
>>> blend = FeedbackBlend(*models, min_feedback=2)
>>> blend.learn_one({"amount": 1.0}, True)
>>> blend.learn_feedback({"amount": 1.0}, True)
>>> round(blend.predict_proba_one({"amount": 1.0})[True], 4)  # the delayed model alone
0.5025
>>> blend.learn_feedback({"amount": 2.0}, True)
>>> round(blend.predict_proba_one({"amount": 1.0})[True], 4)  # now both, averaged
0.5044
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import pandas as pd

from fraudstream.models.online import learn_in_order, serving_copy

#: Dal Pozzolo et al.'s weight: the two models count the same.
FEEDBACK_WEIGHT: Final = 0.5

#: Feedback labels learned before the feedback model takes part in the score.
MIN_FEEDBACK: Final = 1_000


class FeedbackBlend:
    """``delayed`` learns delayed labels (:meth:`learn_one`), ``feedback`` learns
    investigators' labels (:meth:`learn_feedback`); the fraud probability is
    ``weight * feedback + (1 - weight) * delayed`` once ``feedback`` has learned
    ``min_feedback`` labels, ``delayed``'s alone before."""

    def __init__(
        self,
        delayed: Any,
        feedback: Any,
        *,
        weight: float = FEEDBACK_WEIGHT,
        min_feedback: int = MIN_FEEDBACK,
    ) -> None:
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"weight must be in [0, 1], got {weight}")
        self.delayed = delayed
        self.feedback = feedback
        self.weight = weight
        self.min_feedback = min_feedback
        self.feedback_learned = 0

    def learn_one(self, x: dict[Any, Any], y: bool, **kwargs: Any) -> None:
        """Learn a delayed label."""
        self.delayed.learn_one(x, y, **kwargs)

    def learn_feedback(self, x: dict[Any, Any], y: bool, **kwargs: Any) -> None:
        """Learn an investigator's label."""
        self.feedback.learn_one(x, y, **kwargs)
        self.feedback_learned += 1

    def learn_sequence(self, rows: Sequence[dict[Any, Any]], ys: Sequence[bool]) -> None:
        """Learn delayed labels in turn (as :meth:`learn_one` each)."""
        learn_in_order(self.delayed, rows, ys)

    def learn_feedback_sequence(self, rows: Sequence[dict[Any, Any]], ys: Sequence[bool]) -> None:
        """Learn investigators' labels in turn (as :meth:`learn_feedback` each)."""
        learn_in_order(self.feedback, rows, ys)
        self.feedback_learned += len(rows)

    @property
    def blending(self) -> bool:
        """Whether the feedback model takes part in the score yet."""
        return self.feedback_learned >= self.min_feedback and self.weight > 0.0

    def predict_proba_one(self, x: dict[Any, Any], **kwargs: Any) -> dict[bool, float]:
        p = float(self.delayed.predict_proba_one(x).get(True, 0.0))
        if self.blending:
            fed = float(self.feedback.predict_proba_one(x).get(True, 0.0))
            p = self.weight * fed + (1.0 - self.weight) * p
        return {False: 1.0 - p, True: p}

    def predict_proba_many(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803 - River's name
        p = _fraud_column(self.delayed.predict_proba_many(X))
        if self.blending:
            fed = _fraud_column(self.feedback.predict_proba_many(X))
            p = self.weight * fed + (1.0 - self.weight) * p
        return pd.DataFrame({False: 1.0 - p, True: p}, index=X.index)

    def for_serving(self) -> FeedbackBlend:
        """A copy for scorers: each model's serving copy (learner state left out)."""
        served = FeedbackBlend(
            serving_copy(self.delayed),
            serving_copy(self.feedback),
            weight=self.weight,
            min_feedback=self.min_feedback,
        )
        served.feedback_learned = self.feedback_learned
        return served

    @property
    def reasoning_member(self) -> Any:
        """The model whose weights explain alerts: the delayed model's own choice."""
        return getattr(self.delayed, "reasoning_member", self.delayed)


def _fraud_column(probabilities: pd.DataFrame) -> pd.Series:
    column = True if True in probabilities.columns else probabilities.columns[-1]
    return probabilities[column].astype(float)
