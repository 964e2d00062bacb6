"""Champion/challenger decisions, what a challenger may have seen, the registry watcher and
the model holder (no MLflow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudstream.config import Settings
from fraudstream.models import ColdStartModel, ScoringModel
from fraudstream.promotion import compare
from fraudstream.promotion.aliases import PromotionError
from fraudstream.promotion.decision import Comparison, decide
from fraudstream.promotion.holdout import EvaluationError, training_warnings
from fraudstream.promotion.leakage import TrainedOn
from fraudstream.registry.client import Candidate
from fraudstream.registry.watcher import RegistryWatcher
from fraudstream.scoring.holder import ModelHolder
from fraudstream.training.tracking import TrackingError, require_server


def _comparison(champion_ap: float, challenger_ap: float, frauds: int = 10) -> Comparison:
    return Comparison(
        "2026-01-01", "2026-01-08", 5000, frauds, "river-v1", "2", champion_ap, challenger_ap
    )


@pytest.mark.parametrize(
    ("champion", "challenger", "margin", "promote"),
    [
        (0.50, 0.60, 0.05, True),  # clearly better
        (0.50, 0.55, 0.05, True),  # exactly the margin
        (0.50, 0.54, 0.05, False),  # better, but not by the margin
        (0.50, 0.50, 0.00, False),  # a tie never wins, even without a margin
        (0.60, 0.50, 0.00, False),  # worse
    ],
)
def test_promotion_needs_a_win_by_the_margin(
    champion: float, challenger: float, margin: float, promote: bool
) -> None:
    assert decide(_comparison(champion, challenger), margin).promote is promote


def test_a_window_without_fraud_never_promotes() -> None:
    decision = decide(_comparison(0.0, 0.9, frauds=0), 0.0)
    assert not decision.promote
    assert "no labelled fraud" in decision.reason


class _Constant:
    """A scoring model that gives every row the same score."""

    def __init__(self, version: str, value: float = 0.5, broken: bool = False) -> None:
        self.version = version
        self.value = value
        self.broken = broken

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        if self.broken:
            raise ValueError("cannot score")
        return np.full(len(frame), self.value)

    def reasons(self, row: dict[str, float], k: int = 3) -> list[str]:
        return list(row)[:k]


class _FakeRegistry:
    """The registry seam: aliases in a dict; ``down`` makes every call fail."""

    def __init__(self) -> None:
        self.aliases: dict[str, Candidate] = {}
        self.down = False

    def prepare(self) -> None:
        pass

    def by_alias(self, alias: str) -> Candidate | None:
        if self.down:
            from fraudstream.registry.client import RegistryUnavailableError

            raise RegistryUnavailableError("MLflow down")
        return self.aliases.get(alias)


def _candidate(version: str, flavor: str = "xgboost") -> Candidate:
    return Candidate("m", version, flavor, None, [], {})


def _loader(candidate: Candidate) -> ScoringModel | None:
    if candidate.flavor == "river":
        return None
    if candidate.flavor == "corrupt":
        raise OSError("artifact unreadable")
    return _Constant(f"xgboost-v{candidate.version}", broken=candidate.flavor == "broken")


def _watcher(registry: _FakeRegistry) -> RegistryWatcher:
    return RegistryWatcher(registry, _loader, interval_s=0.01)  # type: ignore[arg-type]


def test_the_watcher_follows_alias_moves_and_keeps_models_when_mlflow_is_down() -> None:
    registry = _FakeRegistry()
    watcher = _watcher(registry)
    assert watcher.poll_once().champion is None  # nothing registered: online model

    registry.aliases = {"champion": _candidate("1"), "challenger": _candidate("2")}
    served = watcher.poll_once()
    assert served.champion is not None
    assert served.champion.version == "xgboost-v1"
    assert served.challenger is not None
    assert served.challenger.version == "xgboost-v2"

    registry.down = True
    assert watcher.poll_once() is served
    assert watcher.failures == 1

    registry.down = False
    registry.aliases["champion"] = _candidate("2")  # the challenger was promoted
    served = watcher.poll_once()
    assert served.champion is not None
    assert served.champion.version == "xgboost-v2"
    assert served.challenger is None  # not its own shadow


def test_a_version_that_fails_to_load_is_skipped_and_the_last_good_one_kept() -> None:
    registry = _FakeRegistry()
    watcher = _watcher(registry)
    registry.aliases = {"champion": _candidate("1")}
    watcher.poll_once()
    registry.aliases = {"champion": _candidate("3", flavor="corrupt")}
    served = watcher.poll_once()
    assert served.champion is not None
    assert served.champion.version == "xgboost-v1"
    assert watcher.failures == 1
    watcher.poll_once()  # not retried on every poll
    assert watcher.failures == 1


def test_the_holder_serves_the_registered_champion_and_the_challenger_in_shadow() -> None:
    registry = _FakeRegistry()
    watcher = _watcher(registry)
    holder = ModelHolder(None, watcher)
    assert isinstance(holder.refresh(), ColdStartModel)
    assert holder.shadow is None

    registry.aliases = {"champion": _candidate("1", "river"), "challenger": _candidate("2")}
    watcher.poll_once()
    assert isinstance(holder.refresh(), ColdStartModel)  # a River champion is the online model
    assert holder.shadow is not None
    assert holder.shadow.version == "xgboost-v2"

    registry.aliases["champion"] = _candidate("4", "broken")
    watcher.poll_once()
    champion = holder.refresh()
    assert champion.version == "xgboost-v4"
    kept = holder.reject(champion, ValueError("cannot score"))
    assert isinstance(kept, ColdStartModel)
    assert isinstance(holder.refresh(), ColdStartModel)  # a rejected version stays out
    assert holder.load_failures == 1


# --- what a challenger may have seen: the evaluation window starts after it ---


class _RunRegistry:
    """The registry seam of ``compare_and_promote``: one challenger and its run's params."""

    def __init__(self, params: dict[str, str]) -> None:
        self.params = params
        self.name = "m"

    def by_alias(self, alias: str) -> Candidate | None:
        return _candidate("2") if alias == "challenger" else None

    def run_params(self, run_id: str) -> dict[str, str]:
        return self.params


