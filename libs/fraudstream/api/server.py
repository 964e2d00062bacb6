"""``fraudstream serve`` as a process: one uvicorn worker running :func:`create_app`."""

from __future__ import annotations

import uvicorn

from fraudstream.api.app import create_app
from fraudstream.config import Settings


def run_api(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT (uvicorn finishes the requests in flight)."""
    app = create_app(settings, freeze_gc=True)
    uvicorn.run(
        app,
        host=settings.api.host,
        port=settings.api.port,
        workers=1,
        access_log=False,
        log_level=settings.log_level.lower(),
        server_header=False,
    )
