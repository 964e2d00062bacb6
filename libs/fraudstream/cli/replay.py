"""``fraudstream replay``: publish a dataset's transactions and labels to Kafka."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from fraudstream.config import Settings
from fraudstream.datasets.loader import DatasetKind
from fraudstream.durations import parse_duration
from fraudstream.replay.plan import Pace, ReplayOptions
from fraudstream.replay.service import replay as run

_TIME_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


def _pace(speed: float | None, rate: float | None, as_fast_as_possible: bool) -> Pace:
    chosen = [
        name
        for name, on in (("--speed", speed), ("--rate", rate), ("--max", as_fast_as_possible))
        if on
    ]
    if len(chosen) > 1:
        raise typer.BadParameter(f"choose one of {', '.join(chosen)}")
    if as_fast_as_possible:
        return Pace("max")
    if speed is not None:
        return Pace("speed", speed)
    return Pace("rate", rate if rate is not None else 1_000.0)


def replay(
    dataset: Annotated[
        Path, typer.Argument(help="Dataset file: ULB or Sparkov .csv, or simulated .parquet.")
    ],
    kind: Annotated[
        DatasetKind | None, typer.Option(help="Dataset kind (default: detected).")
    ] = None,
    speed: Annotated[
        float | None,
        typer.Option(min=0.0, help="Replay event time N times faster than it happened."),
    ] = None,
    rate: Annotated[
        float | None, typer.Option(min=0.0, help="Send R transactions a second (default: 1000).")
    ] = None,
    as_fast_as_possible: Annotated[
        bool, typer.Option("--max", help="Send as fast as possible.")
    ] = False,
    limit: Annotated[int | None, typer.Option(min=0, help="Stop after N transactions.")] = None,
    start: Annotated[
        datetime | None, typer.Option(formats=_TIME_FORMATS, help="First event time to send (UTC).")
    ] = None,
    end: Annotated[
        datetime | None,
        typer.Option(formats=_TIME_FORMATS, help="Event time to stop before (UTC)."),
    ] = None,
    loop: Annotated[bool, typer.Option(help="Start over at the end, for soak runs.")] = False,
    label_delay: Annotated[
        str, typer.Option(help="Event time between a transaction and its label: 0, 90s, 12h, 7d.")
    ] = "7d",
    label_fraction: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of labels to publish.")
    ] = 1.0,
    partitions: Annotated[
        int | None,
        typer.Option(min=1, help="Partitions of topics created (default: KAFKA_PARTITIONS)."),
    ] = None,
    strict: Annotated[
        bool, typer.Option(help="Stop at the first bad row with a non-zero exit.")
    ] = False,
    report: Annotated[Literal["text", "json"], typer.Option(help="Final report format.")] = "text",
    progress: Annotated[
        bool | None, typer.Option(help="Live progress (default: when stderr is a terminal).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the --label-fraction sample.")] = 0,
) -> None:
    """Publish each transaction to the transactions topic and each label, delayed, to labels."""
    try:
        delay = parse_duration(label_delay)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--label-delay") from exc
    options = ReplayOptions(
        pace=_pace(speed, rate, as_fast_as_possible),
        label_delay=delay,
        label_fraction=label_fraction,
        limit=limit,
        start=start.replace(tzinfo=start.tzinfo or UTC) if start else None,
        end=end.replace(tzinfo=end.tzinfo or UTC) if end else None,
        loop=loop,
        seed=seed,
    )
    settings = Settings.load()
    err = Console(stderr=True)
    show_progress = err.is_terminal if progress is None else progress
    result = run(
        settings,
        dataset,
        options,
        kind=kind,
        on_bad_row="raise" if strict else "skip",
        partitions=partitions,
        console=err if show_progress else None,
    )
    if report == "json":
        sys.stdout.write(json.dumps(result.to_dict()) + "\n")
    else:
        result.print(Console())
    if result.failed:
        raise typer.Exit(1)
