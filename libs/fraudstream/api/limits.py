"""The request body size limit, as plain ASGI middleware.

A request whose ``Content-Length`` says it is larger than the limit is answered 413
before its body is read. Plain ASGI rather than ``@app.middleware("http")``: that
decorator wraps every request in Starlette's ``BaseHTTPMiddleware`` (a task group, a
streaming response and a memory stream per request), which cost more than scoring.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


class BodyLimitMiddleware:
    """413 for a declared body larger than ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = Headers(scope=scope).get("content-length")
            if length is not None and length.isdigit() and int(length) > self.max_bytes:
                response = JSONResponse({"detail": "request body too large"}, 413)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
