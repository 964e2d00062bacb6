"""``fraudstream data``: generate, download and inspect datasets."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from fraudstream.config import Settings
from fraudstream.datasets import DatasetSummary, load_dataset
from fraudstream.datasets.canonical import load_canonical, write_parquet_atomic
from fraudstream.datasets.download import (
    DownloadSource,
    download_kaggle,
    download_ulb_openml,
)
from fraudstream.datasets.loader import DatasetKind
from fraudstream.datasets.simulator import SimulatorConfig, simulate

data_app = typer.Typer(help="Generate, download and inspect datasets.", no_args_is_help=True)
console = Console()


@data_app.command()
def generate(
    days: Annotated[int, typer.Option(min=1, help="Days of transactions.")] = 30,
    customers: Annotated[int, typer.Option(min=1, help="Customers (cards).")] = 5_000,
    terminals: Annotated[int, typer.Option(min=1, help="Terminals (merchants).")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same data.")] = 42,
    start: Annotated[
        datetime, typer.Option(formats=["%Y-%m-%d"], help="First day, UTC.")
    ] = datetime(2024, 4, 1),
    out: Annotated[
        Path | None,
        typer.Option(help="Output Parquet file (default: <data dir>/simulated.parquet)."),
    ] = None,
) -> None:
    """Simulate transactions (handbook design) and write them as Parquet."""
    settings = Settings.load()
    target = out or settings.data.dir / "simulated.parquet"
    config = SimulatorConfig(
        customers=customers,
        terminals=terminals,
        days=days,
        seed=seed,
        start=start.replace(tzinfo=UTC),
    )
    began = time.perf_counter()
    with console.status(f"simulating {days} days..."):
        frame = simulate(config)
        write_parquet_atomic(frame, target)
    elapsed = time.perf_counter() - began
    console.print(f"wrote {target} in {elapsed:.1f} s")
    counts = np.bincount(frame["fraud_scenario"].to_numpy(), minlength=4)
    print_summary(load_canonical(target).summary(), scenarios=dict(enumerate(counts.tolist())))


@data_app.command()
def info(
    path: Annotated[Path, typer.Argument(help="A dataset file (.csv or .parquet).")],
    kind: Annotated[
        DatasetKind | None, typer.Option(help="Dataset kind (default: detected).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print a dataset file's kind, rows, time span, fraud rate, card count and columns.

    Kinds: ulb and sparkov (CSV), simulated (Parquet from `data generate`, with the
    fraud_scenario column) and canonical (another Parquet file with the canonical
    columns).
    """
    summary = load_dataset(path, kind).summary()
    if as_json:
        typer.echo(json.dumps(summary_dict(summary)))
    else:
        print_summary(summary)


@data_app.command()
def download(
    kind: Annotated[DatasetKind, typer.Argument(help="ulb or sparkov.")],
    source: Annotated[
        DownloadSource, typer.Option(help="openml (ulb only, no credentials) or kaggle.")
    ] = "openml",
    dest: Annotated[Path | None, typer.Option(help="Folder (default: <data dir>).")] = None,
) -> None:
    """Download a real dataset, verify it, and print where it is."""
    settings = Settings.load()
    folder = dest or settings.data.dir
    if kind == "simulated":
        raise typer.BadParameter("use `fraudstream data generate` for simulated data")
    if kind == "canonical":
        raise typer.BadParameter("canonical Parquet files are written, not downloaded")
    if source == "openml" and kind == "ulb":
        with console.status("downloading ULB from OpenML..."):
            paths = [
                download_ulb_openml(
                    folder,
                    base_url=settings.data.openml_url,
                    dataset_id=settings.data.openml_ulb_id,
                    timeout_s=settings.data.download_timeout_s,
                )
            ]
    elif source == "kaggle":
        with console.status(f"downloading {kind} from Kaggle..."):
            paths = download_kaggle(kind, folder)
    else:
        raise typer.BadParameter(f"{kind} cannot be downloaded from {source!r}; use kaggle")
    for path in paths:
        console.print(f"verified and saved {path}")


def summary_dict(summary: DatasetSummary) -> dict[str, object]:
    """A summary as plain JSON-ready values."""
    return {
        "name": summary.name,
        "kind": summary.name,
        "source": summary.source,
        "rows": summary.rows,
        "start": summary.start.isoformat() if summary.start else None,
        "end": summary.end.isoformat() if summary.end else None,
        "days": round(summary.days, 3),
        "frauds": summary.frauds,
        "fraud_rate": summary.fraud_rate,
        "cards": summary.cards,
        "merchants": summary.merchants,
        "bad_rows": summary.bad_rows,
        "columns": list(summary.columns),
    }


def print_summary(summary: DatasetSummary, scenarios: Mapping[int, int] | None = None) -> None:
    """Print a dataset summary as a table."""
    table = Table(title=f"{summary.name}: {summary.source}", show_header=False)
    table.add_row("kind", summary.name)
    table.add_row("rows", f"{summary.rows:,}")
    table.add_row("from", str(summary.start))
    table.add_row("to", str(summary.end))
    table.add_row("days", f"{summary.days:.2f}")
    table.add_row("frauds", f"{summary.frauds:,} ({summary.fraud_rate:.3%})")
    table.add_row("cards", "n/a" if summary.cards is None else f"{summary.cards:,}")
    table.add_row("merchants", "n/a" if summary.merchants is None else f"{summary.merchants:,}")
    if summary.bad_rows:
        table.add_row("bad rows skipped", f"{summary.bad_rows:,}")
    table.add_row("columns", ", ".join(summary.columns))
    if scenarios is not None:
        names = ", ".join(f"{k}: {v:,}" for k, v in scenarios.items())
        table.add_row("rows by scenario", names)
    console.print(table)
