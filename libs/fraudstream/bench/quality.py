"""``fraudstream bench quality``: the models side by side, judged the handbook's way.

The protocol is :mod:`fraudstream.evaluation.protocol`: a training window, a delay
period as long as the label delay (``TRAIN_LABEL_DELAY``), a test window; the test set
leaves out cards known compromised by label arrival; AP, ROC AUC and Card
Precision@100 with 95% intervals from resampled test days.

The data: the simulator (183 days from 2018-04-01, training from 2018-07-25 as in the
handbook) or a canonical dataset file (its last days), cut at the end of the test
window. Every model is given the inputs the scorer would have served
(:func:`~fraudstream.features.served.model_inputs`, fraud shares fed by the labels
known then), and learns only labels that had arrived.

The models:

- **cold start**: :class:`~fraudstream.models.ColdStartModel`.
- **batch**: the challenger exactly as ``fraudstream train`` builds it with the
  cutoff at the test window's start: the window's rows archived as the scorer and the
  label feed would have written them, the training set read back by
  :func:`~fraudstream.training.dataset.build_training_set`, validated, trained with
  :meth:`TrainOptions.of(settings) <fraudstream.training.trainer.TrainOptions.of>`;
  the final booster scores. Once on the protocol's training window, once on
  ``TRAIN_WINDOW`` ending at the same place.
- **online, as deployed**: ``LEARNER_MODEL`` learning every label from the data's
  first day as it arrives, served by the snapshot published every
  ``LEARNER_SNAPSHOT_EVERY_LABELS`` labels
  (:func:`~fraudstream.learning.prequential.prequential_scores_at`); and the same with
  a snapshot after every label, which prices the cadence. Both come from one pass
  over the labels.
- **online, with feedback** (``--feedback K``): the deployed online learner while a
  team of investigators checks K cards a day: the alerts as they come (a card whose
  score reaches the previous day's K-th highest card score), each answered within the
  hour, and the budget left at the day's end on the day's highest-scored cards: every
  label a checked card still waits for arrives at once (or its transactions of the
  last ``feedback_history`` only);
  their verdicts are learned as the learner takes investigators' labels
  (``LEARNER_FEEDBACK``), the delayed labels still come
  (:func:`~fraudstream.learning.feedback_replay.prequential_feedback_scores`). Same
  seeds, same test set, same snapshot cadence as the row without feedback.
- **online + batch**: the deployed online learner with the batch model of the
  protocol's window, blended by :mod:`fraudstream.evaluation.blend`: the weight of
  each is learned online from the labels, as they arrive, of the rows after the batch
  model's training window (out of sample for both). The mean of their ranks within
  each day and the mean of their probabilities are in the JSON report too.

Each seed is prepared once (simulate, served features), then its three model tasks
run (the online pass, the two batch models); a pool of ``workers`` processes runs
them all.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Final, TypeAlias

import numpy as np
import pandas as pd

from fraudstream.config import Settings
from fraudstream.datasets.simulator import SimulatorConfig
from fraudstream.durations import format_duration
from fraudstream.errors import ConfigError
from fraudstream.evaluation.blend import blend_scores
from fraudstream.evaluation.protocol import (
    HANDBOOK_START,
    HANDBOOK_TRAIN_START,
    EvaluationSet,
    Measures,
    ProtocolError,
    Replicates,
    Windows,
    best_card_precision,
    bootstrap,
    day_draws,
    evaluation_set,
    frauded_cards_found,
    has_card_ids,
    interval,
    mean_daily_rank,
    mean_probability,
    measure,
)
from fraudstream.training.trainer import TrainOptions
from fraudstream.training.validation import Rules

COLD: Final = "cold-start"
BATCH: Final = "batch"
BATCH_WINDOW: Final = "batch-train-window"
ONLINE: Final = "online"
ONLINE_EVERY: Final = "online-every-label"
ONLINE_FEEDBACK: Final = "online-feedback"
COMBINED: Final = "online+batch"
COMBINED_WINDOW: Final = "online+batch-train-window"
#: Each combination of the deployed online learner, and its batch part.
COMBINED_PARTS: Final = {COMBINED: BATCH, COMBINED_WINDOW: BATCH_WINDOW}

#: Where the frauds that make a card known compromised start counting.
COMPROMISED_FROM: Final = ("train-start", "data-start")

#: How the combination merges its two parts: the first is kept, the others reported.
COMBINERS: Final = ("learned blend", "mean daily rank", "mean probability")

#: Every row of the report, in order.
MODEL_KEYS: Final = (COLD, BATCH, BATCH_WINDOW, ONLINE, ONLINE_EVERY, COMBINED, COMBINED_WINDOW)

ONLINE_AP_GOAL: Final = 0.70
ONLINE_CP_GOAL: Final = 0.31
#: What investigators' feedback must add to the deployed learner's Card Precision@k.
FEEDBACK_CP_GAIN_GOAL: Final = 0.03
BATCH_AP_GOAL: Final = 0.69
WALL_GOAL_SECONDS: Final = 600.0


@dataclass(frozen=True)
class QualityConfig:
    """What to run: data, windows, seeds, bootstrap, processes."""

    seed: int = 7
    repeat_seeds: int = 1
    #: a canonical dataset file; None is the simulator.
    dataset: Path | None = None
    simulator: SimulatorConfig = field(
        default_factory=lambda: SimulatorConfig(days=183, start=HANDBOOK_START.to_pydatetime())
    )
    #: None: the handbook's day on the simulator, the last days of a dataset.
    train_start: pd.Timestamp | None = None
    train: timedelta = timedelta(days=7)
    test: timedelta = timedelta(days=7)
    k: int = 100
    #: frauds known compromised from: "train-start" (the handbook) or "data-start".
    compromised_from: str = "train-start"
    resamples: int = 1000
    bootstrap_seed: int = 0
    workers: int = 2
    #: cards investigators check each day (0: no feedback row).
    feedback: int = 0
    #: how soon their verdicts arrive after the day's end.
    feedback_delay: timedelta = timedelta(hours=1)
    #: how far back from the day's end a checked card's transactions get a verdict
    #: (None: the label delay, every label the card still waits for).
    feedback_history: timedelta | None = None

    @property
    def seeds(self) -> list[int]:
        return list(range(self.seed, self.seed + self.repeat_seeds))

    @property
    def model_keys(self) -> tuple[str, ...]:
        """The rows of the report, in order."""
        if not self.feedback:
            return MODEL_KEYS
        at = MODEL_KEYS.index(ONLINE_EVERY) + 1
        return (*MODEL_KEYS[:at], ONLINE_FEEDBACK, *MODEL_KEYS[at:])


@dataclass(frozen=True)
class Plan:
    """What the tasks need from the settings (picklable, for worker processes)."""

    label_delay: timedelta
    window: timedelta
    options: TrainOptions
    rules: Rules
    threshold: float
    model: str
    every: int
    feedback: str = "separate"
    feedback_weight: float = 0.5

    @classmethod
    def of(cls, settings: Settings) -> Plan:
        from fraudstream.learning.models import MODEL_CHOICES

        if settings.learner.model not in MODEL_CHOICES:
            raise ConfigError(
                f"LEARNER_MODEL {settings.learner.model!r} is none of {sorted(MODEL_CHOICES)}"
            )
        training = settings.training
        return cls(
            label_delay=training.label_delay,
            window=training.window,
            options=TrainOptions.of(settings),
            rules=Rules(training.min_fraud_rate, training.max_fraud_rate, training.max_null_rate),
            threshold=settings.scorer.threshold,
            model=settings.learner.model,
            every=settings.learner.snapshot_every_labels,
            feedback=settings.learner.feedback,
            feedback_weight=settings.learner.feedback_weight,
        )


@dataclass(frozen=True)
class Measured:
    """One model's scores on a seed's test set, their measures, and its seconds."""

    key: str
    scores: np.ndarray
    measures: Measures
    replicates: Replicates
    seconds: float
    notes: tuple[str, ...] = ()
    #: scores of every row of ``Prepared.blend_rows`` (the parts of the blend).
    blend_scores: np.ndarray | None = None


@dataclass(frozen=True)
class Prepared:
    """A seed's data, written for the model tasks, and its test set."""

    seed: int
    windows: Windows
    frame_path: str
    features_path: str
    test: EvaluationSet
    y: np.ndarray
    card_id: np.ndarray
    draws: np.ndarray
    k: int
    rows: int
    seconds: float
    #: cards investigators check a day, and how soon they answer (the feedback task).
    feedback: int
    feedback_delay: timedelta
    feedback_history: timedelta
    #: positions of every row from the training window's end to the test window's
    #: end (the test set's rows among them): what the blend learns from and scores.
    blend_rows: np.ndarray
    #: the blend rows' labels, event times and label arrivals (int64 ns).
    blend_y: np.ndarray
    blend_event_ns: np.ndarray
    blend_arrival_ns: np.ndarray
    cold: Measured | None = None
    #: the simulator's fraud scenario of each test row (0: genuine), None for a file.
    scenario: np.ndarray | None = None

    @property
    def test_in_blend(self) -> np.ndarray:
        """Where the test set's rows are among :attr:`blend_rows`."""
        return np.searchsorted(self.blend_rows, self.test.positions)


