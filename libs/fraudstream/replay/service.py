"""``fraudstream replay`` as a process: topics, producer, feeder, signals, progress."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from rich.console import Console
from rich.progress import Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from fraudstream.config import Settings
from fraudstream.datasets.base import BadRowPolicy
from fraudstream.datasets.loader import DatasetKind
from fraudstream.kafka.admin import ensure_topics
from fraudstream.kafka.producer import build_producer
from fraudstream.replay.feeder import Feeder
from fraudstream.replay.plan import ReplayOptions
from fraudstream.replay.report import ReplayReport
from fraudstream.replay.runner import Topics, run_replay
from fraudstream.signals import stop_on_signals

#: Most a paced replay's producer waits to fill a batch, ms (``KAFKA_LINGER_MS`` is
#: for ``--max``: at 2,000 tx/s a 10 ms linger would hold each record ~5 ms).
PACED_LINGER_MS: Final = 1


def replay(
    settings: Settings,
    path: Path,
    options: ReplayOptions,
    *,
    kind: DatasetKind | None = None,
    on_bad_row: BadRowPolicy = "skip",
    partitions: int | None = None,
    console: Console | None = None,
) -> ReplayReport:
    """Replay ``path`` into Kafka; stop cleanly on SIGINT or SIGTERM.

    Signals are taken over from the very start: a stop while the dataset is still
    loading ends the replay before anything is sent, and the feeder process is
    stopped with it.
    """
    kafka = settings.kafka
    topics = Topics(transactions=kafka.transactions_topic, labels=kafka.labels_topic)
    stop = threading.Event()
    report = ReplayReport(mode=_describe_pace(options))
    with (
        stop_on_signals(stop, report.mark_interrupted),
        Feeder(path, options, kind=kind, on_bad_row=on_bad_row) as feeder,
    ):
        header = feeder.header(stop)  # raises the dataset's error before anything is sent
        if header is None:
            return report
        report.dataset = header.dataset
        report.planned = header.planned
        report.bad_rows = header.bad_row_count
        report.first_bad_rows = [str(row) for row in header.bad_rows[:5]]
        ensure_topics(kafka, [topics.transactions, topics.labels], partitions=partitions)
        paced = options.pace.mode != "max"
        # A paced replay stands in for a live feed: records leave when due, not held
        # back to fill a batch (their Kafka timestamp is taken when they are sent).
        linger = min(kafka.linger_ms, PACED_LINGER_MS) if paced else kafka.linger_ms
        producer = build_producer(kafka, linger_ms=linger)
        for topic in (topics.transactions, topics.labels):
            producer.partitions_for(topic)  # fetch metadata now, not on the first send
        try:
            with _progress(console, header.planned) as progress:
                run_replay(
                    feeder.chunks(),
                    producer,
                    topics,
                    report,
                    paced=paced,
                    stop=stop,
                    progress=progress,
                )
        finally:
            producer.close(timeout=10)
    return report


def _describe_pace(options: ReplayOptions) -> str:
    pace = options.pace
    if pace.mode == "max":
        return "max"
    unit = "x event time" if pace.mode == "speed" else " tx/s"
    return f"{pace.mode} {pace.value:g}{unit}"


@contextmanager
def _progress(console: Console | None, planned: int | None) -> Iterator[_ProgressUpdater | None]:
    if console is None:
        yield None
        return
    columns = (
        TextColumn("[bold]replay"),
        TextColumn("{task.completed:,.0f} tx sent"),
        TextColumn("{task.fields[rate]:,.0f} tx/s"),
        TextColumn("max lag {task.fields[lag]:.2f} s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("replay", total=planned, rate=0.0, lag=0.0)
        yield _ProgressUpdater(bar, task)


class _ProgressUpdater:
    def __init__(self, bar: Progress, task: TaskID) -> None:
        self.bar = bar
        self.task = task

    def __call__(self, report: ReplayReport, elapsed: float) -> None:
        rate = report.transactions_sent / elapsed if elapsed > 0 else 0.0
        self.bar.update(
            self.task, completed=report.transactions_sent, rate=rate, lag=report.max_lag_s
        )
