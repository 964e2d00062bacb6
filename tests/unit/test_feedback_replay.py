"""The offline pass with investigators (``bench quality --feedback``): no feedback is
the plain pass, feedback is causal, and no transaction is learned twice by one model."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from fraudstream.learning.feedback_replay import (
    FeedbackPolicy,
    FeedbackScores,
    prequential_feedback_scores,
)
from fraudstream.learning.models import MODEL_CHOICES, ModelChoice
from fraudstream.learning.prequential import prequential_scores

DELAY = timedelta(days=3)


def _data(days: int = 8, per_day: int = 60, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = days * per_day
    times = pd.Timestamp("2024-04-01") + pd.to_timedelta(np.sort(rng.uniform(0, days, n)), "D")
    cards = rng.integers(0, 40, n)
    fraud = rng.random(n) < 0.1
    amount = np.where(fraud, rng.uniform(200, 900, n), rng.uniform(1, 150, n))
    frame = pd.DataFrame(
        {
            "transaction_id": [f"t{i:04d}" for i in range(n)],
            "event_time": times,
            "card_id": [f"c{c}" for c in cards],
            "merchant_id": [f"m{m}" for m in rng.integers(0, 10, n)],
            "is_fraud": fraud.astype(int),
        }
    )
    features = pd.DataFrame(
        {"amount": amount, "noise": rng.normal(size=n), "merchant_fraud_count_7d": 0.0}
    )
    return frame, features


class Counting:
    """A logistic regression that counts what it learned, by transaction amount."""

    built: ClassVar[list[Counting]] = []

    def __init__(self) -> None:
        self.inner = MODEL_CHOICES["logreg"].build()
        self.seen: list[float] = []
        Counting.built.append(self)

    def learn_one(self, x: dict[str, float], y: bool, **kwargs: Any) -> None:
        self.seen.append(x["amount"])
        self.inner.learn_one(x, y, **kwargs)

    def predict_proba_one(self, x: dict[str, float]) -> dict[bool, float]:
        return dict(self.inner.predict_proba_one(x))

    def predict_proba_many(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.inner.predict_proba_many(frame)


def _feedback_alone(
    frame: pd.DataFrame, features: pd.DataFrame, policy: FeedbackPolicy
) -> FeedbackScores:
    """The pass with investigators and no delayed label arriving: feedback alone."""
    return prequential_feedback_scores(
        frame, features, MODEL_CHOICES["logreg"], label_delay=timedelta(days=60), policy=policy
    )


def test_without_investigators_it_is_the_plain_pass() -> None:
    frame, features = _data()
    choice = MODEL_CHOICES["logreg"]
    for every in (1, 25):
        plain = prequential_scores(
            frame, features, choice, label_delay=DELAY, snapshot_every_labels=every
        )
        run = prequential_feedback_scores(
            frame,
            features,
            choice,
            label_delay=DELAY,
            policy=FeedbackPolicy(0),
            snapshot_every_labels=every,
        )
        np.testing.assert_allclose(run.scores, plain)
        assert run.feedback_labels == 0


@pytest.mark.parametrize("mode", ["same", "separate"])
def test_feedback_is_given_on_the_top_cards_after_their_day(mode: str) -> None:
    frame, features = _data()
    run = _feedback_alone(frame, features, FeedbackPolicy(3, mode=mode, review="day-end"))  # type: ignore[arg-type]
    fed = run.feedback_at >= 0
    assert run.cards_checked == 3 * 8
    day_ns = 86_400_000_000_000
    times = pd.to_datetime(frame["event_time"]).to_numpy().astype("datetime64[ns]").astype(np.int64)
    assert (run.feedback_at[fed] == (times[fed] // day_ns + 1) * day_ns + day_ns // 24).all()
    # each day, the cards checked are those scored highest that day, leaving out the
    # cards an earlier verdict found compromised
    frame = frame.assign(score=run.scores, fed=fed, day=times // day_ns)
    known: set[str] = set()
    for _, day in frame.groupby("day"):
        best = day[~day["card_id"].isin(known)].groupby("card_id")["score"].max()
        checked = day.loc[day["fed"], "card_id"].unique()
        assert len(checked) == 3
        assert best[checked].min() >= best.drop(checked).max()
        known |= set(day.loc[day["fed"] & (day["is_fraud"] == 1), "card_id"])


@pytest.mark.parametrize("mode", ["same", "separate"])
def test_alerts_are_reviewed_as_they_come_and_the_budget_left_at_the_days_end(
    mode: str,
) -> None:
    frame, features = _data()
    run = _feedback_alone(frame, features, FeedbackPolicy(3, mode=mode))  # type: ignore[arg-type]
    day_ns, hour_ns = 86_400_000_000_000, 3_600_000_000_000
    times = pd.to_datetime(frame["event_time"]).to_numpy().astype("datetime64[ns]").astype(np.int64)
    frame = frame.assign(score=run.scores, at=run.feedback_at, time=times, day=times // day_ns)
    fed = frame[frame["at"] >= 0]
    reviewed_on = (fed["at"] - hour_ns - 1) // day_ns  # the day of the alert or its end
    assert run.cards_checked == 3 * 8
    threshold, as_alerts = np.inf, 0
    for number, day in frame.groupby("day"):
        day_end = (int(number) + 1) * day_ns
        verdicts = fed[reviewed_on == number]
        assert verdicts["card_id"].nunique() == 3
        for card, judged in verdicts.groupby("card_id"):
            if (judged["at"] == day_end + hour_ns).all():
                continue  # the budget left at the day's end
            # an hour after the card's first score at the threshold that day, on what
            # it did up to then
            today = day[day["card_id"] == card]
            alert = today.loc[today["score"] >= threshold, "time"].min()
            assert (judged["at"] == alert + hour_ns).all()
            assert judged["time"].max() <= alert
            as_alerts += 1
        known = set(fed.loc[(fed["is_fraud"] == 1) & (fed["at"] < day_end), "card_id"])
        best = day[~day["card_id"].isin(known)].groupby("card_id")["score"].max()
        threshold = best.nlargest(3).min()
    assert as_alerts > 0


def test_one_model_learns_each_transaction_once() -> None:
    frame, features = _data()
    Counting.built.clear()
    run = prequential_feedback_scores(
        frame,
        features,
        ModelChoice("counting", Counting),
        label_delay=timedelta(days=2),
        policy=FeedbackPolicy(4, mode="same"),
    )
    (model,) = Counting.built
    times = pd.to_datetime(frame["event_time"]).to_numpy().astype("datetime64[ns]").astype(np.int64)
    last = times[-1]
    arrived = (times + 2 * 86_400_000_000_000 < last) | (
        (run.feedback_at >= 0) & (run.feedback_at < last)
    )
    assert run.feedback_labels > 0
    assert sorted(model.seen) == sorted(features["amount"][arrived])  # each once


def test_feedback_arriving_sooner_changes_what_is_served() -> None:
    frame, features = _data()
    choice = MODEL_CHOICES["logreg"]
    common = {"label_delay": DELAY, "snapshot_every_labels": 1}
    plain = prequential_feedback_scores(frame, features, choice, policy=FeedbackPolicy(0), **common)
    fed = prequential_feedback_scores(
        frame, features, choice, policy=FeedbackPolicy(5, mode="same"), **common
    )
    first_day = pd.to_datetime(frame["event_time"]) < pd.Timestamp("2024-04-02 01:00")
    np.testing.assert_allclose(fed.scores[first_day.to_numpy()], plain.scores[first_day.to_numpy()])
    assert not np.allclose(fed.scores, plain.scores)


def test_confirmed_frauds_feed_the_merchants_recent_fraud_count_at_once() -> None:
    frame, features = _data()
    policy = FeedbackPolicy(5, mode="same")
    run = prequential_feedback_scores(
        frame, features, MODEL_CHOICES["logreg"], label_delay=DELAY, policy=policy
    )
    times = frame["event_time"].to_numpy()
    merchants = frame["merchant_id"].to_numpy()
    fraud = frame["is_fraud"].to_numpy(dtype=bool)
    confirmed = np.flatnonzero((run.feedback_at >= 0) & fraud)
    assert confirmed.size
    arrival = pd.to_datetime(run.feedback_at[confirmed], unit="ns").to_numpy()
    delay = np.timedelta64(DELAY)
    # the given features count no delayed label: the served count is the verdicts that
    # had arrived, on frauds whose delayed label had not (all within the week)
    expected = [
        sum(
            merchants[c] == merchants[i] and a < times[i] <= times[c] + delay
            for c, a in zip(confirmed, arrival, strict=True)
        )
        for i in range(len(frame))
    ]
    assert sum(expected) > 0
    assert run.recent_frauds.tolist() == expected
    assert features["merchant_fraud_count_7d"].eq(0.0).all()  # the caller's frame is kept


def test_a_longer_history_labels_the_cards_earlier_transactions_once() -> None:
    frame, features = _data()
    runs = {
        days: prequential_feedback_scores(
            frame,
            features,
            MODEL_CHOICES["logreg"],
            label_delay=DELAY,
            policy=FeedbackPolicy(5, history=timedelta(days=days), review="day-end"),
        )
        for days in (1, 3)
    }
    assert runs[3].feedback_labels > runs[1].feedback_labels
    times = frame["event_time"].to_numpy().astype("datetime64[ns]").astype(np.int64)
    fed = runs[3].feedback_at >= 0
    day_end = (times[fed] // 86_400_000_000_000 + 1) * 86_400_000_000_000
    # each verdict came after its transaction's day, within the history, before its
    # delayed label
    verdicts = runs[3].feedback_at[fed]
    assert (verdicts > day_end - 1).all()
    assert (verdicts - times[fed] <= 4 * 86_400_000_000_000).all()
    assert (verdicts < times[fed] + pd.Timedelta(DELAY).value).all()
