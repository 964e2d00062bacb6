"""Training: the leakage rule, time-ordered folds, validation, models and the adapter."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from fraudstream.config import Settings
from fraudstream.errors import ConfigError, DataFileError, DataValidationError, FraudstreamError
from fraudstream.evaluation.drift import SCORE as SCORE_KEY
from fraudstream.lake.store import LABELS, SCORED, write_rows
from fraudstream.models.xgb import XGBoostModel
from fraudstream.training import pipeline, tracking, trainer
from fraudstream.training.dataset import Window, build_training_set, known_labels
from fraudstream.training.evaluate import (
    MEASURES,
    archived_features,
    best_family,
    measure,
    measure_frame,
)
from fraudstream.training.folds import FoldError, plan_folds, time_folds
from fraudstream.training.tracking import TrackingError
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


# --- the pipeline's expected failures: clear errors, before any long work ---


def _archived(root: Path, frame: pd.DataFrame) -> None:
    """``frame`` (a training set's columns) archived as served rows and labels."""
    write_rows(str(root), SCORED, frame.drop(columns=["is_fraud", "labelled_at"]))
    write_rows(str(root), LABELS, frame[["transaction_id", "is_fraud", "labelled_at"]])


def _pipeline_settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.load(ARCHIVE_PATH=str(tmp_path / "archive"), **env)


def test_train_refuses_a_set_without_fraud_before_reaching_mlflow(tmp_path: Path) -> None:
    # a fraud rate floor of 0 lets validation pass; train still refuses, before MLflow
    # (nothing answers at port 1: a TrackingError would mean it was asked first)
    settings = _pipeline_settings(
        tmp_path, TRAIN_MIN_FRAUD_RATE="0", MLFLOW_TRACKING_URI="http://127.0.0.1:1"
    )
    _archived(tmp_path / "archive", _valid_frame().assign(is_fraud=False))
    extracted = pipeline.extract(settings, "2024-05-01", str(tmp_path / "training"))
    assert extracted["frauds"] == 0
    with pytest.raises(DataValidationError, match="frauds: no fraud in the set") as caught:
        pipeline.train(settings, extracted["path"])
    assert caught.value.exit_code == 65


def test_train_checks_mlflow_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _pipeline_settings(tmp_path, MLFLOW_TRACKING_URI="http://127.0.0.1:1")
    _archived(tmp_path / "archive", _valid_frame())
    extracted = pipeline.extract(settings, "2024-05-01", str(tmp_path / "training"))

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained although MLflow is down")

    monkeypatch.setattr(trainer, "train_models", never)
    with pytest.raises(TrackingError, match=r"127\.0\.0\.1:1 does not answer") as e:
        pipeline.train(settings, extracted["path"])
    assert e.value.exit_code == 69
    with pytest.raises(TrackingError):
        pipeline.register(settings, "some-run")


def test_an_unreadable_archive_or_training_set_is_a_data_file_error(tmp_path: Path) -> None:
    settings = _pipeline_settings(tmp_path)
    part = tmp_path / "archive" / "scored" / "date=2024-04-10" / "part-broken.parquet"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"not parquet at all")
    with pytest.raises(DataFileError, match="archive not readable"):
        pipeline.extract(settings, "2024-05-01", str(tmp_path / "training"))
    broken = tmp_path / "training-broken.parquet"
    broken.write_bytes(b"PAR1 truncated")
    with pytest.raises(DataFileError, match="training set not readable"):
        pipeline.validate(settings, str(broken))
    with pytest.raises(ConfigError, match="not an ISO date"):
        pipeline.parse_cutoff("")


def test_train_says_when_another_family_won_cross_validation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _pipeline_settings(tmp_path, MLFLOW_TRACKING_URI=str(tmp_path / "mlruns"))
    _archived(tmp_path / "archive", _valid_frame())
    extracted = pipeline.extract(settings, "2024-05-01", str(tmp_path / "training"))
    models = {
        "xgboost": {"average_precision": 0.70},
        "logistic_regression": {"average_precision": 0.60},
        "random_forest": {"average_precision": 0.74},
    }
    fake = SimpleNamespace(
        models=models,
        best=SimpleNamespace(params={"max_depth": 6}),
        features=["amount"],
        rows=200,
        frauds=10,
        seconds=1.0,
        gap=pd.Timedelta(days=2),
        notes=["label-delay gap shrunk"],
    )
    monkeypatch.setattr(trainer, "train_models", lambda frame, options: fake)
    monkeypatch.setattr(tracking, "log_training", lambda *args, **kwargs: "run-1")
    with capture_logs() as logs:
        trained = pipeline.train(settings, extracted["path"])
    assert trained["best_family"] == "random_forest"
    assert trained["notes"] == ["label-delay gap shrunk"]
    warned = [e for e in logs if e["log_level"] == "warning" and "best_family" in e]
    assert len(warned) == 1
    assert warned[0]["best_family"] == "random_forest"
    assert "random_forest beat xgboost" in warned[0]["event"]
    assert "xgboost is registered anyway" in warned[0]["event"]

    models["xgboost"]["average_precision"] = 0.80  # XGBoost wins: nothing to say
    with capture_logs() as logs:
        assert pipeline.train(settings, extracted["path"])["best_family"] == "xgboost"
    assert not [e for e in logs if "best_family" in e]