def _compare(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, trained_with: str) -> object:
    """compare_and_promote at 2024-06-01 (window 05-18 .. 05-25) with a challenger trained
    with the cutoff ``trained_with`` (7-day label delay: its rows end 7 days earlier)."""
    settings = Settings.load(
        MLFLOW_TRACKING_URI=str(tmp_path / "mlruns"),  # not http: no server to check
        ARCHIVE_PATH=str(tmp_path / "archive"),  # empty
        TRAIN_LABEL_DELAY="7d",
        TRAIN_EVAL_WINDOW="7d",
    )
    cutoff = pd.Timestamp(trained_with, tz="UTC")
    params = {
        "cutoff": cutoff.isoformat(),
        "start": (cutoff - pd.Timedelta(days=37)).isoformat(),
        "end": (cutoff - pd.Timedelta(days=7)).isoformat(),
    }
    registry = _RunRegistry(params)
    monkeypatch.setattr(compare, "Registry", lambda uri, name: registry)
    return compare.compare_and_promote(settings, "2024-06-01")


def test_the_challenger_is_never_judged_on_transactions_whose_labels_it_may_have_known(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # trained with the cutoff 05-25: its rows end 05-18, where the window starts, but
    # quickly reported frauds of 05-18 .. 05-25 were known to it: refused
    with pytest.raises(PromotionError, match="inside the evaluation window") as caught:
        _compare(monkeypatch, tmp_path, "2024-05-25")
    assert "up to 2024-05-25T00:00:00+00:00 may have been known" in str(caught.value)
    assert "train it with the cutoff 2024-05-18T00:00:00+00:00" in str(caught.value)
    # trained with training_cutoff(): its rows end a label delay before the window
    assert compare.training_cutoff(Settings.load(TRAIN_LABEL_DELAY="7d"), "2024-06-01") == (
        "2024-05-18T00:00:00+00:00"
    )
    result = _compare(monkeypatch, tmp_path, "2024-05-18")
    assert result == {
        "promote": False,
        "reason": "no labelled transactions in the evaluation window",
        "cutoff": "2024-06-01",
    }


def test_a_challenger_without_its_training_window_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(compare, "Registry", lambda uri, name: _RunRegistry({"rows": "10"}))
    settings = Settings.load(MLFLOW_TRACKING_URI=str(tmp_path / "mlruns"))
    with pytest.raises(PromotionError, match="has no training window"):
        compare.compare_and_promote(settings, "2024-06-01")


def _utc(day: str) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


def test_a_held_out_period_is_refused_on_training_rows_and_warned_near_them() -> None:
    settings = Settings.load(TRAIN_LABEL_DELAY="7d")
    trained = TrainedOn(_utc("2024-04-01"), _utc("2024-04-21"), _utc("2024-04-28"))
    assert trained.unseen_from(pd.Timedelta(days=7)) == _utc("2024-04-28")

    def warnings(first: str, last: str, seen: TrainedOn | None = trained) -> list[str]:
        return training_warnings(settings, _candidate("3"), seen, _utc(first), _utc(last))

    with pytest.raises(EvaluationError, match="overlaps: refused") as caught:
        warnings("2024-04-20", "2024-05-01")
    assert "evaluate from 2024-04-28T00:00:00+00:00 on" in str(caught.value)
    with pytest.raises(EvaluationError):  # all around the training rows
        warnings("2024-03-01", "2024-06-01")
    assert warnings("2024-04-28", "2024-05-05") == []
    (gap,) = warnings("2024-04-21", "2024-05-05")
    assert "within a label delay" in gap
    (before,) = warnings("2024-03-01", "2024-04-01")
    assert "hindsight" in before
    (unknown,) = warnings("2024-03-01", "2024-04-01", seen=None)
    assert "does not say what it was trained on" in unknown


def test_require_server_fails_fast_and_passes_what_is_not_a_server(tmp_path: Path) -> None:
    require_server(str(tmp_path / "mlruns"))  # a local store: nothing to reach
    with pytest.raises(TrackingError, match="does not answer") as caught:
        require_server("http://127.0.0.1:1", timeout_s=2)
    assert caught.value.exit_code == 69