def labels(config: QualityConfig, plan: Plan) -> dict[str, str]:
    """Each model's name in the report."""
    return {
        COLD: "cold start",
        BATCH: f"batch, {_days(config.train)} window",
        BATCH_WINDOW: f"batch, {_days(plan.window)} window (TRAIN_WINDOW)",
        ONLINE: f"online {plan.model}, snapshot every {plan.every:,} labels (deployed)",
        ONLINE_EVERY: f"online {plan.model}, snapshot every label",
        ONLINE_FEEDBACK: f"online {plan.model} (deployed) + feedback on {config.feedback} "
        f"cards a day{_history(config, plan)} ({_feedback_label(plan)})",
        COMBINED: f"online (deployed) + batch {_days(config.train)}",
        COMBINED_WINDOW: f"online (deployed) + batch {_days(plan.window)}",
    }


def _history(config: QualityConfig, plan: Plan) -> str:
    history = pd.Timedelta(config.feedback_history or plan.label_delay)
    if history == pd.Timedelta(plan.label_delay):
        return ", every label those cards wait for"
    if history == pd.Timedelta(days=1):
        return ", their transactions of the day"
    return f", their transactions of the last {format_duration(history.to_pytimedelta())}"


def _feedback_label(plan: Plan) -> str:
    if plan.feedback == "same":
        return "learned by the same model"
    return f"separate model, weight {plan.feedback_weight:g}"


