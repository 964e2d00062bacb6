"""``fraudstream archive``: the Parquet archive of served features and labels."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from fraudstream.config import Settings
from fraudstream.durations import parse_duration
from fraudstream.logs import configure_logging


def archive(
    from_dataset: Annotated[
        str | None,
        typer.Option(
            help="Fill the archive from a dataset instead of Kafka: 'simulated' or a file "
            "(features computed as the scorer would serve them), then exit."
        ),
    ] = None,
    days: Annotated[int, typer.Option(min=1, help="With 'simulated': days to simulate.")] = 30,
    seed: Annotated[int, typer.Option(help="With 'simulated': simulator seed.")] = 42,
    label_arrival: Annotated[
        str | None,
        typer.Option(
            help="With --from-dataset: when each label reaches the archive, after its "
            "transaction: 0, 90s, 12h, 7d (default: TRAIN_LABEL_DELAY, the delay the "
            "served features count labels with)."
        ),
    ] = None,
    path: Annotated[
        str | None, typer.Option(help="Archive folder or fsspec URL (default ARCHIVE_PATH).")
    ] = None,
) -> None:
    """Archive transactions.scored and labels as date-partitioned Parquet.

    Without --from-dataset: consume both topics (group ARCHIVE_GROUP_ID, read_committed)
    until SIGTERM, writing every ARCHIVE_FLUSH_EVERY or ARCHIVE_FLUSH_ROWS rows and
    committing offsets after each write. /metrics and /healthz on
    ARCHIVE_HTTP_HOST:ARCHIVE_HTTP_PORT. Settings: ARCHIVE_*, KAFKA_*.

    With --from-dataset: the served features count the labels known TRAIN_LABEL_DELAY
    after their transactions, and each label is archived --label-arrival after its
    transaction (default: TRAIN_LABEL_DELAY too). Settings: ARCHIVE_PATH, TRAIN_LABEL_DELAY.
    """
    overrides = {"ARCHIVE_PATH": path} if path else {}
    settings = Settings.load(**overrides)
    configure_logging(settings.log_level, json=settings.log_json)
    if from_dataset is None:
        from fraudstream.archive.service import run_archiver

        run_archiver(settings)
        return
    from fraudstream.lake.offline import write_archive_from_dataset

    arrival = _duration(label_arrival, "--label-arrival") if label_arrival else None
    dataset = None if from_dataset == "simulated" else Path(from_dataset)
    console = Console()
    with console.status("computing the served features and writing the archive..."):
        summary = write_archive_from_dataset(
            settings.archive.path,
            dataset,
            days=days,
            seed=seed,
            label_delay=settings.training.label_delay,
            label_arrival=arrival,
        )
    console.print(
        f"archive {settings.archive.path}: {summary.scored:,} scored rows and "
        f"{summary.labels:,} labels written ({summary.frauds:,} frauds), "
        f"{summary.start} .. {summary.end}",
        highlight=False,
    )


def _duration(text: str, option: str) -> timedelta:
    """``text`` (0, 90s, 12h, 7d) as a duration, or a usage error naming ``option``."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from exc
