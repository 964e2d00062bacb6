"""``bench quality`` end to end on a tiny simulation: every model, the report, no leakage."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from fraudstream.bench.quality import (
    BATCH,
    BATCH_WINDOW,
    COLD,
    COMBINED,
    COMBINED_WINDOW,
    ONLINE,
    ONLINE_EVERY,
    QualityConfig,
    QualityResult,
    as_json,
    bench_quality,
    goals,
)
from fraudstream.cli.bench import print_quality
from fraudstream.config import Settings
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.evaluation.protocol import ProtocolError

TINY = SimulatorConfig(
    customers=300, terminals=600, days=20, seed=1, start=datetime(2018, 4, 1, tzinfo=UTC)
)
# train 04-10..04-14, delay (the label delay) 3 days, test 04-17..04-20
TRAIN_START = pd.Timestamp("2018-04-10", tz="UTC")
KEYS = (COLD, BATCH, BATCH_WINDOW, ONLINE, ONLINE_EVERY, COMBINED, COMBINED_WINDOW)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings.load(
        TRAIN_SEARCH_TRIALS="1",
        TRAIN_LABEL_DELAY="3d",
        TRAIN_WINDOW="10d",
        LEARNER_MODEL="logreg",
        LEARNER_SNAPSHOT_EVERY_LABELS="50",
    )


def _config(**changes: object) -> QualityConfig:
    base = QualityConfig(
        seed=1,
        simulator=TINY,
        train_start=TRAIN_START,
        train=timedelta(days=4),
        test=timedelta(days=3),
        k=10,
        resamples=50,
        workers=1,
    )
    return QualityConfig(**{**base.__dict__, **changes})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def result(settings: Settings) -> QualityResult:
    return bench_quality(settings, _config())


def test_every_model_is_measured_with_intervals(result: QualityResult) -> None:
    assert [m.key for m in result.models] == list(KEYS)
    for model in result.models:
        for figure in (model.average_precision, model.roc_auc, model.card_precision):
            assert figure.value is not None
            assert figure.low is not None
            assert figure.high is not None
            assert 0.0 <= figure.low <= figure.high <= 1.0
        assert model.seconds >= 0
    cold, online = result.model(COLD), result.model(ONLINE)
    assert online.average_precision.value > cold.average_precision.value  # type: ignore[operator]
    assert all(result.combiner in by_combiner for by_combiner in result.combiner_ap.values())
    assert str(result.windows.test_start.date()) == "2018-04-17"
    assert result.test_rows[1] > 0
    assert result.excluded[1] > 0  # some cards were known compromised
    # the 10-day TRAIN_WINDOW model and the 4-day one are different models
    scores = result.scores[1]
    assert not np.array_equal(scores[BATCH], scores[BATCH_WINDOW])
    assert len({len(s) for s in scores.values()}) == 1  # all scored the same test set


def test_the_report_and_the_goals(result: QualityResult) -> None:
    report = json.loads(json.dumps(as_json(result)))
    assert set(report["models"]) == set(KEYS)
    assert report["bootstrap"]["resampled"] == "test days, with replacement"
    assert report["models"][ONLINE]["per_seed"]["1"]["average_precision"]["ci95"]
    assert report["windows"]["test"][0].startswith("2018-04-17")
    assert [g["met"] is None for g in report["goals"]] == [False] * 5
    assert len(goals(result)) == 5
    out = io.StringIO()
    print_quality(Console(file=out, width=200), result)
    text = out.getvalue()
    assert "snapshot every 50 labels" in text
    assert "goals" in text
    assert "n/a" not in text
    # every frauded card of the test set is in exactly one scenario, for every model
    totals = {key: sum(n for _, n in by.values()) for key, by in result.found.items()}
    assert set(totals) == set(KEYS)
    assert len(set(totals.values())) == 1
    assert all(f <= n for by in result.found.values() for f, n in by.values())
    assert set(result.found[ONLINE]) <= {1, 2, 3}
    # the hits are CP@k's: k = 10 cards a day over the 3 test days
    hits = sum(f for f, _ in result.found[ONLINE].values())
    assert hits == round(result.model(ONLINE).card_precision.value * 10 * 3)  # type: ignore[operator]
    assert result.best_card_precision is not None
    assert result.best_card_precision >= result.model(ONLINE).card_precision.value  # type: ignore[operator]
    assert "compromised terminal" in text
    assert report["frauded_cards_found_by_scenario"][ONLINE]


def test_no_label_arriving_after_the_test_window_changes_a_score(
    settings: Settings, result: QualityResult, tmp_path: Path
) -> None:
    """The labels of the test window arrive after it ends (3-day delay, 3-day test):
    every model, batch or online, must score the test set exactly the same whatever
    they say."""
    frame = simulate(TINY)
    test_start = result.windows.test_start
    flipped = frame.copy()
    later = (frame["event_time"] >= test_start).to_numpy()
    flipped.loc[later, "is_fraud"] = 1 - flipped.loc[later, "is_fraud"]
    path = tmp_path / "flipped.parquet"
    flipped.to_parquet(path, index=False)
    changed = bench_quality(settings, _config(dataset=path))
    for key in KEYS:
        np.testing.assert_array_equal(result.scores[1][key], changed.scores[1][key])
    assert changed.test_rows == result.test_rows
    assert changed.model(ONLINE).average_precision != result.model(ONLINE).average_precision


def test_without_card_ids_card_precision_is_not_a_number(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "no-cards.parquet"
    simulate(TINY).assign(card_id=None).to_parquet(path, index=False)
    result = bench_quality(settings, _config(dataset=path))
    assert not result.card_ids
    assert all(m.card_precision.value is None for m in result.models)
    assert result.excluded == {1: 0}  # no card can be known compromised
    assert as_json(result)["models"][ONLINE]["card_precision"]["value"] is None
    out = io.StringIO()
    print_quality(Console(file=out, width=200), result)
    assert "n/a (no card ids)" in out.getvalue()


def test_windows_outside_the_data_and_seeds_of_a_file_are_refused(
    settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(ProtocolError, match="before the last test day"):
        bench_quality(settings, _config(train_start=pd.Timestamp("2018-04-15", tz="UTC")))
    path = tmp_path / "data.parquet"
    simulate(TINY).to_parquet(path, index=False)
    with pytest.raises(ProtocolError, match="needs the simulator"):
        bench_quality(settings, _config(dataset=path, repeat_seeds=2))


def test_feedback_adds_its_row_and_goal_on_the_same_test_set(settings: Settings) -> None:
    from fraudstream.bench.quality import ONLINE_FEEDBACK

    fed = bench_quality(settings, _config(feedback=5))
    assert [m.key for m in fed.models] == [*KEYS[:5], ONLINE_FEEDBACK, *KEYS[5:]]
    scores = fed.scores[1]
    assert len(scores[ONLINE_FEEDBACK]) == len(scores[ONLINE])
    assert not np.array_equal(scores[ONLINE_FEEDBACK], scores[ONLINE])
    report = json.loads(json.dumps(as_json(fed)))
    assert report["feedback"]["cards_per_day"] == 5
    assert report["learner"]["feedback"] == "separate"
    assert report["goals"][0]["goal"].startswith("feedback on 5 cards a day raises")
    assert len(goals(fed)) == 6
    assert any("cards checked a day" in note for note in fed.notes)
    # the missed frauded cards, split by whether their merchant had a reported fraud,
    # add up to the feedback row's misses over every scenario
    (missed,) = [note for note in fed.notes if "frauded cards missed (seed 1)" in note]
    figures = missed.split("(seed 1):")[1].replace(",", " ").split()
    numbers = [int(word) for word in figures if word.isdigit()]
    hits, cards = np.sum(list(fed.found[ONLINE_FEEDBACK].values()), axis=0)
    assert numbers[1] + numbers[3] == cards
    assert numbers[0] + numbers[2] == cards - hits
    out = io.StringIO()
    print_quality(Console(file=out, width=200), fed)
    assert "feedback on 5 cards a day" in out.getvalue()


#: A bench stand-in: a pool of one worker set up as the bench's are, busy for a minute.
_ORPHAN_PROBE = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from fraudstream.bench.quality import _quiet_worker

with ProcessPoolExecutor(
    1, mp_context=get_context("spawn"), initializer=_quiet_worker, initargs=(os.getpid(),)
) as pool:
    print(pool.submit(os.getpid).result(), flush=True)
    pool.submit(time.sleep, 60)
    time.sleep(60)
"""


def test_a_killed_bench_takes_its_workers_with_it() -> None:
    """kill -9 of the bench runs no cleanup; its workers must not go on for minutes."""
    bench = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_PROBE], stdout=subprocess.PIPE, text=True
    )
    try:
        assert bench.stdout is not None
        worker = int(bench.stdout.readline())
        assert _alive(worker)
    finally:
        bench.kill()
        bench.wait(10)
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker), "the worker outlived the bench"


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not reaped, does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
