"""How fraudstream's HTTP services (the scoring API, the console) run as processes.

:func:`serve_app` runs one ASGI app in one uvicorn worker until SIGTERM/SIGINT, the
same way for every service: no access log, no ``Server`` header.
"""

from __future__ import annotations

import uvicorn
from starlette.types import ASGIApp


def serve_app(app: ASGIApp, *, host: str, port: int, log_level: str) -> None:
    """Serve ``app`` on ``host:port`` until SIGTERM/SIGINT.

    uvicorn finishes the requests in flight and runs the app's shutdown before it
    returns. ``log_level`` is a logging level name, in any case.
    """
    uvicorn.run(
        app,
        host=host,
        port=port,
        workers=1,
        access_log=False,
        log_level=log_level.lower(),
        server_header=False,
    )
