"""``fraudstream promote``: move the champion alias by hand, or roll it back."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from fraudstream.config import Settings
from fraudstream.logs import configure_logging
from fraudstream.promotion.aliases import promote as promote_version
from fraudstream.promotion.aliases import rollback as rollback_champion
from fraudstream.registry.client import Registry
from fraudstream.training.tracking import require_server


def promote(
    version: Annotated[
        str | None, typer.Argument(help="Registered version to make champion.")
    ] = None,
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Restore the previous champion instead.")
    ] = False,
    reason: Annotated[
        str, typer.Option(help="Why (recorded on the version and in the event).")
    ] = "manual promotion",
) -> None:
    """Point the champion alias at VERSION, or --rollback to the previous champion.

    Records the reason on the model version, keeps the champion history for
    rollbacks, and publishes the move on the model-events topic. Scorers follow the
    alias within MLFLOW_ALIAS_POLL_INTERVAL, without a restart. Settings: MLFLOW_*,
    KAFKA_*.
    """
    if rollback == (version is not None):
        raise typer.BadParameter("give a VERSION or --rollback (one of them)")
    settings = Settings.load()
    configure_logging(settings.log_level, json=settings.log_json)
    require_server(settings.mlflow.tracking_uri)  # MLflow's client retries a dead one for minutes
    registry = Registry(settings.mlflow.tracking_uri, settings.mlflow.registered_model_name)
    if version is not None:
        event = promote_version(settings, registry, version, reason)
    else:
        event = rollback_champion(
            settings, registry, reason if reason != "manual promotion" else "manual rollback"
        )
    Console().print(
        f"{registry.name}@{event.alias} -> version {event.version} "
        f"(was {event.previous_version or 'unset'}): {event.event}"
    )
