"""``fraudstream bench load``: latency and throughput under fixed offered rates."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fraudstream.bench.load import bench_load, plot_latency
from fraudstream.cli.bench import machine
from fraudstream.config import Settings


def _rates(text: str) -> list[float | None]:
    """``"1000,2000,max"`` -> ``[1000.0, 2000.0, None]``."""
    rates: list[float | None] = []
    for raw in text.split(","):
        part = raw.strip().lower()
        if part == "max":
            rates.append(None)
            continue
        try:
            value = float(part)
        except ValueError:
            raise typer.BadParameter(f"{part!r} is neither a number nor 'max'") from None
        if value <= 0:
            raise typer.BadParameter(f"rates must be > 0, got {part}")
        rates.append(value)
    return rates


def load_command(
    rates: Annotated[
        str, typer.Option(help="Offered rates in tx/s, comma-separated; 'max' = no pacing.")
    ] = "1000,2000,5000,10000,max",
    seconds: Annotated[float, typer.Option(min=2, help="Seconds of replay per rate.")] = 15.0,
    max_transactions: Annotated[
        int, typer.Option(min=1000, help="Transactions of the 'max' run.")
    ] = 150_000,
    scaling_transactions: Annotated[
        int, typer.Option(min=0, help="Backlog for one vs two scorers (0 skips it).")
    ] = 60_000,
    out: Annotated[
        Path | None, typer.Option(help="JSON report (default: .local/bench/load-<time>.json).")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="PNG of latency vs offered load (default: beside --out).")
    ] = None,
) -> None:
    """The scorer at fixed offered rates: throughput, latency percentiles, consumer lag."""
    settings = Settings.load()
    wanted = _rates(rates)
    console = Console()
    with console.status(f"running {len(wanted)} rates of {seconds:g} s, then one vs two..."):
        result = bench_load(
            settings,
            wanted,
            seconds=seconds,
            max_transactions=max_transactions,
            scaling_transactions=scaling_transactions,
        )
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S}"
    target = out or Path(".local/bench") / f"load-{stamp}.json"
    picture = plot or target.with_suffix(".png")
    figures = {
        "benchmark": "load",
        **machine(),
        "seconds_per_rate": seconds,
        "points": [asdict(p) for p in result.points],
        "scaling_transactions": result.scaling_transactions,
        "scaling_tx_per_s": {str(k): round(v) for k, v in result.scaling.items()},
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(figures, indent=2) + "\n")
    plot_latency(result, picture)
    table = Table(title="fraudstream score under fixed offered load (one process)")
    for column in ("offered tx/s", "sent", "achieved tx/s", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="right")
    table.add_column("max ms", justify="right")
    table.add_column("peak lag", justify="right")
    for p in result.points:
        lat = p.latency_ms
        table.add_row(
            p.label,
            f"{p.sent:,}",
            f"{p.achieved:,.0f}",
            *(f"{lat.get(k, 0.0):.1f}" for k in ("p50", "p95", "p99", "max")),
            f"{max((n for _, n in p.lag), default=0):,}",
        )
    console.print(table)
    if result.scaling:
        one, two = result.scaling.get(1, 0.0), result.scaling.get(2, 0.0)
        console.print(
            f"one scorer {one:,.0f} tx/s, two scorers {two:,.0f} tx/s on six partitions "
            f"({result.scaling_transactions:,} backlog): x{two / one if one else 0:.2f}",
            highlight=False,
        )
    console.print(f"report: {target}\nplot: {picture}")