def _days(delta: timedelta) -> str:
    """``7-day`` for whole days, else the short duration (``12h``)."""
    whole = pd.Timedelta(delta)
    if whole % pd.Timedelta(days=1) == pd.Timedelta(0):
        return f"{whole.days}-day"
    return format_duration(whole.to_pytimedelta())


#: A model task: the measures of one or more models on a prepared seed.
Task: TypeAlias = Callable[[Prepared, Plan, str], list[Measured]]


# -- the tasks (run in worker processes) ---------------------------------------------

#: The last seed's frame and features loaded in this process, by frame path.
_loaded: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}


def _load(prepared: Prepared) -> tuple[pd.DataFrame, pd.DataFrame]:
    if prepared.frame_path not in _loaded:
        _loaded.clear()
        _loaded[prepared.frame_path] = (
            pd.read_parquet(prepared.frame_path),
            pd.read_parquet(prepared.features_path),
        )
    return _loaded[prepared.frame_path]


def _source(config: QualityConfig, seed: int) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The seed's canonical frame, sorted by event time, and its own feature columns."""
    if config.dataset is None:
        from fraudstream.datasets.simulator import simulate

        return simulate(replace(config.simulator, seed=seed)), ()
    from fraudstream.datasets import load_dataset

    dataset = load_dataset(config.dataset)
    frame = dataset.frame.sort_values("event_time", kind="stable").reset_index(drop=True)
    return frame, tuple(dataset.feature_columns)


def windows_for(config: QualityConfig, delay: timedelta, frame: pd.DataFrame) -> Windows:
    """The protocol's windows: from ``config.train_start``, else where the handbook
    puts them on the simulator, else the last days of the dataset."""
    lengths = {"train": config.train, "delay": delay, "test": config.test}
    if config.train_start is not None:
        windows = Windows.starting(config.train_start, **lengths)
    elif config.dataset is None:
        start = HANDBOOK_TRAIN_START - HANDBOOK_START + pd.Timestamp(config.simulator.start)
        windows = Windows.starting(start, **lengths)
    else:
        windows = Windows.ending_with(frame["event_time"].iloc[-1], **lengths)
    windows.check(frame["event_time"].iloc[0], frame["event_time"].iloc[-1])
    return windows


def prepare(config: QualityConfig, plan: Plan, seed: int, workdir: str) -> Prepared:
    """Load or simulate, cut at the test window's end, compute the served inputs,
    choose the test set, score the cold-start model; write the data for the tasks."""
    from fraudstream.features.served import model_inputs
    from fraudstream.models import ColdStartModel

    started = time.perf_counter()
    frame, own = _source(config, seed)
    if frame.empty:
        raise ProtocolError("the dataset has no transaction")
    windows = windows_for(config, plan.label_delay, frame)
    frame = frame[frame["event_time"] < windows.test_end].reset_index(drop=True)
    features = model_inputs(frame, plan.label_delay, own)
    kept = frame[["transaction_id", "event_time", "card_id", "merchant_id", "amount", "is_fraud"]]
    paths = (f"{workdir}/seed-{seed}-frame.parquet", f"{workdir}/seed-{seed}-features.parquet")
    kept.to_parquet(paths[0], index=False)
    features.to_parquet(paths[1], index=False)
    everything = config.compromised_from == "data-start"
    test = evaluation_set(
        frame, windows, frauds_since=frame["event_time"].iloc[0] if everything else None
    )
    times = pd.to_datetime(frame["event_time"], utc=True)
    after = ((times >= windows.train_end) & (times < windows.test_end)).to_numpy()
    blend_rows = np.flatnonzero(after)
    event_ns = times.dt.tz_convert(None).to_numpy().astype("datetime64[ns]").astype(np.int64)
    prepared = Prepared(
        seed=seed,
        windows=windows,
        frame_path=paths[0],
        features_path=paths[1],
        test=test,
        y=frame["is_fraud"].to_numpy(dtype=bool)[test.positions],
        card_id=frame["card_id"].to_numpy(dtype=object)[test.positions],
        draws=day_draws(test.days, config.resamples, config.bootstrap_seed + seed),
        k=config.k,
        rows=len(frame),
        seconds=time.perf_counter() - started,
        feedback=config.feedback,
        feedback_delay=config.feedback_delay,
        feedback_history=config.feedback_history or plan.label_delay,
        blend_rows=blend_rows,
        blend_y=frame["is_fraud"].to_numpy(dtype=bool)[blend_rows],
        blend_event_ns=event_ns[blend_rows],
        blend_arrival_ns=event_ns[blend_rows] + pd.Timedelta(plan.label_delay).value,
        scenario=frame["fraud_scenario"].to_numpy()[test.positions]
        if "fraud_scenario" in frame
        else None,
    )
    _loaded.clear()
    _loaded[paths[0]] = (kept, features)
    scoring = time.perf_counter()
    cold = ColdStartModel().score(features.iloc[test.positions])
    return replace(prepared, cold=_measured(prepared, COLD, cold, time.perf_counter() - scoring))


