"""The online model's parts: transforms, the stack, reasons, and pickling for snapshots."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pandas as pd
import pytest

from fraudstream.learning.models import MODEL_CHOICES
from fraudstream.models import RiverModel
from fraudstream.models.feedback import FeedbackBlend
from fraudstream.models.online import (
    LogScale,
    QuantileBins,
    RefitBooster,
    StackedClassifier,
    serving_copy,
)


def _examples(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "amount": rng.lognormal(3.5, 1.0, n),
            "card_tx_count_1d": rng.poisson(2.0, n).astype(float),
            "merchant_fraud_share_7d": rng.random(n) * 0.01,
        }
    )
    # frauds: very large amounts (a sharp threshold) or a risky merchant
    fraud = (frame["amount"] > 400) | (rng.random(n) < 0.002)
    frame.loc[fraud & (rng.random(n) < 0.5), "merchant_fraud_share_7d"] += 0.5
    return frame, fraud.to_numpy()


def test_transforms_agree_one_by_one_and_in_batches() -> None:
    frame, _ = _examples(500)
    bins = QuantileBins(fit_after=200)
    for x in frame.to_dict("records"):
        bins.learn_one(LogScale().transform_one(x))
    batch = bins.transform_many(LogScale().transform_many(frame))
    for i, x in enumerate(frame.to_dict("records")[:50]):
        one = bins.transform_one(LogScale().transform_one(x))
        assert set(one) == set(batch.columns)
        assert np.allclose([one[c] for c in batch.columns], batch.iloc[i].to_numpy())


def test_the_stacked_model_learns_a_threshold_scores_batches_and_explains() -> None:
    choice = MODEL_CHOICES["stacked"]
    model = choice.build()
    train, y = _examples(30_000, seed=1)
    for x, label in zip(train.to_dict("records"), y.tolist(), strict=True):
        choice.learn(model, x, label)
    served = RiverModel(pickle.loads(pickle.dumps(model)), "stacked-1")  # as a snapshot
    test, truth = _examples(3_000, seed=2)
    scores = served.score(test)
    one_by_one = [served.model.predict_proba_one(x)[True] for x in test.to_dict("records")[:100]]
    assert np.allclose(scores[:100], one_by_one)
    # behavioural: a very large amount outranks its ordinary twin
    twin = {"amount": 40.0, "card_tx_count_1d": 2.0, "merchant_fraud_share_7d": 0.0}
    high, low = served.score(pd.DataFrame([{**twin, "amount": 900.0}, twin]))
    assert high > low
    assert scores[truth].mean() > 5 * scores[~truth].mean()
    reasons = served.reasons({**twin, "amount": 900.0})
    assert reasons
    assert reasons[0] == "amount"
    assert all("#" not in reason for reason in reasons)  # features, not derived columns


def test_the_hybrid_model_refits_its_booster_and_serves_without_its_buffer() -> None:
    choice = MODEL_CHOICES["hybrid"]
    model = choice.build()
    train, y = _examples(40_000, seed=3)
    for x, label in zip(train.to_dict("records"), y.tolist(), strict=True):
        if choice.learns(str(x["amount"]), label):
            choice.learn(model, x, label)
    booster = model.members[1]
    assert isinstance(booster, RefitBooster)
    assert booster.fits >= 2  # the first fit, then one per refit_every labels
    serving = serving_copy(model)
    assert serving.members[1].rows is None
    assert booster.rows is not None  # the learner's own model keeps its buffer
    test, truth = _examples(2_000, seed=4)
    full, served = RiverModel(model, "h-1").score(test), RiverModel(serving, "h-1").score(test)
    assert np.array_equal(full, served)
    # the API's one-row batches go row by row, and agree with the batch path
    one_row = [RiverModel(serving, "h-1").score(test.iloc[i : i + 1])[0] for i in range(20)]
    assert np.allclose(one_row, served[:20])
    assert served[truth].mean() > 5 * served[~truth].mean()
    assert len(pickle.dumps(model)) - len(pickle.dumps(serving)) >= booster.rows.nbytes
    with pytest.raises(TypeError, match="cannot learn"):
        serving.members[1].learn_one(test.iloc[0].to_dict(), True)


def test_the_booster_buffer_keeps_the_newest_rows() -> None:
    booster = RefitBooster(refit_every=10**9, max_rows=5, first_fit=10**9)
    for i in range(12):
        booster.learn_one({"amount": float(i)}, i % 2 == 0)
    assert booster.rows is not None
    assert sorted(booster.rows[:, 0].tolist()) == [7.0, 8.0, 9.0, 10.0, 11.0]
    assert booster.fits == 0
    assert booster.predict_proba_one({"amount": 1.0})[True] == 0.0  # unfitted: scores 0


def _stack() -> StackedClassifier:
    additive = MODEL_CHOICES["additive"].build()
    return StackedClassifier([additive, RefitBooster(refit_every=60, first_fit=40, rounds=10)])


def test_a_stack_learns_a_sequence_as_it_learns_label_by_label() -> None:
    rows, y = _examples(3_000, seed=5)
    rows["amount"] = rows["amount"].where(~y, 900.0)  # frauds early enough to fit on
    xs, labels = rows.to_dict("records"), y.tolist()
    one_by_one, in_runs = _stack(), _stack()
    for x, label in zip(xs, labels, strict=True):
        one_by_one.learn_one(x, label)
    # runs of every length, each across several refits of the booster
    cut = [0, 1, 8, 130, 131, 700, 2_900, 3_000]
    for start, end in itertools.pairwise(cut):
        in_runs.learn_sequence(xs[start:end], labels[start:end])

    booster = in_runs.members[1]
    assert isinstance(booster, RefitBooster)
    assert booster.fits == one_by_one.members[1].fits >= 20
    assert in_runs.combiner.weights == one_by_one.combiner.weights
    probe, _ = _examples(200, seed=6)
    for x in probe.to_dict("records"):
        assert in_runs.predict_proba_one(x) == one_by_one.predict_proba_one(x)


def test_a_feedback_blend_learns_sequences_into_each_model() -> None:
    rows, y = _examples(500, seed=7)
    xs, labels = rows.to_dict("records"), y.tolist()
    one_by_one, in_runs = FeedbackBlend(_stack(), _stack()), FeedbackBlend(_stack(), _stack())
    for x, label in zip(xs[:300], labels[:300], strict=True):
        one_by_one.learn_one(x, label)
    for x, label in zip(xs[300:], labels[300:], strict=True):
        one_by_one.learn_feedback(x, label)
    in_runs.learn_sequence(xs[:300], labels[:300])
    in_runs.learn_feedback_sequence(xs[300:], labels[300:])

    assert in_runs.feedback_learned == one_by_one.feedback_learned == 200
    assert in_runs.delayed.combiner.weights == one_by_one.delayed.combiner.weights
    assert in_runs.feedback.combiner.weights == one_by_one.feedback.combiner.weights


def test_learn_all_weights_frauds_label_by_label() -> None:
    rows, y = _examples(400, seed=8)
    xs, labels = rows.to_dict("records"), y.tolist()
    choice = MODEL_CHOICES["logreg-fraud-x3"]
    one_by_one, at_once = choice.build(), choice.build()
    for x, label in zip(xs, labels, strict=True):
        choice.learn(one_by_one, x, label)
    choice.learn_all(at_once, xs, labels)
    probe = xs[0]
    assert at_once.predict_proba_one(probe) == one_by_one.predict_proba_one(probe)
