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
from fraudstream.logs import configure_logging


def demo(
    duration: Annotated[float, typer.Option(min=10.0, help="Seconds of streaming.")] = 100.0,
    folder: Annotated[Path, typer.Option(help="Data, logs and results.")] = Path(".local/demo"),
) -> None:
    """The project's main job in one command; embedded Kafka/Redis where none is set.

    Ctrl-C or SIGTERM stops it early, and everything it started is stopped too.
    """
    console = Console()
    folder.mkdir(parents=True, exist_ok=True)
    # the libraries' own log lines (a client retrying, say) go to a file, not the screen
    with (folder / "demo.log").open("a") as log:
        configure_logging("WARNING", stream=log)
        _run(duration, folder, console)


def _run(duration: float, folder: Path, console: Console) -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        summary = run_demo(folder, duration, console)
    except KeyboardInterrupt:
        console.print("demo stopped; every process it started was stopped too")
        raise typer.Exit(130) from None
    run = summary.run
    table = Table(title="fraudstream demo: summary (as in the report)", show_header=False)
    table.add_row(
        "transactions replayed / scored", f"{summary.transactions_replayed:,} / {run.scored:,}"
    )
    table.add_row("alerts", f"{run.alerts:,}")
    table.add_row(
        "alert precision / recall (labelled)", f"{run.alert_precision:.1%} / {run.alert_recall:.1%}"
    )
    table.add_row("labels learned from the stream", f"{summary.labels_learned:,}")
    table.add_row(
        "average precision of the served scores (all labelled)",
        f"{run.champion_average_precision:.3f}",
    )
    table.add_row("throughput", f"{run.throughput:,.0f} tx/s")
    if run.latency_p50_ms is not None and run.latency_p99_ms is not None:
        table.add_row(
            "latency p50 / p99 (Kafka timestamp to scoring)",
            f"{run.latency_p50_ms:.0f} ms / {run.latency_p99_ms:.0f} ms",
        )
    table.add_row("models that raised alerts", summary.model_version)
    console.print(table)
    goals = Table(title="goals")
    for column in ("goal", "target", "measured", ""):
        goals.add_column(column)
    for goal in summary.goals:
        verdict = "[green]met[/green]" if goal.met else "[red]missed[/red]"
        goals.add_row(goal.name, goal.target, goal.measured, verdict)
    console.print(goals)
    console.print(f"alerts sample: {summary.folder / 'alerts-sample.jsonl'}")
    console.print(f"logs: {summary.folder}/*.log   MLflow runs: {summary.mlflow_uri}")
    console.print(f"report: {summary.report}")


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so the demo's clean-up runs."""
    raise KeyboardInterrupt