def _measured(
    prepared: Prepared,
    key: str,
    scores: np.ndarray,
    seconds: float,
    notes: tuple[str, ...] = (),
    blend_scores: np.ndarray | None = None,
) -> Measured:
    y, day, cards = prepared.y, prepared.test.day, prepared.card_id
    return Measured(
        key=key,
        scores=np.asarray(scores, dtype=np.float64),
        measures=measure(y, scores, day, cards, days=prepared.test.days, k=prepared.k),
        replicates=bootstrap(y, scores, day, cards, draws=prepared.draws, k=prepared.k),
        seconds=seconds,
        notes=notes,
        blend_scores=blend_scores,
    )


def run_batch(prepared: Prepared, plan: Plan, key: str) -> list[Measured]:
    """Train the challenger as ``fraudstream train`` would at the test window's start."""
    from fraudstream.lake.offline import write_archive_from_frame
    from fraudstream.models.xgb import XGBoostModel
    from fraudstream.training.dataset import Window, build_training_set
    from fraudstream.training.trainer import train_models
    from fraudstream.training.validation import validate_training_set

    frame, features = _load(prepared)
    started = time.perf_counter()
    length = plan.window if key == BATCH_WINDOW else prepared.windows.train
    window = Window.of(prepared.windows.test_start, length, plan.label_delay)
    times = frame["event_time"]
    inside = ((times >= window.start) & (times < window.end)).to_numpy()
    with tempfile.TemporaryDirectory(prefix="fraudstream-quality-archive-") as root:
        write_archive_from_frame(
            root,
            frame[inside].reset_index(drop=True),
            features[inside].reset_index(drop=True),
            label_delay=plan.label_delay,
            threshold=plan.threshold,
        )
        training = build_training_set(root, window)
    validate_training_set(training, replace(plan.rules, cutoff=window.cutoff))
    result = train_models(training, plan.options)
    model = XGBoostModel(result.booster, result.features, f"bench-{key}")
    # a part of the blend: every row after the protocol's training window
    blend = model.score(features.iloc[prepared.blend_rows])
    scores = blend[prepared.test_in_blend]
    notes = list(result.notes)
    if window.start < times.iloc[0]:
        notes.append(f"the window starts {window.start:%Y-%m-%d}, before the data")
    seconds = time.perf_counter() - started
    return [_measured(prepared, key, scores, seconds, tuple(notes), blend)]


def run_online(prepared: Prepared, plan: Plan, key: str) -> list[Measured]:
    """The online learner's served scores, learning every label as it arrives: as
    deployed (a snapshot every ``plan.every`` labels) and with a snapshot after every
    label, from one pass over the labels (the seconds are the pass's)."""
    from fraudstream.learning.models import MODEL_CHOICES
    from fraudstream.learning.prequential import prequential_scores_at

    frame, features = _load(prepared)
    started = time.perf_counter()
    deployed, every = prequential_scores_at(
        frame,
        features,
        MODEL_CHOICES[plan.model],
        label_delay=plan.label_delay,
        cadences=(plan.every, 1),
        # as deployed: the blend's rows (the test set's among them); every label: the test set
        rows=[prepared.blend_rows, prepared.test.positions],
    )
    seconds = time.perf_counter() - started
    test = prepared.test_in_blend
    return [
        _measured(prepared, ONLINE, deployed[test], seconds, blend_scores=deployed),
        _measured(prepared, ONLINE_EVERY, every, seconds),
    ]


