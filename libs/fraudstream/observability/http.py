"""``/metrics`` (Prometheus text format) and ``/healthz`` on a background thread."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from fraudstream.observability.health import Health


class ObservabilityServer:
    """Serves a registry's metrics and a :class:`Health` until :meth:`close`."""

    def __init__(self, registry: CollectorRegistry, health: Health, host: str, port: int) -> None:
        handler = _handler(registry, health)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="observability-http", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        """The port it listens on (useful when started on port 0)."""
        return int(self._server.server_address[1])

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


def _handler(registry: CollectorRegistry, health: Health) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/metrics"):
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            elif self.path.startswith("/healthz"):
                status = health.status()
                body = json.dumps(status).encode()
                self._send(200 if status["ready"] else 503, "application/json", body)
            else:
                self._send(404, "text/plain", b"not found\n")

        def _send(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # scrapes are not news
            return

    return Handler
