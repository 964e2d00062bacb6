"""``fraudstream demo``: replay, score and learn together for a few minutes."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fraudstream.demo.run import run_demo


def demo(
    duration: Annotated[float, typer.Option(min=10.0, help="Seconds of streaming.")] = 120.0,
    folder: Annotated[Path, typer.Option(help="Data, logs and results.")] = Path(".local/demo"),
) -> None:
    """The project's main job in one command; embedded Kafka/Redis where none is set.

    Ctrl-C or SIGTERM stops it early, and everything it started is stopped too.
    """
    console = Console()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        summary = run_demo(folder, duration, console)
    except KeyboardInterrupt:
        console.print("demo stopped; every process it started was stopped too")
        raise typer.Exit(130) from None
    table = Table(title="fraudstream demo: summary", show_header=False)
    table.add_row(
        "transactions replayed / scored", f"{summary.transactions_replayed:,} / {summary.scored:,}"
    )
    table.add_row("alerts", f"{summary.alerts:,}")
    table.add_row("alert precision (frauds among alerts)", f"{summary.alert_precision:.1%}")
    table.add_row("alert recall (frauds alerted)", f"{summary.alert_recall:.1%}")
    table.add_row("labels learned from the stream", f"{summary.labels_learned:,}")
    table.add_row(
        "prequential PR-AUC (latest labels)", f"{summary.prequential_average_precision:.3f}"
    )
    table.add_row("throughput", f"{summary.throughput:,.0f} tx/s")
    table.add_row("end-to-end latency p99", f"<= {summary.latency_p99_ms:.0f} ms")
    table.add_row("models that raised alerts", summary.model_version)
    console.print(table)
    console.print(f"alerts sample: {summary.folder / 'alerts-sample.jsonl'}")
    console.print(f"logs: {summary.folder}/*.log   MLflow runs: {summary.mlflow_uri}")
    console.print(f"report: {summary.report}")


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so the demo's clean-up runs."""
    raise KeyboardInterrupt