def run_online_feedback(prepared: Prepared, plan: Plan, key: str) -> list[Measured]:
    """The deployed online learner's served scores with investigators checking
    ``prepared.feedback`` cards a day."""
    from fraudstream.learning.feedback_replay import FeedbackPolicy, prequential_feedback_scores
    from fraudstream.learning.models import MODEL_CHOICES

    frame, features = _load(prepared)
    started = time.perf_counter()
    policy = FeedbackPolicy(
        prepared.feedback,
        prepared.feedback_delay,
        mode="same" if plan.feedback == "same" else "separate",
        weight=plan.feedback_weight,
        # a card stays known compromised as long as the test set's rule keeps it out
        known_for=prepared.windows.test_start - prepared.windows.train_start,
        history=prepared.feedback_history,
    )
    run = prequential_feedback_scores(
        frame,
        features,
        MODEL_CHOICES[plan.model],
        label_delay=plan.label_delay,
        policy=policy,
        snapshot_every_labels=plan.every,
    )
    scores = run.scores[prepared.test.positions]
    notes = (
        f"{run.cards_checked / max(1, run.days):.0f} cards checked a day, "
        f"{run.feedback_labels / max(1, run.days):.0f} transactions labelled by them a day, "
        f"{run.feedback_frauds / max(1, run.feedback_labels):.0%} of them frauds",
        *missed_note(
            prepared.seed,
            prepared.y,
            scores,
            prepared.test.day,
            prepared.card_id,
            run.recent_frauds[prepared.test.positions],
            k=prepared.k,
        ),
    )
    seconds = time.perf_counter() - started
    return [_measured(prepared, ONLINE_FEEDBACK, scores, seconds, notes)]


def missed_note(
    seed: int,
    y: np.ndarray,
    scores: np.ndarray,
    day: np.ndarray,
    card_id: np.ndarray,
    recent_frauds: np.ndarray,
    *,
    k: int,
) -> list[str]:
    r"""Whether the frauded cards a model missed (not among a day's ``k`` best) were
    within the learner's reach: a card with a fraud served after a fraud at its
    merchant had been reported (``recent_frauds`` > 0) could have been ranked higher
    by a better model; one with none could only be found by its own transactions.

    >>> y, scores = np.array([1, 1, 0, 1]), np.array([0.9, 0.2, 0.8, 0.1])
    >>> cards, recent = np.array(["a", "b", "c", "d"]), np.array([0, 3, 0, 1])
    >>> (note,) = missed_note(7, y, scores, np.zeros(4), cards, recent, k=2)
    >>> print(*note.split(": "), sep="\n")  # a and c are the top 2: b and d are missed
    frauded cards missed (seed 7)
    2 of 2 with a fraud served after its merchant had one reported, 0 of 1 with none
    """
    if not has_card_ids(card_id):
        return []
    group = np.where(y, np.where(recent_frauds > 0, 1, 2), 0)
    found = frauded_cards_found(y, scores, day, card_id, group, k=k)
    (hit_known, known), (hit_unknown, unknown) = found.get(1, (0, 0)), found.get(2, (0, 0))
    return [
        f"frauded cards missed (seed {seed}): {known - hit_known} of {known} with a fraud "
        f"served after its merchant had one reported, {unknown - hit_unknown} of {unknown} "
        "with none"
    ]


#: The model tasks, longest first, so the pool's last task is a short one.
_TASKS: Final[dict[str, Task]] = {
    ONLINE: run_online,
    ONLINE_FEEDBACK: run_online_feedback,
    BATCH_WINDOW: run_batch,
    BATCH: run_batch,
}


def _tasks(prepared: Prepared) -> dict[str, Task]:
    """The tasks of a seed: the feedback pass only when investigators check cards."""
    return {k: t for k, t in _TASKS.items() if k != ONLINE_FEEDBACK or prepared.feedback}


def _quiet_worker(parent: int) -> None:
    from fraudstream.logs import configure_logging

    _die_with_parent(parent)
    configure_logging(os.environ.get("FRAUDSTREAM_BENCH_WORKER_LOG_LEVEL", "WARNING"))


#: prctl(2) option: the signal this process gets when its parent dies.
_PR_SET_PDEATHSIG: Final = 1


