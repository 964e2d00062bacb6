"""``fraudstream serve`` as a process: one uvicorn worker running :func:`create_app`."""

from __future__ import annotations

from fraudstream.api.app import create_app
from fraudstream.config import Settings
from fraudstream.httpserve import serve_app


def run_api(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT (uvicorn finishes the requests in flight)."""
    app = create_app(settings, freeze_gc=True)
    serve_app(app, host=settings.api.host, port=settings.api.port, log_level=settings.log_level)
