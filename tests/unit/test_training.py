"""Training: the leakage rule, time-ordered folds, validation, models and the adapter."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudstream.errors import DataValidationError
from fraudstream.evaluation.drift import SCORE as SCORE_KEY
from fraudstream.lake.store import LABELS, SCORED, write_rows
from fraudstream.models.xgb import XGBoostModel
from fraudstream.training.dataset import Window, build_training_set, known_labels
from fraudstream.training.folds import time_folds
from fraudstream.training.trainer import TrainOptions, train_models
from fraudstream.training.validation import Rules, validate_training_set

CUTOFF = pd.Timestamp("2024-05-01", tz="UTC")
DELAY = timedelta(days=7)


def _archive(
    root: Path, scored: list[tuple[str, str]], labels: list[tuple[str, bool, str]]
) -> None:
    write_rows(
        str(root),
        SCORED,
        pd.DataFrame(
            {
                "transaction_id": [t for t, _ in scored],
                "card_id": "c1",
                "event_time": pd.to_datetime([e for _, e in scored], utc=True),
                "features.amount": 10.0,
            }
        ),
    )
    write_rows(
        str(root),
        LABELS,
        pd.DataFrame(
            {
                "transaction_id": [t for t, _, _ in labels],
                "is_fraud": [f for _, f, _ in labels],
                "labelled_at": pd.to_datetime([w for _, _, w in labels], utc=True),
            }
        ),
    )


def test_a_label_known_after_the_cutoff_never_enters_training(tmp_path: Path) -> None:
    _archive(
        tmp_path,
        scored=[
            ("on-time", "2024-04-10 10:00"),
            ("at-cutoff", "2024-04-11 10:00"),
            ("late", "2024-04-12 10:00"),
            ("corrected", "2024-04-13 10:00"),
            ("too-recent", "2024-04-28 10:00"),  # in the last label delay before the cutoff
        ],
        labels=[
            ("on-time", True, "2024-04-17 10:00:00"),
            ("at-cutoff", False, "2024-05-01 00:00:00"),
            ("late", True, "2024-05-01 00:00:01"),
            ("corrected", False, "2024-04-20 10:00:00"),
            ("corrected", True, "2024-05-03 10:00:00"),  # the correction came after the cutoff
            ("too-recent", True, "2024-04-29 10:00:00"),
        ],
    )
    window = Window.of(CUTOFF, timedelta(days=30), DELAY)
    frame = build_training_set(str(tmp_path), window)
    known = dict(zip(frame["transaction_id"], frame["is_fraud"], strict=True))
    assert known == {"on-time": True, "at-cutoff": False, "corrected": False}
    assert (frame["labelled_at"] <= CUTOFF).all()
    assert (frame["event_time"] < CUTOFF - pd.Timedelta(DELAY)).all()


def test_the_latest_known_label_wins() -> None:
    labels = pd.DataFrame(
        {
            "transaction_id": ["a", "a", "a"],
            "is_fraud": [False, True, False],
            "labelled_at": pd.to_datetime(["2024-04-02", "2024-04-05", "2024-05-09"], utc=True),
        }
    )
    latest = known_labels(labels, CUTOFF)
    assert latest["is_fraud"].tolist() == [True]


@given(
    st.lists(st.integers(0, 90 * 24), min_size=30, max_size=300),
    st.integers(2, 5),
    st.integers(0, 10),
)
@settings(max_examples=100, deadline=None)
def test_folds_never_test_before_train_and_keep_the_gap(
    hours: list[int], folds: int, gap_days: int
) -> None:
    times = pd.Series(pd.Timestamp("2024-04-01", tz="UTC") + pd.to_timedelta(sorted(hours), "h"))
    gap = pd.Timedelta(days=gap_days)
    try:
        split = time_folds(times, folds, gap)
    except ValueError:
        return  # too short or too sparse for these folds: refused, never a bad split
    assert len(split) == folds
    previous_test_end = None
    for train, test in split:
        assert times.iloc[train].max() + gap < times.iloc[test].min()
        assert set(train).isdisjoint(test)
        if previous_test_end is not None:
            assert times.iloc[test].min() >= previous_test_end  # later folds test later
        previous_test_end = times.iloc[test].max()


def test_folds_refuse_a_span_shorter_than_the_gap() -> None:
    times = pd.Series(pd.date_range("2024-04-01", periods=5, freq="D", tz="UTC"))
    with pytest.raises(ValueError, match="not longer than the gap"):
        time_folds(times, 3, pd.Timedelta(days=7))


def _valid_frame(n: int = 200) -> pd.DataFrame:
    times = pd.Series(pd.date_range("2024-04-01", periods=n, freq="h", tz="UTC"))
    return pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "card_id": "c1",
            "event_time": times,
            "labelled_at": times + pd.Timedelta(days=7),
            "is_fraud": np.arange(n) % 20 == 0,
            "features.amount": np.arange(n, dtype=float),
        }
    )


RULES = Rules(min_fraud_rate=0.001, max_fraud_rate=0.2, max_null_rate=0.01, cutoff=CUTOFF)


def _failed(frame: pd.DataFrame, rules: Rules = RULES) -> dict[str, str]:
    with pytest.raises(DataValidationError) as caught:
        validate_training_set(frame, rules)
    report = caught.value.report
    assert report["ok"] is False
    failed = {c["name"]: c["detail"] for c in report["checks"] if not c["ok"]}  # type: ignore[union-attr]
    for name in failed:
        assert name in str(caught.value)
    return failed


def test_a_valid_set_passes() -> None:
    report = validate_training_set(_valid_frame(), RULES)
    assert report["ok"]
    assert (report["rows"], report["frauds"]) == (200, 10)


def test_validation_names_what_failed() -> None:
    assert "rows" in _failed(_valid_frame().iloc[0:0])
    assert (
        "missing columns ['card_id']" in _failed(_valid_frame().drop(columns="card_id"))["schema"]
    )
    assert "non-numeric" in _failed(_valid_frame().assign(**{"features.x": "a"}))["schema"]
    nulls = _valid_frame()
    nulls.loc[:9, "features.amount"] = np.nan
    assert "features.amount" in _failed(nulls)["null_rate"]
    assert "outside" in _failed(_valid_frame().assign(is_fraud=False))["fraud_rate"]
    assert "outside" in _failed(_valid_frame().assign(is_fraud=True))["fraud_rate"]
    shuffled = _valid_frame().sample(frac=1.0, random_state=1)
    assert "not in increasing order" in _failed(shuffled)["time_order"]
    early = _valid_frame()
    early.loc[3, "labelled_at"] = early.loc[3, "event_time"] - pd.Timedelta(hours=1)
    assert "1 labels known before" in _failed(early)["time_order"]
    after = _valid_frame()
    after.loc[5, "labelled_at"] = CUTOFF + pd.Timedelta(seconds=1)
    assert "after the cutoff" in _failed(after)["time_order"]


def _synthetic(n: int = 6000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    times = pd.Series(
        pd.Timestamp("2024-04-01", tz="UTC")
        + pd.to_timedelta(np.sort(rng.integers(0, 40 * 86_400, n)), "s")
    )
    amount = rng.gamma(2.0, 30.0, n)
    noise = rng.normal(size=n)
    fraud = (amount > 150) & (rng.random(n) < 0.8) | (rng.random(n) < 0.005)
    return pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "card_id": [f"c{i % 300}" for i in range(n)],
            "event_time": times,
            "labelled_at": times + pd.Timedelta(days=7),
            "is_fraud": fraud,
            "features.amount": amount,
            "features.noise": noise,
        }
    )


def test_training_cross_validates_every_model_and_ranks_frauds_first() -> None:
    options = TrainOptions(folds=3, gap=pd.Timedelta(days=7), trials=2, threshold=0.5, seed=1)
    result = train_models(_synthetic(), options)
    assert set(result.models) == {"xgboost", "logistic_regression", "random_forest"}
    assert len(result.trials) == 2
    assert result.best.measures == result.models["xgboost"]
    for measures in result.models.values():
        assert measures["average_precision"] > 0.5  # the amount rule is learnable
    assert result.features == ["amount", "noise"]
    assert set(result.drift_reference) == {"amount", "noise", SCORE_KEY}
    fractions = result.drift_reference["amount"]["fractions"]
    assert abs(sum(fractions) - 1.0) < 1e-9
    model = XGBoostModel(result.booster, result.features, "test-1")
    high, low = model.score(pd.DataFrame({"amount": [400.0, 20.0], "noise": [0.0, 0.0]}))
    assert high > low  # behavioural: a large amount outranks its small twin


def test_xgboost_model_uses_the_stored_feature_order() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 3))
    y = (x[:, 1] > 0.5).astype(int)
    names = ["a", "b", "c"]
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
        xgb.DMatrix(x, label=y, feature_names=names),
        30,
    )
    model = XGBoostModel(booster, names, "v7")
    frame = pd.DataFrame(x, columns=names)
    shuffled = frame[["c", "a", "b"]].assign(extra=1.0)
    np.testing.assert_allclose(model.score(frame), model.score(shuffled))
    expected = booster.predict(xgb.DMatrix(x, feature_names=names))
    np.testing.assert_allclose(model.score(frame), expected, rtol=1e-6)
    missing = model.score(frame.drop(columns=["b"]))
    nan_b = booster.predict(xgb.DMatrix(frame.assign(b=np.nan).to_numpy(), feature_names=names))
    np.testing.assert_allclose(missing, nan_b, rtol=1e-6)
    assert model.version == "v7"
    assert model.reasons({"a": 0.0, "b": 2.0, "c": 0.0}, k=1) == ["b"]
    assert "b" not in model.reasons({"a": 0.0, "b": -2.0, "c": 0.0}, k=3)  # pushes down
    assert model.score(frame.iloc[0:0]).shape == (0,)
