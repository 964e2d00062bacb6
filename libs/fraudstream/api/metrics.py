"""The API's Prometheus metrics and the ASGI middleware that records them."""

from __future__ import annotations

import time
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fraudstream.observability.buckets import API_REQUEST_SECONDS

#: Label of requests to paths the API does not have (bounded label values).
UNMATCHED: Final = "unmatched"


class ApiMetrics:
    """Requests and latency by endpoint, decisions, errors by status."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "api_requests",
            "Requests answered, by endpoint and status",
            ["endpoint", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "api_request_seconds",
            "Time to answer a request, by endpoint",
            ["endpoint"],
            buckets=API_REQUEST_SECONDS,
            registry=registry,
        )
        self.errors = Counter(
            "api_errors",
            "Requests answered with a 4xx or 5xx status",
            ["status"],
            registry=registry,
        )
        decisions = Counter(
            "api_decisions", "Transactions scored, by decision", ["decision"], registry=registry
        )
        self.approved = decisions.labels("approve")
        self.declined = decisions.labels("decline")

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)
        if status >= 400:
            self.errors.labels(str(status)).inc()


class MetricsMiddleware:
    """Times every HTTP request; labels it with its route's path template."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", UNMATCHED)
            self.metrics.observe(endpoint, status, time.perf_counter() - started)
