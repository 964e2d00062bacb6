"""Run the scoring API for tests: uvicorn in a thread on a free loopback port."""

from __future__ import annotations

import threading

import uvicorn

from fraudstream.api.app import create_app
from fraudstream.config import Settings
from fraudstream.harness.embedded import free_port
from fraudstream.harness.scorer import http_get, wait_until


class ApiServer:
    """The app of ``create_app(settings)`` served by uvicorn in a daemon thread.

    Listens on 127.0.0.1 at a free port; :attr:`url` is its base URL. Every wait is
    bounded.
    """

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=self.port,
            access_log=False,
            log_level="warning",
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="api-server", daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 20.0) -> ApiServer:
        """Start serving; return once /healthz answers."""
        self._thread.start()
        if not wait_until(self._answers, timeout_s, interval_s=0.05):
            self.stop()
            raise TimeoutError(f"the API did not answer on {self.url} within {timeout_s} s")
        return self

    def _answers(self) -> bool:
        try:
            return http_get(f"{self.url}/healthz", timeout_s=1.0)[0] == 200
        except OSError:
            return False

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask uvicorn to exit and wait for it."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
