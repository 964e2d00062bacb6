"""``fraudstream console``: the analysts' alert console."""

from __future__ import annotations

from typing import Annotated

import typer

from fraudstream.config import Settings
from fraudstream.console.server import run_console
from fraudstream.errors import ConfigError
from fraudstream.logs import configure_logging

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def console(
    insecure_local: Annotated[
        bool,
        typer.Option(
            "--insecure-local",
            help="Run without CONSOLE_KEY, everyone in as 'local' (127.0.0.1 only).",
        ),
    ] = False,
) -> None:
    """Serve the alert console (queue, alert pages, verdicts) until SIGTERM.

    Settings come from the environment: CONSOLE_* (CONSOLE_KEY is required unless
    --insecure-local), KAFKA_*, REDIS_URL. See docs/console.md.
    """
    settings = Settings.load()
    if insecure_local and settings.console.host not in _LOCAL_HOSTS:
        raise ConfigError(
            f"--insecure-local serves 127.0.0.1 only, not CONSOLE_HOST={settings.console.host}"
        )
    configure_logging(settings.log_level, json=settings.log_json)
    run_console(settings, insecure_local=insecure_local)
