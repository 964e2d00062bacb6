"""Investigator feedback in the learner: each case of docs/learning.md, "Investigator
feedback", for one model and for a separate feedback model."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from kafka.consumer.fetcher import ConsumerRecord
from prometheus_client import CollectorRegistry

from fraudstream.features.store import FraudReport
from fraudstream.learning.join import LabelJoin, Served
from fraudstream.learning.learner import Learner, LearnerState
from fraudstream.learning.metrics import LearnerMetrics
from fraudstream.learning.models import ModelChoice
from fraudstream.models.feedback import FeedbackBlend
from fraudstream.schemas import Label, LabelSource, encode, encoder
from fraudstream.testing.samples import SAMPLE_TIME, sample_scored
from fraudstream.testing.steps import consumer_record

LABELS, SCORED = "labels", "transactions.scored"
EVENT = SAMPLE_TIME


class Recorder:
    """A model that remembers what it learned."""

    def __init__(self) -> None:
        self.learned: list[tuple[float, bool]] = []

    def learn_one(self, x: dict[str, float], y: bool, **_: Any) -> None:
        self.learned.append((x["amount"], y))

    def predict_proba_one(self, x: dict[str, float]) -> dict[bool, float]:
        return {True: 0.5, False: 0.5}


class Reports:
    """A feature store that only records fraud reports."""

    def __init__(self) -> None:
        self.frauds: list[str] = []

    def report_frauds(self, reports: Sequence[FraudReport]) -> None:
        self.frauds += [r.transaction_id for r in reports]


def _scored(tx: str, amount: float = 10.0, score: float = 0.9) -> ConsumerRecord:
    record = sample_scored(
        transaction_id=tx,
        card_id="c1",
        merchant_id="m1",
        amount=amount,
        features={"amount": amount},
        score=score,
    )
    return consumer_record(encoder.encode(record), topic=SCORED)


def _label(
    tx: str, is_fraud: bool, source: LabelSource = "delayed", after: timedelta = timedelta(days=7)
) -> ConsumerRecord:
    label = Label(
        transaction_id=tx,
        is_fraud=is_fraud,
        labelled_at=EVENT + after,
        card_id="c1",
        source=source,
        analyst="a.martin" if source == "investigator" else None,
    )
    return consumer_record(encode(label), topic=LABELS)


def _verdict(tx: str, is_fraud: bool) -> ConsumerRecord:
    return _label(tx, is_fraud, "investigator", timedelta(minutes=40))


def _learner(separate: bool) -> tuple[Learner, Reports]:
    choice = ModelChoice("recorder", Recorder)
    model: Any = FeedbackBlend(Recorder(), Recorder()) if separate else Recorder()
    state = LearnerState("recorder", model, LabelJoin(max_wait_ms=21 * 86_400_000))
    store = Reports()
    learner = Learner(state, choice, labels_topic=LABELS, scored_topic=SCORED, store=store)  # type: ignore[arg-type]
    return learner, store


def _learned(learner: Learner) -> dict[str, list[tuple[float, bool]]]:
    model = learner.state.model
    if isinstance(model, FeedbackBlend):
        return {"delayed": model.delayed.learned, "feedback": model.feedback.learned}
    return {"model": model.learned}


def _feed(learner: Learner, *records: ConsumerRecord) -> None:
    for record in records:  # one poll each, as they would come
        learner.process([record])


# -- one model ----------------------------------------------------------------------


def test_feedback_then_an_agreeing_delayed_label_is_learned_once() -> None:
    learner, store = _learner(separate=False)
    _feed(learner, _scored("t1"), _verdict("t1", True))
    assert _learned(learner) == {"model": [(10.0, True)]}  # at once, from the verdict
    _feed(learner, _label("t1", True))
    assert _learned(learner) == {"model": [(10.0, True)]}
    assert learner.feedback_outcomes == {"confirmed": 1}
    assert learner.by_source == {"investigator": 1, "delayed": 1}
    assert store.frauds == ["t1"]  # reported once, when the verdict came
    assert [w[1] for w in learner.state.window] == [True]  # judged once, on the truth


def test_a_disagreeing_delayed_label_is_learned_as_the_correction() -> None:
    learner, _ = _learner(separate=False)
    _feed(learner, _scored("t1"), _verdict("t1", True), _label("t1", False))
    assert _learned(learner) == {"model": [(10.0, True), (10.0, False)]}
    assert learner.feedback_outcomes == {"overruled": 1}
    assert [w[1] for w in learner.state.window] == [False]


def test_a_repeated_verdict_is_learned_once() -> None:
    learner, _ = _learner(separate=False)
    _feed(learner, _scored("t1"), _verdict("t1", True), _verdict("t1", True), _verdict("t1", False))
    assert _learned(learner) == {"model": [(10.0, True)]}
    assert learner.state.join.stats.duplicate_labels == 2


def test_a_verdict_after_the_delayed_label_is_not_learned() -> None:
    learner, _ = _learner(separate=False)
    _feed(learner, _scored("t1"), _label("t1", False), _verdict("t1", True))
    assert _learned(learner) == {"model": [(10.0, False)]}
    assert learner.state.join.stats.late_feedback == 1


def test_a_verdict_on_an_unscored_transaction_waits_in_the_join() -> None:
    learner, _ = _learner(separate=False)
    _feed(learner, _verdict("t1", True))
    assert _learned(learner) == {"model": []}
    assert "t1" in learner.state.join.labels
    _feed(learner, _scored("t1"))
    assert _learned(learner) == {"model": [(10.0, True)]}
    _feed(learner, _label("t1", True))
    assert _learned(learner) == {"model": [(10.0, True)]}


def test_a_delayed_label_meeting_a_waiting_verdict_replaces_it() -> None:
    learner, _ = _learner(separate=False)
    _feed(learner, _verdict("t1", True), _label("t1", False), _scored("t1"))
    assert _learned(learner) == {"model": [(10.0, False)]}
    assert learner.state.join.stats.late_feedback == 1
    assert learner.by_source == {"delayed": 1}


def test_labels_waiting_for_their_record_count_a_late_verdict_and_a_repeat_apart() -> None:
    learner, _ = _learner(separate=False)
    stats = learner.state.join.stats
    # the delayed label waits, then a verdict comes: the truth is known already
    _feed(learner, _label("t1", True), _verdict("t1", True))
    assert (stats.late_feedback, stats.duplicate_labels) == (1, 0)
    # a verdict waits, then a second one comes: a repeat
    _feed(learner, _verdict("t2", True), _verdict("t2", False))
    assert (stats.late_feedback, stats.duplicate_labels) == (1, 1)
    _feed(learner, _scored("t1"), _scored("t2"))
    assert learner.by_source == {"delayed": 1, "investigator": 1}


def test_a_verdict_that_waited_too_long_expires_like_any_label() -> None:
    learner, _ = _learner(separate=False)
    _feed(learner, _verdict("t1", True))
    learner.state.join.expire(now_ms=int((EVENT + timedelta(days=30)).timestamp() * 1000))
    assert learner.state.join.stats.expired_labels == 1
    _feed(learner, _scored("t1"))
    assert _learned(learner) == {"model": []}


# -- a separate feedback model -------------------------------------------------------


def test_separate_models_each_learn_their_source_once() -> None:
    learner, store = _learner(separate=True)
    _feed(learner, _scored("t1"), _verdict("t1", True), _verdict("t1", True), _label("t1", True))
    assert _learned(learner) == {"feedback": [(10.0, True)], "delayed": [(10.0, True)]}
    assert learner.feedback_outcomes == {"confirmed": 1}
    assert store.frauds == ["t1"]


def test_separate_models_the_delayed_model_holds_the_truth_when_they_disagree() -> None:
    learner, _ = _learner(separate=True)
    _feed(learner, _scored("t1"), _verdict("t1", True), _label("t1", False))
    assert _learned(learner) == {"feedback": [(10.0, True)], "delayed": [(10.0, False)]}
    assert learner.feedback_outcomes == {"overruled": 1}


def test_separate_models_a_repeated_delayed_label_is_learned_once() -> None:
    learner, _ = _learner(separate=True)
    _feed(learner, _scored("t1"), _label("t1", True), _label("t1", True), _verdict("t1", True))
    assert _learned(learner) == {"feedback": [], "delayed": [(10.0, True)]}


# -- counters ------------------------------------------------------------------------


@pytest.mark.parametrize("separate", [False, True])
def test_counters_show_feedback_apart(separate: bool) -> None:
    learner, _ = _learner(separate=separate)
    registry = CollectorRegistry()
    metrics = LearnerMetrics(registry)
    for record in (_scored("t1"), _scored("t2"), _verdict("t1", True), _verdict("t2", True)):
        before = dict(learner.by_source), dict(learner.feedback_outcomes)
        learner.process([record])
        metrics.count(metrics.labels_by_source, before[0], learner.by_source)
        metrics.count(metrics.feedback_outcomes, before[1], learner.feedback_outcomes)
    before = dict(learner.by_source), dict(learner.feedback_outcomes)
    learner.process([_label("t1", True), _label("t2", False)])
    metrics.count(metrics.labels_by_source, before[0], learner.by_source)
    metrics.count(metrics.feedback_outcomes, before[1], learner.feedback_outcomes)

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("learner_labels_by_source_total", source="investigator") == 2.0
    assert sample("learner_labels_by_source_total", source="delayed") == 2.0
    assert sample("learner_feedback_outcomes_total", outcome="confirmed") == 1.0
    assert sample("learner_feedback_outcomes_total", outcome="overruled") == 1.0


def test_a_state_saved_before_feedback_existed_still_loads() -> None:
    import pickle

    join = LabelJoin(max_wait_ms=1_000)
    join.add_served(Served("t1", 5_000, {"amount": 9.0}, 0.2, "c", "m"))
    old = pickle.loads(pickle.dumps(join))
    del old.__dict__["feedback"], old.stats.__dict__["late_feedback"]
    old.labels["t2"] = (True, 6_000)  # how a waiting label was kept before sources
    restored = pickle.loads(pickle.dumps(old))
    assert restored.feedback == {}
    assert restored.stats.late_feedback == 0
    assert [j.is_fraud for j in restored.add_served(Served("t2", 5_500, {}, 0.1, "c", "m"))] == [
        True
    ]