def _die_with_parent(parent: int) -> None:
    """Have Linux end this worker when the bench that started it (``parent``) dies.

    A bench stopped with SIGTERM or SIGKILL runs no cleanup, and its workers would
    otherwise go on for minutes with their task, holding the cores. Elsewhere than on
    Linux this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # it died before the call: nobody will signal
        os._exit(1)


# -- the run ---------------------------------------------------------------------------


@dataclass
class SeedRun:
    """Everything measured on one seed."""

    prepared: Prepared
    models: dict[str, Measured] = field(default_factory=dict)
    #: combination key -> combiner -> its measures.
    combinations: dict[str, dict[str, Measured]] = field(default_factory=dict)


def _execute(
    config: QualityConfig, plan: Plan, workdir: str, progress: Callable[[str], None]
) -> dict[int, SeedRun]:
    """Prepare every seed and run its model tasks, on a process pool when
    ``config.workers`` > 1 (else here, one after the other)."""
    runs: dict[int, SeedRun] = {}
    if config.workers <= 1:
        for seed in config.seeds:
            prepared = prepare(config, plan, seed, workdir)
            runs[seed] = SeedRun(prepared)
            progress(f"seed {seed}: inputs ready ({prepared.seconds:.0f} s)")
            for key, task in _tasks(prepared).items():
                for measured in task(prepared, plan, key):
                    runs[seed].models[measured.key] = measured
                progress(f"seed {seed}: {key} done")
        return runs
    context = get_context("spawn")
    with ProcessPoolExecutor(
        config.workers, mp_context=context, initializer=_quiet_worker, initargs=(os.getpid(),)
    ) as pool:
        pending: dict[Future[Any], int] = {
            pool.submit(prepare, config, plan, seed, workdir): seed for seed in config.seeds
        }
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                seed = pending.pop(future)
                outcome = future.result()
                if isinstance(outcome, Prepared):
                    runs[seed] = SeedRun(outcome)
                    progress(f"seed {seed}: inputs ready ({outcome.seconds:.0f} s)")
                    for key, task in _tasks(outcome).items():
                        pending[pool.submit(task, outcome, plan, key)] = seed
                else:
                    for measured in outcome:
                        runs[seed].models[measured.key] = measured
                    progress(f"seed {seed}: {outcome[0].key} done ({outcome[0].seconds:.0f} s)")
    return runs


def _combine(run: SeedRun) -> None:
    """Every combination of the deployed online learner with each batch model."""
    online, prepared = run.models[ONLINE], run.prepared
    day = prepared.test.day
    for key, part in COMBINED_PARTS.items():
        batch = run.models[part]
        if online.blend_scores is None or batch.blend_scores is None:
            raise ProtocolError("the online and batch tasks must score the blend's rows")
        merged = {
            COMBINERS[0]: blend_scores(
                online.blend_scores,
                batch.blend_scores,
                prepared.blend_y,
                prepared.blend_event_ns,
                prepared.blend_arrival_ns,
                prepared.test_in_blend,
            ),
            COMBINERS[1]: mean_daily_rank(online.scores, batch.scores, day),
            COMBINERS[2]: mean_probability(online.scores, batch.scores),
        }
        run.combinations[key] = {
            name: _measured(prepared, key, scores, online.seconds + batch.seconds)
            for name, scores in merged.items()
        }


@dataclass(frozen=True)
class Figure:
    """A measure's mean over the seeds and its 95% interval (None: undefined)."""

    value: float | None
    low: float | None = None
    high: float | None = None

    @classmethod
    def of(cls, values: list[float | None], replicates: list[np.ndarray | None]) -> Figure:
        known = [v for v in values if v is not None]
        drawn = [r for r in replicates if r is not None]
        if len(known) < len(values) or len(drawn) < len(replicates):
            return cls(None)
        low, high = interval(np.mean(np.stack(drawn), axis=0))
        return cls(float(np.mean(known)), low, high)

    def as_json(self) -> dict[str, Any]:
        return {
            "value": _round(self.value),
            "ci95": None if self.low is None else [_round(self.low), _round(self.high)],
        }


@dataclass(frozen=True)
class ModelFigures:
    """One model's row: figures over the seeds, per-seed figures, seconds."""

    key: str
    label: str
    average_precision: Figure
    roc_auc: Figure
    card_precision: Figure
    seconds: float
    per_seed: dict[int, dict[str, Any]]


@dataclass(frozen=True)
class Goal:
    """One goal: what it asks, the figure it is judged on, whether it is met
    (None: cannot be judged)."""

    name: str
    figure: str
    met: bool | None


@dataclass(frozen=True)
class QualityResult:
    """The whole run."""

    config: QualityConfig
    plan: Plan
    windows: Windows
    models: list[ModelFigures]
    combiner: str
    #: combination key -> combiner -> mean AP over the seeds.
    combiner_ap: dict[str, dict[str, float]]
    card_ids: bool
    test_rows: dict[int, int]
    excluded: dict[int, int]
    prepare_seconds: float
    wall_seconds: float
    notes: list[str]
    #: seed -> model key -> the scores of the seed's test set (not in the JSON).
    scores: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    #: the highest CP@k any model could reach on the test sets (mean over the seeds).
    best_card_precision: float | None = None
    #: model key -> simulator scenario -> (frauded cards found in each day's top k,
    #: frauded cards), summed over days and seeds; empty without scenarios.
    found: dict[str, dict[int, tuple[int, int]]] = field(default_factory=dict)

    def model(self, key: str) -> ModelFigures:
        return next(m for m in self.models if m.key == key)