def test_measure_frame_and_archived_features_agree_with_measure() -> None:
    frame = _valid_frame()
    scores = frame["features.amount"].to_numpy() / 200
    direct = measure(
        frame["is_fraud"].to_numpy(),
        scores,
        event_time=frame["event_time"],
        card_id=frame["card_id"],
        threshold=0.5,
    )
    assert measure_frame(frame, scores, threshold=0.5) == direct
    assert set(direct) == set(MEASURES)
    assert list(archived_features(frame).columns) == ["amount"]
    tie = {"xgboost": {"average_precision": 0.5}, "b": {"average_precision": 0.5}}
    assert best_family(tie) == "xgboost"  # a tie keeps the first


def _week(n: int = 3000, seed: int = 4, fraud_from: float = 0.0) -> pd.DataFrame:
    """The handbook's training window: 7 days (less a minute), frauds from ``fraud_from``
    (a fraction of the week) on."""
    frame = _synthetic(n, seed)
    span = pd.Timedelta(days=7) - pd.Timedelta(minutes=1)
    start = frame["event_time"].iloc[0]
    frame["event_time"] = start + (frame["event_time"] - start) * (
        span / (frame["event_time"].iloc[-1] - start)
    )
    late = (frame["event_time"] >= start + span * fraud_from).to_numpy()
    frame["is_fraud"] = frame["is_fraud"] & late
    return frame


def test_a_week_cannot_hold_three_folds_and_a_week_of_gap_so_the_gap_shrinks() -> None:
    times = _week()["event_time"]
    plan = plan_folds(times, 3, pd.Timedelta(days=7))
    assert pd.Timedelta(days=2) < plan.gap < pd.Timedelta(days=3)  # 4 blocks of a day fit
    assert plan.asked_gap == pd.Timedelta(days=7)
    assert "gap shrunk from 7 days" in plan.note
    for train, test in plan.folds:
        assert times.iloc[train].max() + plan.gap < times.iloc[test].min()
        assert times.iloc[test].max() - times.iloc[test].min() >= pd.Timedelta(hours=23)


def test_the_whole_gap_is_kept_when_the_window_holds_it() -> None:
    times = pd.Series(pd.date_range("2024-04-01", periods=60 * 24, freq="h", tz="UTC"))
    plan = plan_folds(times, 3, pd.Timedelta(days=7))
    assert plan.gap == pd.Timedelta(days=7)
    assert plan.note == ""
    assert [len(t) for _, t in plan.folds] == [len(t) for _, t in time_folds(times, 3, plan.gap)]


@given(
    st.lists(st.integers(0, 30 * 24 * 60), min_size=30, max_size=300),
    st.integers(2, 5),
    st.integers(0, 14),
)
@settings(max_examples=100, deadline=None)
def test_planned_folds_keep_the_gap_they_report(minutes: list[int], folds: int, days: int) -> None:
    times = pd.Series(
        pd.Timestamp("2024-04-01", tz="UTC") + pd.to_timedelta(sorted(minutes), "min")
    )
    asked = pd.Timedelta(days=days)
    try:
        plan = plan_folds(times, folds, asked)
    except FoldError:
        return  # too sparse for these folds: refused with a clear error, never a bad split
    assert plan.gap <= asked
    assert (plan.note == "") == (plan.gap == asked)
    for train, test in plan.folds:
        assert times.iloc[train].max() + plan.gap < times.iloc[test].min()


def test_training_on_the_handbooks_week_works_and_says_the_gap_shrank() -> None:
    options = TrainOptions(folds=3, gap=pd.Timedelta(days=7), trials=1, threshold=0.5, seed=1)
    result = train_models(_week(), options)
    assert result.gap is not None
    assert result.gap < pd.Timedelta(days=7)
    assert len(result.notes) == 1
    assert "gap shrunk" in result.notes[0]
    assert result.models["xgboost"]["average_precision"] > 0.3


def test_a_fold_that_cannot_learn_is_a_clear_error() -> None:
    options = TrainOptions(folds=3, gap=pd.Timedelta(days=7), trials=1, threshold=0.5, seed=1)
    with pytest.raises(FoldError, match="without a fraud: widen TRAIN_WINDOW") as caught:
        train_models(_week(fraud_from=0.5), options)  # the first fold trains on day 1 only
    assert isinstance(caught.value, FraudstreamError)
    assert caught.value.exit_code == 65
    with pytest.raises(FoldError, match="no rows to fold"):
        time_folds(pd.Series([], dtype="datetime64[ns, UTC]"), 3, pd.Timedelta(days=1))


def test_train_options_come_from_the_settings() -> None:
    settings = Settings.load(TRAIN_FOLDS="4", TRAIN_LABEL_DELAY="2d", TRAIN_SEARCH_TRIALS="3")
    options = TrainOptions.of(settings)
    assert (options.folds, options.gap, options.trials) == (4, pd.Timedelta(days=2), 3)
    assert options.threshold == settings.scorer.threshold


def test_fraudstream_train_turns_a_fold_error_into_one_line_and_an_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from fraudstream.cli import main
    from fraudstream.training import pipeline

    def refuse(*_: object) -> None:
        raise FoldError("fold 0 trains on 12 rows without a fraud: widen TRAIN_WINDOW")

    monkeypatch.setattr(pipeline, "run_all", refuse)
    monkeypatch.setattr("sys.argv", ["fraudstream", "train", "--cutoff", "2024-04-20"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 65
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: fold 0 trains on 12 rows without a fraud")
    assert "Traceback" not in err
