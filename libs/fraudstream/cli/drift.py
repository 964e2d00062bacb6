"""``fraudstream drift``: the training reference the scorer's drift gauges compare with."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import redis
import typer
from rich.console import Console

from fraudstream.config import Settings
from fraudstream.errors import ServiceUnavailableError
from fraudstream.evaluation.drift import (
    DEFAULT_BINS,
    build_reference,
    reference_from_json,
    reference_to_json,
)
from fraudstream.monitoring.drift import reference_key, save_reference
from fraudstream.monitoring.drift_source import SIMULATED, reference_frame
from fraudstream.redis_client import build_redis

drift_app = typer.Typer(help="Drift of model inputs and scores (PSI).", no_args_is_help=True)


@drift_app.command()
def reference(
    source: Annotated[
        str,
        typer.Option(
            "--from",
            help=f"A drift_reference.json, Parquet of served rows, a dataset, or {SIMULATED!r}.",
        ),
    ],
    days: Annotated[int, typer.Option(min=1, help="Simulated days (with --from simulated).")] = 14,
    bins: Annotated[int, typer.Option(min=2, max=100, help="Quantile bins per column.")] = (
        DEFAULT_BINS
    ),
    out: Annotated[Path | None, typer.Option(help="Also write the JSON here.")] = None,
) -> None:
    """Build the drift reference and store it in Redis, where scorers pick it up (<= 60 s).

    Settings: REDIS_URL, FEATURES_KEY_PREFIX, FEATURES_LABEL_DELAY.
    """
    settings = Settings.load()
    console = Console(stderr=True)
    if source.endswith(".json"):  # a training run's drift_reference.json, as it is
        built, rows = reference_from_json(Path(source).read_text()), "a saved reference"
    else:
        with console.status(f"building the reference from {source}..."):
            frame = reference_frame(source, days=days, label_delay=settings.features.label_delay)
            built, rows = build_reference(frame, bins), f"{len(frame):,} rows"
    if out is not None:
        out.write_text(reference_to_json(built) + "\n")
    prefix = settings.features.key_prefix
    client = build_redis(settings.redis)
    try:
        save_reference(client, prefix, built)
    except redis.RedisError as exc:
        raise ServiceUnavailableError(f"Redis at {settings.redis.url}: {exc}") from exc
    finally:
        client.close()
    typer.echo(f"drift reference: {len(built)} columns from {rows} -> {reference_key(prefix)}")