def bench_quality(
    settings: Settings, config: QualityConfig, progress: Callable[[str], None] | None = None
) -> QualityResult:
    """Run the protocol for every seed of ``config`` and gather the figures."""
    if config.compromised_from not in COMPROMISED_FROM:
        raise ProtocolError(f"compromised_from must be one of {COMPROMISED_FROM}")
    if config.dataset is not None and config.repeat_seeds > 1:
        raise ProtocolError("repeating seeds needs the simulator: a dataset file has no seed")
    started = time.perf_counter()
    plan = Plan.of(settings)
    with tempfile.TemporaryDirectory(prefix="fraudstream-quality-") as workdir:
        runs = _execute(config, plan, workdir, progress or (lambda _: None))
    for run in runs.values():
        cold = run.prepared.cold
        if cold is not None:
            run.models[COLD] = cold
        _combine(run)
    ordered = [runs[seed] for seed in config.seeds]
    combiner_ap = {
        key: {
            name: float(
                np.mean([r.combinations[key][name].measures.average_precision for r in ordered])
            )
            for name in COMBINERS
        }
        for key in COMBINED_PARTS
    }
    combiner = COMBINERS[0]
    for run in ordered:
        for key in COMBINED_PARTS:
            run.models[key] = run.combinations[key][combiner]
    names = labels(config, plan)
    models = [_figures(key, names[key], ordered) for key in config.model_keys]
    notes = sorted(
        {
            f"{names[key]}: {note}"
            for run in ordered
            for key, measured in run.models.items()
            for note in measured.notes
        }
    )
    return QualityResult(
        config=config,
        plan=plan,
        windows=ordered[0].prepared.windows,
        models=models,
        combiner=combiner,
        combiner_ap=combiner_ap,
        card_ids=has_card_ids(ordered[0].prepared.card_id),
        test_rows={r.prepared.seed: len(r.prepared.test.positions) for r in ordered},
        excluded={r.prepared.seed: r.prepared.test.excluded for r in ordered},
        prepare_seconds=float(np.mean([r.prepared.seconds for r in ordered])),
        wall_seconds=time.perf_counter() - started,
        notes=notes,
        scores={r.prepared.seed: {key: m.scores for key, m in r.models.items()} for r in ordered},
        best_card_precision=_best_card_precision(ordered),
        found=_found(ordered, config.model_keys),
    )


def _best_card_precision(runs: list[SeedRun]) -> float | None:
    values = [
        best_card_precision(p.y, p.test.day, p.card_id, days=p.test.days, k=p.k)
        for p in (run.prepared for run in runs)
    ]
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if len(known) == len(values) else None


def _found(runs: list[SeedRun], keys: tuple[str, ...]) -> dict[str, dict[int, tuple[int, int]]]:
    """Each model's frauded cards found by scenario, when the data has scenarios."""
    if any(run.prepared.scenario is None for run in runs) or not has_card_ids(
        runs[0].prepared.card_id
    ):
        return {}
    found: dict[str, dict[int, tuple[int, int]]] = {}
    for key in keys:
        total: dict[int, tuple[int, int]] = {}
        for run in runs:
            p = run.prepared
            assert p.scenario is not None
            by = frauded_cards_found(
                p.y, run.models[key].scores, p.test.day, p.card_id, p.scenario, k=p.k
            )
            for scenario, (hits, cards) in by.items():
                before = total.get(scenario, (0, 0))
                total[scenario] = (before[0] + hits, before[1] + cards)
        found[key] = dict(sorted(total.items()))
    return found


def _figures(key: str, label: str, runs: list[SeedRun]) -> ModelFigures:
    measured = [run.models[key] for run in runs]

    def figure(name: str) -> Figure:
        return Figure.of(
            [getattr(m.measures, name) for m in measured],
            [getattr(m.replicates, name) for m in measured],
        )

    per_seed = {
        run.prepared.seed: {
            name: Figure.of([getattr(m.measures, name)], [getattr(m.replicates, name)]).as_json()
            for name in ("average_precision", "roc_auc", "card_precision")
        }
        | {"seconds": round(m.seconds, 1)}
        for run, m in zip(runs, measured, strict=True)
    }
    return ModelFigures(
        key=key,
        label=label,
        average_precision=figure("average_precision"),
        roc_auc=figure("roc_auc"),
        card_precision=figure("card_precision"),
        seconds=float(np.mean([m.seconds for m in measured])),
        per_seed=per_seed,
    )


