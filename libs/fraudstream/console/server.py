"""``fraudstream console`` as a process: one uvicorn worker running the console."""

from __future__ import annotations

from fraudstream.config import Settings
from fraudstream.console.app import create_console
from fraudstream.httpserve import serve_app


def run_console(settings: Settings, *, insecure_local: bool = False) -> None:
    """Serve until SIGTERM/SIGINT (the consumer writes and commits what it read)."""
    app = create_console(settings, insecure_local=insecure_local)
    console = settings.console
    serve_app(app, host=console.host, port=console.port, log_level=settings.log_level)
