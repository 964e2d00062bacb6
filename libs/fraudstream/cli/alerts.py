"""``fraudstream alerts tail``: the alerts topic as JSON lines on stdout."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime
from typing import Annotated

import typer

from fraudstream.config import Settings
from fraudstream.console.tail import tail_alerts
from fraudstream.durations import parse_duration
from fraudstream.logs import configure_logging
from fraudstream.signals import stop_on_signals

alerts_app = typer.Typer(help="Read the alerts topic.", no_args_is_help=True)


def _when(text: str) -> datetime:
    """An ISO time (UTC when no zone is given) or a duration ago ("15m", "2h", "1d")."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            return datetime.now(UTC) - parse_duration(text)
        except ValueError as exc:
            raise typer.BadParameter(f"{text!r}: not an ISO time nor a duration") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@alerts_app.command()
def tail(
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new alerts until Ctrl-C.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Start at alerts published at or after this time: ISO (UTC unless a zone "
            "is given) or a duration ago, e.g. 15m.",
        ),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option("--group", help="Go on from where the last run with this name stopped."),
    ] = None,
) -> None:
    """Print committed alerts as JSON lines, oldest first per partition.

    Without --from: from where --group stopped, else from the beginning. Without
    --follow: stop at the end the topic has now. See docs/console.md.
    """
    start = _when(since) if since else None
    settings = Settings.load()
    configure_logging(settings.log_level, json=settings.log_json)
    stop = threading.Event()

    def emit(line: str) -> None:
        sys.stdout.write(line + "\n")
        if follow:
            sys.stdout.flush()

    with stop_on_signals(stop):
        tail_alerts(settings.kafka, emit, follow=follow, since=start, group=group, stop=stop)
    sys.stdout.flush()
