"""An investigator's confirmed fraud reaches the merchant's recent fraud count at once:
the learner reports it to the feature store, and the next transaction at the merchant
is served the count (in memory and on real Redis)."""

from __future__ import annotations

from datetime import timedelta

from fraudstream.features.definitions import FEATURE_NAMES, FeatureConfig
from fraudstream.features.store import FeatureRequest, FeatureStore
from fraudstream.learning.join import LabelJoin
from fraudstream.learning.learner import Learner, LearnerState
from fraudstream.learning.models import MODEL_CHOICES
from fraudstream.schemas import Label, LabelSource, encode, encoder
from fraudstream.testing.samples import SAMPLE_TIME, sample_scored
from fraudstream.testing.steps import consumer_record

from .conftest import StoreFactory

LABELS, SCORED = "labels", "transactions.scored"
EVENT = SAMPLE_TIME
T0 = int(EVENT.timestamp() * 1000)
RECENT = FEATURE_NAMES.index("merchant_fraud_count_7d")


def _scored(tx: str) -> bytes:
    return encoder.encode(sample_scored(transaction_id=tx, card_id="c1", merchant_id="m1"))


def _label(tx: str, source: LabelSource, after: timedelta) -> bytes:
    analyst = "a.martin" if source == "investigator" else None
    label = Label(
        transaction_id=tx,
        is_fraud=True,
        labelled_at=EVENT + after,
        card_id="c1",
        source=source,
        analyst=analyst,
    )
    return encode(label)


def _recent_count(store: FeatureStore, minutes_after: int) -> float:
    request = FeatureRequest("later", T0 + minutes_after * 60_000, 1000, "c2", "m1")
    return float(store.read([request]).values[0, RECENT])


def test_a_confirmed_fraud_counts_for_the_merchant_at_once(
    make_store: StoreFactory,
) -> None:
    store = make_store(FeatureConfig())
    store.process([FeatureRequest("t1", T0, 1000, "c1", "m1")])
    state = LearnerState("logreg", MODEL_CHOICES["logreg"].build(), LabelJoin(21 * 86_400_000))
    choice = MODEL_CHOICES["logreg"]
    learner = Learner(state, choice, labels_topic=LABELS, scored_topic=SCORED, store=store)
    learner.process([consumer_record(_scored("t1"), topic=SCORED)])
    assert _recent_count(store, 90) == 0.0

    verdict = _label("t1", "investigator", timedelta(minutes=40))
    learner.process([consumer_record(verdict, topic=LABELS)])
    assert _recent_count(store, 90) == 1.0  # an hour and a half later: counted
    assert _recent_count(store, 7 * 24 * 60 + 1) == 0.0  # a week later: out of the window

    # the delayed label that confirms it a week later is not a second report
    delayed = _label("t1", "delayed", timedelta(days=7))
    learner.process([consumer_record(delayed, topic=LABELS)])
    assert _recent_count(store, 90) == 1.0
