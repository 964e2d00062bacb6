"""Champion/challenger decisions, the registry watcher and the model holder (no MLflow)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudstream.models import ColdStartModel, ScoringModel
from fraudstream.promotion.decision import Comparison, decide
from fraudstream.registry.client import Candidate
from fraudstream.registry.watcher import RegistryWatcher
from fraudstream.scoring.holder import ModelHolder


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
