"""``fraudstream learn``: the online learner."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from fraudstream.config import Settings
from fraudstream.learning.service import run_learner
from fraudstream.logs import configure_logging


def learn(
    bootstrap: Annotated[
        Path | None,
        typer.Option(help="Warm start: first learn this dataset's history (needs --until)."),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"], help="End of the history (UTC)."),
    ] = None,
) -> None:
    """Join labels with the features served, learn online, publish model snapshots.

    Settings: LEARNER_*, KAFKA_*, REDIS_URL, FEATURES_*, MLFLOW_*. /metrics and
    /healthz on LEARNER_HTTP_HOST:LEARNER_HTTP_PORT. SIGTERM publishes a last
    snapshot and exits 0.
    """
    if (bootstrap is None) != (until is None):
        raise typer.BadParameter("--bootstrap and --until go together")
    settings = Settings.load()
    configure_logging(settings.log_level, json=settings.log_json)
    history = None
    if bootstrap is not None and until is not None:
        history = (bootstrap, until.replace(tzinfo=until.tzinfo or UTC))
    run_learner(settings, bootstrap=history)