def goals(result: QualityResult) -> list[Goal]:
    """The goals of docs/benchmarks.md, judged on the mean over the seeds."""
    online, batch = result.model(ONLINE), result.model(BATCH)
    online_ap = online.average_precision.value or 0.0
    batch_ap = batch.average_precision.value or 0.0
    online_cp = online.card_precision.value
    best = max(COMBINED_PARTS, key=lambda k: result.model(k).average_precision.value or 0.0)
    best_ap = result.model(best).average_precision.value or 0.0
    part_ap = result.model(COMBINED_PARTS[best]).average_precision.value or 0.0
    return [
        *_feedback_goal(result),
        Goal(
            f"online as deployed: AP >= {ONLINE_AP_GOAL:.2f} and >= the batch model "
            f"on the {_days(result.config.train)} window",
            f"{online_ap:.3f} (batch {batch_ap:.3f})",
            online_ap >= ONLINE_AP_GOAL and online_ap >= batch_ap,
        ),
        Goal(
            f"online as deployed: CP@{result.config.k} >= {ONLINE_CP_GOAL:.2f}",
            "n/a (no card ids)" if online_cp is None else f"{online_cp:.3f}",
            None if online_cp is None else online_cp >= ONLINE_CP_GOAL,
        ),
        Goal(
            "the best combination of online and batch: AP >= both its parts",
            f"{best_ap:.3f} ({result.model(best).label}, {result.combiner}; parts "
            f"{online_ap:.3f}, {part_ap:.3f})",
            best_ap >= max(online_ap, part_ap),
        ),
        Goal(
            f"batch, {_days(result.config.train)} window: AP >= {BATCH_AP_GOAL:.2f}",
            f"{batch_ap:.3f}",
            batch_ap >= BATCH_AP_GOAL,
        ),
        Goal(
            f"the run takes under {WALL_GOAL_SECONDS / 60:.0f} minutes",
            f"{result.wall_seconds:.0f} s",
            result.wall_seconds < WALL_GOAL_SECONDS,
        ),
    ]


def _feedback_goal(result: QualityResult) -> list[Goal]:
    """Feedback's gain in Card Precision@k, when the run had feedback."""
    if not result.config.feedback:
        return []
    k = result.config.k
    without = result.model(ONLINE).card_precision.value
    with_feedback = result.model(ONLINE_FEEDBACK).card_precision.value
    if without is None or with_feedback is None:
        return [Goal(f"feedback raises CP@{k} by >= {FEEDBACK_CP_GAIN_GOAL}", "n/a", None)]
    ap = (
        result.model(ONLINE_FEEDBACK).average_precision.value or 0.0,
        result.model(ONLINE).average_precision.value or 0.0,
    )
    gain = with_feedback - without
    return [
        Goal(
            f"feedback on {result.config.feedback} cards a day raises the deployed online "
            f"learner's CP@{k} by >= {FEEDBACK_CP_GAIN_GOAL:.2f}",
            f"{with_feedback:.3f} against {without:.3f}: {gain:+.3f} "
            f"(AP {ap[0]:.3f} against {ap[1]:.3f})",
            gain >= FEEDBACK_CP_GAIN_GOAL,
        )
    ]


def as_json(result: QualityResult) -> dict[str, Any]:
    """The JSON report (``--out``)."""
    config, windows = result.config, result.windows
    return {
        "benchmark": "quality",
        "dataset": str(config.dataset) if config.dataset else "simulator",
        "simulator": None
        if config.dataset
        else {"customers": config.simulator.customers, "days": config.simulator.days},
        "seeds": config.seeds,
        "windows": {
            "train": [windows.train_start.isoformat(), windows.train_end.isoformat()],
            "delay": [windows.train_end.isoformat(), windows.test_start.isoformat()],
            "test": [windows.test_start.isoformat(), windows.test_end.isoformat()],
            "train_window_model": str(pd.Timedelta(result.plan.window)),
        },
        "label_delay": str(pd.Timedelta(result.plan.label_delay)),
        "learner": {
            "model": result.plan.model,
            "snapshot_every_labels": result.plan.every,
            "feedback": result.plan.feedback,
            "feedback_weight": result.plan.feedback_weight,
        },
        "feedback": {
            "cards_per_day": config.feedback,
            "delay_after_day_end": str(pd.Timedelta(config.feedback_delay)),
            "history": str(pd.Timedelta(config.feedback_history or result.plan.label_delay)),
        },
        "test_rows": result.test_rows,
        "excluded_known_compromised": result.excluded,
        "compromised_from": config.compromised_from,
        "card_ids": result.card_ids,
        "bootstrap": {
            "resampled": "test days, with replacement",
            "resamples": config.resamples,
            "seed": config.bootstrap_seed,
            "interval": "percentile, 95%; over seeds: of the mean of each draw",
        },
        "k": config.k,
        "models": {
            m.key: {
                "label": m.label,
                "average_precision": m.average_precision.as_json(),
                "roc_auc": m.roc_auc.as_json(),
                "card_precision": m.card_precision.as_json(),
                "seconds": round(m.seconds, 1),
                "per_seed": m.per_seed,
            }
            for m in result.models
        },
        "combination": {
            "kept": result.combiner,
            "average_precision": {
                key: {name: _round(ap) for name, ap in by_combiner.items()}
                for key, by_combiner in result.combiner_ap.items()
            },
        },
        "best_card_precision": _round(result.best_card_precision),
        "frauded_cards_found_by_scenario": {
            key: {str(s): {"found": f, "frauded": n} for s, (f, n) in by.items()}
            for key, by in result.found.items()
        },
        "goals": [{"goal": g.name, "figure": g.figure, "met": g.met} for g in goals(result)],
        "prepare_seconds_per_seed": round(result.prepare_seconds, 1),
        "wall_seconds": round(result.wall_seconds, 1),
        "workers": config.workers,
        "notes": result.notes,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
