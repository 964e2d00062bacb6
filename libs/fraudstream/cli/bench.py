"""``fraudstream bench``: benchmarks that print figures and ratios to a same-run baseline."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fraudstream.bench.replay import bench_replay
from fraudstream.config import Settings

bench_app = typer.Typer(
    help="Benchmarks against a baseline measured in the same run.", no_args_is_help=True
)


@bench_app.command("replay")
def replay_command(
    rows: Annotated[int, typer.Option(min=1000, help="ULB-shaped records per run.")] = 200_000,
    repeats: Annotated[int, typer.Option(min=1, help="Rounds of replay + bare loop.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Replay --max against a bare kafka-python producer loop over pre-encoded bytes."""
    settings = Settings.load()
    result = bench_replay(settings, rows=rows, repeats=repeats)
    figures = {
        "benchmark": "replay",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "kafka": settings.kafka.bootstrap_servers,
        "rows": result.rows,
        "record_bytes": round(result.record_bytes, 1),
        "replay_tx_per_s": [round(r) for r in result.replay_rates],
        "bare_tx_per_s": [round(r) for r in result.bare_rates],
        "replay_median": round(result.replay),
        "bare_median": round(result.bare),
        "bare_same_gc_tx_per_s": [round(r) for r in result.bare_tuned_rates],
        "bare_same_gc_median": round(result.bare_tuned),
        "ratio": round(result.ratio, 3),
        "ratio_same_gc": round(result.ratio_tuned, 3),
    }
    if as_json:
        typer.echo(json.dumps(figures))
        return
    table = Table(title=f"replay --max vs bare producer loop ({rows:,} ULB-shaped records)")
    table.add_column("")
    table.add_column("median tx/s", justify="right")
    table.add_column("runs", justify="right")
    table.add_row(
        "fraudstream replay --max",
        f"{result.replay:,.0f}",
        ", ".join(f"{r:,.0f}" for r in result.replay_rates),
    )
    table.add_row(
        "bare kafka-python loop",
        f"{result.bare:,.0f}",
        ", ".join(f"{r:,.0f}" for r in result.bare_rates),
    )
    table.add_row(
        "bare loop, replay's GC setting",
        f"{result.bare_tuned:,.0f}",
        ", ".join(f"{r:,.0f}" for r in result.bare_tuned_rates),
    )
    console = Console()
    console.print(table)
    console.print(
        f"ratio replay / bare loop: [bold]{result.ratio:.3f}[/] (goal >= 0.8)\n"
        f"ratio replay / bare loop with the replay's GC setting: {result.ratio_tuned:.3f}\n"
        f"replay median: {result.replay:,.0f} tx/s (goal >= 50,000)   "
        f"record size: {result.record_bytes:.0f} bytes",
        highlight=False,
    )
